"""Transports only move bytes: WebSocket, SSE, long-poll and REST polling (diffed into events).

Each `run_*` opens its stream, reports `opened`, hands frames to the sink, and ends by raising
`StreamFailed` (the server answered but refused: classified by policy) or `ConnectionLost`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import Frame, Opcode

from .models import HealthEvent, ServerEvent, Transport
from .policy import Clock, Failure, Timing, Verdict, classify_status
from .polling import Poller

HARD_FRAME_LIMIT = 64 * 1024 * 1024  # websockets closes the socket past this; our soft limit is lower
PROBES = ('liveness', 'readiness', 'startup')
AUTH_CLOSE_CODES = {4401: 'token revoked or expired', 4403: 'permission withdrawn'}


class StreamFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class ConnectionLost(Exception):
    pass


class Sink(Protocol):
    def opened(self, transport: Transport) -> None: ...
    def frame(self, data: str | bytes) -> None: ...
    def obj(self, data: Any) -> None: ...
    def derived(self, event: ServerEvent) -> None: ...
    def alive(self) -> None: ...
    def notice(self, text: str | None) -> None: ...


@dataclass
class Endpoint:
    """Where and how to reach one backend with one credential (the token stays in here).

    `gate`, when set, says why the token must not be sent right now (e.g. the embedded backend is being
    restarted and anything could be listening on its port); every transport asks before it connects.
    """

    base_url: str
    token: str
    token_in_query: bool = False
    timing: Timing = field(default_factory=Timing)
    clock: Clock = field(default_factory=Clock)
    gate: Callable[[], str | None] | None = None

    def check_gate(self) -> None:
        reason = self.gate() if self.gate is not None else None
        if reason is not None:
            raise ConnectionLost(reason)

    @property
    def headers(self) -> dict[str, str]:
        return {'Authorization': f'Bearer {self.token}'}

    def ws_url(self, params: dict[str, str]) -> str:
        base = self.base_url.replace('https://', 'wss://', 1).replace('http://', 'ws://', 1)
        query = dict(params)
        if self.token_in_query:
            query['token'] = self.token
        return f'{base}/ws/events' + (f'?{urlencode(query)}' if query else '')

    def redact(self, text: str) -> str:
        return text.replace(self.token, '***') if self.token else text

    def http(self, read_timeout: float | None) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.timing.open_timeout, read=read_timeout)
        return httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=timeout)


def _lost(endpoint: Endpoint, exc: BaseException) -> ConnectionLost:
    return ConnectionLost(endpoint.redact(f'{type(exc).__name__}: {exc}'.strip().rstrip(':')))


class DirectConnection(ClientConnection):
    """Hands complete data frames to the sink as they are parsed, skipping the message queue.

    The library's `recv()` path (assembler, futures, one task switch per message) cost as much as
    parsing the event itself. Fragmented messages still take the normal path below.

    One TCP read can hold thousands of frames (a write burst): handled in the read callback they
    would hold the event loop for tens of milliseconds, and every open tab would stutter. Frames
    are queued and handed on in slices of at most `SLICE_SECS`, yielding to the loop in between;
    past `HIGH_WATER` queued frames the socket stops reading (TCP pushes back on the server).
    """

    sink: Sink | None = None
    SLICE_SECS = 0.004
    HIGH_WATER = 20_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: deque[str | bytes] = deque()
        self._drainer: asyncio.Task | None = None
        self._paused = False

    def process_event(self, event) -> None:
        sink = self.sink
        if sink is not None and isinstance(event, Frame) and event.fin and event.opcode in (Opcode.TEXT,
                                                                                             Opcode.BINARY):
            if event.opcode is Opcode.TEXT:
                try:
                    data: str | bytes = bytes(event.data).decode()
                except UnicodeDecodeError:
                    data = bytes(event.data)  # counted as a malformed (binary) frame by the sink
            else:
                data = bytes(event.data)
            self._queue_frame(sink, data)
            return
        super().process_event(event)

    def _queue_frame(self, sink: Sink, data: str | bytes) -> None:
        pending = self._pending
        pending.append(data)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain(sink), name='event frames')
        if len(pending) > self.HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    async def _drain(self, sink: Sink) -> None:
        pending = self._pending
        try:
            while pending:
                deadline = time.perf_counter() + self.SLICE_SECS
                while pending and time.perf_counter() < deadline:
                    sink.frame(pending.popleft())
                if self._paused and len(pending) < self.HIGH_WATER // 2:
                    self._paused = False
                    self.transport.resume_reading()
                await asyncio.sleep(0)
        finally:
            self._drainer = None

    async def drained(self) -> None:
        """Every frame read so far has reached the sink (before the connection is declared lost)."""
        if self._drainer is not None:
            await asyncio.shield(self._drainer)


async def run_websocket(endpoint: Endpoint, sink: Sink, resume: dict[str, str]) -> None:
    timing = endpoint.timing
    endpoint.check_gate()
    try:
        async with connect(endpoint.ws_url(resume), additional_headers=endpoint.headers,
                           ping_interval=timing.ping_interval, ping_timeout=timing.ping_timeout,
                           open_timeout=timing.open_timeout, close_timeout=2, max_size=HARD_FRAME_LIMIT,
                           compression=None, create_connection=DirectConnection) as ws:
            sink.opened('websocket')
            ws.sink = sink  # type: ignore[attr-defined]
            async for message in ws:  # fragmented messages only
                sink.frame(message)
            await ws.drained()  # type: ignore[attr-defined]
        raise ConnectionLost('server closed the WebSocket')
    except InvalidStatus as exc:
        raise StreamFailed(classify_status(exc.response.status_code, 'websocket upgrade')) from None
    except InvalidHandshake as exc:
        raise StreamFailed(Failure(Verdict.fallback, endpoint.redact(f'websocket handshake: {exc}'))) from None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else (exc.sent.code if exc.sent else 1006)
        if code in AUTH_CLOSE_CODES:  # the token was revoked or lost its permission while streaming
            raise StreamFailed(Failure(Verdict.fatal_auth, f'the server closed the stream: {AUTH_CLOSE_CODES[code]}'
                                       )) from None
        reason = 'heartbeat timed out' if code == 1011 else f'connection closed (code {code})'
        raise ConnectionLost(reason) from None
    except TimeoutError:
        # a proxy that accepts TCP but never answers the upgrade: as useless as one that refuses it, so it
        # counts toward falling back (retrying it alone would hang here forever)
        raise StreamFailed(Failure(Verdict.fallback, f'websocket upgrade: no answer within {timing.open_timeout:g}s')
                           ) from None
    except OSError as exc:
        raise _lost(endpoint, exc) from None


async def probe_websocket(endpoint: Endpoint) -> bool:
    """Can a WebSocket be opened right now? (Used while degraded to find the way back.)"""
    if endpoint.gate is not None and endpoint.gate() is not None:
        return False
    try:
        async with connect(endpoint.ws_url({}), additional_headers=endpoint.headers,
                           open_timeout=endpoint.timing.open_timeout, close_timeout=1, compression=None):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


async def run_sse(endpoint: Endpoint, sink: Sink, resume: dict[str, str]) -> None:
    """SSE with a read timeout of `sse_idle_timeout`: a half-open stream is noticed, not waited on forever.

    Silence before anything arrived (not even the `connected` frame every server sends first) means a proxy
    swallows or buffers the stream: that counts toward falling back. Silence later is a lost connection:
    reconnect. Servers without heartbeats (the current real server) are reconnected after that much quiet.
    """
    headers = {'Accept': 'text/event-stream'}
    params = {}
    if resume:
        headers['Last-Event-ID'] = resume['since']
        params['epoch'] = resume['epoch']
    endpoint.check_gate()
    idle = endpoint.timing.sse_idle_timeout
    heard = False
    try:
        async with endpoint.http(idle) as client, client.stream('GET', '/events', params=params,
                                                                headers=headers) as response:
            if response.status_code != 200:
                raise StreamFailed(classify_status(response.status_code, 'sse'))
            if not response.headers.get('content-type', '').startswith('text/event-stream'):
                raise StreamFailed(Failure(Verdict.fallback, 'sse: the server did not answer with an event stream'))
            sink.opened('sse')
            data: list[str] = []
            async for line in response.aiter_lines():
                heard = True
                if not line:
                    if data:
                        sink.frame('\n'.join(data))
                        data = []
                elif line.startswith(':'):
                    sink.alive()
                elif line.startswith('data:'):
                    data.append(line[6:] if line.startswith('data: ') else line[5:])
        raise ConnectionLost('server ended the event stream')
    except httpx.ReadTimeout:
        if not heard:
            raise StreamFailed(Failure(Verdict.fallback, f'sse: nothing received within {idle:g}s '
                                       '(a proxy may swallow or buffer the stream)')) from None
        raise ConnectionLost(f'sse: silent for {idle:g}s (no event, no heartbeat)') from None
    except httpx.HTTPError as exc:
        raise _lost(endpoint, exc) from None


async def run_long_poll(endpoint: Endpoint, sink: Sink, resume: dict[str, str]) -> None:
    """`/events/poll` (embedded backend); 404 means the server has none: fall back to REST polling."""
    wait = endpoint.timing.long_poll_wait
    params = dict(resume)
    try:
        async with endpoint.http(wait + endpoint.timing.open_timeout) as client:
            opened = False
            while True:
                endpoint.check_gate()
                response = await client.get('/events/poll', params={**params, 'wait': str(wait)})
                if response.status_code != 200:
                    raise StreamFailed(classify_status(response.status_code, 'long-poll'))
                body = response.json()
                if not opened:
                    sink.obj({'type': 'connected', 'epoch': body['epoch'], 'seq': body['next']})
                    sink.opened('long_poll')
                    opened = True
                for event in body['events']:
                    sink.obj(event)
                params = {'since': str(body['next']), 'epoch': body['epoch']}
    except httpx.HTTPError as exc:
        raise _lost(endpoint, exc) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StreamFailed(Failure(Verdict.fallback, f'long-poll: unexpected answer ({exc})')) from None


async def run_rest_poll(endpoint: Endpoint, sink: Sink, prefixes: Callable[[], Iterable[str]]) -> None:
    """Last resort for servers without streams: sweep the watched prefixes page by page, diffed (polling.py)."""
    poller = Poller(endpoint.timing)
    opened = False
    try:
        async with endpoint.http(endpoint.timing.open_timeout) as client:
            while True:
                endpoint.check_gate()
                poller.sync(prefixes())
                for event in await poller.cycle(client):
                    sink.derived(event)
                sink.notice(poller.notice())
                if opened:
                    sink.alive()
                else:
                    sink.opened('rest_poll')
                    opened = True
                await endpoint.clock.sleep(endpoint.timing.poll_interval)
    except httpx.HTTPStatusError as exc:
        raise StreamFailed(classify_status(exc.response.status_code, 'rest poll')) from None
    except httpx.HTTPError as exc:
        raise _lost(endpoint, exc) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StreamFailed(Failure(Verdict.fallback, f'rest poll: unexpected answer ({type(exc).__name__})')) from None


async def probe_health(client: httpx.AsyncClient) -> dict[str, tuple[str, str | None]]:
    """The three probes as ('healthy'|'unhealthy', reason); unreachable counts as unhealthy."""
    out = {}
    for name in PROBES:
        try:
            response = await client.get(f'/health/{name}')
            if response.status_code in (401, 403):
                raise StreamFailed(classify_status(response.status_code, 'health probe'))
            ok = response.status_code == 200
            reason = None if ok else (_json_field(response, 'reason') or f'HTTP {response.status_code}')
        except httpx.HTTPError as exc:
            ok, reason = False, f'unreachable: {type(exc).__name__}'
        out[name] = ('healthy' if ok else 'unhealthy', reason)
    return out


def _json_field(response: httpx.Response, name: str) -> str | None:
    try:
        return str(response.json().get(name))
    except (ValueError, AttributeError):
        return None


def health_transitions(before: dict[str, tuple[str, str | None]] | None,
                       after: dict[str, tuple[str, str | None]]) -> list[HealthEvent]:
    if before is None:
        return []
    return [HealthEvent(probe=name, status=status, reason=reason, derived=True)  # type: ignore[arg-type]
            for name, (status, reason) in after.items() if before.get(name, (None,))[0] != status]


def parse_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            name, _, value = line.partition(' ')
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return values
