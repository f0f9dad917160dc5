"""The backbone (ingest, relay, projections) in a process of its own, as deployed: the
benchmark's publisher and observers then do not share its interpreter lock.

Run as `python -m bench.backbone_process LIMIT_S` with the settings as JSON on stdin; it
stops when stdin closes or after LIMIT_S seconds, whichever comes first.
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
    settings = Settings.model_validate_json(sys.stdin.readline())
    closed = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe (or dies)
        closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    with Backbone(settings) as backbone:
        closed.wait(limit_s)
    if backbone.errors:
        sys.exit(1)


class BackboneProcess:
    """Started on enter; stopped on exit (and stopping by itself after `limit_s`)."""

    def __init__(self, settings: Settings, limit_s: float) -> None:
        self.settings = settings
        self.limit_s = limit_s
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BackboneProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.backbone_process", str(self.limit_s)],
            stdin=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self._process.stdin is not None
        self._process.stdin.write(self.settings.model_dump_json().encode() + b"\n")
        self._process.stdin.flush()
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __exit__(self, *_: object) -> None:
        if self._process is None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)


if __name__ == "__main__":
    main()
