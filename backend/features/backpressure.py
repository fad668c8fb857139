"""Backpressure on writes: at most `max_concurrency` mutating key requests run at once, at most
`max_queue_size` wait for a slot (each up to `queue_timeout_ms`), and the rest are refused at once with
503 and `Retry-After`. The limits change at runtime (`PUT /admin/backpressure`): raising one admits
waiting writes immediately.

The backoff and retry settings are the advice every refusal carries (the suggested wait grows by
`backoff_factor` from `backoff_initial_ms` up to `backoff_max_ms` while refusals follow each other);
the server itself never retries. Off by default: writes then only get counted (in flight, admitted).
While on, the live counters go out as `backpressure/stats` feature events (coalesced, ~4 a second).
Documented in docs/extensions/backpressure.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from typing import Any

from pydantic import BaseModel, Field, StrictBool, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http import backend_of, legacy, plain_error, read_body, require
from ..tokens import Permission

log = logging.getLogger(__name__)
FEATURE = 'backpressure'
STORE_KEY = b'backpressure-config'
MUTATING = {'POST', 'PUT', 'PATCH', 'DELETE'}
PUBLISH_DELAY = 0.25


class BackpressureConfig(BaseModel):
    enabled: StrictBool = False
    max_queue_size: int = Field(default=10_000, ge=0, le=1_000_000)
    max_concurrency: int = Field(default=100, ge=1, le=10_000)
    queue_timeout_ms: int = Field(default=30_000, ge=1, le=600_000)
    backoff_initial_ms: int = Field(default=100, ge=10, le=10_000)
    backoff_max_ms: int = Field(default=30_000, ge=100, le=300_000)
    backoff_factor: float = Field(default=2.0, ge=1, le=10)
    retry_max_attempts: int = Field(default=3, ge=0, le=20)
    retry_on_timeout: StrictBool = True
    retry_on_error: StrictBool = False

    @model_validator(mode='after')
    def _backoff_order(self) -> BackpressureConfig:
        if self.backoff_initial_ms > self.backoff_max_ms:
            raise ValueError('backoff_initial_ms must not exceed backoff_max_ms')
        return self


class ConfigChange(BaseModel):
    """Any subset of the config (the Angular client sends all of it); unknown fields are ignored."""
    enabled: StrictBool | None = None
    max_queue_size: int | None = None
    max_concurrency: int | None = None
    queue_timeout_ms: int | None = None
    backoff_initial_ms: int | None = None
    backoff_max_ms: int | None = None
    backoff_factor: float | None = None
    retry_max_attempts: int | None = None
    retry_on_timeout: StrictBool | None = None
    retry_on_error: StrictBool | None = None


def is_key_write(scope: dict) -> bool:
    """A mutating request on `/keys…` (also per column family, `/cf/{cf}/keys…`)."""
    if scope['type'] != 'http' or scope.get('method') not in MUTATING:
        return False
    path = scope['path']
    if path.startswith('/cf/'):
        path = '/' + path.split('/', 3)[-1] if path.count('/') >= 3 else path
    return path == '/keys' or path.startswith('/keys/')


class WriteGate:
    """A semaphore whose size changes at runtime, with a bounded FIFO queue in front of it."""

    def __init__(self, backend, config: BackpressureConfig) -> None:
        self.backend = backend
        self.config = config
        self.in_flight = 0
        self.waiters: deque[asyncio.Future] = deque()
        self.admitted = self.rejected = self.timed_out = 0
        self.peak_in_flight = self.peak_queued = 0
        self.streak = 0  # refusals since the last admitted write: the advised wait grows with it
        self._publish: asyncio.TimerHandle | None = None

    # -- counters and events --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return {'in_flight': self.in_flight, 'queued': len(self.waiters), 'admitted': self.admitted,
                'rejected': self.rejected, 'timed_out': self.timed_out, 'peak_in_flight': self.peak_in_flight,
                'peak_queued': self.peak_queued}

    def reset(self) -> None:
        self.admitted = self.rejected = self.timed_out = 0
        self.peak_in_flight, self.peak_queued = self.in_flight, len(self.waiters)
        self.changed(force=True)

    def changed(self, force: bool = False) -> None:
        """Publish the counters soon (one event for a whole burst), only while backpressure is on."""
        if (not self.config.enabled and not force) or self._publish is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._publish = loop.call_later(PUBLISH_DELAY, self._send)

    def _send(self) -> None:
        self._publish = None
        self.backend.publish_feature(FEATURE, 'stats', {'stats': self.stats(), 'enabled': self.config.enabled})

    # -- admission --------------------------------------------------------------------------------
    def _admit(self) -> None:
        self.in_flight += 1
        self.admitted += 1
        self.streak = 0
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.changed()

    def release(self) -> None:
        self.in_flight -= 1
        self.wake()
        self.changed()

    def wake(self) -> None:
        """Hand free slots to waiting writes, oldest first (after a release or a raised limit)."""
        while self.waiters and (not self.config.enabled or self.in_flight < self.config.max_concurrency):
            waiter = self.waiters.popleft()
            if not waiter.done():
                self._admit()  # the slot is the waiter's from now on
                waiter.set_result(None)

    def advised_wait_ms(self) -> int:
        cfg = self.config
        return int(min(cfg.backoff_max_ms, cfg.backoff_initial_ms * cfg.backoff_factor ** max(0, self.streak - 1)))

    def refusal(self, reason: str, retryable: bool) -> Response:
        self.rejected += 1
        self.streak += 1
        self.changed()
        wait = self.advised_wait_ms()
        cfg = self.config
        return JSONResponse({
            'error': f'{reason}; retry in {wait} ms', 'status': 503, 'retry_after_ms': wait,
            'retry': {'retryable': retryable, 'max_attempts': cfg.retry_max_attempts,
                      'on_timeout': cfg.retry_on_timeout, 'on_error': cfg.retry_on_error}},
            status_code=503, headers={'Retry-After': str(max(1, math.ceil(wait / 1000)))})

    async def enter(self) -> Response | None:
        """None once the write holds a slot (release it after), or the refusal to send."""
        cfg = self.config
        if not cfg.enabled or (self.in_flight < cfg.max_concurrency and not self.waiters):
            self._admit()
            return None
        if len(self.waiters) >= cfg.max_queue_size:
            return self.refusal(f'write queue full: {self.in_flight} writes in flight (limit {cfg.max_concurrency}) '
                                f'and {len(self.waiters)} waiting (limit {cfg.max_queue_size})', True)
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self.peak_queued = max(self.peak_queued, len(self.waiters))
        self.changed()
        try:
            await asyncio.wait({waiter}, timeout=cfg.queue_timeout_ms / 1000)
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise
        if waiter.done():
            return None
        self._abandon(waiter)
        self.timed_out += 1
        return self.refusal(f'the write waited {cfg.queue_timeout_ms} ms in the queue without a free slot',
                            cfg.retry_on_timeout)

    def _abandon(self, waiter: asyncio.Future) -> None:
        if waiter.done() and not waiter.cancelled():
            self.release()  # it was handed a slot it will not use
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)
        self.changed()

    def limiter(self, scope: dict, _token: Any) -> WriteSlot:
        return WriteSlot(self, scope)


class WriteSlot:
    """The limiter around one request: a slot for a key write (or the refusal), nothing for anything else.

    A plain class rather than a generator context manager: it runs around every request, reads included.
    """

    __slots__ = ('gate', 'scope', 'held')

    def __init__(self, gate: WriteGate, scope: dict) -> None:
        self.gate, self.scope, self.held = gate, scope, False

    async def __aenter__(self) -> Response | None:
        if not is_key_write(self.scope):
            return None
        refused = await self.gate.enter()
        self.held = refused is None
        return refused

    async def __aexit__(self, *_exc: object) -> None:
        if self.held:
            self.held = False
            self.gate.release()


def _load(backend) -> BackpressureConfig:
    raw = backend.store.system_get(STORE_KEY)
    if raw:
        try:
            return BackpressureConfig.model_validate_json(raw)
        except ValidationError as exc:
            log.error('stored backpressure config is unreadable (%s); using the defaults', exc)
    return BackpressureConfig()


def gate_of(backend) -> WriteGate:
    return backend.feature_state(FEATURE, lambda: WriteGate(backend, _load(backend)))


def install(backend) -> None:
    backend.request_limiters.append(gate_of(backend).limiter)


# -- routes ----------------------------------------------------------------------------------------
def _answer(gate: WriteGate) -> dict[str, Any]:
    return {**gate.config.model_dump(), 'stats': gate.stats()}


async def get_config(request: Request):
    require(request, Permission.Read)
    return legacy('Backpressure config', _answer(gate_of(backend_of(request))))


async def put_config(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    gate = gate_of(backend)
    change = await read_body(request, ConfigChange, backend.config.max_body_bytes)
    try:
        config = BackpressureConfig.model_validate({**gate.config.model_dump(), **change.model_dump(exclude_none=True)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ())) or 'config'
        message = str(first.get('msg', 'invalid value')).removeprefix('Value error, ')
        raise plain_error(400, message if where == 'config' else f'{where}: {message}') from None
    gate.config = config
    backend.store.system_put(STORE_KEY, config.model_dump_json().encode())
    gate.wake()
    backend.publish_feature(FEATURE, 'config', {'config': config.model_dump()})
    gate.changed(force=True)
    return legacy('Backpressure config updated', _answer(gate))


async def reset_stats(request: Request):
    require(request, Permission.Admin)
    gate = gate_of(backend_of(request))
    gate.reset()
    return legacy('Backpressure counters reset', _answer(gate))


routes = [
    Route('/admin/backpressure', get_config, methods=['GET']),
    Route('/admin/backpressure', put_config, methods=['PUT']),
    Route('/admin/backpressure/reset', reset_stats, methods=['POST']),
]
