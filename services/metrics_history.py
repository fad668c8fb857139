"""The last hour of a server's metrics, sampled once per credential and shared by every tab.

`metrics_history(token)` is the credential's sampler. A page calls `subscribe(api, listener)`: the
first subscriber starts one sampling loop (every `interval` seconds, `/metrics` and `/stats`), the last
`release()` stops it, and each new point goes to every listener. Points stay in a ring buffer of
`capacity` (720 × 5 s = one hour), also across pauses, so a tab opened later sees the hour so far.

Rates come from counter differences between consecutive samples; average latency is
Δ`…_latency_us_total` / Δcount; the cache hit ratio is Δhits / (Δhits + Δmisses) when the server counts
any. A counter that went down (server restart) or a gap (the loop was paused) gives no rate for that point.
This module draws nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .events.channel import credential_id
from .models import Stats

log = logging.getLogger(__name__)

INTERVAL_SECS = 5.0
CAPACITY = 720  # one hour at 5 s
GAP_FACTOR = 3.0  # samples further apart than this many intervals are not differenced

# operation -> (count counters, latency counter or None)
OPERATIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    'get': (('gets',), 'get_latency_us'),
    'set': (('sets', 'batch_sets'), 'set_latency_us'),
    'delete': (('deletes', 'batch_deletes'), 'delete_latency_us'),
    'scan': (('scans',), 'scan_latency_us'),
}


def counter(metrics: dict[str, float], name: str) -> float | None:
    return metrics.get(f'apexstore_{name}_total')


class MetricsSource(Protocol):
    """What a sampler reads (services.api.ApexApi is one)."""

    def metrics(self) -> Awaitable[dict[str, float]]: ...
    def stats(self) -> Awaitable[Stats]: ...


@dataclass(frozen=True)
class Raw:
    """One reading of the server: counters as they were, and the engine's sizes."""
    at: float  # unix seconds
    metrics: dict[str, float]
    stats: Stats | None


@dataclass(frozen=True)
class Point:
    """One point of the history, ready to chart (None: not known for this point)."""
    at: float
    ops: dict[str, float | None]  # operations per second, per operation
    latency_us: dict[str, float | None]  # average latency of the operations in this interval
    cache_hit_ratio: float | None  # 0..1
    errors_per_sec: float | None
    mem_kb: int | None
    wal_kb: int | None
    disk_kb: int | None  # SST size
    total_records: int | None


def derive(before: Raw | None, now: Raw, interval: float = INTERVAL_SECS) -> Point:
    """The point for `now`, with rates against `before` when that is the previous, contiguous sample."""
    stats = now.stats
    sizes: dict[str, Any] = {'mem_kb': stats.mem_kb if stats else None, 'wal_kb': stats.wal_kb if stats else None,
                             'disk_kb': stats.sst_kb if stats else None,
                             'total_records': stats.total_records if stats else None}
    elapsed = now.at - before.at if before is not None else 0.0
    if before is None or elapsed <= 0 or elapsed > interval * GAP_FACTOR:
        return Point(now.at, dict.fromkeys(OPERATIONS), dict.fromkeys(OPERATIONS), None, None, **sizes)

    def delta(name: str) -> float | None:
        old, new = counter(before.metrics, name), counter(now.metrics, name)
        if old is None or new is None or new < old:  # not reported, or reset by a restart
            return None
        return new - old

    ops: dict[str, float | None] = {}
    latency: dict[str, float | None] = {}
    for op, (names, latency_name) in OPERATIONS.items():
        counts = [delta(n) for n in names]
        known = [c for c in counts if c is not None]
        count = sum(known) if known else None
        ops[op] = None if count is None else count / elapsed
        spent = delta(latency_name) if latency_name else None
        latency[op] = spent / count if spent is not None and count else None
    hits, misses = delta('cache_hits'), delta('cache_misses')
    lookups = (hits or 0) + (misses or 0)
    ratio = hits / lookups if hits is not None and misses is not None and lookups > 0 else None
    errors = delta('errors')
    return Point(now.at, ops, latency, ratio, None if errors is None else errors / elapsed, **sizes)


Listener = Callable[[], Any]  # called after every sample (or failed sample); reads `points`/`error`


@dataclass(eq=False)
class _Subscriber:
    source: MetricsSource
    listener: Listener


@dataclass(eq=False)
class MetricsHistory:
    """One credential's sampler: one loop while anyone watches, one ring buffer for every tab."""
    interval: float = INTERVAL_SECS
    capacity: int = CAPACITY
    clock: Callable[[], float] = time.time
    points: deque[Point] = field(init=False)
    latest: Raw | None = field(default=None, init=False)
    error: str | None = field(default=None, init=False)  # why the last sample failed (None: it did not)
    samples: int = field(default=0, init=False)
    _subscribers: list[_Subscriber] = field(default_factory=list, init=False)
    _task: asyncio.Task | None = field(default=None, init=False)
    _wake: asyncio.Event | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.points = deque(maxlen=self.capacity)

    @property
    def running(self) -> bool:
        task = self._task
        if task is None or task.done():
            return False
        try:
            return task.get_loop() is asyncio.get_running_loop()  # a loop from an app that is gone counts as none
        except RuntimeError:
            return True

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, source: MetricsSource, listener: Listener) -> Callable[[], None]:
        """Watch the history; the first watcher starts the loop. Returns `release` (idempotent)."""
        sub = _Subscriber(source, listener)
        self._subscribers.append(sub)
        if not self.running:
            self.stop()
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name='metrics-history')

        def release() -> None:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
                if not self._subscribers:
                    self.stop()
        return release

    def sample_now(self) -> None:
        """Take the next sample at once (a user asked for fresh numbers)."""
        if self._wake is not None:
            self._wake.set()

    def stop(self) -> None:
        if self._task is not None:
            with contextlib.suppress(RuntimeError):  # its loop is already closed: nothing runs anyway
                self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        previous: Raw | None = None  # a new loop never differences against a sample from before a pause
        while self._subscribers:
            raw = await self._read()
            if raw is not None:
                self.points.append(derive(previous, raw, self.interval))
                previous = self.latest = raw
                self.samples += 1
            for sub in list(self._subscribers):
                try:
                    result = sub.listener()
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:  # noqa: BLE001 - one broken page must not stop the others' history
                    log.exception('metrics history listener failed')
            assert self._wake is not None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def _read(self) -> Raw | None:
        source = self._subscribers[-1].source  # the newest watcher's client: a signed-out one is released
        try:
            metrics = await source.metrics()
        except Exception as exc:  # noqa: BLE001 - the server or the network; said on the page, loop goes on
            self.error = getattr(exc, 'message', None) or f'metrics could not be read ({type(exc).__name__})'
            return None
        try:
            stats: Stats | None = await source.stats()
        except Exception:  # noqa: BLE001 - sizes are optional: the rates still make a point
            stats = None
        self.error = None
        return Raw(self.clock(), metrics, stats)


_histories: dict[str, MetricsHistory] = {}


def metrics_history(token: str) -> MetricsHistory:
    """The sampler of this credential (sessions with the same token share it; the token is not kept)."""
    key = credential_id(token)
    history = _histories.get(key)
    if history is None:
        history = _histories[key] = MetricsHistory()
    return history


def forget(token: str) -> None:
    """Drop a credential's history (its last session signed out)."""
    history = _histories.pop(credential_id(token), None)
    if history is not None:
        history.stop()
