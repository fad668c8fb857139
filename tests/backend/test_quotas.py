"""Per-token quotas on the embedded backend: 429 past a rate or the daily budget, 507 past the storage limit."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from tests.conftest import ADMIN_TOKEN, admin_client


def new_token(api: httpx.Client, name: str, *permissions: str) -> tuple[str, httpx.Client]:
    data = api.post('/admin/tokens', json={'name': name, 'permissions': list(permissions)}).json()['data']
    return data['id'], httpx.Client(base_url=str(api.base_url), timeout=30, headers={
        'Authorization': f'Bearer {data["token"]}', 'Content-Type': 'application/json'})


def add_quota(api: httpx.Client, **quota) -> dict:
    answer = api.post('/admin/quotas', json=quota)
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def usage(api: httpx.Client, quota_id: str) -> dict:
    return next(q for q in api.get('/admin/quotas').json()['data']['quotas'] if q['id'] == quota_id)['usage']


def test_requests_past_the_per_minute_limit_get_429_and_other_tokens_are_untouched(backend, api):
    client_id, client = new_token(api, 'ci', 'Read')
    _, other = new_token(api, 'other', 'Read')
    quota = add_quota(api, tenant=client_id, description='CI runner', max_requests_per_min=3)
    assert quota['token_name'] == 'ci' and quota['active'] is True and quota['current_budget_used'] == 0
    assert [client.get('/stats').status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get('/stats')
    assert refused.status_code == 429
    assert refused.json()['error'].startswith("quota exceeded for token 'ci': 3 requests per minute; retry in ")
    assert 1 <= int(refused.headers['Retry-After']) <= 60
    assert client.get('/keys').status_code == 429  # every route counts
    assert [other.get('/stats').status_code for _ in range(5)] == [200] * 5
    seen = usage(api, quota['id'])
    assert seen['requests_per_min'] == 3 and seen['reads_per_min'] == 3 and seen['rejected_rate'] == 2
    assert seen['budget_used'] == 3  # refused requests are not counted


def test_write_and_read_limits_are_separate_and_changes_apply_at_once(backend, api):
    client_id, client = new_token(api, 'app', 'Read', 'Write')
    quota = add_quota(api, tenant=client_id, max_writes_per_min=0)
    refused = client.put('/keys/a', json={'value': '1'})
    assert refused.status_code == 429 and '0 writes per minute' in refused.json()['error']
    assert client.get('/keys').status_code == 200  # reads are not limited
    changed = api.put(f'/admin/quotas/{quota["id"]}', json={**quota, 'max_writes_per_min': 2, 'max_reads_per_min': 2})
    assert changed.json()['message'] == 'Quota updated successfully'
    assert client.put('/keys/a', json={'value': '1'}).status_code == 200
    assert client.get('/keys/a').status_code == 200  # the second read this minute
    refused = client.get('/keys/a')
    assert refused.status_code == 429 and '2 reads per minute' in refused.json()['error']
    api.put(f'/admin/quotas/{quota["id"]}', json={**quota, 'active': False})
    assert [client.get('/keys/a').status_code for _ in range(3)] == [200] * 3  # an inactive quota limits nothing


def test_the_daily_budget_runs_out(backend, api):
    client_id, client = new_token(api, 'batch', 'Read')
    quota = add_quota(api, tenant=client_id, max_budget_per_day=2)
    assert [client.get('/stats').status_code for _ in range(2)] == [200, 200]
    refused = client.get('/stats')
    assert refused.status_code == 429 and 'daily budget of 2 requests is used up' in refused.json()['error']
    assert api.get('/admin/quotas').json()['data']['quotas'][0]['current_budget_used'] == 2
    assert usage(api, quota['id'])['rejected_rate'] == 1


def test_a_write_past_the_storage_limit_gets_507_and_nothing_is_written(backend, api):
    client_id, client = new_token(api, 'uploader', 'Read', 'Write', 'Delete')
    quota = add_quota(api, tenant=client_id, max_storage_bytes=100)
    assert client.put('/keys/a', json={'value': 'x' * 49}).status_code == 200  # 50 bytes with the key
    assert usage(api, quota['id'])['storage_bytes'] == 50
    refused = client.put('/keys/b', json={'value': 'x' * 60})
    assert refused.status_code == 507
    assert refused.json()['error'] == ("storage quota exceeded for token 'uploader': this write needs 61 more bytes, "
                                       '50 of 100 bytes are left; nothing was written')
    assert api.get('/keys/b').status_code == 404
    batch = client.post('/keys/batch', json={'records': [{'key': 'c', 'value': 'x'}, {'key': 'd', 'value': 'x' * 60}]})
    assert batch.status_code == 507 and api.get('/keys/c').status_code == 404
    assert client.put('/keys/a', json={'value': 'x' * 9}).status_code == 200  # an overwrite gives bytes back
    assert usage(api, quota['id'])['storage_bytes'] == 10
    assert client.put('/keys/b', json={'value': 'x' * 60}).status_code == 200
    assert client.delete('/keys/a').status_code == 200
    assert usage(api, quota['id'])['storage_bytes'] == 61  # a delete gives them back too
    assert api.put('/keys/big', json={'value': 'x' * 500}).status_code == 200  # the admin has no quota
    seen = usage(api, quota['id'])
    assert seen['rejected_storage'] == 2
    # it counts after every other write guard, so no later guard can refuse a write it has counted
    assert backend.call(lambda b: b.write_guards[-1].__module__) == 'backend.features.quotas'


async def test_usage_goes_out_as_feature_events(backend):
    with admin_client(backend) as api:
        client_id, client = new_token(api, 'live', 'Read')
        quota = add_quota(api, tenant=client_id, max_requests_per_min=100)
    async with connect(f'{backend.ws_url}/ws/events', additional_headers={'Authorization': f'Bearer {ADMIN_TOKEN}'}) \
            as ws:
        for _ in range(4):
            client.get('/stats')

        async def usage_of_four() -> dict:
            while True:
                frame = json.loads(await ws.recv())
                if frame.get('type') == 'feature_event' and frame['feature'] == 'quotas' and frame['name'] == 'usage':
                    seen = frame['data']['usage'][quota['id']]
                    if seen['requests_per_min'] == 4:
                        return seen

        assert (await asyncio.wait_for(usage_of_four(), 15))['budget_used'] == 4


def test_quotas_are_validated_and_only_admins_manage_them(backend, api):
    client_id, client = new_token(api, 'someone', 'Read', 'Write')
    assert api.post('/admin/quotas', json={'tenant': 'nope'}).json() == {
        'error': "no token with id 'nope': a quota belongs to an existing token"}
    assert api.post('/admin/quotas', json={'tenant': client_id, 'max_requests_per_min': -1}).status_code == 400
    quota = add_quota(api, tenant=client_id)
    assert api.post('/admin/quotas', json={'tenant': client_id}).status_code == 409
    other_id, _ = new_token(api, 'another', 'Read')
    moved = api.put(f'/admin/quotas/{quota["id"]}', json={**quota, 'tenant': other_id})
    assert moved.status_code == 400 and 'cannot be changed' in moved.json()['error']
    assert client.get('/admin/quotas').status_code == 403
    assert client.post('/admin/quotas', json={'tenant': client_id}).status_code == 403
    assert api.delete(f'/admin/quotas/{quota["id"]}').json()['message'] == 'Quota deleted successfully'
    assert api.delete(f'/admin/quotas/{quota["id"]}').status_code == 404
    assert api.get('/admin/quotas').json()['data'] == {'quotas': []}


def test_an_admin_under_a_quota_can_still_manage_quotas(backend, api):
    me = next(t['id'] for t in api.get('/admin/tokens').json()['data']['tokens'] if t['name'] == 'console-admin')
    quota = add_quota(api, tenant=me, max_requests_per_min=1)
    assert api.get('/stats').status_code == 200
    assert api.get('/stats').status_code == 429
    assert api.get('/admin/quotas').status_code == 200  # quota routes are never rate limited
    assert api.delete(f'/admin/quotas/{quota["id"]}').status_code == 200
    assert api.get('/stats').status_code == 200
