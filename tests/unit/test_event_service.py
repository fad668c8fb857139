"""The event service against real backends on loopback: the original request's seven criteria and more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from services.events import (
    CompactionEvent,
    EventService,
    HealthEvent,
    KeyChangeEvent,
    Resync,
    SnapshotEvent,
    SyncEvent,
    Timing,
    wait_for_state,
)
from tests.conftest import ADMIN_TOKEN, admin_client

# sse_idle_timeout: a dropped SSE stream on the backend only ends at its next write (heartbeats every 15 s),
# so the client notices the drop by its idle timeout
FAST = Timing(ping_interval=0.2, ping_timeout=0.3, backoff_initial=0.02, backoff_max=0.2, stable_after=0.5,
              ws_probe_interval=0.3, poll_interval=0.1, long_poll_wait=0.5, open_timeout=2, sse_idle_timeout=0.5)


@pytest.fixture
async def service(backend) -> AsyncIterator[EventService]:
    svc = EventService(backend.url, timing=FAST)
    yield svc
    await svc.close()


class Collector:
    """Subscribes like a page does and remembers what arrived."""

    def __init__(self, stream) -> None:
        self.items: list = []
        self.arrived = asyncio.Event()
        self.handle = stream.subscribe(self._add)

    def _add(self, item) -> None:
        self.items.append(item)
        self.arrived.set()

    def of(self, kind) -> list:
        return [i for i in self.items if isinstance(i, kind)]

    async def wait_for(self, predicate, timeout: float = 10.0):
        async def loop():
            while True:
                for item in self.items:
                    if predicate(item):
                        return item
                self.arrived.clear()
                await self.arrived.wait()
        return await asyncio.wait_for(loop(), timeout)


def server_sockets(backend) -> int:
    return backend.call(lambda b: b.bus.streams())


async def put(backend, key: str, value: str = 'v', token: str = ADMIN_TOKEN) -> None:
    async with httpx.AsyncClient(base_url=backend.url, headers={'Authorization': f'Bearer {token}',
                                                                 'Content-Type': 'application/json'}) as client:
        (await client.put(f'/keys/{key}', json={'value': value})).raise_for_status()



async def served_twice(server, path: str, timeout: float = 15.0) -> None:
    """Until the server has answered `path` twice: the console's first round (its baseline) is then done.

    A condition, not a fixed sleep: on a busy machine the first round may take longer than any guess.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while server.call(lambda b: b.requests[path]) < 2:
        if loop.time() > deadline:
            raise AssertionError(f'{path} was not polled twice within {timeout:g}s')
        await asyncio.sleep(0.02)

async def test_connects_on_authentication(backend, service):
    assert service.status(ADMIN_TOKEN).state == 'disconnected'
    service.connect(ADMIN_TOKEN)
    status = await wait_for_state(service, ADMIN_TOKEN, 'connected')
    assert status.transport == 'websocket' and status.dialect == 'extended'
    assert server_sockets(backend) == 1
    assert ADMIN_TOKEN not in repr(status) and ADMIN_TOKEN not in status.model_dump_json()


async def test_events_are_received_and_parsed_for_every_type(backend, service):
    events = Collector(service.events(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    with admin_client(backend) as api:
        api.put('/keys/user:1', json={'value': 'Alice'})
        api.delete('/keys/user:1')
        api.post('/admin/flush')
        api.post('/admin/backups', json={'name': 'snap'})
    backend.faults(failing_probes=['liveness'])
    async with connect(backend.ws_url + '/ws/sync', additional_headers={'Authorization': f'Bearer {ADMIN_TOKEN}'},
                       ) as sync:
        await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
            {'key': 'd', 'value': 'x', 'timestamp': 5, 'device_id': 'a'}]}))
        await sync.recv()
    await events.wait_for(lambda e: isinstance(e, SyncEvent) and e.status == 'completed')
    await events.wait_for(lambda e: isinstance(e, HealthEvent))
    put_event = events.of(KeyChangeEvent)[0]
    assert (put_event.operation, put_event.key, put_event.value, put_event.cf) == ('put', 'user:1', 'Alice', 'default')
    assert events.of(KeyChangeEvent)[1].operation == 'delete'
    assert {e.status for e in events.of(CompactionEvent) if e.kind == 'flush'} == {'started', 'completed'}
    assert [e.status for e in events.of(SnapshotEvent)] == ['started', 'created']
    health = events.of(HealthEvent)[0]
    assert (health.probe, health.status) == ('liveness', 'unhealthy')
    seqs = [e.seq for e in events.items if hasattr(e, 'seq') and e.seq]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


async def test_cdc_dialect_of_the_real_server_parses_into_the_same_models(compat_backend):
    service = EventService(compat_backend.url, timing=FAST)
    try:
        keys = Collector(service.on_key_changes(ADMIN_TOKEN))
        health = Collector(service.on_health_events(ADMIN_TOKEN))
        service.connect(ADMIN_TOKEN)
        status = await wait_for_state(service, ADMIN_TOKEN, 'connected')
        assert status.dialect == 'cdc'
        await put(compat_backend, 'user:1', 'Alice')
        event = await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent))
        assert (event.operation, event.key, event.value_bytes, event.value) == ('put', 'user:1', b'Alice', 'Alice')
        assert event.timestamp > 10**18
        await served_twice(compat_backend, '/health/startup')  # the deriver has its baseline of the probes
        compat_backend.faults(failing_probes=['readiness'])
        flip = await health.wait_for(lambda e: isinstance(e, HealthEvent))
        assert flip.derived and (flip.probe, flip.status) == ('readiness', 'unhealthy')
    finally:
        await service.close()


async def test_compactions_on_a_server_that_announces_none_are_derived(compat_backend):
    """Own calls are announced as they happen; other clients' show up through /metrics counters."""
    from services.api import ApexApi

    service = EventService(compat_backend.url, timing=FAST)
    api = ApexApi(compat_backend.url, ADMIN_TOKEN,
                  on_admin_action=lambda event: service.note_admin_action(ADMIN_TOKEN, event))
    try:
        compactions = Collector(service.on_compaction_events(ADMIN_TOKEN))
        service.connect(ADMIN_TOKEN)
        await wait_for_state(service, ADMIN_TOKEN, 'connected')
        await served_twice(compat_backend, '/metrics')  # the deriver's first /metrics read is its baseline
        await api.flush()
        await compactions.wait_for(lambda e: isinstance(e, CompactionEvent) and e.status == 'completed')
        assert [(e.kind, e.status) for e in compactions.of(CompactionEvent)] == [('flush', 'started'),
                                                                                 ('flush', 'completed')]
        with admin_client(compat_backend) as other:
            other.post('/admin/compact')
        observed = await compactions.wait_for(lambda e: isinstance(e, CompactionEvent) and e.trigger == 'observed')
        assert observed.kind == 'compaction' and observed.derived
    finally:
        await api.close()
        await service.close()


async def test_reconnects_after_the_backend_is_killed_and_restarted(backend, service):
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    statuses = Collector(service.connection_status(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    await asyncio.to_thread(backend.stop)
    await wait_for_state(service, ADMIN_TOKEN, 'reconnecting')
    await asyncio.to_thread(backend.start)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    await keys.wait_for(lambda e: isinstance(e, Resync))
    await put(backend, 'after-restart')
    await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'after-restart')
    states = [s.state for s in statuses.items if not isinstance(s, Resync)]
    assert states.index('reconnecting') < len(states) - 1 - states[::-1].index('connected')
    assert service.status(ADMIN_TOKEN).counters.reconnects >= 1


async def test_resume_replays_what_was_missed_during_a_short_drop(backend, service):
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    backend.call(lambda b: (b.faults.drop_sockets(), b.write([('while-away', 'v', None)])))
    await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'while-away')
    assert service.status(ADMIN_TOKEN).counters.reconnects == 1
    assert not keys.of(Resync)  # resumed with since=: nothing lost, nothing to refetch


async def test_falls_back_to_sse_then_polling_and_returns_to_the_websocket(backend, service):
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    backend.faults(refuse_upgrades=True)
    service.connect(ADMIN_TOKEN)
    status = await wait_for_state(service, ADMIN_TOKEN, 'fallback_sse')
    assert status.transport == 'sse' and 'HTTP 503' in status.last_failure
    await put(backend, 'via-sse')
    await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'via-sse')
    backend.faults(block_sse=True)
    backend.faults(drop_sockets=True)
    status = await wait_for_state(service, ADMIN_TOKEN, 'fallback_polling')
    assert status.transport == 'long_poll'
    await put(backend, 'via-poll')
    await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'via-poll')
    backend.faults(refuse_upgrades=False)
    status = await wait_for_state(service, ADMIN_TOKEN, 'connected')
    assert status.transport == 'websocket'
    await keys.wait_for(lambda e: isinstance(e, Resync))
    await put(backend, 'back-on-ws')
    await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'back-on-ws')


async def test_rest_polling_against_a_server_without_streams(compat_backend):
    service = EventService(compat_backend.url, timing=FAST)
    try:
        keys = Collector(service.on_key_changes(ADMIN_TOKEN))
        compat_backend.faults(refuse_upgrades=True)
        compat_backend.faults(block_sse=True)
        service.connect(ADMIN_TOKEN)
        status = await wait_for_state(service, ADMIN_TOKEN, 'fallback_polling')
        assert status.transport == 'rest_poll'
        await put(compat_backend, 'seen-by-diff', 'x')
        event = await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent))
        assert (event.operation, event.key, event.value) == ('put', 'seen-by-diff', 'x')
        health = Collector(service.on_health_events(ADMIN_TOKEN))
        await served_twice(compat_backend, '/health/startup')  # the first probe round is the baseline
        compat_backend.faults(failing_probes=['startup'])
        flip = await health.wait_for(lambda e: isinstance(e, HealthEvent))
        assert (flip.probe, flip.status, flip.derived) == ('startup', 'unhealthy', True)
    finally:
        await service.close()


async def test_disconnect_on_logout_closes_the_socket_with_the_last_session(backend, service):
    service.connect(ADMIN_TOKEN)
    service.connect(ADMIN_TOKEN)  # a second tab/session with the same credential
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    assert server_sockets(backend) == 1
    await service.disconnect(ADMIN_TOKEN)
    assert service.status(ADMIN_TOKEN).state == 'connected'
    await service.disconnect(ADMIN_TOKEN)
    assert service.status(ADMIN_TOKEN).state == 'disconnected'
    for _ in range(100):
        if server_sockets(backend) == 0:
            break
        await asyncio.sleep(0.02)
    assert server_sockets(backend) == 0


async def test_a_refused_credential_is_fatal_and_not_retried(backend, service):
    service.connect('apx_not-a-real-token')
    status = await wait_for_state(service, 'apx_not-a-real-token', 'auth_failed')
    assert 'HTTP 401' in status.last_failure and 'apx_not-a-real-token' not in status.last_failure
    await asyncio.sleep(0.3)
    assert service.status('apx_not-a-real-token').attempt == status.attempt


async def test_a_stalled_server_is_detected_by_the_heartbeat(backend, service):
    statuses = Collector(service.connection_status(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    backend.faults(stalled=True)
    status = await statuses.wait_for(lambda s: getattr(s, 'state', None) == 'reconnecting', timeout=5)
    assert status.last_failure == 'heartbeat timed out'
    backend.faults(stalled=False)
    await wait_for_state(service, ADMIN_TOKEN, 'connected', timeout=5)


async def test_survives_5000_malformed_frames(backend, service):
    keys = Collector(service.on_key_changes(ADMIN_TOKEN))
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    for kind in ('invalid_json', 'unknown_type', 'wrong_types', 'binary', 'not_object'):
        backend.faults(garbage=kind, garbage_count=1000)
    backend.faults(garbage='oversize')
    await put(backend, 'still-alive')
    await keys.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'still-alive')
    status = service.status(ADMIN_TOKEN)
    assert status.state == 'connected' and status.counters.malformed == 5001
    assert status.counters.malformed_by_kind['binary'] == 1000 and status.counters.malformed_by_kind['oversize'] == 1


async def test_each_credential_has_its_own_connection(backend, service):
    with admin_client(backend) as api:
        reader = api.post('/admin/tokens', json={'name': 'r', 'permissions': ['Read']}).json()['data']['token']
        writer = api.post('/admin/tokens', json={'name': 'w', 'permissions': ['Write']}).json()['data']['token']
    service.connect(ADMIN_TOKEN)
    service.connect(reader)
    service.connect(writer)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    await wait_for_state(service, reader, 'connected')
    await wait_for_state(service, writer, 'auth_failed')  # Write does not imply Read
    assert server_sockets(backend) == 2
    assert service.status(reader).credential_id != service.status(ADMIN_TOKEN).credential_id


async def test_a_slow_subscriber_does_not_delay_a_fast_one(backend, service):
    fast = Collector(service.on_key_changes(ADMIN_TOKEN))
    slow_seen: list = []

    async def slow(item) -> None:
        await asyncio.sleep(0.05)
        slow_seen.append(item)

    service.on_key_changes(ADMIN_TOKEN).subscribe(slow, maxsize=10)
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')
    with admin_client(backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'k{i:03d}', 'value': 'v'} for i in range(200)]})
    await fast.wait_for(lambda e: isinstance(e, KeyChangeEvent) and e.key == 'k199', timeout=5)
    assert len(slow_seen) < 50  # the fast one finished while the slow one was still early on
    for _ in range(500):  # the slow one catches up: it was told to resync, never silently dropped
        if any(isinstance(i, Resync) for i in slow_seen):
            break
        await asyncio.sleep(0.02)
    assert any(isinstance(i, Resync) for i in slow_seen)
    assert service.status(ADMIN_TOKEN).counters.dropped > 0
    assert not fast.of(Resync)


async def test_async_iteration_works_like_a_callback(backend, service):
    service.connect(ADMIN_TOKEN)
    await wait_for_state(service, ADMIN_TOKEN, 'connected')

    async def write_soon() -> None:
        await asyncio.sleep(0.2)
        await put(backend, 'iterated')

    writer = asyncio.create_task(write_soon())
    stream = service.on_key_changes(ADMIN_TOKEN)
    iterator = aiter(stream)
    event = await anext(iterator)
    assert isinstance(event, KeyChangeEvent) and event.key == 'iterated'
    hub = service._channel(ADMIN_TOKEN).hub
    assert len(hub.subscriptions) == 1
    await iterator.aclose()  # what leaving an `async for` does
    assert len(hub.subscriptions) == 0
    await writer


async def test_token_in_query_parameter_for_backends_that_want_it(backend):
    service = EventService(backend.url, timing=FAST, token_in_query=True)
    try:
        service.connect(ADMIN_TOKEN)
        await wait_for_state(service, ADMIN_TOKEN, 'connected')
        service.connect('apx_wrong')
        status = await wait_for_state(service, 'apx_wrong', 'auth_failed')
        assert 'apx_wrong' not in (status.last_failure or '')
    finally:
        await service.close()


async def test_a_server_that_refuses_every_transport_is_reported_not_hammered():
    """A real HTTP server that answers 404 to everything: WS, SSE, long-poll, REST all refused."""
    import http.server
    import threading

    hits: list[str] = []

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hits.append(self.path)
            self.send_response(404)
            self.send_header('Content-Type', 'application/json')
            self.end_headers()
            self.wfile.write(b'{"error":"not found"}')

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service = EventService(f'http://127.0.0.1:{server.server_address[1]}', timing=FAST)
    try:
        service.connect(ADMIN_TOKEN)
        await asyncio.sleep(0.1)
        status = await wait_for_state(service, ADMIN_TOKEN, 'disconnected')
        assert 'HTTP 404' in status.last_failure
        seen = len(hits)
        await asyncio.sleep(0.5)
        assert len(hits) == seen  # gave up: no retry storm
        assert {p.split('?')[0] for p in hits} >= {'/ws/events', '/events', '/events/poll', '/keys/search'}
    finally:
        await service.close()
        server.shutdown()
