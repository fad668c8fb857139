"""Retry, fallback and backoff policies: small pure functions with the reasons written down."""

from __future__ import annotations

import random
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
    open_timeout: float = 10.0
    fallback_after: int = 2  # upgrade refusals in a row before leaving the WebSocket
    max_frame_bytes: int = 1024 * 1024


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
