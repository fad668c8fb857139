"""Retry, fallback and backoff policies: small pure functions with the reasons written down."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel


class Timing(BaseModel):
    """Every time-related knob, injectable so fault tests run in milliseconds."""

    ping_interval: float = 15.0
    ping_timeout: float = 15.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_after: float = 10.0
    ws_probe_interval: float = 30.0
    poll_interval: float = 2.0
    long_poll_wait: float = 25.0
    open_timeout: float = 5.0  # TCP connect + WebSocket/HTTP answer; an unanswered upgrade counts as a refusal
    fallback_after: int = 2  # upgrade refusals (or unanswered upgrades) in a row before leaving a transport
    max_frame_bytes: int = 1024 * 1024
    sse_idle_timeout: float = 45.0  # an SSE stream silent this long is dead (the embedded backend beats every 15 s)
    poll_page_size: int = 500  # REST polling: keys per `/keys/search` page
    poll_pages_per_cycle: int = 10  # REST polling: pages read per cycle; a longer sweep continues next cycle
    poll_max_keys: int = 100_000  # REST polling: keys remembered per credential; the status names what is beyond


class Clock:
    """Wall and monotonic time, and every wait of the state machine.

    The default is real time; tests pass a subclass that skips ahead instead of waiting, so fault scenarios
    with 30 s backoffs run in milliseconds. Library timeouts (WebSocket open, HTTP read) stay real: tests make
    those short through `Timing`.
    """

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)

    async def wait(self, waitable: asyncio.Event | asyncio.Future, timeout: float) -> bool:
        """Until `waitable` is set/done or `timeout` seconds pass; True when it happened."""
        if isinstance(waitable, asyncio.Event):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waitable.wait(), timeout)
            return waitable.is_set()
        done, _ = await asyncio.wait({waitable}, timeout=timeout)
        return bool(done)


def full_jitter_backoff(attempt: int, timing: Timing, rng: Callable[[], float] = random.random) -> float:
    """AWS 'full jitter': uniform in [0, min(cap, base * 2**attempt)] so reconnect storms spread out."""
    ceiling = min(timing.backoff_max, timing.backoff_initial * (2 ** max(0, attempt)))
    return rng() * ceiling


class Verdict(StrEnum):
    retry = 'retry'  # same transport, after backoff
    fatal_auth = 'fatal_auth'  # stop until connect() is called again with a token
    fatal = 'fatal'  # a request the server will never accept: stop and say why
    fallback = 'fallback'  # the server is up but this transport is refused: count toward switching


@dataclass(frozen=True)
class Failure:
    verdict: Verdict
    reason: str


def classify_status(status: int, during: str) -> Failure:
    """Decide from an HTTP status seen while opening a stream.

    - 401/403: the credential is wrong or lacks Read: retrying cannot help (fatal_auth).
    - 5xx, 408, 429: the server or a proxy is struggling: retry with backoff — except on the
      WebSocket upgrade, where a 5xx is how proxies and our fault hook refuse upgrades (fallback).
    - 404/405/400/426 on the upgrade: this server or proxy does not do WebSockets (fallback).
    - any other 4xx on SSE/poll: the route is missing or refuses us (fallback to the next transport).
    """
    if status in (401, 403):
        return Failure(Verdict.fatal_auth, f'{during}: HTTP {status} (credential refused)')
    if status in (408, 429):
        return Failure(Verdict.retry, f'{during}: HTTP {status}')
    if status >= 500:
        return Failure(Verdict.fallback if during == 'websocket upgrade' else Verdict.retry,
                       f'{during}: HTTP {status}')
    return Failure(Verdict.fallback, f'{during}: HTTP {status}')
