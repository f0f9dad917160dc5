"""The broker's read-cost benchmark runs at a tiny size: every record published is read
back through the rebuild's reader, on each partition count and batch size asked for
(its figures are the benchmark's business)."""

from __future__ import annotations

import pytest

from bench import broker_read_cost

pytestmark = pytest.mark.integration


def test_each_shape_is_published_and_read_through(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--records", "3000", "--batch-bytes", "65536,2000", "--partitions", "2,3"]
    assert broker_read_cost.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for partitions, batch in [(2, "65,536"), (2, "2,000"), (3, "65,536"), (3, "2,000")]:
        assert any(line.startswith(f"3,000 records, batches up to {batch} bytes,"
                                   f" {partitions} partitions: published") for line in lines)


def test_a_paced_reader_reads_everything(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--records", "2000", "--batch-bytes", "2000", "--pace", "4000"]
    assert broker_read_cost.main(argv) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "read in" in line and "4 partitions" in line
