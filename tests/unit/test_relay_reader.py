"""The relay's reader process gives the pages the reader in this process gives, streams
them from wherever it is asked, and starts again after it is closed or killed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError

from consumers.relay_reader import Page, PageReader, ReaderProcess
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
