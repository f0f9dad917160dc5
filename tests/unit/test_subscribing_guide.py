"""docs/SUBSCRIBING.md stays true: its code runs on records the registry's codec writes."""

from __future__ import annotations

import os
import re
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from schemas import topics
from schemas.catalog import load_catalog
from schemas.examples import example_record

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "SUBSCRIBING.md"

Record = namedtuple("Record", "topic partition offset key value headers")
TP = namedtuple("TP", "topic partition")


@pytest.fixture
def guide() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    namespace: dict[str, Any] = {"__name__": "guide"}
    cwd = os.getcwd()
    os.chdir(REPO)  # the guide reads schemas/ relative to a checkout
    try:
        for block in blocks:
            exec(compile(block, str(GUIDE), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def encoded(name: str, **changes: Any) -> tuple[dict[str, Any], bytes]:
    catalog = load_catalog()
    record = {**example_record(catalog.by_name[name].source), **changes}
    return record, catalog.encode(name, record)


def test_decode_reads_every_published_schema(guide: dict[str, Any]) -> None:
    catalog = load_catalog()
    for name in catalog.by_name:
        record, value = encoded(name)
        decoded = guide["decode"](value)
        assert str(decoded["aggregate_id" if "aggregate_id" in record else "request_id"]) == \
            str(record["aggregate_id" if "aggregate_id" in record else "request_id"])
    assert len(guide["writers"]) == len(catalog.by_fingerprint)


def test_decode_refuses_other_bytes(guide: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        guide["decode"](b"{}")
    _, value = encoded("registry.events.MemberApplied")
    with pytest.raises(KeyError):
        guide["decode"](value[:2] + bytes(8) + value[10:])


class FakeConsumer:
    """kafka-python's poll/seek_to_beginning over a log that can be rebuilt."""

    def __init__(self) -> None:
        self.tp = TP(topics.MEMBER_EVENTS, 0)
        self.log: list[Record] = []
        self.position = 0

    def append(self, version: int, epoch: int) -> None:
        name = "registry.events.MemberApplied"
        record, value = encoded(name, version=version)
        headers = [(topics.CE_TYPE, name.encode()), (topics.EPOCH, str(epoch).encode()),
                   (topics.CE_ID, f"{record['aggregate_id']}:{version}".encode())]
        self.log.append(Record(self.tp.topic, 0, len(self.log), b"k", value, headers))

    def poll(self, timeout_ms: int) -> dict[TP, list[Record]]:
        batch = self.log[self.position:self.position + 2]
        self.position += len(batch)
        return {self.tp: batch} if batch else {}

    def seek_to_beginning(self, tp: TP) -> None:
        assert tp == self.tp
        self.position = 0


def test_repeats_are_skipped_and_a_new_epoch_rereads_the_partition(
        guide: dict[str, Any]) -> None:
    consumer = FakeConsumer()
    for version in (1, 2, 2):  # the relay crashed and published version 2 again
        consumer.append(version, epoch=1)
    applied_events: list[int] = []
    applied: dict[str, int] = {}
    epochs: dict[Any, int] = {}

    def apply(ce_type: str, event: dict[str, Any]) -> None:
        assert ce_type == "registry.events.MemberApplied"
        applied_events.append(event["version"])

    guide["run"](consumer, apply, applied, epochs, batches=3)
    assert applied_events == [1, 2]

    # The broker lost the topic; the relay rebuilds it from the store in epoch 2, and
    # this consumer's old offset now points past events it has not seen (3 and 4).
    consumer.log.clear()
    for version in (1, 2, 3, 4, 5):
        consumer.append(version, epoch=2)
    consumer.position = 4
    guide["run"](consumer, apply, applied, epochs, batches=5)
    assert applied_events == [1, 2, 3, 4, 5]
    assert epochs[consumer.tp] == 2
