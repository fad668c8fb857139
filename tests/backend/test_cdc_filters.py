"""CDC filters applied by the embedded backend: a client asks for some key events and gets only those."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ADMIN_TOKEN

AUTH = {'Authorization': f'Bearer {ADMIN_TOKEN}', 'Content-Type': 'application/json'}


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_websocket_sends_only_puts_and_deletes_under_the_prefix(backend):
    url = f'{backend.ws_url}/ws/events?types=put,DELETE&prefix=user:'
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH) as api:
        async with connect(url, additional_headers=AUTH) as ws:
            assert (await recv_json(ws))['type'] == 'connected'
            await api.put('/keys/order:1', json={'value': 'not mine'})
            await api.post('/admin/flush')  # a compaction_status event: not a key event
            await api.put('/keys/user:1', json={'value': 'ada'})
            await api.delete('/keys', params={'prefix': 'user:'})  # delete_prefix: not asked for
            await api.delete('/keys/order:1')
            await api.put('/keys/user:2', json={'value': 'bob'})
            await api.delete('/keys/user:2')
            frames = [await recv_json(ws) for _ in range(3)]
            await api.put('/keys/user:3', json={'value': 'last'})
            frames.append(await recv_json(ws))
    assert [(f['operation'], f['key']) for f in frames] == [('put', 'user:1'), ('put', 'user:2'),
                                                             ('delete', 'user:2'), ('put', 'user:3')]


async def test_a_delete_by_prefix_reaches_a_prefix_filter_when_the_ranges_overlap(backend):
    url = f'{backend.ws_url}/ws/events?types=delete_prefix&prefix=user:'
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH) as api:
        async with connect(url, additional_headers=AUTH) as ws:
            await recv_json(ws)
            await api.delete('/keys', params={'prefix': 'order:'})  # disjoint: not sent
            await api.delete('/keys', params={'prefix': 'us'})  # wider: removes user:* too
            await api.delete('/keys', params={'prefix': 'user:9'})  # narrower: inside user:
            frames = [await recv_json(ws) for _ in range(2)]
    assert [f['key'] for f in frames] == ['us', 'user:9']


async def test_sse_and_long_poll_apply_the_same_filter(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=10) as api:
        async with api.stream('GET', '/events', params={'types': 'put', 'prefix': 'user:'}) as stream:
            lines = stream.aiter_lines()

            async def next_data() -> dict:
                async for line in lines:
                    if line.startswith('data: '):
                        return json.loads(line[6:])
                raise AssertionError('stream ended')

            assert (await asyncio.wait_for(next_data(), 5))['type'] == 'connected'
            await api.put('/keys/other', json={'value': 'x'})
            await api.delete('/keys/other')
            await api.put('/keys/user:7', json={'value': 'y'})
            frame = await asyncio.wait_for(next_data(), 5)
            assert (frame['operation'], frame['key']) == ('put', 'user:7')
        first = (await api.get('/events/poll')).json()
        await api.put('/keys/user:8', json={'value': 'z'})
        await api.delete('/keys/user:8')
        polled = (await api.get('/events/poll', params={'since': first['next'], 'epoch': first['epoch'],
                                                          'types': 'delete', 'prefix': 'user:'})).json()
    assert [(e['operation'], e['key']) for e in polled['events']] == [('delete', 'user:8')]


async def test_an_unknown_type_is_refused_with_a_reason(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH) as api:
        answer = await api.get('/events', params={'types': 'put,upsert'})
        assert answer.status_code == 400 and "unknown event type 'upsert'" in answer.json()['error']
        answer = await api.get('/events/poll', params={'types': 'bogus'})
        assert answer.status_code == 400
    try:
        async with connect(f'{backend.ws_url}/ws/events?types=bogus', additional_headers=AUTH):
            raise AssertionError('the upgrade should be refused')
    except InvalidStatus as refused:
        assert refused.response.status_code == 400


async def test_compat_mode_keeps_the_real_servers_single_type_filter(compat_backend):
    url = f'{compat_backend.ws_url}/ws/events?type=DELETE&prefix=user:'
    async with httpx.AsyncClient(base_url=compat_backend.url, headers=AUTH) as api:
        async with connect(url, additional_headers=AUTH) as ws:
            assert (await recv_json(ws))['type'] == 'connected'
            await api.put('/keys/user:1', json={'value': 'x'})
            await api.delete('/keys/order:1')
            await api.delete('/keys/user:1')
            frame = await recv_json(ws)
    assert frame['type'] == 'delete' and bytes.fromhex(frame['key']) == b'user:1'
