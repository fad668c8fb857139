"""Webhooks: the backend really POSTs signed events to a receiver, retries, and guards it with a breaker."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator

import httpx
import pytest

from backend.tokens import Permission
from tests.conftest import admin_client
from tests.webhook_receiver import Receiver

FAST = {'backoff_ms': 10, 'timeout_secs': 2}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def create(api: httpx.Client, url: str, events: list[str], **extra) -> dict:
    answer = api.post('/admin/webhooks', json={'name': 'orders feed', 'url': url, 'events': events, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def webhook(api: httpx.Client, hook_id: str) -> dict:
    return api.get(f'/admin/webhooks/{hook_id}').json()['data']


def breaker(api: httpx.Client, hook_id: str) -> dict:
    found = [b for b in api.get('/admin/circuit_breakers').json()['data']['circuit_breakers'] if b['id'] == hook_id]
    assert found, 'the webhook should have a circuit breaker'
    return found[0]


def until(check, timeout: float = 10.0, message: str = 'condition not met'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(message)


class TestDelivery:
    def test_a_matching_key_change_is_posted_as_signed_json_and_others_are_not(self, api, receiver):
        hook = create(api, receiver.url, ['key.set', 'key.delete'], prefix='orders:', **FAST)
        secret = hook['secret']
        assert secret.startswith('whsec_') and hook['active'] is True and hook['prefix'] == 'orders:'
        api.post('/keys', json={'key': 'users:1', 'value': 'ignored: wrong prefix'})
        api.post('/keys', json={'key': 'orders:1', 'value': '{"total": 42}'})
        api.delete('/keys/orders:1')
        posts = receiver.wait_for(2)
        first, second = posts
        assert first.path == '/hook'
        assert first.headers['content-type'] == 'application/json'
        assert first.headers['x-apex-event'] == 'key.set'
        assert first.signed_with(secret), 'X-Apex-Signature must be the HMAC-SHA256 of the body'
        assert not first.signed_with('whsec_someone-else')
        body = first.json
        assert body['event'] == 'key.set' and body['webhook_id'] == hook['id']
        assert body['data'] == {'operation': 'put', 'key': 'orders:1', 'cf': 'default', 'value_size': 13,
                                'value': '{"total": 42}'}
        assert body['id'] == first.headers['x-apex-delivery'] and isinstance(body['timestamp'], int)
        assert second.json['event'] == 'key.delete' and second.json['data']['key'] == 'orders:1'
        assert second.signed_with(secret)
        after = until(lambda: (w := webhook(api, hook['id']))['delivered'] == 2 and w)
        assert after['last_status'] == 'success' and after['last_error'] is None and after['failed'] == 0
        assert after['last_triggered_at'] > hook['created_at'] and 'secret' not in after
        assert len(receiver.received) == 2, 'users:1 is outside the prefix'

    def test_notes_flushes_and_compactions_have_their_own_event_types(self, api, receiver):
        create(api, receiver.url, ['note.created', 'note.updated', 'note.deleted', 'flush', 'compact'], **FAST)
        api.put('/notes/ideas', json={'content': 'first'})
        api.put('/notes/ideas', json={'content': 'second'})
        api.delete('/notes/ideas')
        api.post('/admin/flush', json={})
        names = [r.json['event'] for r in receiver.wait_for(4)]
        assert names == ['note.created', 'note.updated', 'note.deleted', 'flush']
        assert receiver.received[0].json['data']['path'] == 'ideas'
        api.post('/keys', json={'key': 'k', 'value': 'v'})
        api.post('/admin/compact', json={})
        assert receiver.wait_for(1, event='compact')[0].json['data']['status'] == 'completed'
        assert not receiver.of('key.set'), 'key.set was not chosen'

    def test_a_5xx_is_retried_with_backoff_and_counted_once(self, api, receiver):
        receiver.statuses.extend([500, 503])
        hook = create(api, receiver.url, ['key.set'], max_attempts=3, **FAST)
        api.post('/keys', json={'key': 'retry-me', 'value': 'v'})
        posts = receiver.wait_for(3)
        assert [p.headers['x-apex-attempt'] for p in posts] == ['1', '2', '3']
        assert len({p.headers['x-apex-delivery'] for p in posts}) == 1, 'one delivery, three attempts'
        after = until(lambda: (w := webhook(api, hook['id']))['delivered'] == 1 and w)
        assert after['attempts'] == 3 and after['failed'] == 0 and after['last_status'] == 'success'
        log = api.get(f'/admin/webhooks/{hook["id"]}/deliveries').json()['data']['deliveries']
        assert [(e['outcome'], e['http_status']) for e in log] == [('delivered', 200), ('retrying', 503),
                                                                  ('retrying', 500)]
        assert log[1]['error'] == 'HTTP 503: receiver says no'

    def test_a_4xx_answer_is_not_retried(self, api, receiver):
        receiver.status = 410
        hook = create(api, receiver.url, ['key.set'], max_attempts=5, failure_threshold=10, **FAST)
        api.post('/keys', json={'key': 'gone', 'value': 'v'})
        receiver.wait_for(1)
        after = until(lambda: (w := webhook(api, hook['id']))['failed'] == 1 and w)
        assert after['attempts'] == 1 and after['last_status'] == 'failed' and after['last_http_status'] == 410

    def test_the_test_button_posts_a_test_event_and_reports_the_outcome(self, api, receiver):
        hook = create(api, receiver.url, ['key.set'], **FAST)
        answer = api.post(f'/admin/webhooks/{hook["id"]}/test', json={}).json()
        assert answer['message'] == 'Test webhook delivered (HTTP 200)' and answer['data']['delivered'] is True
        test = receiver.wait_for(1, event='webhook.test')[0]
        assert test.json['data']['message'] == 'Test event from ApexStore' and test.signed_with(hook['secret'])
        receiver.stop()
        failed = api.post(f'/admin/webhooks/{hook["id"]}/test', json={}).json()
        assert failed['data']['delivered'] is False
        assert failed['message'].startswith('Test delivery failed: cannot connect')

    def test_the_feature_events_tell_live_pages_about_each_attempt(self, backend, api, receiver):
        hook = create(api, receiver.url, ['key.set'], **FAST)
        since = api.get('/events/poll', params={'wait': 0}).json()['next']
        api.post('/keys', json={'key': 'live', 'value': 'v'})
        receiver.wait_for(1)

        def delivery_events() -> list[dict]:
            frames = api.get('/events/poll', params={'since': since, 'wait': 1}).json()['events']
            events = [json.loads(f) if isinstance(f, str) else f for f in frames]
            return [e for e in events if e['type'] == 'feature_event' and e['name'] == 'delivery']

        event = until(delivery_events)[0]
        assert event['feature'] == 'webhooks' and event['data']['outcome'] == 'delivered'
        assert event['data']['webhook_id'] == hook['id'] and event['data']['webhook']['delivered'] == 1
        assert 'secret' not in json.dumps(event)


class TestCircuitBreaker:
    def test_a_dead_receiver_opens_the_breaker_events_wait_and_reset_delivers_them(self, api):
        receiver = Receiver()  # not started: its port refuses connections
        hook = create(api, receiver.url, ['key.set'], max_attempts=2, failure_threshold=3, open_secs=600, **FAST)
        assert breaker(api, hook['id'])['state'] == 'closed'
        api.post('/keys', json={'key': 'a', 'value': '1'})
        api.post('/keys', json={'key': 'b', 'value': '2'})
        opened = until(lambda: (b := breaker(api, hook['id']))['state'] == 'open' and b)
        assert opened['failure_count'] == 3 and opened['threshold'] == 3 and opened['name'] == 'webhook:orders feed'
        assert opened['next_retry_at'] > opened['opened_at'] and opened['last_failure_at'] is not None
        assert opened['last_error'].startswith('cannot connect')
        waiting = until(lambda: (w := webhook(api, hook['id']))['pending'] >= 1 and w)
        assert waiting['breaker_state'] == 'open' and waiting['failed'] == 1  # `a` gave up; `b` waits for the breaker
        with receiver:
            api.post(f'/admin/circuit_breakers/{hook["id"]}/reset', json={})
            closed = breaker(api, hook['id'])
            assert closed['state'] == 'closed' and closed['failure_count'] == 0
            assert [p.json['data']['key'] for p in receiver.wait_for(1)] == ['b']
            after = until(lambda: (w := webhook(api, hook['id']))['delivered'] == 1 and w)
            assert after['pending'] == 0 and after['breaker_state'] == 'closed'

    def test_after_the_open_period_one_trial_attempt_closes_it(self, api):
        receiver = Receiver()
        hook = create(api, receiver.url, ['key.set'], max_attempts=1, failure_threshold=1, open_secs=1, **FAST)
        api.post('/keys', json={'key': 'first', 'value': '1'})
        until(lambda: breaker(api, hook['id'])['state'] == 'open')
        with receiver:
            api.post('/keys', json={'key': 'second', 'value': '2'})
            until(lambda: breaker(api, hook['id'])['state'] in ('half_open', 'closed'), message='no half-open')
            assert [p.json['data']['key'] for p in receiver.wait_for(1)] == ['second']
            until(lambda: breaker(api, hook['id'])['state'] == 'closed')

    def test_unknown_breakers_are_404(self, api):
        answer = api.post('/admin/circuit_breakers/nope/reset', json={})
        assert answer.status_code == 404 and answer.json()['message'] == 'circuit breaker not found'


class TestManagement:
    def test_list_edit_rotate_and_delete(self, api, receiver):
        hook = create(api, receiver.url, ['key.set'], **FAST)
        listed = api.get('/admin/webhooks').json()
        assert listed['success'] is True and [w['id'] for w in listed['data']['webhooks']] == [hook['id']]
        assert 'secret' not in listed['data']['webhooks'][0] and 'key.get' not in listed['data']['event_types']
        edited = api.put(f'/admin/webhooks/{hook["id"]}', json={'name': 'renamed', 'events': ['key.delete'],
                                                                'active': False}).json()['data']
        assert (edited['name'], edited['events'], edited['active']) == ('renamed', ['key.delete'], False)
        assert 'secret' not in edited
        api.post('/keys', json={'key': 'x', 'value': 'v'})
        api.delete('/keys/x')
        rotated = api.put(f'/admin/webhooks/{hook["id"]}', json={'rotate_secret': True, 'active': True}).json()['data']
        assert rotated['secret'] != hook['secret']
        api.delete('/keys/x')
        post = receiver.wait_for(1)[0]
        assert post.json['event'] == 'key.delete' and post.signed_with(rotated['secret'])
        assert len(receiver.received) == 1, 'an inactive webhook sends nothing'
        assert api.delete(f'/admin/webhooks/{hook["id"]}').json()['message'] == 'Webhook deleted'
        assert api.get('/admin/webhooks').json()['data']['webhooks'] == []
        assert api.get('/admin/circuit_breakers').json()['data']['circuit_breakers'] == []
        assert api.delete(f'/admin/webhooks/{hook["id"]}').status_code == 404

    def test_the_angular_body_is_enough(self, api, receiver):
        answer = api.post('/admin/webhooks', json={'url': receiver.url, 'events': ['key.set', 'key.delete']}).json()
        assert answer['success'] is True and answer['data']['name'] == '127.0.0.1'
        assert answer['data']['max_attempts'] == 3 and answer['data']['failure_threshold'] == 5

    def test_definitions_counters_and_secrets_survive_a_restart(self, backend, api, receiver):
        hook = create(api, receiver.url, ['key.set'], **FAST)
        api.post('/keys', json={'key': 'before', 'value': 'v'})
        until(lambda: webhook(api, hook['id'])['delivered'] == 1)
        stored = backend.config.data_dir / 'webhooks.json'
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600, 'the file holds the signing secrets'
        backend.restart()
        with admin_client(backend) as again:
            assert webhook(again, hook['id'])['delivered'] == 1
            again.post('/keys', json={'key': 'after', 'value': 'v'})
            post = receiver.wait_for(2)[1]
            assert post.json['data']['key'] == 'after' and post.signed_with(hook['secret'])


class TestRefusals:
    NO_HOST = 'url: must start with http:// or https:// and name a host'

    @pytest.mark.parametrize(('body', 'message'), [
        ({'url': 'ftp://example.com', 'events': ['key.set']}, NO_HOST),
        ({'url': 'not a url', 'events': ['key.set']}, 'url: must be one http(s) URL without spaces'),
        ({'url': 'http://', 'events': ['key.set']}, NO_HOST),
        ({'url': '', 'events': ['key.set']}, 'url: enter the URL to POST events to'),
        ({'url': 'http://me:pw@h.example', 'events': ['key.set']}, 'url: must not contain credentials'),
        ({'events': ['key.set']}, 'url: enter the URL to POST events to'),
        ({'url': 'http://h.example'}, 'events: choose at least one event type'),
        ({'url': 'http://h.example', 'events': []}, 'events: choose at least one event type'),
        ({'url': 'http://h.example', 'events': ['key.get']}, 'events: key.get is not supported'),
        ({'url': 'http://h.example', 'events': ['bogus']}, "events: unknown event type 'bogus'"),
        ({'url': 'http://h.example', 'events': ['flush'], 'name': '  '}, 'name: must not be empty'),
        ({'url': 'http://h.example', 'events': ['flush'], 'max_attempts': 0}, 'max_attempts: must be between 1 and 10'),
        ({'url': 'http://h.example', 'events': ['flush'], 'open_secs': 1e9}, 'open_secs: must be between 1 and 3600'),
        ({'url': 'http://h.example', 'events': ['flush'], 'colour': 'red'}, 'colour: Extra inputs are not permitted'),
        ({'url': 42, 'events': ['flush']}, 'url: Input should be a valid string'),
    ])
    def test_bad_input_is_a_clear_400(self, api, body, message):
        answer = api.post('/admin/webhooks', json=body)
        assert answer.status_code == 400
        reason = answer.json().get('message') or answer.json()['error']
        assert message in reason
        assert api.get('/admin/webhooks').json()['data']['webhooks'] == []

    def test_bad_edits_and_unknown_ids(self, api, receiver):
        hook = create(api, receiver.url, ['key.set'])
        assert api.put(f'/admin/webhooks/{hook["id"]}', json={'url': 'gopher://x'}).status_code == 400
        assert api.put(f'/admin/webhooks/{hook["id"]}', json={'events': []}).json()['message'] == \
            'events: choose at least one event type'
        assert api.put('/admin/webhooks/missing', json={'name': 'x'}).status_code == 404
        assert api.post('/admin/webhooks/missing/test', json={}).json()['message'] == 'webhook not found'
        bad_json = api.post('/admin/webhooks', content=b'{"url": ')
        assert bad_json.status_code == 400 and 'Json deserialize error' in bad_json.json()['error']

    def test_every_route_needs_admin(self, backend, api, receiver):
        hook = create(api, receiver.url, ['key.set'])
        _, raw = backend.call(lambda b: b.tokens.create('reader', [Permission.Read, Permission.Write]))
        routes = [('GET', '/admin/webhooks'), ('POST', '/admin/webhooks'), ('GET', f'/admin/webhooks/{hook["id"]}'),
                  ('PUT', f'/admin/webhooks/{hook["id"]}'), ('DELETE', f'/admin/webhooks/{hook["id"]}'),
                  ('POST', f'/admin/webhooks/{hook["id"]}/test'), ('GET', f'/admin/webhooks/{hook["id"]}/deliveries'),
                  ('GET', '/admin/circuit_breakers'), ('POST', f'/admin/circuit_breakers/{hook["id"]}/reset')]
        with admin_client(backend, raw) as reader:
            for method, path in routes:
                body = {'url': receiver.url, 'events': ['key.set']} if method in ('POST', 'PUT') else None
                answer = reader.request(method, path, json=body)
                assert answer.status_code == 403, (method, path)
                assert answer.json() == {'error': 'Insufficient permissions', 'status': 403}
        for method, path in routes:
            assert httpx.request(method, backend.url + path).status_code == 401
        assert not receiver.received and len(api.get('/admin/webhooks').json()['data']['webhooks']) == 1

    def test_a_real_apexstore_has_no_webhooks(self, compat_api):
        assert compat_api.get('/admin/webhooks').status_code == 404
        assert compat_api.get('/admin/circuit_breakers').status_code == 404
