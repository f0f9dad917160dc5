"""What the local broker (Tansu) spends on a consumer that follows a topic being written,
as the topic grows: `python -m bench.broker_fetch_cost [--seconds 25] [--rate 2000]`.

Records are published at a steady rate (the end-to-end stage's publisher) and read by
the end-to-end stage's outcome watcher (librdkafka, 10 ms fetch wait) from the same
topic; the broker's CPU is printed per 5 s window. Once with the publisher's 5 ms
linger (librdkafka's default, and the stage's), once with 50 ms (a tenth of the
batches for the same records). Found in session 12: with 5 ms the broker's share grew
by ~18 % of a core every 5 s (27 % → 98 % in 25 s), with 50 ms it stayed at 7–9 %.
Publishing alone stayed at ~9 %, and a consumer idle at the end of a large topic cost
nothing more than at the end of an empty one: a fetch that returns records costs the
broker in proportion to the batches the partition holds. Apache Kafka finds a fetch's
offset through its segment index and has no such growth."""

from __future__ import annotations

import argparse
import threading
import time

from bench.cpu_use import tree_cpu_seconds
from bench.env import bench_env
from bench.observers import OutcomeWatcher
from bench.pacing import numbered_records, paced_publish
from bench.rawkafka import create_topics

TOPIC = "bench.broker.fetch-cost"
WINDOW_S = 5.0


def broker_share(rate: float, seconds: float, linger_ms: int) -> list[float]:
    """The broker's CPU, in % of a core, per window while a topic is written at `rate`
    with `linger_ms` and followed by a consumer."""
    with bench_env() as env:
        assert env.broker is not None and env.broker.pid is not None
        pid = env.broker.pid
        create_topics(env.settings, [TOPIC])
        watcher = OutcomeWatcher(env.settings, topic=TOPIC, decode=False)
        watcher.start()
        shares: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                before = tree_cpu_seconds(pid)
                if done.wait(WINDOW_S):
                    return
                shares.append(100 * (tree_cpu_seconds(pid) - before) / WINDOW_S)

        try:
            watcher.ready.wait(30)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            records = numbered_records(int(rate * seconds))
            sent, _ = paced_publish(env.settings, TOPIC, records, rate, seconds,
                                    linger_ms=linger_ms)  # fmt: skip
            done.set()
            sampler.join()
            # A consumer that fell behind would have fetched less: the figure would not
            # be the one of a consumer that follows.
            deadline = time.monotonic() + 30
            while len(watcher.seen) < sent and time.monotonic() < deadline:
                time.sleep(0.05)
            if len(watcher.seen) < sent:
                raise TimeoutError(f"the consumer saw {len(watcher.seen)} of {sent} records")
        finally:
            watcher.stop.set()
            watcher.join(timeout=10)
        return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    args = parser.parse_args(argv)
    for linger_ms in (5, 50):
        started = time.monotonic()
        shares = broker_share(args.rate, args.seconds, linger_ms)
        print(f"linger {linger_ms:>2} ms: broker % of a core per {WINDOW_S:.0f} s window: "
              + " ".join(f"{share:.0f}" for share in shares)
              + f"  ({time.monotonic() - started:.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
