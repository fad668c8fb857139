"""Pub/Sub extension of the embedded backend: topics, publish, push subscriptions, live message events."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from websockets.asyncio.client import connect

from backend.tokens import Permission
from tests.conftest import ADMIN_TOKEN, admin_client

AUTH = {'Authorization': f'Bearer {ADMIN_TOKEN}'}


class Receiver:
    """A real HTTP endpoint that records what it is sent (a push subscription's target)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 200
        received, receiver = self.received, self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                received.append({'body': json.loads(body), 'topic_header': self.headers.get('X-ApexStore-Topic')})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/hook'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def wait_for(check, timeout: float = 10.0, message: str = 'condition not met'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(message)


def token_with(server, *permissions: str) -> str:
    _, raw = server.call(lambda b: b.tokens.create('t-' + '-'.join(permissions), [Permission(p) for p in permissions]))
    return raw


def subscription(api: httpx.Client, topic: str) -> dict:
    return api.get(f'/pubsub/topics/{topic}/subscriptions').json()['data']['subscriptions'][0]


def test_topics_are_created_published_to_listed_and_deleted(api):
    created = api.post('/pubsub/topics', json={'name': 'orders.created'})
    assert created.status_code == 200 and created.json()['success'] is True
    assert created.json()['data']['name'] == 'orders.created' and created.json()['data']['message_count'] == 0
    for text in ('first', 'second'):
        published = api.post('/pubsub/topics/orders.created', json={'message': text}).json()['data']
    assert published['seq'] == 2 and published['topic'] == 'orders.created' and published['subscribers'] == 0
    [topic] = api.get('/pubsub/topics').json()['data']['topics']
    assert topic['message_count'] == 2 and topic['last_message_at'] > 10**18 and topic['subscription_count'] == 0
    tail = api.get('/pubsub/topics/orders.created/messages').json()['data']['messages']
    assert [m['message'] for m in tail] == ['first', 'second'] and [m['seq'] for m in tail] == [1, 2]
    assert [m['message'] for m in api.get('/pubsub/topics/orders.created/messages?limit=1').json()['data'][
        'messages']] == ['second']
    deleted = api.delete('/pubsub/topics/orders.created')
    assert deleted.status_code == 200 and deleted.json()['message'] == "Topic 'orders.created' deleted"
    assert api.get('/pubsub/topics').json()['data']['topics'] == []
    gone = api.get('/pubsub/topics/orders.created/messages')
    assert gone.status_code == 404 and gone.json()['message'] == "topic 'orders.created' does not exist"


def test_publishing_to_a_new_topic_creates_it_and_counts_survive_a_restart(backend, api):
    api.post('/pubsub/topics/audit', json={'message': 'hello'})
    assert [t['name'] for t in api.get('/pubsub/topics').json()['data']['topics']] == ['audit']
    backend.restart()
    with admin_client(backend) as again:
        [topic] = again.get('/pubsub/topics').json()['data']['topics']
        assert topic['message_count'] == 1


async def test_every_published_message_is_announced_on_the_event_stream(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=10) as api:
        async with connect(f'{backend.ws_url}/ws/events?types=feature_event', additional_headers=AUTH) as ws:
            assert json.loads(await ws.recv())['type'] == 'connected'
            await api.post('/pubsub/topics/chat', json={'message': '<b>hi</b> & bye'})
            frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
    assert [(f['feature'], f['name']) for f in frames] == [('pubsub', 'topic_created'), ('pubsub', 'message')]
    message = frames[1]['data']
    assert message['topic'] == 'chat' and message['message'] == '<b>hi</b> & bye' and message['message_count'] == 1
    assert message['truncated'] is False and message['size'] == len('<b>hi</b> & bye')


async def test_a_long_message_is_kept_whole_but_announced_as_a_preview(backend):
    long_text = 'x' * 10_000
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=10) as api:
        await api.post('/pubsub/topics', json={'name': 'big'})
        async with connect(f'{backend.ws_url}/ws/events?types=feature_event', additional_headers=AUTH) as ws:
            await ws.recv()
            await api.post('/pubsub/topics/big', json={'message': long_text})
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))['data']
        assert event['truncated'] is True and len(event['message']) == 4096 and event['size'] == 10_000
        kept = (await api.get('/pubsub/topics/big/messages')).json()['data']['messages'][0]
        assert kept['message'] == long_text


def test_a_subscription_gets_each_message_by_http_post_until_paused(api, receiver):
    api.post('/pubsub/topics', json={'name': 'orders'})
    created = api.post('/pubsub/topics/orders/subscriptions', json={'endpoint': receiver.url}).json()['data']
    assert created['active'] is True and created['endpoint'] == receiver.url and len(created['id']) == 32
    assert api.get('/pubsub/topics').json()['data']['topics'][0]['subscription_count'] == 1
    api.post('/pubsub/topics/orders', json={'message': 'order 1'})
    wait_for(lambda: receiver.received, message='the endpoint should get the message')
    assert receiver.received[0]['body']['message'] == 'order 1' and receiver.received[0]['topic_header'] == 'orders'
    sub = wait_for(lambda: (s := subscription(api, 'orders'))['delivered'] == 1 and s)
    assert sub['last_status'] == 'success' and sub['failed'] == 0 and sub['last_delivery_at'] > 10**18
    paused = api.put(f'/pubsub/subscriptions/{created["id"]}', json={'active': False}).json()['data']
    assert paused['active'] is False
    assert api.post('/pubsub/topics/orders', json={'message': 'order 2'}).json()['data']['subscribers'] == 0
    receiver.status = 500
    api.put(f'/pubsub/subscriptions/{created["id"]}', json={'active': True})
    api.post('/pubsub/topics/orders', json={'message': 'order 3'})
    sub = wait_for(lambda: (s := subscription(api, 'orders'))['failed'] == 1 and s)
    assert sub['last_status'] == 'HTTP 500' and sub['delivered'] == 1
    assert [r['body']['message'] for r in receiver.received] == ['order 1', 'order 3']
    assert api.delete(f'/pubsub/subscriptions/{created["id"]}').status_code == 200
    assert api.get('/pubsub/topics/orders/subscriptions').json()['data']['subscriptions'] == []


def test_an_unreachable_endpoint_counts_as_a_failed_delivery(api):
    api.post('/pubsub/topics', json={'name': 'lost'})
    api.post('/pubsub/topics/lost/subscriptions', json={'endpoint': 'http://127.0.0.1:9/nothing-listens-here'})
    api.post('/pubsub/topics/lost', json={'message': 'into the void'})
    sub = wait_for(lambda: (s := subscription(api, 'lost'))['failed'] == 1 and s)
    assert sub['last_status'].startswith('error: ')


def test_deleting_a_topic_deletes_its_subscriptions(api, receiver):
    api.post('/pubsub/topics', json={'name': 'temp'})
    sub_id = api.post('/pubsub/topics/temp/subscriptions', json={'endpoint': receiver.url}).json()['data']['id']
    assert api.delete('/pubsub/topics/temp').json()['data']['subscriptions_deleted'] == 1
    assert api.put(f'/pubsub/subscriptions/{sub_id}', json={'active': False}).status_code == 404


@pytest.mark.parametrize(('method', 'path', 'body', 'status', 'message'), [
    ('POST', '/pubsub/topics', {'name': 'has space'}, 400, 'topic name must be'),
    ('POST', '/pubsub/topics', {'name': ''}, 400, 'topic name must be'),
    ('POST', '/pubsub/topics', {'name': 'x' * 129}, 400, 'topic name must be'),
    ('POST', '/pubsub/topics', {'name': 7}, 400, 'Json deserialize error'),
    ('POST', '/pubsub/topics', {}, 400, 'Json deserialize error: name'),
    ('POST', '/pubsub/topics/-bad', {'message': 'x'}, 400, 'topic name must be'),
    ('POST', '/pubsub/topics/ok', {'message': ''}, 400, 'Json deserialize error: message'),
    ('POST', '/pubsub/topics/ok', {'message': 'x' * (64 * 1024 + 1)}, 400, 'the limit is 65536'),
    ('DELETE', '/pubsub/topics/missing', None, 404, "topic 'missing' does not exist"),
    ('GET', '/pubsub/topics/missing/subscriptions', None, 404, "topic 'missing' does not exist"),
    ('POST', '/pubsub/topics/missing/subscriptions', {'endpoint': 'http://x.test/'}, 404, 'does not exist'),
    ('PUT', '/pubsub/subscriptions/' + 'a' * 32, {'active': True}, 404, 'subscription does not exist'),
    ('DELETE', '/pubsub/subscriptions/nope', None, 404, 'subscription does not exist'),
    ('GET', '/pubsub/topics/ok/messages?limit=-1', None, 400, 'Query deserialize error'),
])
def test_bad_input_is_refused_with_a_reason(api, method, path, body, status, message):
    api.post('/pubsub/topics', json={'name': 'ok'})
    answer = api.request(method, path, json=body) if body is not None else api.request(method, path)
    assert answer.status_code == status
    payload = answer.json()
    assert message in (payload.get('message') or payload.get('error'))


@pytest.mark.parametrize(('endpoint', 'reason'), [
    ('ftp://files.example.com/in', 'must start with http:// or https://'),
    ('http://user:secret@hooks.example.com/', 'must not contain credentials'),
    ('https://hooks.example.com/a b', 'must not contain spaces'),
    ('https:///no-host', 'must name a host'),
    ('http://hooks.example.com:99999/', 'is not a valid URL'),
    ('', 'must not be empty'),
])
def test_subscription_endpoints_must_be_plain_http_urls(api, endpoint, reason):
    api.post('/pubsub/topics', json={'name': 'hooks'})
    answer = api.post('/pubsub/topics/hooks/subscriptions', json={'endpoint': endpoint})
    assert answer.status_code == 400 and answer.json()['message'].startswith(f'endpoint {reason}')


def test_a_duplicate_topic_is_a_conflict(api):
    api.post('/pubsub/topics', json={'name': 'once'})
    again = api.post('/pubsub/topics', json={'name': 'once'})
    assert again.status_code == 409 and again.json()['message'] == "topic 'once' already exists"


def test_permissions_per_route(backend, api, receiver):
    api.post('/pubsub/topics', json={'name': 'guarded'})
    sub_id = api.post('/pubsub/topics/guarded/subscriptions', json={'endpoint': receiver.url}).json()['data']['id']
    forbidden = {'error': 'Insufficient permissions', 'status': 403}
    with admin_client(backend, token_with(backend, 'Read')) as reader:
        assert reader.get('/pubsub/topics').status_code == 200
        assert reader.get('/pubsub/topics/guarded/messages').status_code == 200
        assert reader.get('/pubsub/topics/guarded/subscriptions').status_code == 200
        for method, path, body in [('POST', '/pubsub/topics', {'name': 'new'}),
                                   ('POST', '/pubsub/topics/guarded', {'message': 'x'}),
                                   ('DELETE', '/pubsub/topics/guarded', None),
                                   ('POST', '/pubsub/topics/guarded/subscriptions', {'endpoint': receiver.url}),
                                   ('PUT', f'/pubsub/subscriptions/{sub_id}', {'active': False}),
                                   ('DELETE', f'/pubsub/subscriptions/{sub_id}', None)]:
            answer = reader.request(method, path, json=body) if body else reader.request(method, path)
            assert (answer.status_code, answer.json()) == (403, forbidden), (method, path)
    with admin_client(backend, token_with(backend, 'Write')) as writer:
        assert writer.get('/pubsub/topics').status_code == 403  # Write does not imply Read on this server
        assert writer.post('/pubsub/topics/guarded', json={'message': 'x'}).status_code == 200
        assert writer.delete('/pubsub/topics/guarded').status_code == 403  # deleting needs Delete
    with httpx.Client(base_url=backend.url) as anonymous:
        assert anonymous.get('/pubsub/topics').status_code == 401
    assert [t['name'] for t in api.get('/pubsub/topics').json()['data']['topics']] == ['guarded']


def test_a_real_apexstore_has_no_pubsub(compat_api):
    assert compat_api.get('/pubsub/topics').status_code == 404
    assert compat_api.post('/pubsub/topics/x', json={'message': 'y'}).status_code == 404
