"""Process tuning shared by the console and its benchmarks."""

from __future__ import annotations

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
