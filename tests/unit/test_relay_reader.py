"""The relay's reader process gives the pages the reader in this process gives, streams
them from wherever it is asked, and starts again after it is closed or killed."""

from __future__ import annotations

import base64
import gc
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError

from consumers.relay_reader import Page, PageReader, ReaderProcess, _serve
from registry.config import Settings
from schemas.catalog import load_catalog
from tests.unit.handler_world import C1, World

PAGE = 15


def _settings(tmp_path: Path) -> Settings:
    # The World's store: SQLite in tmp_path, the same keys.
    return Settings(
        data_dir=tmp_path,
        member_id_key="ab" * 32,
        cipher_key=base64.b64encode(bytes(range(32))).decode(),
    )


def _pages(read: PageReader | ReaderProcess, start: int) -> list[Page]:
    pages = []
    while (page := read.read(start, PAGE)).count:
        pages.append(page)
        start = page.last + 1
    return pages


def _same(a: list[Page], b: list[Page]) -> None:
    assert [(p.start, p.last, p.count, p.leaves) for p in a] == [
        (p.start, p.last, p.count, p.leaves) for p in b
    ]
    assert [p.records for p in a] == [p.records for p in b]


def test_the_process_reads_what_this_one_reads(world: World, tmp_path: Path) -> None:
    for _ in range(4):
        world.apply(world.person(), C1, 30)
    inline = _pages(PageReader(world.store, load_catalog(), sealing=True), 1)
    assert len(inline) > 3
    process = ReaderProcess(_settings(tmp_path), sealing=True, ahead=2)
    try:
        _same(_pages(process, 1), inline)
        # Asked again from elsewhere (a restart from a checkpoint), mid-stream.
        middle = inline[2].start
        first = process.read(1, PAGE)
        assert first.start == 1
        _same(_pages(process, middle), inline[2:])
        # Killed: the next read says the store is away for now, the one after works.
        assert process._process is not None
        process._process.kill()
        process._process.wait()
        with pytest.raises(OperationalError):
            process.read(1, PAGE)
        _same(_pages(process, 1), inline)
    finally:
        process.close()
    assert process._process is None


class _Relay:
    """The relay's end of the reader process's connection: asks for one stream from the
    first position, notes whether the collector was on as each answer came."""

    def __init__(self, settings: Settings) -> None:
        self._asked = [(settings, True), ("stream", 1, 1, PAGE), None]
        self.answers: list[tuple[tuple[object, ...], bool]] = []

    def recv(self) -> object:
        return self._asked.pop(0)

    def send(self, answer: tuple[object, ...]) -> None:
        self.answers.append((answer, gc.isenabled()))

    def poll(self, _timeout: float) -> bool:
        return False


def test_pages_are_sent_and_dropped_before_the_collector_is_back_on(
    world: World, tmp_path: Path
) -> None:
    """Back on with a page alive, the first allocation set off a pass over all of the
    page's objects (6 % of the reader process at 2,000 requests/s)."""
    for _ in range(3):
        world.apply(world.person(), C1, 30)
    relay = _Relay(_settings(tmp_path))
    try:
        _serve(relay)  # type: ignore[arg-type]
    finally:
        gc.unfreeze()  # _serve sets the test process's objects aside, as its own
    (ready, _), *pages = relay.answers
    assert ready == ("ready", None)
    assert len(pages) > 3  # several pages, then the empty one at the end of the log
    assert [answer[1] for answer, _ in pages] == ["page"] * len(pages)
    assert pages[-1][0][2].count == 0
    assert [collector_on for _, collector_on in pages] == [False] * len(pages)
    assert gc.isenabled()
