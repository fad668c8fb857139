"""Process tuning shared by the console and its benchmarks."""

from __future__ import annotations

import ctypes
import gc

GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Fewer, cheaper collections for an event-heavy process.

    Every parsed event is a small pydantic object; with CPython's default gen-0 threshold (700) the
    collector ran every few hundred events and cost ~15% of ingest (bench/README.md). Freezing moves
    the start-up objects out of the generations the collector keeps scanning.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, max(gen1, 20), max(gen2, 20))


def reclaim_memory() -> None:
    """Give memory of closed tabs back: collect their cyclic garbage now, then return free pages to the OS.

    A NiceGUI client is a web of cycles (elements, slots, handlers). With the raised gen-0 threshold
    above, a closed tab's objects could wait minutes for a full collection, and freed memory stayed in
    the C allocator: RSS grew by ~17 MB every time 30 tabs were opened and closed (bench/README.md).
    """
    gc.collect()
    _malloc_trim()


def _malloc_trim() -> None:
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:  # not glibc (macOS, musl): the collection above is what we can do
        return
    libc.malloc_trim(0)
