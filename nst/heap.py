"""Keep the C heap's freed memory for the next step while a scale runs; give it back after.

Every step allocates and frees the same large tensors (21 MB each for conv1's activations and
gradients at 512x320 in bf16). glibc returns blocks that large to the kernel when they are
freed (mmap'd blocks, or the heap's top beyond its trim threshold), and the next step's first
write to each page faults and has the kernel zero it: 14,300 page faults a step at 512x320,
which took it from 157 to 200 ms. PyTorch's CPU tuning guide recommends jemalloc or tcmalloc
for this; here glibc itself is told to keep what is freed (no mmap, no trimming) while any
scale runs, and malloc_trim hands it back when none does, so the memory plan
(nst/memory.py), and the server between jobs, see the same free memory as before. Other C
libraries (macOS, Windows, musl) are left as they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
import threading
from collections.abc import Iterator

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # mallopt's parameters (malloc.h)
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_KEEP_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int

_lock = threading.Lock()
_active = 0  # scales running now, in any thread (the server runs one worker per device)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (glibc's own symbol: not musl)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def keep_freed_memory() -> Iterator[None]:
    """Within: freed memory stays in the process for reuse. After the last one: returned."""
    global _active
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        if _active == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_TRIM_THRESHOLD)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)


def one_arena() -> None:
    """Have threads started from now on allocate from the main thread's heap (a server).

    A thread's own glibc arena grows in heaps of at most 64 MB and maps larger blocks
    regardless of keep_freed_memory: in a worker thread a 512x320 step still faulted
    6,000-12,000 pages within it (60,000 without it), and 800 with one arena
    (tests/test_heap.py).
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, 1)
