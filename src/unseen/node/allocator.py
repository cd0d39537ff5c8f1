"""Keep the node's freed message buffers for reuse, so each chunk of a large message lands on warm pages.

A node handles a large message as a run of 2 MiB pieces: gRPC allocates each piece it receives, the frame
encoder allocates each piece it sends, and both free them a moment later. By default glibc hands such a
block back to the kernel as soon as it is freed (it trims the top of the heap, or served the block with
``mmap`` in the first place), so the next piece is built on fresh pages: a page fault and a zeroed page
for every 4 KiB. Profiled with ``perf`` during 64 MiB transfers between two nodes on a 2-core machine,
those faults took about a fifth of the nodes' CPU, the same CPU that TLS needs.

Raising glibc's thresholds keeps up to ``RETAIN_BYTES`` of freed memory at the top of each heap for the
next piece instead. The cost is memory the node keeps after a burst of large messages: at most that much
per malloc arena, and only as much as the burst used.

The arenas are capped at ``MAX_ARENAS`` too. glibc gives each new thread an arena of its own, up to eight
per core, and gRPC's client starts a thread for every streamed message: each message then lands in an
arena whose free memory is somewhere else, and faults in pages of its own (on a 2-core machine, about a
thousand faults per 64 MiB message at the sending node, against about fifty with two arenas). The node's
Python threads take turns under the GIL, so more arenas buy it little; a message's bytes are copied
outside the allocator's lock.

Only glibc has these knobs; elsewhere (musl, macOS) this does nothing and the node works as before, only
with more page faults.
"""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

RETAIN_BYTES = 64 * 1024 * 1024
# Blocks up to this size come from the heap, so they can be reused; larger ones are mapped and unmapped.
HEAP_BLOCK_LIMIT = 8 * 1024 * 1024

MAX_ARENAS = 2

# From glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def keep_freed_memory() -> bool:
    """Tune this process's glibc allocator as above; returns whether it took effect."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((_M_TRIM_THRESHOLD, RETAIN_BYTES), (_M_MMAP_THRESHOLD, HEAP_BLOCK_LIMIT), (_M_ARENA_MAX, MAX_ARENAS))
    applied = all(mallopt(option, value) == 1 for option, value in settings)
    if not applied:
        log.warning("glibc refused the allocator thresholds; large messages will fault in fresh pages")
    return applied


def release_freed_memory() -> bool:
    """Hand the heap's free pages back to the kernel, keeping ``RETAIN_BYTES`` warm at the top of each heap.

    The thresholds above keep freed memory for the next chunk, and glibc only ever trims a heap from its
    top: after a job ends with hundreds of MiB of unread messages dropped (a partner pushed mail nobody
    read), their pages would stay resident for good. ``malloc_trim`` returns every free page of every
    arena. It walks the heaps, so the node calls it only after dropping a large amount at once.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(RETAIN_BYTES))
