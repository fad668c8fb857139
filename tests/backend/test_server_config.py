"""Server configuration: an admin reads every setting with its origin and changes the mutable ones at runtime;
the change takes effect on the running server, read-only settings and bad values are refused with a reason."""

from __future__ import annotations

import logging

import httpx

from backend.server import BackendThread
from tests.conftest import ADMIN_TOKEN, admin_client


def entries(api: httpx.Client) -> dict[str, dict]:
    answer = api.get('/admin/config')
    assert answer.status_code == 200, answer.text
    return {entry['key']: entry for entry in answer.json()['data']['entries']}


def issue_token(api: httpx.Client, *permissions: str) -> str:
    return api.post('/admin/tokens', json={'name': 'someone', 'permissions': list(permissions)}).json()['data']['token']


def feature_events(server: BackendThread, feature: str) -> list[dict]:
    return server.call(lambda b: [e.payload for e in b.bus.history
                                  if e.type == 'feature_event' and e.payload['feature'] == feature])


def test_every_setting_is_listed_with_its_effective_value_and_where_it_came_from(backend, api):
    settings = entries(api)
    port = settings['port']
    assert port['value'] == str(backend.config.port) and port['source'] == 'cli' and not port['mutable']
    assert port['how_to_set'] == 'set it with --port at start-up' and port['group'] == 'Server'
    assert (settings['history_size']['value'], settings['history_size']['source']) == ('10000', 'default')
    assert settings['health_interval_secs']['source'] == 'cli'  # the test started it with 0.1
    assert settings['max_body_bytes']['mutable'] and settings['max_body_bytes']['risk']
    assert settings['max_body_bytes']['min'] == 1024 and settings['max_body_bytes']['unit'] == 'bytes'
    assert settings['admin_token']['value'] == 'set (hidden)'
    assert ADMIN_TOKEN not in api.get('/admin/config').text  # the secret itself is never shown
    rocks = settings['rocksdb.write_buffer_size']
    assert rocks['group'] == 'RocksDB' and rocks['mutable'] and rocks['value'] == rocks['default']
    assert not settings['rocksdb.max_background_jobs']['mutable']
    assert {e['type'] for e in settings.values()} <= {'string', 'number', 'boolean', 'json'}


def test_lowering_max_body_bytes_refuses_larger_writes_at_once(backend, api):
    assert api.post('/keys', json={'key': 'big', 'value': 'x' * 5000}).status_code == 200
    answer = api.put('/admin/config/max_body_bytes', json={'value': '4096'})
    assert answer.status_code == 200, answer.text
    assert answer.json()['data']['value'] == '4096' and answer.json()['data']['source'] == 'runtime'
    refused = api.post('/keys', json={'key': 'big', 'value': 'x' * 5000})
    assert refused.status_code == 413 and refused.json() == {
        'error': 'payload too large: request body exceeds 4096 bytes'}
    assert api.post('/keys', json={'key': 'small', 'value': 'x'}).status_code == 200
    assert entries(api)['max_body_bytes']['source'] == 'runtime'
    assert {'key': 'max_body_bytes', 'value': '4096', 'previous': '2097152'}.items() <= \
        feature_events(backend, 'server_config')[-1]['data'].items()
    # the config route itself has its own limit: a tiny max_body_bytes never locks the admin out
    assert api.put('/admin/config/max_body_bytes', json={'value': 1024}).status_code == 200
    assert api.put('/admin/config/max_body_bytes', json={'value': '2097152'}).status_code == 200


def test_other_mutable_settings_reach_the_running_server(backend, api):
    assert api.put('/admin/config/regex_budget_secs', json={'value': '0.25'}).status_code == 200
    assert api.put('/admin/config/history_size', json={'value': '500'}).status_code == 200
    assert api.put('/admin/config/subscriber_limit', json={'value': '64'}).status_code == 200
    assert backend.call(lambda b: (b.regex.budget_secs, b.bus.history.maxlen, b.bus.subscriber_limit)) == (
        0.25, 500, 64)
    assert api.put('/admin/config/log_level', json={'value': 'debug'}).status_code == 200
    assert backend.call(lambda b: logging.getLogger('backend').level) == logging.DEBUG
    assert (entries(api)['log_level']['value'], entries(api)['log_level']['source']) == ('debug', 'runtime')


def test_rocksdb_options_change_on_the_open_store(backend, api):
    answer = api.put('/admin/config/rocksdb.write_buffer_size', json={'value': str(8 * 1024 * 1024)})
    assert answer.status_code == 200, answer.text
    option = entries(api)['rocksdb.write_buffer_size']
    assert (option['value'], option['source']) == (str(8 * 1024 * 1024), 'runtime')  # read back from RocksDB
    assert api.put('/admin/config/rocksdb.disable_auto_compactions', json={'value': True}).json()['data'][
        'value'] == 'true'
    refused = api.put('/admin/config/rocksdb.num_levels', json={'value': '4'})
    assert refused.status_code == 400 and 'read-only' in refused.json()['message']


def test_read_only_settings_and_bad_values_are_refused_with_the_reason(api):
    port = api.put('/admin/config/port', json={'value': '9999'})
    assert port.status_code == 400
    assert port.json() == {'success': False,
                           'message': "'port' is read-only while the server runs (set it with --port at start-up)"}
    assert api.put('/admin/config/data_dir', json={'value': '/tmp/x'}).status_code == 400
    cases = {
        ('max_body_bytes', 'lots'): "max_body_bytes: expected a whole number, got 'lots'",
        ('max_body_bytes', '10'): "max_body_bytes: must be between 1024 and 2.68435e+08 bytes, got '10'",
        ('regex_budget_secs', 'nan'): "regex_budget_secs: must be between 0.05 and 30 s, got 'nan'",
        ('log_level', 'loud'): "log_level: expected one of trace, debug, info, warn, error, off, got 'loud'",
        ('rocksdb.disable_auto_compactions', 'maybe'):
            "rocksdb.disable_auto_compactions: expected true or false, got 'maybe'",
    }
    for (key, value), message in cases.items():
        answer = api.put(f'/admin/config/{key}', json={'value': value})
        assert (answer.status_code, answer.json()['message']) == (400, message)
    unknown = api.put('/admin/config/no_such_thing', json={'value': '1'})
    assert unknown.status_code == 404 and unknown.json()['message'] == "unknown setting 'no_such_thing'"
    assert api.put('/admin/config/history_size', content=b'{not json').status_code == 400
    assert api.put('/admin/config/history_size', json={'value': None}).status_code == 400
    assert api.put('/admin/config/history_size', json={}).status_code == 400
    assert entries(api)['history_size']['value'] == '10000'  # nothing was changed by any of them


def test_only_admins_read_or_change_the_configuration(backend, api):
    reader = issue_token(api, 'Read', 'Write')
    with admin_client(backend, reader) as client:
        assert client.get('/admin/config').status_code == 403
        assert client.put('/admin/config/history_size', json={'value': '500'}).status_code == 403
    assert httpx.get(backend.url + '/admin/config').status_code == 401
    assert entries(api)['history_size']['value'] == '10000'


def test_a_compat_server_has_no_configuration_route(compat_api):
    assert compat_api.get('/admin/config').status_code == 404
