"""Replication: the embedded backend is one node; it says so, shows its write position, and refuses the
cluster actions with the reason instead of pretending."""

from __future__ import annotations

import httpx

from tests.conftest import admin_client


def topology(api: httpx.Client) -> dict:
    answer = api.get('/admin/replication')
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def test_a_single_node_is_the_primary_with_no_replicas(backend, api):
    data = topology(api)
    assert data['mode'] == 'single-node'
    [node] = data['nodes']
    assert (node['role'], node['status'], node['this_node'], node['lag_ms']) == ('primary', 'online', True, 0)
    assert node['address'] == f'127.0.0.1:{backend.config.port}'
    assert data['summary'] == {'connected': 0, 'total': 0, 'avg_lag_ms': None, 'status': 'healthy', 'replicas': 0}
    assert set(data['actions']) == {'promote', 'remove', 'add_replica'}
    assert all(not action['enabled'] and 'single node' in action['reason'] for action in data['actions'].values())


def test_the_write_position_moves_with_writes(backend, api):
    before = topology(api)['wal']
    assert before['latest_sequence_number'] == backend.call(lambda b: b.store.db.latest_sequence_number())
    api.post('/keys/batch', json={'records': [{'key': f'r{i}', 'value': 'v'} for i in range(5)]})
    after = topology(api)['wal']
    assert after['latest_sequence_number'] >= before['latest_sequence_number'] + 5
    assert after['event_seq'] >= before['event_seq'] + 5 and after['event_epoch'] == before['event_epoch']
    assert after['wal_bytes'] > before['wal_bytes'] and after['wal_files'] >= 1


def test_cluster_actions_are_refused_with_the_reason(api):
    promote = api.post('/admin/replication/self/promote', json={})
    assert promote.status_code == 409 and 'already the primary' in promote.json()['message']
    remove = api.delete('/admin/replication/self')
    assert remove.status_code == 409 and 'cannot be removed' in remove.json()['message']
    other = api.post('/admin/replication/node-2/promote', json={})
    assert other.status_code == 404 and other.json()['message'].startswith("replica 'node-2' not found")
    assert api.delete('/admin/replication/node-2').status_code == 404
    assert len(topology(api)['nodes']) == 1


def test_only_admins_see_the_topology(backend, api):
    token = api.post('/admin/tokens', json={'name': 'r', 'permissions': ['Read']}).json()['data']['token']
    with admin_client(backend, token) as reader:
        assert reader.get('/admin/replication').status_code == 403
        assert reader.post('/admin/replication/self/promote', json={}).status_code == 403
        assert reader.delete('/admin/replication/self').status_code == 403
    assert httpx.get(backend.url + '/admin/replication').status_code == 401


def test_a_compat_server_has_no_replication_route(compat_api):
    assert compat_api.get('/admin/replication').status_code == 404
