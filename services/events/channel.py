"""One upstream connection per (backend, credential): the state machine, fallback, resync, fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Callable
from typing import Literal

import httpx

from .fanout import Hub
from .models import (
    DOMAIN_EVENTS,
    CompactionEvent,
    ConnectedEvent,
    ConnectionState,
    ConnectionStatus,
    Counters,
    KeyChangeEvent,
    LagEvent,
    Resync,
    ResyncRequiredEvent,
    ServerEvent,
    Transport,
)
from .policy import Clock, Verdict, full_jitter_backoff
from .protocol import Malformed, SeqTracker, parse_frame, parse_object
from .transports import (
    ConnectionLost,
    Endpoint,
    StreamFailed,
    health_transitions,
    parse_metrics,
    probe_health,
    probe_websocket,
    run_long_poll,
    run_rest_poll,
    run_sse,
    run_websocket,
)

log = logging.getLogger(__name__)
CHAIN: tuple[str, ...] = ('websocket', 'sse', 'poll')
MALFORMED_LOG_EVERY = 60.0


def credential_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:10]


class Channel:
    def __init__(self, endpoint: Endpoint, *, rng: Callable[[], float] = random.random,
                 retry_upstream: Callable[[], None] | None = None,
                 on_auth_failed: Callable[[], None] | None = None) -> None:
        self.endpoint = endpoint
        self.on_auth_failed = on_auth_failed  # the credential is refused: its sessions must sign in again
        self.timing = endpoint.timing
        self.clock: Clock = endpoint.clock
        self.rng = rng
        self.retry_upstream = retry_upstream  # "Reconnect now" also retries an embedded backend that gave up
        self.hub = Hub(on_stale=self._count_resync)
        self.status = ConnectionStatus(credential_id=credential_id(endpoint.token))
        self.counters = Tally()  # mutated per event: a plain object (pydantic setattr is slow)
        self.last_event_at: float | None = None
        self.seq = SeqTracker()
        self.refs = 0
        self.watched_prefixes: dict[str, int] = {}
        self._task: asyncio.Task | None = None
        self._deriver: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._mode = 0  # index into CHAIN
        self._refusals = 0
        self._ever_opened = False
        self._opened_at: float | None = None
        self._malformed_logged: dict[str, float] = {}
        self._own_actions: dict[str, int] = {'compaction': 0, 'flush': 0}

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._set_state(ConnectionState.connecting, attempt=0, last_failure=None)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f'events:{self.status.credential_id}')

    async def stop(self) -> None:
        for task in (self._task, self._deriver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._deriver = None
        self._set_state(ConnectionState.disconnected, transport=None, next_retry_at=None)

    def reconnect_now(self) -> None:
        """Skip the backoff wait (the badge's "Reconnect now"); restarts after giving up too."""
        if self.retry_upstream is not None and self.endpoint.gate is not None and self.endpoint.gate() is not None:
            self.retry_upstream()
        if self.running:
            self._wake.set()
        else:
            self._mode, self._refusals = 0, 0
            self.start()

    # -- status ------------------------------------------------------------------------------------
    def _set_state(self, state: ConnectionState, **changes) -> None:
        self.status = self.status.model_copy(update={'state': state, **changes})
        self.hub.publish(self.snapshot())

    def snapshot(self) -> ConnectionStatus:
        counters = Counters(**vars(self.counters), dropped=self.hub.dropped)
        return self.status.model_copy(update={'counters': counters, 'last_event_at': self.last_event_at})

    def upstream_changed(self) -> None:
        """The embedded backend changed state (from its supervisor's thread): look again instead of waiting."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._nudge)

    def _nudge(self) -> None:
        if self.running and self.status.state in (ConnectionState.reconnecting, ConnectionState.connecting):
            self._wake.set()

    def _count_resync(self) -> None:
        self.counters.resyncs += 1

    def resync(self, reason: str) -> None:
        self.counters.resyncs += 1
        log.info('resync (%s) for credential %s', reason, self.status.credential_id)
        self.hub.publish(Resync(reason=reason))

    # -- the loop ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while True:
            mode = CHAIN[self._mode]
            try:
                await self._run_mode(mode)
                failure_reason = 'stream ended'
            except StreamFailed as exc:
                failure_reason = exc.failure.reason
                if exc.failure.verdict == Verdict.fatal_auth:
                    self._set_state(ConnectionState.auth_failed, transport=None, last_failure=failure_reason,
                                    next_retry_at=None)
                    log.warning('event stream: %s; not retrying until signed in again', failure_reason)
                    if self.on_auth_failed is not None:
                        self.on_auth_failed()
                    return
                if exc.failure.verdict == Verdict.fallback and self._mode == len(CHAIN) - 1:
                    # nothing left to fall back to: a 4xx here will not go away by retrying
                    self._set_state(ConnectionState.disconnected, transport=None, last_failure=failure_reason,
                                    next_retry_at=None)
                    log.warning('event stream: %s; no transport left, giving up until "Reconnect now"',
                                failure_reason)
                    return
                if exc.failure.verdict == Verdict.fallback:
                    self._note_refusal(mode)
            except ConnectionLost as exc:
                failure_reason = str(exc)
            except _SwitchToWebSocket:
                self._mode, self._refusals, attempt = 0, 0, 0
                self.resync('returned to the WebSocket')
                continue
            if self._opened_at is not None and self.clock.monotonic() - self._opened_at >= self.timing.stable_after:
                attempt = 0
            self._opened_at = None
            delay = full_jitter_backoff(attempt, self.timing, self.rng)
            attempt += 1
            self.counters.reconnects += 1
            self._set_state(ConnectionState.reconnecting, attempt=attempt, last_failure=failure_reason,
                            next_retry_at=self.clock.time() + delay)
            log.info('event stream lost (%s); retry %d in %.2fs', failure_reason, attempt, delay)
            self._wake.clear()
            await self.clock.wait(self._wake, delay)

    def _note_refusal(self, mode: str) -> None:
        self._refusals += 1
        if self._refusals >= self.timing.fallback_after and self._mode < len(CHAIN) - 1:
            self._mode += 1
            self._refusals = 0
            log.warning('event stream: %s refused or unanswered repeatedly; falling back to %s', mode,
                        CHAIN[self._mode])

    async def _run_mode(self, mode: str) -> None:
        resume = self.seq.resume_params()
        if mode == 'websocket':
            await run_websocket(self.endpoint, self, resume)
            return
        body = run_sse(self.endpoint, self, resume) if mode == 'sse' else self._poll(resume)
        await self._with_websocket_probe(body)

    async def _poll(self, resume: dict[str, str]) -> None:
        if self.status.dialect != 'cdc':
            try:
                await run_long_poll(self.endpoint, self, resume)
                return
            except StreamFailed as exc:
                if exc.failure.verdict != Verdict.fallback:
                    raise
        await run_rest_poll(self.endpoint, self, lambda: self.watched_prefixes or {'': 1})

    async def _with_websocket_probe(self, body) -> None:
        """Run a degraded transport, but try the WebSocket every `ws_probe_interval` to return to it."""
        runner = asyncio.ensure_future(body)
        try:
            while True:
                if await self.clock.wait(runner, self.timing.ws_probe_interval):
                    runner.result()
                    return
                if await probe_websocket(self.endpoint):
                    raise _SwitchToWebSocket
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner

    # -- sink (called by transports) ---------------------------------------------------------------
    def opened(self, transport: Transport) -> None:
        state = {'websocket': ConnectionState.connected, 'sse': ConnectionState.fallback_sse}.get(
            transport, ConnectionState.fallback_polling)
        switched = self.status.transport is not None and self.status.transport != transport
        reconnected = self._ever_opened
        self._ever_opened = True
        self._opened_at = self.clock.monotonic()
        if self._mode == 0:
            self._refusals = 0
        self.last_event_at = self.clock.time()
        cleared = {} if transport == 'rest_poll' else {'notice': None}  # only REST polling has blind spots
        self._set_state(state, transport=transport, next_retry_at=None, **cleared)
        self._ensure_deriver()  # REST polling has no stream that would announce health or compaction
        if switched:
            self.resync(f'switched to {transport}')
        elif reconnected and (self.status.dialect == 'cdc' or transport == 'rest_poll'):
            self.resync('reconnected to a server without resume')

    def alive(self) -> None:
        self.last_event_at = self.clock.time()

    def notice(self, text: str | None) -> None:
        if text != self.status.notice:
            if text:
                log.warning('event stream for credential %s: %s', self.status.credential_id, text)
            self.status = self.status.model_copy(update={'notice': text})
            self.hub.publish(self.snapshot())

    def frame(self, data: str | bytes) -> None:
        parsed = parse_frame(data, self.timing.max_frame_bytes)
        self._handle(parsed)

    def obj(self, data) -> None:
        self._handle(parse_object(data))

    def derived(self, event: ServerEvent) -> None:
        self._deliver(event)

    def _handle(self, parsed: ServerEvent | Malformed) -> None:
        kind = type(parsed)  # `type() is` checks: isinstance on pydantic models is slow on this hot path
        if kind is Malformed:
            self._malformed(parsed)  # type: ignore[arg-type]
            return
        self.last_event_at = self.clock.time()
        if kind is ConnectedEvent:
            self._on_connected(parsed)  # type: ignore[arg-type]
        elif kind is LagEvent:
            self.resync(f'server dropped {parsed.skipped} events')  # type: ignore[union-attr]
        elif kind is ResyncRequiredEvent:
            self.seq.reset(parsed.epoch)  # type: ignore[union-attr]
            self.resync(parsed.reason or 'server asked for a resync')  # type: ignore[union-attr]
        elif self.seq.accept(parsed.seq):  # type: ignore[union-attr]
            self._deliver(parsed)  # type: ignore[arg-type]
        else:
            self.counters.duplicates += 1

    def _on_connected(self, event: ConnectedEvent) -> None:
        dialect = 'extended' if event.epoch is not None else 'cdc'
        if dialect != self.status.dialect:
            self.status = self.status.model_copy(update={'dialect': dialect})
        if event.epoch is not None and event.epoch != self.seq.epoch:
            had_epoch = self.seq.epoch is not None
            self.seq.reset(event.epoch)
            self.seq.last_seq = event.seq
            if had_epoch:
                self.resync('server epoch changed')
        elif self.seq.last_seq is None:
            self.seq.last_seq = event.seq
        self._ensure_deriver()

    def _deliver(self, event: ServerEvent) -> None:
        self.counters.received += 1
        self.hub.publish(event)

    def _malformed(self, bad: Malformed) -> None:
        counters = self.counters
        counters.malformed += 1
        counters.malformed_by_kind[bad.kind] = counters.malformed_by_kind.get(bad.kind, 0) + 1
        now = self.clock.monotonic()
        if now - self._malformed_logged.get(bad.kind, -MALFORMED_LOG_EVERY) >= MALFORMED_LOG_EVERY:
            self._malformed_logged[bad.kind] = now
            log.warning('ignoring malformed event frame (%s): %s [%d so far]', bad.kind, bad.detail,
                        counters.malformed_by_kind[bad.kind])

    # -- derived events for servers that push no health/compaction events --------------------------
    def _ensure_deriver(self) -> None:
        needed = self.status.dialect == 'cdc' or self.status.transport == 'rest_poll'
        if needed and (self._deriver is None or self._deriver.done()):
            self._deriver = asyncio.get_running_loop().create_task(self._derive(), name='events:derive')

    async def _derive(self) -> None:
        """Probe health and read /metrics once per channel (never per browser tab), turn changes into events."""
        health = None
        counts: dict[str, float] | None = None
        async with self.endpoint.http(self.timing.open_timeout) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError, StreamFailed, ConnectionLost):
                    self.endpoint.check_gate()  # the token goes only to a backend we may trust right now
                    now = await probe_health(client)
                    for event in health_transitions(health, now):
                        self._deliver(event)
                    health = now
                    metrics = await client.get('/metrics')
                    if metrics.status_code == 200:
                        current = parse_metrics(metrics.text)
                        if counts is not None:
                            self._derive_compactions(counts, current)
                        counts = current
                await self.clock.sleep(self.timing.poll_interval)

    def _derive_compactions(self, before: dict[str, float], after: dict[str, float]) -> None:
        pairs: tuple[tuple[Literal['compaction', 'flush'], str], ...] = (
            ('compaction', 'apexstore_compactions_total'), ('flush', 'apexstore_flushes_total'))
        for kind, metric in pairs:
            delta = int(after.get(metric, 0) - before.get(metric, 0))
            own, self._own_actions[kind] = self._own_actions[kind], 0
            if delta - own > 0:  # someone else compacted/flushed: say so
                self._deliver(CompactionEvent(status='completed', kind=kind, trigger='observed', derived=True,
                                              details={'count': delta - own}))

    def note_admin_action(self, event: CompactionEvent) -> None:
        """The console's own flush/compact calls, announced where the server pushes nothing."""
        if self.status.dialect != 'extended':
            if event.status == 'completed':
                self._own_actions[event.kind] += 1
            self._deliver(event)


class Tally:
    """The live counters behind `Counters` (see `Channel.snapshot`)."""

    def __init__(self) -> None:
        self.received = self.duplicates = self.malformed = self.resyncs = self.reconnects = 0
        self.malformed_by_kind: dict[str, int] = {}

    def __getstate__(self):
        return dict(vars(self))


class _SwitchToWebSocket(Exception):
    pass


__all__ = ['Channel', 'credential_id', 'KeyChangeEvent', 'DOMAIN_EVENTS']
