"""CI/CD: a prefix saved as a fixture loads into another prefix, travels as a file, and test data is generated."""

from __future__ import annotations

import json
import time

import httpx

from backend.tokens import Permission
from tests.conftest import admin_client


def until(check, timeout: float = 20.0, message: str = 'condition not met'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(message)


def under(api: httpx.Client, prefix: str) -> dict[str, str]:
    records = api.get('/keys/search', params={'q': prefix, 'prefix': 'true', 'limit': 10000}).json()['data']['records']
    return {r['key']: r['value'] for r in records}


def job(api: httpx.Client, job_id: str) -> dict:
    return next(j for j in api.get('/admin/cicd/jobs').json()['data']['jobs'] if j['id'] == job_id)


def finished(api: httpx.Client, job_id: str) -> dict:
    return until(lambda: (j := job(api, job_id))['status'] != 'running' and j, message='the job should finish')


def save(api: httpx.Client, name: str, prefix: str, **extra) -> dict:
    answer = api.post('/admin/cicd', json={'name': name, 'description': 'seed users', 'type': 'data',
                                           'prefix': prefix, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def token_with(server, *permissions: str) -> str:
    _, raw = server.call(lambda b: b.tokens.create('t-' + '-'.join(permissions), [Permission(p) for p in permissions]))
    return raw


USERS = {f'users:{i:03d}': json.dumps({'id': i, 'name': f'user {i}', 'note': 'ünïcode ✓'}) for i in range(250)}


def test_a_saved_fixture_loads_into_another_prefix_with_the_same_keys_and_values(api):
    api.post('/keys/batch', json={'records': [{'key': k, 'value': v} for k, v in USERS.items()]})
    api.post('/keys', json={'key': 'orders:1', 'value': 'not in the fixture'})
    fixture = save(api, 'test-users-250', 'users:')
    assert fixture['records'] == 250 and fixture['type'] == 'data' and fixture['prefix'] == 'users:'
    assert fixture['size'].endswith('KB') and fixture['size_bytes'] > 0 and fixture['created_at'] > 0
    listed = api.get('/admin/cicd').json()['data']['fixtures']
    assert [f['name'] for f in listed] == ['test-users-250']

    started = api.post(f'/admin/cicd/{fixture["id"]}/load', json={'prefix': 'staging:users:'})
    assert started.status_code == 200, started.text
    done = finished(api, started.json()['data']['id'])
    assert done['status'] == 'completed' and done['done'] == 250 and done['progress'] == 1.0
    assert under(api, 'staging:users:') == {'staging:' + k: v for k, v in USERS.items()}
    assert under(api, 'users:') == USERS  # the source is untouched


def test_loading_with_replace_clears_the_target_first_and_default_target_is_the_fixture_prefix(api):
    api.post('/keys/batch', json={'records': [{'key': k, 'value': v} for k, v in list(USERS.items())[:10]]})
    fixture = save(api, 'ten users', 'users:')
    api.post('/keys', json={'key': 'copy:stale', 'value': 'left over from yesterday'})
    done = finished(api, api.post(f'/admin/cicd/{fixture["id"]}/load',
                                  json={'prefix': 'copy:', 'replace': True}).json()['data']['id'])
    assert done['deleted'] == 1 and done['done'] == 10
    assert sorted(under(api, 'copy:')) == sorted('copy:' + k[len('users:'):] for k in list(USERS)[:10])
    api.delete('/keys', params={'prefix': 'users:'})
    finished(api, api.post(f'/admin/cicd/{fixture["id"]}/load', json={}).json()['data']['id'])
    assert under(api, 'users:') == dict(list(USERS.items())[:10])


def test_test_data_is_generated_from_templates_with_progress(api):
    preview = api.post('/admin/cicd/generate', json={
        'count': 5000, 'key_template': 'user:{n}', 'value_template': '{"id": {n}, "name": "{name}"}',
        'preview': True}).json()['data']
    assert [r['key'] for r in preview['sample']] == ['user:1', 'user:2', 'user:3']
    assert json.loads(preview['sample'][0]['value'])['id'] == 1
    assert under(api, 'user:') == {}  # a preview writes nothing
    answer = api.post('/admin/cicd/generate', json={
        'count': 5000, 'key_template': 'user:{n}', 'value_template': '{"id": {n}, "name": "{name}"}'}).json()
    assert answer['data']['records_generated'] == 5000 and answer['data']['elapsed_ms'] >= 0
    assert answer['message'].startswith('Generated 5000 records in ')
    records = under(api, 'user:')
    assert len(records) == 5000
    first = json.loads(records['user:1'])
    assert first['id'] == 1 and ' ' in first['name']
    again = api.post('/admin/cicd/generate', json={'count': 1, 'key_template': 'user:{n}', 'value_template':
                                                   '{"id": {n}, "name": "{name}"}', 'preview': True}).json()
    assert again['data']['sample'][0]['value'] == records['user:1']  # deterministic: the same data every run


def test_generation_without_waiting_answers_at_once_and_finishes_as_a_job(api):
    started = api.post('/admin/cicd/generate', json={'count': 3000, 'wait': False}).json()['data']
    assert started['status'] == 'running' and started['total'] == 3000 and started['kind'] == 'generate'
    done = finished(api, started['id'])
    assert done['status'] == 'completed' and done['records_generated'] == 3000
    assert len(under(api, 'test:')) == 3000  # the default key template is test:{n}


def test_export_then_import_round_trips_a_fixture_file(api):
    api.post('/keys/batch', json={'records': [{'key': k, 'value': v} for k, v in USERS.items()]})
    fixture = save(api, 'users for CI', 'users:', type='schema')
    exported = api.get(f'/admin/cicd/{fixture["id"]}/export')
    assert exported.headers['content-disposition'] == 'attachment; filename="users-for-CI.fixture.json"'
    content = exported.json()
    assert content['format'] == 'apexstore-fixture' and content['version'] == 1 and content['type'] == 'schema'
    assert {r['key']: r['value'] for r in content['records']} == USERS
    api.delete(f'/admin/cicd/{fixture["id"]}')
    assert api.get('/admin/cicd').json()['data']['fixtures'] == []

    imported = api.post('/admin/cicd/import', content=exported.content).json()['data']
    assert imported['name'] == 'users for CI' and imported['records'] == 250 and imported['source'] == 'imported'
    again = api.get(f'/admin/cicd/{imported["id"]}/export').json()
    assert again == content


def test_a_large_file_imports_in_parts(api):
    first = {'name': 'parts', 'prefix': 'p:', 'records': [{'key': 'p:1', 'value': 'one'}]}
    fixture = api.post('/admin/cicd/import', params={'complete': 'false'}, json=first).json()['data']
    assert fixture['status'] == 'importing'
    refused = api.post(f'/admin/cicd/{fixture["id"]}/load', json={})
    assert refused.status_code == 409
    done = api.post(f'/admin/cicd/{fixture["id"]}/records', json={'records': [{'key': 'p:2', 'value': 'two'}],
                                                                  'complete': True}).json()['data']
    assert done['status'] == 'ready' and done['records'] == 2
    assert api.post(f'/admin/cicd/{fixture["id"]}/records', json={'records': []}).status_code == 409


def test_bad_input_is_refused_with_a_reason(api):
    assert api.post('/admin/cicd', json={'name': ''}).status_code == 400
    assert api.post('/admin/cicd', json={'name': 'x', 'type': 'movies'}).status_code == 400
    assert api.post('/admin/cicd', json={'name': 'x', 'cf': 'nope'}).json()['error'] == \
        "column family 'nope' does not exist"
    assert api.post('/admin/cicd/generate', json={'count': 0}).status_code == 400
    assert api.post('/admin/cicd/generate', json={'count': 2_000_000}).status_code == 400
    same_key = api.post('/admin/cicd/generate', json={'count': 5, 'key_template': 'fixed'})
    assert same_key.status_code == 400 and 'needs {n}' in same_key.json()['error']
    bad_json = api.post('/admin/cicd/generate', json={'count': 2, 'value_template': '{"id": {n}, name}'})
    assert bad_json.status_code == 400 and 'renders invalid JSON' in bad_json.json()['error']
    not_fixture = api.post('/admin/cicd/import', json={'records': 'nope'})
    assert not_fixture.status_code == 400 and not_fixture.json()['error'].startswith('not a fixture file')
    outside = api.post('/admin/cicd/import', json={'name': 'x', 'prefix': 'a:', 'records': [{'key': 'b', 'value': ''}]})
    assert outside.status_code == 400 and 'does not start with the fixture prefix' in outside.json()['error']
    assert api.post('/admin/cicd/unknown/load', json={}).status_code == 404
    assert api.get('/admin/cicd/unknown/export').status_code == 404
    assert api.delete('/admin/cicd/unknown').status_code == 404
    fixture = save(api, 'empty', 'none:')
    wipe_all = api.post(f'/admin/cicd/{fixture["id"]}/load', json={'prefix': '', 'replace': True})
    assert wipe_all.status_code == 400 and 'replace needs a target prefix' in wipe_all.json()['error']


def test_only_admin_changes_fixtures_and_read_may_list_and_export(backend, api):
    fixture = save(api, 'shared', 'none:')
    with admin_client(backend, token_with(backend, 'Read')) as reader:
        assert reader.get('/admin/cicd').status_code == 200
        assert reader.get('/admin/cicd/jobs').status_code == 200
        assert reader.get(f'/admin/cicd/{fixture["id"]}/export').status_code == 200
        assert reader.post('/admin/cicd', json={'name': 'x'}).status_code == 403
        assert reader.post('/admin/cicd/generate', json={'count': 1}).status_code == 403
        assert reader.post(f'/admin/cicd/{fixture["id"]}/load', json={}).status_code == 403
        assert reader.post('/admin/cicd/import', json={'name': 'x'}).status_code == 403
        assert reader.delete(f'/admin/cicd/{fixture["id"]}').status_code == 403
    with admin_client(backend, token_with(backend, 'Write')) as writer:
        assert writer.get('/admin/cicd').status_code == 403
        assert writer.post('/admin/cicd/generate', json={'count': 1}).status_code == 403


def test_a_real_apexstore_has_no_fixtures(compat_api):
    assert compat_api.get('/admin/cicd').status_code == 404
    assert compat_api.post('/admin/cicd/generate', json={'count': 1}).status_code == 404
