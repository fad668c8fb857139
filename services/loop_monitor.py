"""Event-loop lag sampler and RSS reader (no NiceGUI import: plain asyncio, usable anywhere).

Why: the console does all page work on one asyncio loop; when that loop is late, every open tab is
late. Sleeping 10 ms in a loop and recording how late each wake-up comes measures exactly that, for
~100 cheap wake-ups a second. `/_console/diagnostics` and `bench/live_e2e.py` read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LagSummary:
    """Lateness of the sampler's wake-ups over a window, in milliseconds."""
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class LoopLagMonitor:
    """Sleeps `interval` seconds in a loop and keeps (time, lateness) for the last `window_secs`."""

    def __init__(self, interval: float = 0.01, window_secs: float = 120.0) -> None:
        self.interval = interval
        self.window_secs = window_secs
        self._samples: deque[tuple[float, float]] = deque(maxlen=int(window_secs / interval) + 1)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Idempotent per loop: a second start on the same running loop keeps the first sampler."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._samples.clear()
        self._task = loop.create_task(self._run(), name='loop lag monitor')

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            expected = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self._samples.append((now, max(0.0, now - expected)))

    def summary(self, seconds: float = 10.0) -> LagSummary:
        """Lag percentiles over the last `seconds` (at most the window)."""
        since = time.monotonic() - min(seconds, self.window_secs)
        lags = sorted(lag for at, lag in self._samples if at >= since)
        return LagSummary(p50_ms=round(percentile(lags, 50) * 1000, 2), p99_ms=round(percentile(lags, 99) * 1000, 2),
                          max_ms=round((lags[-1] if lags else 0.0) * 1000, 2), samples=len(lags))


def rss_mb(pid: int | str = 'self') -> float | None:
    """Resident set size from /proc (Linux); None where /proc is missing or the process is gone."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as handle:
            for line in handle:
                if line.startswith('VmRSS:'):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        return None
    return None
