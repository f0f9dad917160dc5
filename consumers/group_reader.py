"""A consumer-group member whose records are fetched and parsed by librdkafka.

The live projector's group membership, rebalance listener and read-back checks are
built on kafka-python (consumers/kafka.py); only its record parsing is slow: a varint
call per field and a list and tuple per header, in Python, ~15 % of the projector's time
in the projections stage (py-spy, 2026-11-26), beside the fastavro decoding that is the
whole of the baseline. Here kafka-python still joins the group, heartbeats and calls the
listener, but every partition it is given is paused in it, so it fetches nothing; a
`BulkReader` (consumers/bulk_reader.py) assigned the same partitions fetches them
(parsing in C, prefetching in its own thread) and goes where `seek` sends it.

The calls the projector makes of a kafka-python consumer, and only those: subscribe,
poll, seek, assignment, close.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from kafka import ConsumerRebalanceListener, TopicPartition

from consumers.bulk_reader import BulkReader, ReadRecord
from consumers.kafka import consumer
from registry.config import Settings

# A member in the group is polled this often, not at every fetch: its heartbeats come
# from kafka-python's IO thread, and a poll with nothing to do cost ~4 % of the
# projector's time when made at every one of its polls (py-spy). A rejoin the heartbeats
# ask for is seen at the next fetch, whatever the interval.
GROUP_POLL_INTERVAL_S = 0.1
# Records fetched ahead of the live projector. The rebuild's 32 MB swung the projector's
# resident memory by ±15 % as the registry grew to 1M members (how full it was at each
# sample); 8 MB still holds over ten thousand events (values and headers of ~0.5 KB),
# several transactions ahead.
LIVE_PREFETCH_KBYTES = 8 * 1024
# And no fetch larger than that: the rebuild's fetches of up to 64 MB came on top of the
# queue, 27–37 MB of the projector's memory mid-run, given back once the topic was read
# (bench.memory_growth, 1M members). A larger record still comes (seen on Tansu; Kafka
# returns the first record batch whatever the limit).
LIVE_FETCH_KBYTES = LIVE_PREFETCH_KBYTES


class GroupReader:
    def __init__(self, settings: Settings, *, group_id: str) -> None:
        self._group = consumer(settings, group_id=group_id)
        self._fetcher = BulkReader(settings, prefetch_kbytes=LIVE_PREFETCH_KBYTES,
                                   fetch_kbytes=LIVE_FETCH_KBYTES)
        self._group_polled = 0.0
        # The partitions this member owns: given by the listener, until it takes them
        # back. Not kafka-python's assignment(), which still names the partitions it has
        # just revoked until the rebalance completes: a projector that took those up
        # again from its loop kept reading them beside their new owner (seen: the new
        # member applied nothing, every event reached the old one first).
        self._owned: frozenset[TopicPartition] = frozenset()

    def subscribe(self, topics: Sequence[str], listener: ConsumerRebalanceListener) -> None:
        self._group.subscribe(list(topics), listener=_Fetching(self, listener))

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ReadRecord]]:
        # The group's own poll returns no records (its partitions are paused); it finds
        # the coordinator, joins, and marks this member alive. While it needs to join,
        # it gets all of the caller's time and nothing is fetched, as kafka-python's own
        # poll does: a join only goes ahead while a poll waits for it (with polls of
        # 0-5 ms no assignment came in 20 s), and one that completes while no poll waits
        # is dropped and sent again (kafka-python 3.0 keeps the task, not its answer):
        # with the fetcher's wait beside it, a projector rejoined every 3 s and never got
        # its partitions; records handed out meanwhile would keep the caller busy
        # elsewhere in the same way.
        coordinator = self._group._coordinator
        if coordinator.coordinator_unknown() or coordinator.need_rejoin():
            self._group.poll(timeout_ms=timeout_ms, max_records=1)
            return {}
        now = time.monotonic()
        if now - self._group_polled >= GROUP_POLL_INTERVAL_S:
            self._group_polled = now
            self._group.poll(timeout_ms=0, max_records=1)
        return self._fetcher.poll(timeout_ms, max_records)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self._owned:
            raise ValueError(f"{tp} is not assigned to this member")
        self._fetcher.seek(tp, offset)

    def assignment(self) -> set[TopicPartition]:
        """The partitions the listener gave this member and has not taken back."""
        return set(self._owned)

    def close(self, autocommit: bool = False) -> None:
        # The group first: leaving it calls the listener, which stops the fetching.
        try:
            self._group.close(autocommit=autocommit)
        finally:
            self._fetcher.close()

    def _assigned(self, tps: list[TopicPartition]) -> None:
        self._group.pause(*tps)
        self._fetcher.add(tps)
        self._owned = self._owned | set(tps)

    def _disowned(self, tps: list[TopicPartition]) -> None:
        self._owned = self._owned - set(tps)

    def _revoked(self, tps: list[TopicPartition]) -> None:
        self._fetcher.remove(tps)


class _Fetching(ConsumerRebalanceListener):
    """Moves the fetching with the assignment, around the caller's own listener: a
    partition is fetched before the caller seeks it, and no longer once revoked."""

    def __init__(self, reader: GroupReader, listener: ConsumerRebalanceListener) -> None:
        self.reader, self.listener = reader, listener

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Disowned before the caller's listener drops them, so its loop, looking for
        # owned partitions it has not taken up, cannot take them up again meanwhile.
        self.reader._disowned(list(revoked))
        try:
            self.listener.on_partitions_revoked(revoked)
        finally:
            self.reader._revoked(list(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.reader._assigned(list(assigned))
        self.listener.on_partitions_assigned(assigned)
