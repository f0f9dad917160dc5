"""What the local broker (Tansu) spends to hand a topic over from its start, as a
rebuild's loading workers read it: `python -m bench.broker_read_cost [--records N]
[--batch-bytes 1048576,2000] [--partitions 4] [--pace 0]`.

For each batch size (the producer's `batch_size`: how many records a batch can hold)
and partition count, a new broker gets N records of the relay's size and headers
(kafka-python, 5 ms linger, as the city bench publishes), then the rebuild's own reader
(consumers/bulk_reader.py, librdkafka) reads them all from offset 0, optionally paced
to `--pace` records/s as a loading worker consumes. Printed: the broker's CPU seconds
to take the records and to hand them over, and the reader's.

Found in session 19 (BENCHMARKS.md): 400,000 records in batches of up to 1 MB cost the
broker 0.6 CPU s to hand over, in batches of up to 2,000 bytes (two or three records)
12.0 s; 1.6M records 3.4 s on 4 partitions, 4.8 s on 12; Tansu answers a fetch with
about 1 MB of each partition whatever the client asks for. The city's rebuild, where
the broker takes a core for the whole load (~80 CPU µs an event), is not reproduced
by a single reader at these sizes."""

from __future__ import annotations

import argparse
import os
import time

from kafka import TopicPartition

from bench.cpu_use import tree_cpu_seconds
from bench.env import bench_env
from bench.rawkafka import create_topics
from consumers.bulk_reader import BulkReader
from consumers.kafka import producer
from schemas import topics

TOPIC = "bench.broker.read-cost"
_VALUE = os.urandom(250)  # the size of a member event's Avro record


def _headers(i: int) -> list[tuple[str, bytes]]:
    """The relay's headers (consumers/relay_reader.py PageReader._outgoing), of their
    real sizes."""
    subject = b"8c1d5d8e-3b0e-4a57-9d57-%012d" % i
    return [
        (topics.CE_SPECVERSION, topics.CE_SPECVERSION_VALUE.encode()),
        (topics.CE_ID, subject + b":3"),
        (topics.CE_SOURCE, topics.CE_SOURCE_VALUE.encode()),
        (topics.CE_TYPE, b"org.registry.member.MemberAdmitted"),
        (topics.CE_TIME, b"2024-03-01T10:00:00.123456+00:00"),
        (topics.CE_SUBJECT, subject),
        (topics.CONTENT_TYPE, topics.CONTENT_TYPE_VALUE.encode()),
        (topics.POSITION, str(i).encode()),
        (topics.SCHEMA_FINGERPRINT, b"0123456789abcdef"),
        (topics.EPOCH, b"1"),
    ]


def read_cost(records: int, batch_bytes: int, partitions: int, pace: float) -> str:
    """One line: publishing and reading `records` on a new broker."""
    with bench_env(partitions=partitions) as env:
        assert env.broker is not None and env.broker.pid is not None
        pid = env.broker.pid
        create_topics(env.settings, [TOPIC])
        kafka = producer(env.settings, batch_size=batch_bytes)
        before, started = tree_cpu_seconds(pid), time.monotonic()
        for i in range(records):
            kafka.send(TOPIC, key=str(i).encode(), value=_VALUE, headers=_headers(i))
        kafka.flush()
        kafka.close()
        published_s, publish_cpu_s = time.monotonic() - started, tree_cpu_seconds(pid) - before
        reader = BulkReader(env.settings)
        try:
            reader.assign([TopicPartition(TOPIC, p) for p in range(partitions)])
            before, cpu, started = tree_cpu_seconds(pid), time.process_time(), time.monotonic()
            got, deadline = 0, started + 600
            while got < records:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"read {got:,} of {records:,} records in 600 s")
                polled = reader.poll(timeout_ms=1000, max_records=25_000)
                count = sum(len(rs) for rs in polled.values())
                got += count
                if pace:
                    time.sleep(count / pace)
            read_s = time.monotonic() - started
            read_cpu_s = tree_cpu_seconds(pid) - before
            reader_cpu_s = time.process_time() - cpu
        finally:
            reader.close()
    return (f"{records:,} records, batches up to {batch_bytes:,} bytes, {partitions}"
            f" partitions: published in {published_s:.1f} s (broker {publish_cpu_s:.1f} s);"
            f" read in {read_s:.1f} s ({records / read_s:,.0f}/s), broker {read_cpu_s:.1f}"
            f" CPU s, reader {reader_cpu_s:.1f} CPU s")  # fmt: skip


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--batch-bytes", type=_ints, default=[1024 * 1024, 2000],
                        help="producer batch sizes to try, comma-separated")  # fmt: skip
    parser.add_argument("--partitions", type=_ints, default=[4],
                        help="partition counts to try, comma-separated")  # fmt: skip
    parser.add_argument("--pace", type=float, default=0.0,
                        help="records/s the reader consumes at (0: as fast as it can)")  # fmt: skip
    args = parser.parse_args(argv)
    for partitions in args.partitions:
        for batch_bytes in args.batch_bytes:
            print(read_cost(args.records, batch_bytes, partitions, args.pace), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
