"""CI/CD page: save a prefix as a fixture, load it elsewhere, generate test data, export and import fixture files."""

from __future__ import annotations

import json

from nicegui import ui
from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in

USERS = {f'users:{i:02d}': json.dumps({'id': i, 'name': f'user {i}'}) for i in range(40)}


def under(server, prefix: str) -> dict[str, str]:
    with admin_client(server) as api:
        records = api.get('/keys/search', params={'q': prefix, 'prefix': 'true', 'limit': 5000}).json()['data'][
            'records']
    return {r['key']: r['value'] for r in records}


def names(user: User) -> list[str]:
    return [r['name'] for r in element(user, 'fixture-table').rows]


async def save_users_fixture(server, user: User) -> None:
    with admin_client(server) as api:
        api.post('/keys/batch', json={'records': [{'key': k, 'value': v} for k, v in USERS.items()]})
    await sign_in(user, next_page='/cicd')
    await user.should_see('No fixtures yet: save a prefix or import a file.')
    user.find(marker='fixture-name').type('test-users-40')
    user.find(marker='fixture-description').type('forty users')
    user.find(marker='fixture-prefix').type('users:').trigger('keydown.enter')
    await user.should_see('Fixture "test-users-40" saved with 40 records')
    await eventually(lambda: names(user) == ['test-users-40'])


async def test_a_prefix_saved_as_a_fixture_loads_into_another_prefix(console_backend, user: User):
    await save_users_fixture(console_backend, user)
    row = element(user, 'fixture-table').rows[0]
    assert (row['description'], row['type'], row['records'], row['prefix']) == ('forty users', 'Test Data', '40',
                                                                                'users:')
    user.find(marker='fixture-table').trigger('load', row['id'])
    await user.should_see('Load "test-users-40"')
    user.find(marker='load-prefix').clear().type('staging:users:')
    user.find(marker='load-start').click()
    await user.should_see('Loaded 40 records of "test-users-40" into staging:users:')
    await eventually(lambda: [(r['status'], r['progress']) for r in element(user, 'job-table').rows] == [
        ('Completed', '100 %')])
    assert under(console_backend, 'staging:users:') == {'staging:' + k: v for k, v in USERS.items()}


async def test_replacing_the_target_asks_to_type_its_prefix(console_backend, user: User):
    await save_users_fixture(console_backend, user)
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'copy:stale', 'value': 'old'})
    user.find(marker='fixture-table').trigger('load', element(user, 'fixture-table').rows[0]['id'])
    await user.should_see(marker='load-prefix')
    user.find(marker='load-prefix').clear().type('copy:')
    user.find(marker='load-replace').click()
    user.find(marker='load-start').click()
    await user.should_see('Delete every key under copy: in default before loading "test-users-40"?')
    user.find(marker='confirm-typed').type('copy:')
    user.find(marker='confirm-button').click()
    await user.should_see('Loaded 40 records of "test-users-40" into copy:')
    copied = under(console_backend, 'copy:')
    assert 'copy:stale' not in copied and len(copied) == 40


async def test_test_data_is_generated_from_a_template_with_progress(console_backend, user: User):
    await sign_in(user, next_page='/cicd')
    await user.should_see(marker='generate-key')
    element(user, 'generate-count').value = 2500
    user.find(marker='generate-preview').click()
    await eventually(lambda: element(user, 'generate-sample').text.startswith(
        'user:1 → {"id": 1, "name": "'), message='the preview should show rendered records')
    assert under(console_backend, 'user:') == {}
    user.find(marker='generate-start').click()
    await eventually(lambda: element(user, 'generate-result').text.startswith('Generated 2,500 records in '),
                     message='the generation should finish')
    assert element(user, 'generate-progress').value == 1.0
    records = under(console_backend, 'user:')
    assert len(records) == 2500 and json.loads(records['user:2500'])['id'] == 2500


async def test_a_template_without_n_is_refused_with_the_reason(console_backend, user: User):
    await sign_in(user, next_page='/cicd')
    await user.should_see(marker='generate-key')
    user.find(marker='generate-key').clear().type('fixed-key')
    user.find(marker='generate-start').click()
    await eventually(lambda: 'the key template needs {n}' in element(user, 'generate-result').text)
    user.find(marker='fixture-save').click()
    await user.should_see('Enter a name for the fixture')


async def test_a_fixture_exported_then_imported_round_trips(console_backend, user: User):
    await save_users_fixture(console_backend, user)
    fixture_id = element(user, 'fixture-table').rows[0]['id']
    user.find(marker='fixture-table').trigger('export', fixture_id)
    response = await user.download.next(timeout=10)
    exported = json.loads(response.content)
    assert exported['name'] == 'test-users-40' and len(exported['records']) == 40
    user.find(marker='fixture-table').trigger('delete', fixture_id)
    await user.should_see('Delete the fixture "test-users-40" (40 records)?')
    user.find(marker='confirm-button').click()
    await user.should_see('Fixture "test-users-40" deleted')
    await eventually(lambda: names(user) == [])

    upload = element(user, 'fixture-upload')
    await upload.handle_uploads([ui.upload.SmallFileUpload('test-users-40.fixture.json', 'application/json',
                                                           response.content)])
    await user.should_see('Fixture "test-users-40" imported with 40 records')
    await eventually(lambda: names(user) == ['test-users-40'])
    with admin_client(console_backend) as api:
        new_id = api.get('/admin/cicd').json()['data']['fixtures'][0]['id']
        assert api.get(f'/admin/cicd/{new_id}/export').json() == exported


async def test_a_file_that_is_not_a_fixture_is_refused(console_backend, user: User):
    await sign_in(user, next_page='/cicd')
    upload = element(user, 'fixture-upload')
    await upload.handle_uploads([ui.upload.SmallFileUpload('x.json', 'application/json', b'[1, 2]')])
    await user.should_see('x.json: Not a fixture file')


async def test_a_real_apexstore_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/cicd')
    await user.should_see('CI/CD fixtures is not offered by this server.', marker='fixture-state')
    await user.should_not_see(marker='fixture-save')
    await user.should_not_see(marker='generate-start')
