"""Process-wide memory settings."""

from __future__ import annotations

import ctypes
import sys

M_ARENA_MAX = -8  # glibc mallopt parameters
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1024 * 1024


def share_malloc_arenas(arenas: int = 2) -> None:
    """glibc: the process's threads share at most ``arenas`` allocation arenas. Called before any
    thread starts. Large listener posts are parsed in one thread and stored in another; with an
    arena per thread, memory one post freed is not reused by the next and the process keeps
    growing (six 45 MB posts at once: 3.6x a body at peak; 2.7x with shared arenas).

    Blocks of 1 MB or more (a post's body, its decoded text) are always mapped on their own and
    given back to the system when freed: glibc otherwise raises that threshold after the first
    large block is freed (up to 32 MB), and bodies below it then leave the heap fragmented."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc (musl): nothing to tune
        pass
