"""The backbone's loops (ingest, relay, projections) each in a process of its own, as
deployed: they do not share an interpreter lock with each other nor with the benchmark's
publisher and observers.

Run as `python -m bench.backbone_process LIMIT_S LOOP` with the settings as JSON on
stdin; it stops when stdin closes or after LIMIT_S seconds, whichever comes first.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

from registry.config import Settings
from registry.runtime import Backbone

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    limit_s = float(sys.argv[1])
    loop = sys.argv[2]
    settings = Settings.model_validate_json(sys.stdin.readline())
    closed = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe (or dies)
        closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    with Backbone(settings, loops=(loop,)) as backbone:
        closed.wait(limit_s)
    if backbone.errors:
        sys.exit(1)


LOOPS = ("ingest", "relay", "projections")


class BackboneProcess:
    """One process per loop, started on enter; stopped on exit (and stopping by
    themselves after `limit_s`)."""

    def __init__(self, settings: Settings, limit_s: float) -> None:
        self.settings = settings
        self.limit_s = limit_s
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> BackboneProcess:
        for loop in LOOPS:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.backbone_process", str(self.limit_s), loop],
                stdin=subprocess.PIPE,
                cwd=ROOT,
            )
            assert process.stdin is not None
            process.stdin.write(self.settings.model_dump_json().encode() + b"\n")
            process.stdin.flush()
            self._processes[loop] = process
        return self

    @property
    def pids(self) -> dict[str, int]:
        return {loop: process.pid for loop, process in self._processes.items()}

    def __exit__(self, *_: object) -> None:
        for process in self._processes.values():
            assert process.stdin is not None
            process.stdin.close()
        for process in self._processes.values():
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


if __name__ == "__main__":
    main()
