"""Data Sync page: the `/ws/sync` hub live, and sync jobs copying a prefix to a second real backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from nicegui.testing import User
from websockets.asyncio.client import connect

from backend.server import BackendThread
from backend.tokens import Permission
from tests.conftest import ADMIN_TOKEN, admin_client, make_backend
from tests.pages.conftest import element, eventually, sign_in

AUTH = {'Authorization': f'Bearer {ADMIN_TOKEN}'}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[BackendThread]:
    """A second ApexStore server the jobs copy to."""
    with make_backend(tmp_path / 'target') as server:
        yield server


def jobs(user: User) -> list[dict]:
    return element(user, 'jobs-table').rows


def devices(user: User) -> dict[str, dict]:
    return {row['device']: row for row in element(user, 'devices-table').rows}


def stat(user: User, marker: str) -> str:
    return element(user, marker).value


def page_text(user: User) -> str:
    """Everything the page holds for the browser: texts, props (input values, table rows)."""
    assert user.client is not None
    return ' '.join(f'{getattr(e, "text", "")} {e.props!r}' for e in user.client.elements.values())


async def test_a_job_created_on_the_page_copies_every_user_key_to_another_server(console_backend, target, user: User):
    _, secret = target.call(lambda b: b.tokens.create('sync-writer', [Permission.Write]))
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'user:{i}', 'value': f'name {i}'} for i in range(700)]})
        api.put('/keys/order:1', json={'value': 'stays home'})
    await sign_in(user, next_page='/data-sync')
    await user.should_see('No sync jobs yet. Create one to copy a key prefix to another server.')
    assert not element(user, 'create-job').enabled  # name, source and target are required
    user.find(marker='job-name').type('users-to-backup')
    user.find(marker='job-source').type('user:')
    user.find(marker='job-target').type(target.url)
    user.find(marker='job-token').type(secret)
    element(user, 'job-mode').value = 'full'
    user.find(marker='create-job').click()
    await user.should_see('Sync job "users-to-backup" created')
    await eventually(lambda: len(jobs(user)) == 1)
    [row] = jobs(user)
    assert row['token'] == '••••••••' and row['status'] == 'scheduled' and row['mode'] == 'Full Sync'
    assert element(user, 'job-token').value == ''  # the token is gone from the form once it is sent
    user.find(marker='jobs-table').trigger('trigger', row['id'])
    await user.should_see('Sync job "users-to-backup" started')
    await eventually(lambda: jobs(user)[0]['status'] == 'completed', timeout=30,
                     message='the job should finish, following its progress events')
    done = jobs(user)[0]
    assert done['percent'] == 100 and done['records'] == '700' and done['error'] == ''
    with admin_client(target) as on_target:
        page = on_target.get('/keys', params={'prefix': '', 'limit': 1000}).json()
    assert sorted(page['keys']) == sorted(f'user:{i}' for i in range(700))
    assert secret not in page_text(user)


async def test_progress_moves_while_a_slow_copy_runs_and_the_sync_button_waits_for_it(console_backend, target,
                                                                                      user: User):
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'user:{i:04d}', 'value': 'v'} for i in range(1000)]})
        job_id = api.post('/admin/sync', json={'name': 'slow', 'source': 'user:', 'target': target.url,
                                               'mode': 'full', 'target_token': ADMIN_TOKEN}).json()['data']['id']
    await sign_in(user, next_page='/data-sync')
    await eventually(lambda: len(jobs(user)) == 1)
    target.faults(slow_ms=300)  # each batch of 500 takes a while: the run is seen half done
    user.find(marker='jobs-table').trigger('trigger', job_id)
    await eventually(lambda: jobs(user)[0]['running'] and jobs(user)[0]['records'] == '500 / 1,000',
                     message='progress should show the first batch')
    assert jobs(user)[0]['percent'] == 50
    target.faults(slow_ms=0)
    await eventually(lambda: jobs(user)[0]['status'] == 'completed' and not jobs(user)[0]['running'], timeout=30)
    assert jobs(user)[0]['percent'] == 100


async def test_a_ws_sync_device_and_its_pushes_show_up_live(console_backend, user: User):
    await sign_in(user, next_page='/data-sync')
    await eventually(lambda: stat(user, 'card-devices') == '0', message='the hub view should load')
    async with connect(f'{console_backend.ws_url}/ws/sync?device_id=tablet-7', additional_headers=AUTH) as tablet:
        await eventually(lambda: devices(user).get('tablet-7', {}).get('status') == 'Connected',
                         message='the connected device should be listed')
        assert stat(user, 'card-devices') == '1'
        await tablet.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
            {'key': 'note:today', 'value': 'buy milk', 'timestamp': 1_700_000_000_000, 'device_id': 'tablet-7'}]}))
        assert json.loads(await tablet.recv())['type'] == 'sync_ack'
        await eventually(lambda: stat(user, 'card-pushes') == '1' and stat(user, 'card-acks') == '1',
                         message='the push and its ack should be counted')
        await eventually(lambda: devices(user)['tablet-7']['changes'] == 1)
        await tablet.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': [
            {'key': 'note:today', 'value': 'stale', 'timestamp': 1, 'device_id': 'tablet-7'}]}))
        await eventually(lambda: stat(user, 'card-conflicts') == '1' and devices(user)['tablet-7']['conflicts'] == 1)
        kinds = [item.kind for item in element(user, 'sync-feed').items]
        assert kinds[:3] == ['ack', 'conflict', 'push'] and 'connected' in kinds
    await eventually(lambda: devices(user)['tablet-7']['status'] == 'Disconnected')
    assert stat(user, 'card-devices') == '0'


async def test_deleting_a_job_asks_first(console_backend, user: User):
    with admin_client(console_backend) as api:
        job_id = api.post('/admin/sync', json={'name': 'old', 'source': 'user:',
                                               'target': 'http://backup.example.com'}).json()['data']['id']
    await sign_in(user, next_page='/data-sync')
    await eventually(lambda: len(jobs(user)) == 1)
    user.find(marker='jobs-table').trigger('remove', job_id)
    await user.should_see('Delete sync job "old" and its stored target token? Keys already copied to '
                          'http://backup.example.com stay there.')
    user.find('Cancel').click()
    await user.should_not_see('Delete sync job "old"')
    assert len(jobs(user)) == 1
    user.find(marker='jobs-table').trigger('remove', job_id)
    await user.should_see('Delete sync job "old"')
    user.find(marker='confirm-button').click()
    await user.should_see('Sync job "old" deleted')
    await user.should_see('No sync jobs yet. Create one to copy a key prefix to another server.')
    with admin_client(console_backend) as api:
        assert api.get('/admin/sync').json()['data']['jobs'] == []


async def test_bad_jobs_are_explained(console_backend, user: User):
    await sign_in(user, next_page='/data-sync')
    await user.should_see('No sync jobs yet. Create one to copy a key prefix to another server.')
    user.find(marker='job-name').type('bad')
    user.find(marker='job-source').type('user:')
    user.find(marker='job-target').type('ftp://backup.example.com')
    user.find(marker='job-target').trigger('keydown.enter')  # Enter submits
    await user.should_see('Create sync job: target URL must start with http:// or https://')
    user.find(marker='job-target').clear().type('http://user:pw@backup.example.com')
    user.find(marker='create-job').click()
    await user.should_see('Create sync job: target URL must not contain credentials')
    user.find(marker='job-target').clear().type('https://backup.example.com')
    user.find(marker='job-cf').clear().type('missing')
    user.find(marker='create-job').click()
    await user.should_see("Create sync job: column family 'missing' does not exist")
    assert element(user, 'job-count').text == '0'


async def test_a_read_only_token_sees_jobs_but_cannot_change_them(console_backend, user: User):
    _, reader = console_backend.call(lambda b: b.tokens.create('reader', [Permission.Read]))
    with admin_client(console_backend) as api:
        job_id = api.post('/admin/sync', json={'name': 'theirs', 'source': 'user:',
                                               'target': 'http://backup.example.com'}).json()['data']['id']
    await sign_in(user, reader, next_page='/data-sync')
    await eventually(lambda: len(jobs(user)) == 1)
    user.find(marker='jobs-table').trigger('trigger', job_id)
    await user.should_see('Start sync job: this token lacks the permission')
    user.find(marker='job-name').type('mine')
    user.find(marker='job-source').type('user:')
    user.find(marker='job-target').type('http://backup.example.com')
    user.find(marker='create-job').click()
    await user.should_see('Create sync job: this token lacks the permission')


async def test_a_server_without_sync_routes_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/data-sync')
    await user.should_see('Sync jobs is not offered by this server.', marker='jobs-state')
    await user.should_see('The live sync view is not offered by this server.', marker='hub-state')
    await user.should_not_see(marker='create-job')
    await user.should_not_see(marker='devices-table')
