"""What the end-to-end stage reads of each role's processes: the time they waited for a
core, summed over a role's whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from bench.cpu_use import core_wait_seconds

# A process that starts more busy children than there are cores, for as long as it is
# asked, and waits for them: its children take turns on the cores.
_CROWD = """
import subprocess, sys
seconds = float(sys.argv[1])
spin = f"import time\\nend = time.time() + {seconds}\\nwhile time.time() < end: pass"
children = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(int(sys.argv[2]))]
for child in children:
    child.wait()
"""


@pytest.mark.skipif(
    not os.path.exists(f"/proc/self/task/{threading.get_native_id()}/schedstat"),
    reason="this kernel keeps no schedstat",
)
def test_a_crowd_of_busy_processes_waits_for_the_cores_and_a_sleeping_one_does_not() -> None:
    crowd = subprocess.Popen(
        [sys.executable, "-c", _CROWD, "2.0", str((os.cpu_count() or 1) + 2)]
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2.5)"])
    try:
        roles = {"crowd": crowd.pid, "sleeper": sleeper.pid}
        time.sleep(0.7)  # the children started and spinning
        before = core_wait_seconds(roles, postgres=False)
        time.sleep(1.0)
        after = core_wait_seconds(roles, postgres=False)
    finally:
        crowd.wait(timeout=30)
        sleeper.wait(timeout=30)
    # Two more spinning processes than cores: at least two of them wait at any moment.
    assert after["crowd"] - before["crowd"] > 0.5
    assert after["sleeper"] - before["sleeper"] < 0.05
