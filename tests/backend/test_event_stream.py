"""Event streams of the embedded backend, read with real WebSocket/HTTP clients."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ADMIN_TOKEN, make_backend

AUTH = {'Authorization': f'Bearer {ADMIN_TOKEN}', 'Content-Type': 'application/json'}


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, predicate, timeout: float = 10.0) -> dict:
    async def loop():
        while True:
            message = await recv_json(ws, timeout)
            if predicate(message):
                return message
    return await asyncio.wait_for(loop(), timeout)


def events_url(server, **params) -> str:
    query = '&'.join(f'{k}={v}' for k, v in params.items())
    return f'{server.ws_url}/ws/events' + (f'?{query}' if query else '')


async def test_first_frame_is_connected_then_ordered_key_changes(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH) as api:
        async with connect(events_url(backend), additional_headers=AUTH) as ws:
            hello = await recv_json(ws)
            assert hello['type'] == 'connected' and hello['seq'] == 0 and hello['epoch']
            await api.put('/keys/a', json={'value': '1'})
            await api.post('/keys/batch', json={'records': [{'key': 'b', 'value': '2'}, {'key': 'c', 'value': '3'}]})
            await api.delete('/keys/a')
            await api.delete('/keys', params={'prefix': 'b'})
            frames = [await recv_json(ws) for _ in range(5)]
    assert [(f['operation'], f['key']) for f in frames] == [('put', 'a'), ('put', 'b'), ('put', 'c'),
                                                             ('delete', 'a'), ('delete_prefix', 'b')]
    assert [f['seq'] for f in frames] == [1, 2, 3, 4, 5]
    assert all(f['type'] == 'key_change' and f['cf'] == 'default' and f['timestamp'] > 10**18 for f in frames)
    assert frames[0]['value'] == '1'


async def test_token_in_query_parameter_is_accepted_and_bad_tokens_are_refused(backend):
    async with connect(events_url(backend, token=ADMIN_TOKEN)) as ws:
        assert (await recv_json(ws))['type'] == 'connected'
    with pytest.raises(InvalidStatus) as refused:
        async with connect(events_url(backend, token='apx_wrong')):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as missing:
        async with connect(events_url(backend)):
            pass
    assert missing.value.response.status_code == 401


async def test_filters_by_type_and_prefix(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH) as api:
        async with connect(events_url(backend, types='key_change', prefix='user:'), additional_headers=AUTH) as ws:
            await recv_json(ws)
            await api.put('/keys/order:1', json={'value': 'x'})
            await api.post('/admin/flush')
            await api.put('/keys/user:1', json={'value': 'y'})
            frame = await recv_json(ws)
    assert frame['key'] == 'user:1'


async def test_resume_replays_missed_events_and_demands_resync_after_a_gap(tmp_path):
    with make_backend(tmp_path / 's', history_size=5) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH) as api:
            for i in range(3):
                await api.put(f'/keys/k{i}', json={'value': str(i)})
            epoch = server.call(lambda b: b.bus.epoch)
            async with connect(events_url(server, since=1, epoch=epoch), additional_headers=AUTH) as ws:
                assert (await recv_json(ws))['type'] == 'connected'
                replayed = [await recv_json(ws) for _ in range(2)]
                assert [f['seq'] for f in replayed] == [2, 3]
            for i in range(10):
                await api.put(f'/keys/more{i}', json={'value': str(i)})
            async with connect(events_url(server, since=2, epoch=epoch), additional_headers=AUTH) as ws:
                await recv_json(ws)
                assert (await recv_json(ws))['type'] == 'resync_required'
            async with connect(events_url(server, since=2, epoch='other'), additional_headers=AUTH) as ws:
                await recv_json(ws)
                assert (await recv_json(ws))['reason'] == 'epoch changed'


async def test_restore_starts_a_new_epoch_so_resuming_clients_resync(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=30) as api:
        snapshot = (await api.post('/admin/backups', json={'name': 's'})).json()['data']['id']
        async with connect(events_url(backend), additional_headers=AUTH) as ws:
            hello = await recv_json(ws)
            await api.post(f'/admin/backups/{snapshot}/restore')
            resync = await recv_until(ws, lambda m: m['type'] == 'resync_required')
            assert resync['epoch'] != hello['epoch']
            restored = await recv_until(ws, lambda m: m['type'] == 'snapshot_event')
            assert restored['status'] == 'restored'
        async with connect(events_url(backend, since=hello['seq'] + 1, epoch=hello['epoch']),
                           additional_headers=AUTH) as ws:
            await recv_json(ws)
            assert (await recv_json(ws))['type'] == 'resync_required'


async def test_a_reader_that_stops_reading_gets_lag_not_unbounded_memory(tmp_path):
    with make_backend(tmp_path / 's', subscriber_limit=20) as server:
        async with connect(events_url(server), additional_headers=AUTH, max_queue=1) as ws:
            await recv_json(ws)
            server.call(lambda b: [b.write([(f'k{i}', 'v' * 2000, None)]) for i in range(1200)])
            queued = server.call(lambda b: max(len(s.queue) for s in b.bus.subscribers))
            assert queued <= 20
            lag = await recv_until(ws, lambda m: m['type'] == 'lag', timeout=20)
            assert lag['skipped'] > 0


async def test_compaction_health_snapshot_and_sync_events(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=30) as api:
        async with connect(events_url(backend, types='compaction_status,health_change,snapshot_event,sync_event'),
                           additional_headers=AUTH) as ws:
            await recv_json(ws)
            for round_ in range(2):
                await api.post('/keys/batch', json={'records': [{'key': f'k{i}', 'value': str(round_)}
                                                                for i in range(100)]})
                await api.post('/admin/flush')
            await api.post('/admin/compact')
            done = await recv_until(ws, lambda m: m['type'] == 'compaction_status' and m['status'] == 'completed'
                                    and m['kind'] == 'compaction')
            assert done['details']['files_merged'] == 2 and done['details']['levels'][6]['files'] == 1
            backend.faults(failing_probes=['readiness'])
            flip = await recv_until(ws, lambda m: m['type'] == 'health_change')
            assert flip['probe'] == 'readiness' and flip['status'] == 'unhealthy'
            await api.post('/admin/backups', json={'name': 'nightly'})
            created = await recv_until(ws, lambda m: m['type'] == 'snapshot_event' and m['status'] == 'created')
            assert created['name'] == 'nightly'
            async with connect(f'{backend.ws_url}/ws/sync', additional_headers=AUTH) as sync:
                await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
                    {'key': 'doc', 'value': 'new', 'timestamp': 20, 'device_id': 'a'}]}))
                await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
                    {'key': 'doc', 'value': 'old', 'timestamp': 10, 'device_id': 'b'}]}))
                conflict = await recv_until(ws, lambda m: m['type'] == 'sync_event' and m['status'] == 'conflict')
            assert conflict['details']['key'] == 'doc' and conflict['details']['kept_timestamp'] == 20
        assert (await api.get('/keys/doc')).json()['value'] == 'new'


async def test_sse_has_ids_and_resumes_from_last_event_id(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=10) as api:
        for i in range(3):
            await api.put(f'/keys/k{i}', json={'value': str(i)})
        async with api.stream('GET', '/events', headers={'Last-Event-ID': '1'}) as stream:
            lines = stream.aiter_lines()
            seen: list[str] = []
            while len([line for line in seen if line.startswith('data:')]) < 3:
                seen.append(await asyncio.wait_for(anext(lines), 5))
    assert 'id: 2' in seen and 'id: 3' in seen
    payloads = [json.loads(line[6:]) for line in seen if line.startswith('data:')]
    assert payloads[0]['type'] == 'connected' and [p['key'] for p in payloads[1:]] == ['k1', 'k2']


async def test_long_poll_returns_as_soon_as_an_event_arrives(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=10) as api:
        start = (await api.get('/events/poll')).json()
        assert start['events'] == [] and start['next'] == 0
        waiting = asyncio.create_task(api.get('/events/poll', params={'since': 0, 'wait': 5,
                                                                       'epoch': start['epoch']}))
        await asyncio.sleep(0.2)
        await api.put('/keys/x', json={'value': 'y'})
        answer = (await waiting).json()
    assert [e['key'] for e in answer['events']] == ['x'] and answer['next'] == 1


async def test_compat_mode_sends_cdc_frames_and_only_accepts_the_header(compat_backend):
    async with httpx.AsyncClient(base_url=compat_backend.url, headers=AUTH) as api:
        async with connect(events_url(compat_backend), additional_headers=AUTH) as ws:
            assert await recv_json(ws) == {'type': 'connected', 'message': 'CDC event stream connected'}
            await api.put('/keys/user:1', json={'value': 'Alice'})
            await api.delete('/keys', params={'prefix': 'zzz'})  # range tombstone: no event
            await api.delete('/keys/user:1')
            put, delete = await recv_json(ws), await recv_json(ws)
    assert put == {'type': 'put', 'cf': 'default', 'key': '757365723a31', 'value': list(b'Alice'),
                   'timestamp': put['timestamp']}
    assert delete['type'] == 'delete' and 'value' not in delete
    with pytest.raises(InvalidStatus) as refused:
        async with connect(events_url(compat_backend, token=ADMIN_TOKEN)):
            pass
    assert refused.value.response.status_code == 401


async def test_fault_hooks_refuse_upgrades_and_drop_sockets(backend):
    backend.faults(refuse_upgrades=True)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(events_url(backend), additional_headers=AUTH):
            pass
    assert refused.value.response.status_code == 503
    backend.faults(refuse_upgrades=False)
    async with connect(events_url(backend), additional_headers=AUTH) as ws:
        await recv_json(ws)
        assert backend.faults(drop_sockets=True)['dropped'] == 1
        with pytest.raises(Exception):  # noqa: B017 - any close/reset is what a dropped socket looks like
            await asyncio.wait_for(ws.recv(), 5)


async def test_stalled_server_stops_answering_pings(backend):
    async with connect(events_url(backend), additional_headers=AUTH, ping_interval=None) as ws:
        await recv_json(ws)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 2)
        backend.faults(stalled=True)
        pong = await ws.ping()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(pong, 0.5)
        backend.faults(stalled=False)
