"""Chaos experiments: an admin runs a fault on purpose for a while; it switches itself off, and without
`--dev-faults` nothing can be started at all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend.server import BackendThread
from tests.conftest import ADMIN_TOKEN, admin_client, make_backend


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[BackendThread]:
    with make_backend(tmp_path / 'faulty', dev_faults=True) as server:
        yield server


@pytest.fixture
def chaos_api(faulty: BackendThread) -> Iterator[httpx.Client]:
    with admin_client(faulty) as client:
        yield client


def wait_for(check: Callable[[], bool], timeout: float = 15.0, message: str = 'condition not met') -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(message)


def create(api: httpx.Client, **body) -> dict:
    answer = api.post('/admin/chaos', json={'name': 'test', 'type': 'latency', **body})
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def experiment(api: httpx.Client, experiment_id: str) -> dict:
    return next(e for e in api.get('/admin/chaos').json()['data']['experiments'] if e['id'] == experiment_id)


def test_without_dev_faults_chaos_is_off_and_says_how_to_enable_it(backend, api):
    listing = api.get('/admin/chaos').json()['data']
    assert listing['enabled'] is False and listing['experiments'] == []
    assert '--dev-faults' in listing['reason']
    refused = api.post('/admin/chaos', json={'name': 'x', 'type': 'latency', 'config': {'delay_ms': 100}})
    assert refused.status_code == 409 and '--dev-faults' in refused.json()['message']
    assert api.post('/admin/chaos/abc/toggle', json={}).status_code == 409
    assert api.delete('/admin/chaos/abc').status_code == 409
    assert backend.call(lambda b: b.faults.slow_ms) == 0


def test_a_slow_responses_experiment_slows_requests_and_switches_itself_off(faulty, chaos_api):
    created = create(chaos_api, name='slow-down', config={'delay_ms': 400}, duration_s=2)
    assert (created['status'], created['target'], created['hook']) == ('stopped', 'every HTTP request', 'slow_ms')
    assert faulty.call(lambda b: b.faults.slow_ms) == 0  # created stopped
    started = chaos_api.post(f'/admin/chaos/{created["id"]}/toggle', json={}).json()['data']
    assert started['status'] == 'running' and 0 < started['remaining_s'] <= 2
    assert faulty.call(lambda b: b.faults.slow_ms) == 400
    began = time.monotonic()
    assert chaos_api.get('/stats').status_code == 200
    assert time.monotonic() - began >= 0.4  # the request waited the injected delay
    wait_for(lambda: experiment(chaos_api, created['id'])['status'] == 'completed',
             message='the experiment should end by itself after its duration')
    assert faulty.call(lambda b: b.faults.slow_ms) == 0
    done = experiment(chaos_api, created['id'])
    assert done['remaining_s'] is None and done['ended_at'] >= done['started_at']
    names = faulty.call(lambda b: [e.payload['name'] for e in b.bus.history if e.type == 'feature_event'
                                   and e.payload['feature'] == 'chaos'])
    assert names[:3] == ['created', 'started', 'completed']


def test_experiments_combine_and_a_hook_resets_only_when_none_needs_it(faulty, chaos_api):
    short = create(chaos_api, config={'delay_ms': 100}, duration_s=600)
    long = create(chaos_api, config={'delay_ms': 300}, duration_s=600)
    probes = create(chaos_api, type='error', config={'probes': ['readiness', 'startup']}, duration_s=600)
    for item in (short, long, probes):
        chaos_api.post(f'/admin/chaos/{item["id"]}/toggle', json={})
    assert faulty.call(lambda b: (b.faults.slow_ms, sorted(b.faults.failing_probes))) == (300, ['readiness',
                                                                                                 'startup'])
    assert httpx.get(faulty.url + '/health/readiness', headers={'Authorization': f'Bearer {ADMIN_TOKEN}'},
                     timeout=10).status_code == 503
    chaos_api.post(f'/admin/chaos/{long["id"]}/toggle', json={})  # stop the longer delay: the shorter one stays
    assert experiment(chaos_api, long['id'])['status'] == 'stopped'
    assert faulty.call(lambda b: b.faults.slow_ms) == 100
    assert chaos_api.delete(f'/admin/chaos/{short["id"]}').status_code == 200  # deleting a running one stops it
    assert faulty.call(lambda b: b.faults.slow_ms) == 0
    chaos_api.post(f'/admin/chaos/{probes["id"]}/toggle', json={})
    assert faulty.call(lambda b: b.faults.failing_probes) == set()
    assert [e['id'] for e in chaos_api.get('/admin/chaos').json()['data']['experiments']] == [long['id'],
                                                                                             probes['id']]


async def test_a_crash_experiment_cuts_open_websockets(faulty, chaos_api):
    async with connect(faulty.ws_url + '/ws/events', additional_headers={'Authorization': f'Bearer {ADMIN_TOKEN}'},
                       open_timeout=10) as ws:
        created = await asyncio.to_thread(create, chaos_api, type='crash', config={'interval_ms': 60_000},
                                          duration_s=60)
        await asyncio.to_thread(chaos_api.post, f'/admin/chaos/{created["id"]}/toggle', json={})
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()


def test_bad_experiments_are_refused_with_the_reason(chaos_api):
    cases = [
        ({'name': 'x', 'type': 'resource'}, 400, 'no fault hook for resource exhaustion'),
        ({'name': 'x', 'type': 'latency', 'config': {'delay_ms': 200, 'rate': 0.1}}, 400,
         'config.rate: not an option of latency (it takes delay_ms)'),
        ({'name': 'x', 'type': 'latency', 'config': {'delay_ms': 0}}, 400, 'config.delay_ms'),
        ({'name': 'x', 'type': 'error', 'config': {'probes': ['disk']}}, 400, 'config.probes'),
        ({'name': '  ', 'type': 'latency'}, 400, 'name must not be blank'),
    ]
    for body, status, message in cases:
        answer = chaos_api.post('/admin/chaos', json=body)
        assert answer.status_code == status and message in answer.json()['message'], (body, answer.text)
    for body in ({'name': 'x', 'type': 'meteor'}, {'name': 'x', 'type': 'latency', 'duration_s': 0},
                 {'name': 'x', 'type': 'latency', 'duration_s': 7200}, {'type': 'latency'}):
        assert chaos_api.post('/admin/chaos', json=body).status_code == 400, body
    missing = chaos_api.post('/admin/chaos/nope/toggle', json={})
    assert missing.status_code == 404 and 'not found' in missing.json()['message']
    assert chaos_api.delete('/admin/chaos/nope').status_code == 404
    assert chaos_api.get('/admin/chaos').json()['data']['experiments'] == []


def test_only_admins_run_chaos(faulty, chaos_api):
    token = chaos_api.post('/admin/tokens', json={'name': 'w', 'permissions': ['Read', 'Write', 'Delete']}) \
        .json()['data']['token']
    created = create(chaos_api)
    with admin_client(faulty, token) as client:
        assert client.get('/admin/chaos').status_code == 403
        assert client.post('/admin/chaos', json={'name': 'x', 'type': 'latency'}).status_code == 403
        assert client.post(f'/admin/chaos/{created["id"]}/toggle', json={}).status_code == 403
        assert client.delete(f'/admin/chaos/{created["id"]}').status_code == 403
    assert experiment(chaos_api, created['id'])['status'] == 'stopped'


def test_a_compat_server_has_no_chaos_routes(compat_api):
    assert compat_api.get('/admin/chaos').status_code == 404
