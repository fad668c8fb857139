"""Feature events reach only the streams allowed to see them: webhook URLs are for admins, topics for readers."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from tests.conftest import ADMIN_TOKEN

ADMIN = {'Authorization': f'Bearer {ADMIN_TOKEN}', 'Content-Type': 'application/json'}


async def feature_events(ws, until: str) -> list[dict]:
    """Feature events read until one named `until` arrives."""
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame.get('type') == 'feature_event':
            seen.append(frame)
            if frame['name'] == until:
                return seen


async def test_a_reader_sees_topics_change_but_never_a_webhooks_url(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=ADMIN) as api:
        created = (await api.post('/admin/tokens', json={'name': 'reader', 'permissions': ['Read']})).json()['data']
        reader = {'Authorization': f'Bearer {created["token"]}'}
        async with connect(f'{backend.ws_url}/ws/events', additional_headers=reader) as reader_ws, \
                connect(f'{backend.ws_url}/ws/events', additional_headers=ADMIN) as admin_ws:
            await api.post('/admin/webhooks', json={'name': 'audit', 'url': 'http://127.0.0.1:9/hook',
                                                    'events': ['key.set']})
            await api.post('/pubsub/topics', json={'name': 'orders'})
            admin_seen = await feature_events(admin_ws, 'topic_created')
            reader_seen = await feature_events(reader_ws, 'topic_created')
    assert any(e['feature'] == 'webhooks' for e in admin_seen)
    assert [e['feature'] for e in reader_seen] == ['pubsub'], 'a Read token must not see webhook events'
    assert 'http://127.0.0.1:9/hook' not in json.dumps(reader_seen)
