"""Telemetry: an admin sets log levels per module at runtime, switches request tracing, reads the request log
(never a credential) and the latency per route."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from backend.server import BackendThread
from tests.conftest import ADMIN_TOKEN, admin_client, make_backend


def wait_for(check: Callable[[], bool], timeout: float = 10.0, message: str = 'condition not met') -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(message)


def request_log(api: httpx.Client, **params: str) -> list[dict]:
    answer = api.get('/admin/telemetry/requests', params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()['data']['requests']


def backend_level(server: BackendThread, module: str) -> int:
    """The level as the backend's own thread sees it."""
    return server.call(lambda _b: logging.getLogger(module).level)


def test_a_log_level_set_at_runtime_applies_in_the_backend_and_is_undone_when_it_stops(tmp_path: Path):
    with make_backend(tmp_path / 'store') as server, admin_client(server) as api:
        assert backend_level(server, 'backend.core') == logging.NOTSET
        answer = api.put('/admin/telemetry/log_levels/backend.core', json={'level': 'debug'})
        assert answer.status_code == 200, answer.text
        assert answer.json()['data'] == {'module': 'backend.core', 'level': 'debug', 'effective': 'debug'}
        assert backend_level(server, 'backend.core') == logging.DEBUG
        levels = {row['module']: row for row in api.get('/admin/telemetry').json()['data']['log_levels']}
        assert levels['backend.core']['level'] == 'debug' and levels['backend']['level'] == 'inherit'
        assert api.put('/admin/telemetry/log_levels/uvicorn.access', json={'level': 'off'}).status_code == 200
        assert backend_level(server, 'uvicorn.access') > logging.CRITICAL
        assert api.put('/admin/telemetry/log_levels/backend.core', json={'level': 'inherit'}).status_code == 200
        assert backend_level(server, 'backend.core') == logging.NOTSET
        assert api.put('/admin/telemetry/log_levels/backend.storage', json={'level': 'trace'}).status_code == 200
        events = server.call(lambda b: [e.payload for e in b.bus.history if e.type == 'feature_event'])
        assert {'feature': 'telemetry', 'name': 'log_level'}.items() <= events[-1].items()
    assert logging.getLogger('backend.storage').level == logging.NOTSET  # runtime only: put back at stop
    assert logging.getLogger('uvicorn.access').level <= logging.CRITICAL


def test_bad_modules_and_levels_are_refused(api):
    unknown = api.put('/admin/telemetry/log_levels/nicegui', json={'level': 'debug'})
    assert unknown.status_code == 404 and unknown.json()['message'].startswith("unknown module 'nicegui'; known")
    assert api.put('/admin/telemetry/log_levels/root', json={'level': 'debug'}).status_code == 404
    bad = api.put('/admin/telemetry/log_levels/backend', json={'level': 'loud'})
    assert bad.status_code == 400 and 'level' in bad.json()['error']
    assert api.put('/admin/telemetry/log_levels/backend', json={}).status_code == 400
    assert api.put('/admin/telemetry', json={'sampling_rate': 2}).status_code == 400
    assert api.put('/admin/telemetry', json={'tracing_enabled': 'yes'}).status_code == 400
    otlp = api.put('/admin/telemetry', json={'otlp_endpoint': 'http://otel:4318'})
    assert otlp.status_code == 400 and 'no OTLP exporter' in otlp.json()['message']
    assert api.put('/admin/telemetry', json={'export_interval_sec': 60}).status_code == 400
    assert api.get('/admin/telemetry/requests?limit=many').status_code == 400


def test_the_request_log_lists_a_request_with_status_and_latency_and_never_the_token(backend, api):
    api.post('/keys', json={'key': 'visit', 'value': 'v'})
    api.get('/keys/visit', params={'token': ADMIN_TOKEN, 'access_token': ADMIN_TOKEN, 'view': 'full'})
    api.get('/keys/nobody-here')
    entries = request_log(api)
    found = next(e for e in entries if e['path'] == '/keys/visit')
    assert (found['method'], found['status'], found['route']) == ('GET', 200, '/keys/{key}')
    assert found['ms'] > 0 and found['token_name'] == 'console-admin'
    assert found['query'] == 'token=%5Bredacted%5D&access_token=%5Bredacted%5D&view=full'
    assert next(e for e in entries if e['path'] == '/keys/nobody-here')['status'] == 404
    assert [e['seq'] for e in entries] == sorted((e['seq'] for e in entries), reverse=True)  # newest first
    whole = api.get('/admin/telemetry/requests', params={'limit': '1000'}).text
    assert ADMIN_TOKEN not in whole and 'Bearer' not in whole
    assert all(not e['path'].startswith('/admin/telemetry')
               for e in request_log(api, exclude='/admin/telemetry'))
    wait_for(lambda: any(e.type == 'feature_event' and e.payload['name'] == 'requests'
                         for e in backend.call(lambda b: list(b.bus.history))),
             message='consoles should be told that the log has news')


def test_latency_percentiles_per_route(api):
    for i in range(20):
        api.get(f'/keys/k{i}')
    routes = api.get('/admin/telemetry/routes').json()['data']['routes']
    keys = next(r for r in routes if (r['method'], r['route']) == ('GET', '/keys/{key}'))
    assert keys['count'] == 20 and keys['client_errors'] == 20 and keys['window'] == 20
    assert 0 < keys['p50_ms'] <= keys['p95_ms'] <= keys['max_ms']
    assert api.delete('/admin/telemetry/requests').status_code == 200
    assert all(r['route'] != '/keys/{key}' for r in api.get('/admin/telemetry/routes').json()['data']['routes'])


def test_tracing_and_metrics_switches_stop_the_recording(api):
    answer = api.put('/admin/telemetry', json={'tracing_enabled': False, 'metrics_enabled': False})
    assert answer.status_code == 200 and answer.json()['data']['tracing_enabled'] is False
    api.get('/keys/while-off')
    assert all(e['path'] != '/keys/while-off' for e in request_log(api))
    assert all(r['route'] != '/keys/{key}' for r in api.get('/admin/telemetry/routes').json()['data']['routes'])
    api.put('/admin/telemetry', json={'tracing_enabled': True, 'metrics_enabled': True, 'sampling_rate': 0})
    api.get('/keys/unsampled')
    assert all(e['path'] != '/keys/unsampled' for e in request_log(api))
    api.put('/admin/telemetry', json={'sampling_rate': 1.0})
    api.get('/keys/sampled')
    assert any(e['path'] == '/keys/sampled' for e in request_log(api))
    config = api.get('/admin/telemetry').json()['data']['config']
    assert config == {'sampling_rate': 1.0, 'export_interval_sec': None, 'tracing_enabled': True,
                      'metrics_enabled': True, 'otlp_endpoint': None}


def test_only_admins_see_telemetry(backend, api):
    token = api.post('/admin/tokens', json={'name': 'rw', 'permissions': ['Read', 'Write']}).json()['data']['token']
    with admin_client(backend, token) as client:
        for method, path, body in (('GET', '/admin/telemetry', None), ('PUT', '/admin/telemetry', {}),
                                   ('PUT', '/admin/telemetry/log_levels/backend', {'level': 'debug'}),
                                   ('GET', '/admin/telemetry/requests', None),
                                   ('DELETE', '/admin/telemetry/requests', None),
                                   ('GET', '/admin/telemetry/routes', None)):
            assert client.request(method, path, json=body).status_code == 403, path
    assert httpx.get(backend.url + '/admin/telemetry').status_code == 401
    assert backend_level(backend, 'backend') == logging.NOTSET


def test_a_compat_server_has_no_telemetry(compat_api):
    assert compat_api.get('/admin/telemetry').status_code == 404
