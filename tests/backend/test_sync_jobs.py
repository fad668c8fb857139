"""Data Sync extension: sync jobs copying a prefix to a SECOND real backend, and the `/ws/sync` hub view."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from backend.server import BackendThread
from backend.tokens import Permission
from tests.conftest import ADMIN_TOKEN, admin_client, make_backend

AUTH = {'Authorization': f'Bearer {ADMIN_TOKEN}'}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[BackendThread]:
    """The other ApexStore server a job copies to (its own store, its own tokens)."""
    with make_backend(tmp_path / 'target') as server:
        yield server


def token_with(server: BackendThread, *permissions: str) -> str:
    _, raw = server.call(lambda b: b.tokens.create('t-' + '-'.join(permissions), [Permission(p) for p in permissions]))
    return raw


class Recording(httpx.Client):
    """An admin client that keeps every response body (to prove a secret is in none of them)."""

    def __init__(self, server: BackendThread, token: str = ADMIN_TOKEN) -> None:
        self.bodies: list[str] = []
        super().__init__(base_url=server.url, timeout=30, headers={
            'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'},
            event_hooks={'response': [self._keep]})

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(response.text)


def store_items(server: BackendThread, prefix: str = '') -> dict[str, str]:
    rows = server.call(lambda b: b.store.scan('default', prefix.encode(), None, None, None, prefix.encode()))
    return {k.decode(): v.decode() for k, v in rows}


def wait_for_job(api: httpx.Client, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f'/admin/sync/{job_id}').json()['data']
        if job['status'] != 'running':
            return job
        time.sleep(0.05)
    raise AssertionError('the sync job did not finish')


def write_users(api: httpx.Client, count: int) -> None:
    records = [{'key': f'user:{i:05d}', 'value': f'{{"id": {i}, "name": "user {i}"}}'} for i in range(count)]
    for offset in range(0, len(records), 1000):
        assert api.post('/keys/batch', json={'records': records[offset:offset + 1000]}).status_code == 200


async def test_a_full_job_copies_every_user_key_to_another_server_with_progress_to_100(backend, target):
    secret = token_with(target, 'Write')
    with Recording(backend) as api:
        write_users(api, 1234)
        api.post('/keys/batch', json={'records': [{'key': 'order:1', 'value': 'not copied'}]})
        api.put('/keys/user:ttl', json={'value': 'expires later', 'ttl_secs': 3600})
        created = api.post('/admin/sync', json={'name': 'users-to-backup', 'source': 'user:', 'target': target.url,
                                                'mode': 'full', 'target_token': secret})
        assert created.status_code == 200
        job = created.json()['data']
        assert job['status'] == 'scheduled' and job['target_token_masked'] == '••••••••' and job['has_token']
        async with connect(f'{backend.ws_url}/ws/events?types=feature_event', additional_headers=AUTH) as ws:
            await ws.recv()
            assert api.post(f'/admin/sync/{job["id"]}/trigger').json()['data']['status'] == 'running'
            progress: list[dict] = []
            while not progress or progress[-1]['status'] == 'running':
                frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if frame['feature'] == 'sync_jobs' and frame['name'] == 'progress':
                    progress.append(frame['data'])
                    assert secret not in json.dumps(frame)
        done = wait_for_job(api, job['id'])
        listed = api.get('/admin/sync').json()['data']['jobs']
        api.get('/admin/sync/hub')
        assert all(secret not in body for body in api.bodies), 'the target token must never be sent back'
    percents = [p['percent'] for p in progress]
    assert percents == sorted(percents) and percents[-1] == 100 and progress[-1]['status'] == 'completed'
    assert done['status'] == 'completed' and done['records_synced'] == 1235 == done['records_total']
    assert done['finished_at'] >= done['started_at'] and done['error'] is None and done['runs'] == 1
    assert [j['name'] for j in listed] == ['users-to-backup']
    copied = store_items(target)
    assert copied == store_items(backend, 'user:') and len(copied) == 1235 and 'order:1' not in copied
    with admin_client(target) as on_target:
        assert 3500 < on_target.get('/keys/user:ttl/ttl').json()['ttl_secs'] <= 3600  # the TTL travels too


def test_an_incremental_job_ships_only_what_changed_since_its_last_run(backend, target):
    with admin_client(backend) as api:
        write_users(api, 300)
        job_id = api.post('/admin/sync', json={'name': 'inc', 'source': 'user:', 'target': target.url,
                                               'mode': 'incremental', 'target_token': ADMIN_TOKEN}).json()['data']['id']
        api.post(f'/admin/sync/{job_id}/trigger')
        assert wait_for_job(api, job_id)['records_synced'] == 300  # the first run copies everything
        api.put('/keys/user:00001', json={'value': 'changed'})
        api.put('/keys/user:99999', json={'value': 'new'})
        api.delete('/keys/user:00002')
        api.delete('/keys', params={'prefix': 'user:002'})  # 100 keys at once
        api.put('/keys/other', json={'value': 'outside the prefix'})
        api.post(f'/admin/sync/{job_id}/trigger')
        second = wait_for_job(api, job_id)
    assert second['status'] == 'completed' and second['records_synced'] == 3 and second['records_deleted'] == 1
    assert store_items(target) == store_items(backend, 'user:')
    assert store_items(target)['user:00001'] == 'changed' and 'user:00250' not in store_items(target)


def test_a_snapshot_job_copies_the_prefix_as_it_was_when_the_run_started(backend, target):
    with admin_client(backend) as api:
        write_users(api, 50)
        job_id = api.post('/admin/sync', json={'name': 'snap', 'source': 'user:00', 'target': target.url,
                                               'mode': 'snapshot', 'target_token': ADMIN_TOKEN}).json()['data']['id']
        api.post(f'/admin/sync/{job_id}/trigger')
        assert wait_for_job(api, job_id)['records_synced'] == 50
    assert store_items(target) == store_items(backend, 'user:00')


@pytest.mark.parametrize(('token', 'reason'), [
    ('apx_wrong-token-000000000000000000000000000000000', 'the target refused the token (HTTP 401)'),
    ('read-only', 'the target token lacks the permission (HTTP 403)'),
    (None, 'the target refused the token (HTTP 401)'),
])
def test_a_run_the_target_refuses_fails_with_a_reason_and_no_secret(backend, target, token, reason):
    secret = token_with(target, 'Read') if token == 'read-only' else token
    with Recording(backend) as api:
        write_users(api, 5)
        body = {'name': 'refused', 'source': 'user:', 'target': target.url, 'mode': 'full'}
        if secret:
            body['target_token'] = secret
        job_id = api.post('/admin/sync', json=body).json()['data']['id']
        api.post(f'/admin/sync/{job_id}/trigger')
        failed = wait_for_job(api, job_id)
        assert failed['status'] == 'failed' and failed['error'] == reason and failed['records_synced'] == 0
        assert not secret or all(secret not in text for text in api.bodies)
    assert store_items(target) == {}


def test_an_unreachable_target_fails_the_run(backend):
    with admin_client(backend) as api:
        write_users(api, 1)
        job_id = api.post('/admin/sync', json={'name': 'nowhere', 'source': 'user:', 'target': 'http://127.0.0.1:9',
                                               'mode': 'full'}).json()['data']['id']
        api.post(f'/admin/sync/{job_id}/trigger')
        failed = wait_for_job(api, job_id)
    assert failed['status'] == 'failed' and failed['error'].startswith('cannot reach the target')


def test_a_job_whose_column_family_was_dropped_fails_saying_so(backend, target):
    with admin_client(backend) as api:
        api.post('/admin/column_families', json={'name': 'archive'})
        job_id = api.post('/admin/sync', json={'name': 'cf', 'source': 'a', 'target': target.url, 'cf': 'archive',
                                               'target_token': ADMIN_TOKEN}).json()['data']['id']
        api.delete('/admin/column_families/archive')
        api.post(f'/admin/sync/{job_id}/trigger')
        failed = wait_for_job(api, job_id)
    assert failed['status'] == 'failed' and failed['error'] == "column family 'archive' does not exist"


def test_a_running_job_cannot_start_twice_and_deleting_it_stops_it(backend, target):
    target.faults(slow_ms=1500)  # every request to the target takes 1.5 s
    with admin_client(backend) as api:
        write_users(api, 10)
        job_id = api.post('/admin/sync', json={'name': 'slow', 'source': 'user:', 'target': target.url,
                                               'target_token': ADMIN_TOKEN}).json()['data']['id']
        assert api.post(f'/admin/sync/{job_id}/trigger').status_code == 200
        again = api.post(f'/admin/sync/{job_id}/trigger')
        assert again.status_code == 409 and again.json()['message'] == 'sync job is already running'
        assert api.delete(f'/admin/sync/{job_id}').json()['message'] == "Sync job 'slow' deleted"
        assert api.get('/admin/sync').json()['data']['jobs'] == []
        assert api.post(f'/admin/sync/{job_id}/trigger').status_code == 404
    target.faults(slow_ms=0)


def test_jobs_and_their_tokens_survive_a_restart(backend, target):
    with admin_client(backend) as api:
        write_users(api, 3)
        job_id = api.post('/admin/sync', json={'name': 'kept', 'source': 'user:', 'target': target.url + '/',
                                               'mode': 'full', 'target_token': ADMIN_TOKEN}).json()['data']['id']
    backend.restart()
    with admin_client(backend) as api:
        [job] = api.get('/admin/sync').json()['data']['jobs']
        assert job['target'] == target.url and job['has_token'] and 'target_token' not in job
        api.post(f'/admin/sync/{job_id}/trigger')
        assert wait_for_job(api, job_id)['status'] == 'completed'
    assert len(store_items(target)) == 3


@pytest.mark.parametrize(('change', 'status', 'message'), [
    ({'target': 'ftp://backup.example.com'}, 400, 'target URL must start with http:// or https://'),
    ({'target': 'http://admin:pw@backup.example.com'}, 400, 'target URL must not contain credentials'),
    ({'target': 'http://backup.example.com/?x=1'}, 400, 'target URL must not contain a ?query'),
    ({'target': ''}, 400, 'target URL must not be empty'),
    ({'target': 'http://backup.example.com:0'}, 400, 'target URL has an invalid port'),
    ({'name': '   '}, 400, 'name must not be empty'),
    ({'name': 'x' * 101}, 400, 'name must be at most 100 characters'),
    ({'source': ''}, 400, 'source (the key prefix to copy) must not be empty'),
    ({'mode': 'mirror'}, 400, 'Json deserialize error: mode'),
    ({'cf': 'nope'}, 400, "column family 'nope' does not exist"),
    ({'target_token': 'two words'}, 400, 'target token must be printable ASCII'),
    ({'target_token': 'line\nbreak'}, 400, 'target token must be printable ASCII'),
    ({'name': 5}, 400, 'Json deserialize error: name'),
    ({'name': 'taken'}, 409, "a sync job named 'taken' already exists"),
])
def test_bad_jobs_are_refused_with_a_reason(api, change, status, message):
    good = {'name': 'ok', 'source': 'user:', 'target': 'http://backup.example.com', 'mode': 'full'}
    assert api.post('/admin/sync', json={**good, 'name': 'taken'}).status_code == 200
    answer = api.post('/admin/sync', json={**good, **change})
    assert answer.status_code == status
    payload = answer.json()
    assert (payload.get('message') or payload.get('error')).startswith(message)


def test_unknown_jobs_are_404_with_a_reason(api):
    for method, path in [('GET', '/admin/sync/abc'), ('POST', '/admin/sync/abc/trigger'),
                         ('DELETE', '/admin/sync/abc')]:
        answer = api.request(method, path)
        assert (answer.status_code, answer.json()['message']) == (404, 'sync job does not exist')


def test_permissions_per_route(backend, api):
    job_id = api.post('/admin/sync', json={'name': 'guarded', 'source': 'user:', 'target': 'http://b.example.com',
                                           'mode': 'full'}).json()['data']['id']
    forbidden = {'error': 'Insufficient permissions', 'status': 403}
    for permissions in (['Read'], ['Read', 'Write', 'Delete']):
        with admin_client(backend, token_with(backend, *permissions)) as user:
            assert user.get('/admin/sync').status_code == 200
            assert user.get(f'/admin/sync/{job_id}').status_code == 200
            assert user.get('/admin/sync/hub').status_code == 200
            for method, path, body in [('POST', '/admin/sync', {'name': 'n', 'source': 'a', 'target': 'http://c.d'}),
                                       ('POST', f'/admin/sync/{job_id}/trigger', {}),
                                       ('DELETE', f'/admin/sync/{job_id}', None)]:
                answer = user.request(method, path, json=body) if body is not None else user.request(method, path)
                assert (answer.status_code, answer.json()) == (403, forbidden), (permissions, method, path)
    with httpx.Client(base_url=backend.url) as anonymous:
        assert anonymous.get('/admin/sync').status_code == 401
    assert len(api.get('/admin/sync').json()['data']['jobs']) == 1


async def test_the_hub_view_counts_devices_pushes_acks_and_conflicts(backend):
    async with httpx.AsyncClient(base_url=backend.url, headers=AUTH, timeout=10) as api:
        async def hub() -> dict:
            return (await api.get('/admin/sync/hub')).json()['data']

        async def until(check) -> dict:
            for _ in range(200):
                status = await hub()
                if check(status):
                    return status
                await asyncio.sleep(0.05)
            raise AssertionError(f'the hub view never got there: {status}')

        assert (await hub())['totals']['connected_devices'] == 0
        async with connect(f'{backend.ws_url}/ws/sync?device_id=phone-1', additional_headers=AUTH) as phone:
            status = await until(lambda s: s['totals']['connected_devices'] == 1)
            assert status['devices'][0]['device_id'] == 'phone-1' and status['devices'][0]['connected'] is True
            await phone.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
                {'key': 'note:1', 'value': 'v2', 'timestamp': 20, 'device_id': 'phone-1'}]}))
            assert json.loads(await asyncio.wait_for(phone.recv(), 5))['type'] == 'sync_ack'
            await phone.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
                {'key': 'note:1', 'value': 'v1', 'timestamp': 10, 'device_id': 'phone-1'}]}))
            status = await until(lambda s: s['totals']['conflicts'] == 1)
        assert status['totals'] | {'connected_devices': 1} == {
            'pushes': 2, 'changes_pushed': 2, 'acks': 2, 'applied': 1, 'conflicts': 1, 'connected_devices': 1,
            'connections': 1}
        device = status['devices'][0]
        assert (device['changes'], device['conflicts']) == (1, 1) and device['last_push_at'] > 10**18
        assert [a['kind'] for a in status['recent']][:2] == ['ack', 'conflict']
        gone = await until(lambda s: s['totals']['connected_devices'] == 0)
        assert gone['devices'][0]['connected'] is False and gone['recent'][0]['kind'] == 'disconnected'
        assert gone['complete'] is True


def test_a_real_apexstore_has_no_sync_jobs(compat_api):
    assert compat_api.get('/admin/sync').status_code == 404
    assert compat_api.get('/admin/sync/hub').status_code == 404
