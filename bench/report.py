"""The results as a table on stdout and as JSON in bench/results/latest.json."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench.figures import Figure

RESULTS = Path(__file__).resolve().parent / "results"


def _num(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(figures: Sequence[Figure]) -> str:
    header = ("stage", "figure", "value", "baseline", "", "ratio", "goal")
    rows = [
        (f.stage, f.name, f"{_num(f.value)} {f.unit}", f"{_num(f.baseline)} {f.unit}",
         f.baseline_name, f"{f.ratio:.2f}" if f.ratio == f.ratio else "-", f.goal)
        for f in figures
    ]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write(figures: Sequence[Figure], meta: dict[str, Any], out: TextIO,
          path: Path | None = None) -> Path:
    path = path or RESULTS / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": _cpus(), "python": platform.python_version(),
                    "platform": platform.platform()},
        **meta,
        "figures": [f.as_dict() for f in figures],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    out.write(table(figures) + "\n")
    for key, value in meta.items():
        out.write(f"{key}: {value}\n")
    out.write(f"written to {path}\n")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
