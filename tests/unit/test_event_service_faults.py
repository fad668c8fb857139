"""The event service never gives up silently: faults injected through real servers and a real misbehaving proxy.

Waits of the state machine (backoff, polling period, probe interval) run on `FastClock`, so production-sized
backoffs cost milliseconds; library timeouts (WebSocket open, SSE idle) are made short through `Timing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from backend.server import free_port
from services.events import Clock, EventService, KeyChangeEvent, Timing, wait_for_state
from services.events.polling import PrefixSweep
from tests.conftest import ADMIN_TOKEN, admin_client

# production backoffs (they run on FastClock), short library timeouts
TIMING = Timing(ping_interval=0.5, ping_timeout=1, open_timeout=0.3, sse_idle_timeout=0.3, long_poll_wait=0.5,
                backoff_initial=0.5, backoff_max=30, ws_probe_interval=30, poll_interval=2)


class FastClock(Clock):
    """Waits at most `cap` real seconds and books the rest as elapsed: a 30 s backoff takes `cap`."""

    def __init__(self, cap: float = 0.05) -> None:
        self.cap = cap
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def time(self) -> float:
        return time.time() + self.skipped

    async def sleep(self, delay: float) -> None:
        real = min(delay, self.cap)
        await asyncio.sleep(real)
        self.skipped += delay - real

    async def wait(self, waitable, timeout: float) -> bool:
        real = min(timeout, self.cap)
        happened = await super().wait(waitable, real)
        if not happened:
            self.skipped += timeout - real
        return happened


SSE_HEAD = b'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n'
CDC_CONNECTED = b'data: {"type":"connected","message":"CDC event stream connected"}\n\n'


class FaultyProxy:
    """A real TCP proxy in front of a real backend that misbehaves per request, like broken middleboxes.

    `rule(request_head)` picks: 'forward', 'swallow' (accept, never answer), 'refuse' (404), 'silent_sse'
    (SSE headers, then nothing) or 'cdc_then_silent' (SSE headers and a CDC `connected` frame, then nothing).
    """

    def __init__(self, upstream_port: int, rule: Callable[[bytes], str]) -> None:
        self.upstream_port = upstream_port
        self.rule = rule
        self.actions: list[str] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    async def start(self) -> FaultyProxy:
        self._server = await asyncio.start_server(self._handle, '127.0.0.1', 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    def count(self, action: str) -> int:
        return self.actions.count(action)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b'\r\n\r\n')
            action = self.rule(head)
            self.actions.append(action)
            if action == 'forward':
                await self._forward(head, reader, writer)
                return
            if action == 'refuse':
                writer.write(b'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
            elif action in ('silent_sse', 'cdc_then_silent'):
                writer.write(SSE_HEAD + (CDC_CONNECTED if action == 'cdc_then_silent' else b''))
            await writer.drain()
            if action != 'refuse':
                while await reader.read(4096):  # hold the connection until the client gives up
                    pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _forward(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection('127.0.0.1', self.upstream_port)
        self._writers.add(up_writer)
        up_writer.write(head)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers.discard(up_writer)


def is_upgrade(head: bytes) -> bool:
    return b'upgrade: websocket' in head.lower()


def is_sse(head: bytes) -> bool:
    return head.startswith(b'GET /events ') or head.startswith(b'GET /events?')


@pytest.fixture
async def proxy_for(backend) -> AsyncIterator[Callable[[Callable[[bytes], str]], asyncio.Future]]:
    proxies: list[FaultyProxy] = []

    async def make(rule: Callable[[bytes], str]) -> FaultyProxy:
        proxy = await FaultyProxy(backend.config.port, rule).start()
        proxies.append(proxy)
        return proxy

    yield make  # type: ignore[misc]
    for proxy in proxies:
        await proxy.close()


@pytest.fixture
async def services() -> AsyncIterator[Callable[..., EventService]]:
    made: list[EventService] = []

    def make(url: str, timing: Timing = TIMING, **kwargs) -> EventService:
        service = EventService(url, timing=timing, clock=FastClock(), **kwargs)
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()


class Collector:
    def __init__(self, stream) -> None:
        self.items: list = []
        stream.subscribe(self.items.append)

    async def wait_for(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.items:
                if predicate(item):
                    return item
            await asyncio.sleep(0.01)
        raise TimeoutError('nothing matching arrived')


def key_event(key: str, operation: str = 'put') -> Callable[[object], bool]:
    return lambda e: isinstance(e, KeyChangeEvent) and e.key == key and e.operation == operation


async def put(url: str, key: str, value: str = 'v') -> None:
    async with httpx.AsyncClient(base_url=url, headers={'Authorization': f'Bearer {ADMIN_TOKEN}',
                                                        'Content-Type': 'application/json'}) as client:
        (await client.put(f'/keys/{key}', json={'value': value})).raise_for_status()


# -- 3. a proxy that swallows WebSocket upgrades -------------------------------------------------------
async def test_an_unanswered_websocket_upgrade_counts_toward_falling_back_to_sse(backend, proxy_for, services):
    proxy = await proxy_for(lambda head: 'swallow' if is_upgrade(head) else 'forward')
    service = services(proxy.url)
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    status = await wait_for_state(service, ADMIN_TOKEN, 'fallback_sse', timeout=10)
    assert status.transport == 'sse' and 'no answer within 0.3s' in (status.last_failure or '')
    assert proxy.count('swallow') >= TIMING.fallback_after
    await put(backend.url, 'via-sse-behind-the-proxy')
    await keys.wait_for(key_event('via-sse-behind-the-proxy'))


# -- 4. SSE streams that go silent -------------------------------------------------------------------
async def test_an_sse_stream_silent_from_the_start_falls_back_to_polling(backend, proxy_for, services):
    proxy = await proxy_for(lambda head: 'refuse' if is_upgrade(head) else 'silent_sse' if is_sse(head) else 'forward')
    service = services(proxy.url)
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    statuses = Collector(service.connection_status(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    status = await wait_for_state(service, ADMIN_TOKEN, 'fallback_polling', timeout=10)
    assert status.transport == 'long_poll'
    assert proxy.count('silent_sse') >= TIMING.fallback_after
    await statuses.wait_for(lambda s: 'sse: nothing received within 0.3s' in (getattr(s, 'last_failure', '') or ''))
    await put(backend.url, 'via-long-poll')
    await keys.wait_for(key_event('via-long-poll'))


async def test_a_half_open_sse_stream_of_a_server_without_heartbeats_is_noticed_every_time(backend, proxy_for,
                                                                                           services):
    """The real server sends no heartbeats: the idle timeout must hold for its CDC dialect too."""
    proxy = await proxy_for(lambda head: 'refuse' if is_upgrade(head) else
                            'cdc_then_silent' if is_sse(head) else 'forward')
    service = services(proxy.url)
    statuses = Collector(service.connection_status(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'fallback_sse', timeout=10)

    def silent_drops() -> int:
        return sum(1 for s in statuses.items if getattr(s, 'state', None) == 'reconnecting'
                   and 'sse: silent for 0.3s' in (s.last_failure or ''))

    deadline = time.monotonic() + 10
    while silent_drops() < 3:
        assert time.monotonic() < deadline, f'only {silent_drops()} silent streams noticed'
        await asyncio.sleep(0.02)
    assert service.status(ADMIN_TOKEN).dialect == 'cdc'
    assert proxy.count('cdc_then_silent') >= 3


# -- 5. REST polling sees every key of a prefix ----------------------------------------------------------
def write_items(server, count: int) -> None:
    with admin_client(server) as api:
        for start in range(0, count, 500):
            api.post('/keys/batch', json={'records': [{'key': f'item:{i:04d}', 'value': 'v0'}
                                                      for i in range(start, min(count, start + 500))]}
                     ).raise_for_status()


async def start_polling(server, services, timing: Timing) -> tuple[EventService, Collector]:
    server.faults(refuse_upgrades=True)
    server.faults(block_sse=True)
    service = services(server.url, timing)
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    service.watch_prefix(ADMIN_TOKEN, 'item:')
    service.connect(ADMIN_TOKEN)
    status = await wait_for_state(service, ADMIN_TOKEN, 'fallback_polling', timeout=10)
    assert status.transport == 'rest_poll'
    return service, keys


async def test_rest_polling_pages_through_every_key_of_a_watched_prefix(compat_backend, services):
    write_items(compat_backend, 1200)
    timing = TIMING.model_copy(update={'poll_page_size': 200, 'poll_pages_per_cycle': 2})
    service, keys = await start_polling(compat_backend, services, timing)
    await put(compat_backend.url, 'item:0001', 'v1')  # seen once the first (learning) sweep is through
    await keys.wait_for(key_event('item:0001'))
    await put(compat_backend.url, 'item:1100', 'v1')  # far past the first page
    await put(compat_backend.url, 'item:1250', 'new')
    with admin_client(compat_backend) as api:
        api.delete('/keys/item:0900').raise_for_status()
    changed = await keys.wait_for(key_event('item:1100'))
    assert changed.value == 'v1'
    await keys.wait_for(key_event('item:1250'))
    await keys.wait_for(key_event('item:0900', 'delete'))
    assert service.status(ADMIN_TOKEN).notice is None


async def test_rest_polling_says_plainly_which_keys_it_cannot_watch(compat_backend, services):
    write_items(compat_backend, 1200)
    timing = TIMING.model_copy(update={'poll_page_size': 200, 'poll_max_keys': 300})
    service, keys = await start_polling(compat_backend, services, timing)
    deadline = time.monotonic() + 10
    while not service.status(ADMIN_TOKEN).notice:
        assert time.monotonic() < deadline, 'no notice'
        await asyncio.sleep(0.01)
    notice = service.status(ADMIN_TOKEN).notice or ''
    assert "first 300 keys under 'item:'" in notice and "after 'item:0299'" in notice
    assert 'EVENTS_POLL_MAX_KEYS' in notice
    await put(compat_backend.url, 'item:0100', 'v1')  # within what it watches: still seen
    await keys.wait_for(key_event('item:0100'))


def test_a_sweep_diffs_each_page_against_the_same_key_range():
    sweep = PrefixSweep('k')
    assert sweep.apply_page([('k1', 'a'), ('k2', 'a')], 'k2', room=10) == []  # learning
    assert sweep.apply_page([('k3', 'a')], None, room=8) == []
    events = sweep.apply_page([('k1', 'b')], 'k1', room=7)  # k2 gone? not yet: its range is not read
    assert [(e.operation, e.key) for e in events] == [('put', 'k1')]
    events = sweep.apply_page([('k3', 'a'), ('k4', 'a')], None, room=7)  # (k1, end]: k2 deleted, k4 new
    assert sorted((e.operation, e.key) for e in events) == [('delete', 'k2'), ('put', 'k4')]
    assert sweep.keys == ['k1', 'k3', 'k4'] and sweep.notice() is None
    sweep.apply_page([('k1', 'b'), ('k3', 'a'), ('k4', 'a'), ('k5', 'a')], None, room=0)  # cap: one too many
    assert sweep.keys == ['k1', 'k3', 'k4'] and "changes after 'k4'" in (sweep.notice() or '')


# -- 6. the injected clock ----------------------------------------------------------------------------
async def test_backoff_waits_run_on_the_injected_clock(services):
    """Minutes of backoff against a dead port pass in well under a second of real time."""
    service = services(f'http://127.0.0.1:{free_port()}', TIMING.model_copy(update={'backoff_initial': 10,
                                                                                    'backoff_max': 60}),
                       rng=lambda: 1.0)
    clock = service.clock
    started = time.monotonic()
    service.connect(ADMIN_TOKEN)
    while service.status(ADMIN_TOKEN).attempt < 6:
        assert time.monotonic() - started < 5, 'backoff waited in real time'
        await asyncio.sleep(0.01)
    status = service.status(ADMIN_TOKEN)
    assert status.state == 'reconnecting' and 'ConnectionRefusedError' in (status.last_failure or '')
    assert 50 <= (status.next_retry_at or 0) - clock.time() <= 60  # the 6th delay is the 60 s cap
    assert isinstance(clock, FastClock) and clock.skipped >= 10 + 20 + 40 + 60
