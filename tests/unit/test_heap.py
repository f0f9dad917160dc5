"""malloc's mapping threshold held where it starts (registry/heap.py). Each case runs in
a fresh interpreter: the threshold is the process's, and glibc moves it for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from registry.heap import malloc_info

pytestmark = pytest.mark.skipif(malloc_info() is None, reason="needs glibc's mallinfo2")

# A large block freed, then a smaller one still above glibc's starting threshold: how
# much of the second is mapped on its own.
_PROBE = textwrap.dedent("""
    import sys
    from registry.heap import keep_heap_flat, malloc_info
    if sys.argv[1] == "fixed":
        assert keep_heap_flat()
    first = bytearray(8 * 2**20)
    del first
    before = malloc_info().hblkhd
    second = bytearray(3 * 2**20)
    print(malloc_info().hblkhd - before)
""")


def _mapped_after_a_large_free(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def test_a_large_buffer_is_mapped_on_its_own_after_a_larger_one_was_freed() -> None:
    assert _mapped_after_a_large_free("fixed") >= 3 * 2**20


def test_without_it_glibc_takes_the_buffer_from_its_heap() -> None:
    # What the fix is for: the threshold rose to the freed block's size.
    assert _mapped_after_a_large_free("default") == 0
