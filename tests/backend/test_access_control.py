"""Access policies on the embedded backend: routes, keys and streams refused per token, the last admin kept."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ADMIN_TOKEN, admin_client


def new_token(api: httpx.Client, name: str, *permissions: str) -> tuple[str, httpx.Client]:
    """(id, client) for a fresh token with these permissions."""
    data = api.post('/admin/tokens', json={'name': name, 'permissions': list(permissions)}).json()['data']
    return data['id'], httpx.Client(base_url=str(api.base_url), timeout=30, headers={
        'Authorization': f'Bearer {data["token"]}', 'Content-Type': 'application/json'})


def add_policy(api: httpx.Client, **policy) -> dict:
    answer = api.post('/admin/policies', json=policy)
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def admin_id(api: httpx.Client) -> str:
    return next(t['id'] for t in api.get('/admin/tokens').json()['data']['tokens'] if t['name'] == 'console-admin')


def test_a_route_policy_refuses_one_token_while_others_keep_working(backend, api):
    reader_id, reader = new_token(api, 'reader', 'Read')
    _, other = new_token(api, 'other', 'Read')
    assert api.get('/admin/policies').json()['data'] == {'policies': []}
    policy = add_policy(api, name='no-stats', subject=f'token:{reader_id}', resource='/stats*', actions=['Read'],
                        effect='deny', priority=100)
    assert policy['id'] and policy['created_at'] > 10**18 and policy['actions'] == ['Read']
    refused = reader.get('/stats')
    assert refused.status_code == 403
    assert refused.json() == {
        'error': "access denied by policy 'no-stats': Read on /stats is not allowed for this token", 'status': 403}
    assert reader.get('/stats/all').status_code == 403  # the glob covers both
    assert reader.get('/keys').status_code == 200  # other routes still work for the same token
    assert other.get('/stats').status_code == 200  # and the route still works for other tokens
    assert api.get('/stats').status_code == 200


def test_a_key_policy_refuses_keys_by_path_prefix_and_body(backend, api):
    writer_id, writer = new_token(api, 'writer', 'Read', 'Write', 'Delete')
    api.put('/keys/secret:1', json={'value': 'classified'})
    api.put('/keys/public:1', json={'value': 'hello'})
    add_policy(api, name='hide-secrets', subject=f'token:{writer_id}', resource='keys:secret:*',
               actions=['Read', 'Write', 'Delete'], effect='deny')
    refused = writer.get('/keys/secret:1')
    assert refused.status_code == 403
    assert refused.json()['error'] == ("access denied by policy 'hide-secrets': Read on key 'secret:1' is not "
                                       'allowed for this token')
    assert writer.get('/keys/public:1').json() == {'key': 'public:1', 'value': 'hello'}
    assert writer.get('/keys', params={'prefix': 'secret:'}).status_code == 403
    assert writer.get('/keys', params={'prefix': 'public:'}).json()['keys'] == ['public:1']
    everything = writer.get('/keys')  # an unfiltered listing would show the secret keys too
    assert everything.status_code == 403 and "matching 'secret:*'" in everything.json()['error']
    assert writer.get('/keys/search', params={'q': 'secret', 'mode': 'prefix'}).status_code == 403
    assert writer.get('/scan').status_code == 403
    sql = writer.post('/query', json={'query': "SELECT value FROM kv WHERE key = 'secret:1'"})
    assert sql.status_code == 403, 'SQL reads values: a token denied some keys cannot query around the policy'
    graphql = writer.post('/graphql', json={'query': '{ get(key: "secret:1") }'})
    assert graphql.status_code == 403
    # keys in request bodies: nothing of a refused write is written
    body_write = writer.post('/keys', json={'key': 'secret:2', 'value': 'x'})
    assert body_write.status_code == 403 and 'nothing was written' in body_write.json()['error']
    batch = writer.post('/keys/batch', json={'records': [{'key': 'public:2', 'value': 'x'},
                                                         {'key': 'secret:3', 'value': 'x'}]})
    assert batch.status_code == 403
    assert writer.delete('/keys/secret:1').status_code == 403
    assert api.get('/keys', params={'prefix': 'secret:'}).json()['keys'] == ['secret:1']
    assert api.get('/keys/public:2').status_code == 404
    assert writer.put('/keys/public:3', json={'value': 'ok'}).status_code == 200


def test_a_higher_priority_allow_opens_a_corner_of_a_wider_deny(backend, api):
    reader_id, reader = new_token(api, 'reader', 'Read')
    api.put('/keys/public:1', json={'value': 'hello'})
    api.put('/keys/private:1', json={'value': 'no'})
    add_policy(api, name='deny-all-keys', subject='role:Read', resource='keys:*', actions=['Read'], effect='deny',
               priority=10)
    add_policy(api, name='public-ok', subject='role:Read', resource='keys:public:*', actions=['Read'],
               effect='allow', priority=200)
    assert reader.get('/keys/public:1').status_code == 200
    assert reader.get('/keys', params={'prefix': 'public:'}).status_code == 200
    assert reader.get('/keys/private:1').status_code == 403
    assert api.get('/keys/private:1').status_code == 200  # the admin token has no Read role of its own
    check = api.post('/admin/policies/check', json={'token_id': reader_id, 'action': 'Read', 'target': 'private:1'})
    assert check.json() == {'allowed': False, 'policy': 'deny-all-keys', 'effect': 'deny',
                            'reason': "policy 'deny-all-keys' (deny, priority 10) decides"}
    check = api.post('/admin/policies/check', json={'token_id': reader_id, 'action': 'Write', 'target': 'public:1'})
    assert check.json()['allowed'] is False and check.json()['reason'] == 'the token lacks the Write permission'


async def test_event_stream_upgrades_are_refused_by_route_and_by_key_policies(backend):
    with admin_client(backend) as api:
        streamer = api.post('/admin/tokens', json={'name': 'streamer', 'permissions': ['Read']}).json()['data']
        blocked = api.post('/admin/tokens', json={'name': 'blocked', 'permissions': ['Read']}).json()['data']
        add_policy(api, name='no-secrets', subject=f'token:{streamer["id"]}', resource='keys:secret:*',
                   actions=['Read'], effect='deny')
        add_policy(api, name='no-ws', subject=f'token:{blocked["id"]}', resource='/ws/events', actions=['Read'],
                   effect='deny')
    as_streamer = {'Authorization': f'Bearer {streamer["token"]}'}
    with pytest.raises(InvalidStatus) as everything:  # every key would stream, the secret ones too
        async with connect(f'{backend.ws_url}/ws/events', additional_headers=as_streamer):
            pass
    assert everything.value.response.status_code == 403
    assert b"policy 'no-secrets'" in everything.value.response.body
    async with connect(f'{backend.ws_url}/ws/events?prefix=public:', additional_headers=as_streamer) as ws:
        assert '"connected"' in await ws.recv()
    with pytest.raises(InvalidStatus) as route:
        async with connect(f'{backend.ws_url}/ws/events?prefix=public:',
                           additional_headers={'Authorization': f'Bearer {blocked["token"]}'}):
            pass
    assert route.value.response.status_code == 403 and b"policy 'no-ws'" in route.value.response.body
    assert httpx.get(f'{backend.url}/events/poll', params={'prefix': 'public:', 'wait': '0'},
                     headers={'Authorization': f'Bearer {blocked["token"]}'}).status_code == 200
    async with connect(f'{backend.ws_url}/ws/events', additional_headers={'Authorization': f'Bearer {ADMIN_TOKEN}'}) \
            as ws:
        assert '"connected"' in await ws.recv()  # other tokens still stream everything


def test_no_policy_change_may_lock_out_the_last_admin(backend, api):
    lockout = api.post('/admin/policies', json={'name': 'lock', 'resource': '/admin/*', 'actions': ['Admin'],
                                                'effect': 'deny'})
    assert lockout.status_code == 409
    assert 'no token could administer access policies' in lockout.json()['error']
    assert api.post('/admin/policies', json={'name': 'lock', 'subject': 'role:Admin', 'resource': '/admin/policies*',
                                             'actions': ['Write'], 'effect': 'deny'}).status_code == 409
    assert api.get('/admin/policies').json()['data']['policies'] == []  # nothing was saved
    me = admin_id(api)
    keep = add_policy(api, name='admin-keeps-access', subject=f'token:{me}', resource='/admin/*', actions=['Admin'],
                      effect='allow', priority=1000)
    add_policy(api, name='lock-others-out', resource='/admin/*', actions=['Admin'], effect='deny', priority=10)
    assert api.delete(f'/admin/policies/{keep["id"]}').status_code == 409  # it is what keeps the admin in
    weaker = api.put(f'/admin/policies/{keep["id"]}', json={**keep, 'priority': 1})
    assert weaker.status_code == 409  # below the deny it would no longer count
    _, second_admin = new_token(api, 'second-admin', 'Admin')
    assert second_admin.get('/admin/tokens').status_code == 403  # the deny holds for everyone else
    revoke = api.delete(f'/admin/tokens/{me}')
    assert revoke.status_code == 409 and 'no token able to administer' in revoke.json()['error']
    assert api.get('/admin/policies').status_code == 200


def test_revoking_the_only_admin_token_is_refused_even_without_policies(backend, api):
    assert api.delete(f'/admin/tokens/{admin_id(api)}').status_code == 409
    other_id, _ = new_token(api, 'helper', 'Admin')
    assert api.delete(f'/admin/tokens/{other_id}').json()['message'] == 'Token deleted successfully'


def test_policies_are_validated_and_only_admins_may_manage_them(backend, api):
    _, writer = new_token(api, 'writer', 'Read', 'Write')
    bad = {'name': 'x', 'resource': 'tables', 'actions': ['Read']}
    assert api.post('/admin/policies', json=bad).json()['error'].startswith("resource must be '*'")
    assert api.post('/admin/policies', json={**bad, 'resource': '*', 'name': '  '}).json() == {
        'error': 'name is required'}
    assert api.post('/admin/policies', json={**bad, 'resource': '*', 'subject': 'token:nope'}).json() == {
        'error': "no token with id 'nope'"}
    assert api.post('/admin/policies', json={**bad, 'resource': '*', 'subject': 'role:Root'}).status_code == 400
    assert api.post('/admin/policies', json={**bad, 'resource': '*', 'actions': []}).status_code == 400
    assert api.post('/admin/policies', json={**bad, 'resource': '*', 'effect': 'maybe'}).status_code == 400
    add_policy(api, name='x', resource='/metrics', actions=['Read'], effect='deny')
    assert api.post('/admin/policies', json={**bad, 'resource': '/y'}).json() == {
        'error': "a policy named 'x' already exists"}
    assert writer.get('/admin/policies').status_code == 403
    assert writer.post('/admin/policies', json={**bad, 'name': 'y', 'resource': '*'}).status_code == 403
    assert api.delete('/admin/policies/nope').status_code == 404


def test_policies_survive_a_restart(backend, api):
    reader_id, _ = new_token(api, 'reader', 'Read')
    add_policy(api, name='no-metrics', subject=f'token:{reader_id}', resource='/metrics', actions=['Read'],
               effect='deny')
    backend.restart()
    with admin_client(backend) as again:
        assert [p['name'] for p in again.get('/admin/policies').json()['data']['policies']] == ['no-metrics']


async def test_a_sync_push_the_policy_refuses_is_answered_per_change_and_the_socket_stays_open(backend, api):
    import asyncio
    import json

    raw = api.post('/admin/tokens', json={'name': 'device2', 'permissions': ['Read', 'Write']}).json()['data']
    add_policy(api, name='no-secrets', subject=f'token:{raw["id"]}', resource='keys:secret:*', actions=['Write'],
               effect='deny')
    headers = {'Authorization': f'Bearer {raw["token"]}'}
    async with connect(f'{backend.ws_url}/ws/sync', additional_headers=headers) as sync:
        await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
            {'key': 'secret:1', 'value': 'x', 'timestamp': 1, 'device_id': 'd'},
            {'key': 'open:1', 'value': 'y', 'timestamp': 2, 'device_id': 'd'}]}))
        ack = json.loads(await asyncio.wait_for(sync.recv(), 5))
        assert ack['type'] == 'sync_ack'
        assert [r['key'] for r in ack['refused']] == ['secret:1'] and 'no-secrets' in ack['refused'][0]['error']
        broadcast = json.loads(await asyncio.wait_for(sync.recv(), 5))  # what was written goes to every device
        assert [c['key'] for c in broadcast['changes']] == ['open:1']
        await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 2, 'changes': []}))
        assert json.loads(await asyncio.wait_for(sync.recv(), 5))['type'] == 'sync_ack', 'the socket stays open'
    assert api.get('/keys/secret:1').status_code == 404
    assert api.get('/keys/open:1').json()['value'] == 'y'
