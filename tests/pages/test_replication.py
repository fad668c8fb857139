"""Replication page: the embedded backend is shown as what it is — one primary, no replicas — with its write
position moving as keys are written, and the cluster actions disabled with the reason."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


async def test_a_single_node_shows_as_the_primary_with_disabled_actions(console_backend, user: User):
    await sign_in(user, next_page='/replication')
    await user.should_see(marker='replication-nodes')
    await eventually(lambda: element(user, 'replication-nodes').rows, message='the node should be listed')
    [node] = element(user, 'replication-nodes').rows
    assert (node['role'], node['status'], node['lag']) == ('primary', 'online', '0 ms')
    assert node['name'] == 'this server' and node['address'] == f'127.0.0.1:{console_backend.config.port}'
    assert element(user, 'replication-status').text == 'HEALTHY'
    assert element(user, 'replication-mode').text == 'single node'
    assert element(user, 'replication-connected').text == '0/0'
    assert element(user, 'replication-lag').text == '—'  # no replica, no lag to average: nothing made up
    await user.should_see('This server runs alone: it is the primary and has no replicas')
    for action in ('promote', 'remove', 'add_replica'):
        assert not element(user, f'replication-{action}').enabled
        assert 'single node' in element(user, f'replication-reason-{action}').text
    await user.should_see('there is nothing to promote (this node is already the primary)')


async def test_the_write_position_follows_writes_live(console_backend, user: User):
    await sign_in(user, next_page='/replication')
    await eventually(lambda: element(user, 'replication-seq').text not in ('', '—'))
    before = int(element(user, 'replication-seq').text.replace(',', ''))
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'rep{i}', 'value': 'v'} for i in range(10)]})
    await eventually(lambda: int(element(user, 'replication-seq').text.replace(',', '')) >= before + 10,
                     message='the sequence number should move with the writes, without a refresh')
    assert console_backend.call(lambda b: b.store.db.latest_sequence_number()) == \
        int(element(user, 'replication-seq').text.replace(',', ''))
    assert element(user, 'replication-event-seq').text != '—'


async def test_a_server_without_replication_routes_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/replication')
    await user.should_see('Replication is not offered by this server.', marker='replication-state')
    await user.should_not_see(marker='replication-nodes')
