"""The node's allocator tuning: freed 2 MiB message buffers are reused instead of faulting in new pages."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from unseen.node.allocator import MAX_ARENAS

# Allocates and frees 2 MiB buffers as a node does per chunk, and prints the page faults that took.
_CHURN = """
import resource, sys
from unseen.node.allocator import keep_freed_memory
tuned = sys.argv[1] == "tuned" and keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
piece = bytes(2 * 1024 * 1024)
for _ in range(3):
    bytes(bytearray(piece))
before = faults()
for _ in range(40):
    copy = bytearray(piece)
    sent = bytes(copy)
    del copy, sent
print(tuned, faults() - before)
"""


def _in_child(script: str, mode: str) -> tuple[str, int]:
    """Run ``script`` in a fresh interpreter (the allocator is set once per process): (tuned?, its count)."""
    out = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True).stdout
    tuned, count = out.split()
    return tuned, int(count)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_freed_chunks_are_reused_instead_of_faulting_in_new_pages() -> None:
    untuned, default_faults = _in_child(_CHURN, "default")
    tuned, tuned_faults = _in_child(_CHURN, "tuned")
    assert (untuned, tuned) == ("False", "True")
    pages_per_round = 2 * 2 * 1024 * 1024 // 4096
    assert default_faults > 20 * pages_per_round  # the default gives pages back, then faults them in again
    assert tuned_faults < pages_per_round  # tuned: at most stray faults, not one per page per round


# Eight threads hold a block each at once, as gRPC's per-call threads do, then count glibc's arenas.
_ARENAS = """
import ctypes, re, sys, tempfile, threading
from pathlib import Path
from unseen.node.allocator import keep_freed_memory
tuned = sys.argv[1] == "tuned" and keep_freed_memory()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
all_holding = threading.Barrier(9)
counted = threading.Barrier(9)
def hold():
    block = bytearray(1 << 20)
    all_holding.wait()
    counted.wait()
threads = [threading.Thread(target=hold) for _ in range(8)]
for thread in threads:
    thread.start()
all_holding.wait()
report = Path(tempfile.mkdtemp()) / "malloc.xml"
stream = libc.fopen(str(report).encode(), b"w")
libc.malloc_info(0, stream)
libc.fclose(stream)
counted.wait()
for thread in threads:
    thread.join()
print(tuned, len(re.findall("<heap nr=", report.read_text())))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the arenas are glibc's")
def test_threads_share_a_few_arenas_instead_of_one_each() -> None:
    untuned, default_arenas = _in_child(_ARENAS, "default")
    tuned, tuned_arenas = _in_child(_ARENAS, "tuned")
    assert (untuned, tuned) == ("False", "True")
    assert default_arenas > MAX_ARENAS  # by default a busy thread gets an arena of its own
    assert tuned_arenas == MAX_ARENAS


# Holds 256 MiB in 2 MiB pieces, each followed by a small block that stays (so the heap cannot shrink from
# its top, as with messages interleaved with the node's other work), frees the pieces, and prints the
# resident MiB before and after release_freed_memory.
_DROPPED_MAIL = """
import sys
from pathlib import Path
from unseen.node.allocator import keep_freed_memory, release_freed_memory
def resident_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
assert keep_freed_memory()
pieces, pins = [], []
for _ in range(128):
    pieces.append(bytes(bytearray(2 * 1024 * 1024)))
    pins.append(bytearray(200 * 1024))
del pieces
kept = resident_mib()
released = release_freed_memory()
print(kept, resident_mib() if released else -1)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_memory_of_dropped_messages_goes_back_to_the_kernel() -> None:
    out = subprocess.run([sys.executable, "-c", _DROPPED_MAIL], capture_output=True, text=True, check=True).stdout
    kept, after = map(int, out.split())
    assert kept > 200  # the tuned heap keeps freed pieces resident ...
    assert 0 <= after < kept - 150  # ... until the node hands them back after dropping a job's mail
