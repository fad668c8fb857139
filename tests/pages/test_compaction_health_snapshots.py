"""Compaction, health and snapshots pages: real data, confirmations, and live changes."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


async def open_page(user: User, route: str) -> None:
    await sign_in(user, next_page=route)
    await eventually(lambda: badge_state(user) == 'connected')


def lines(user: User, marker: str) -> list[tuple[str, str]]:
    """(kind, subject) of a live feed's lines, newest first."""
    return [(item.kind, item.subject) for item in element(user, marker).items]


def spy_resends(monkeypatch, element_) -> list:
    """Count whole resends of one element (NiceGUI sends an element with all its props on `update()`)."""
    resends: list = []
    original = element_.update
    monkeypatch.setattr(element_, 'update', lambda: (resends.append(element_), original())[1])
    return resends


def write_and_flush(backend, rounds: int) -> None:
    with admin_client(backend) as api:
        for round_ in range(rounds):
            api.post('/keys/batch', json={'records': [{'key': f'k{i:04d}', 'value': str(round_) * 40}
                                                      for i in range(300)]})
            api.post('/admin/flush')


async def test_level_table_shows_real_files_and_a_compaction_runs_live(console_backend, user: User):
    write_and_flush(console_backend, 3)
    await open_page(user, '/compaction')
    await eventually(lambda: element(user, 'level-table').rows[:1] and
                     element(user, 'level-table').rows[0]['files'] == 3, message='L0 should show 3 SST files')
    user.find(marker='compact-button').click()
    await user.should_see('Compact every column family now?')
    user.find(marker='confirm-button').click()
    await user.should_see('Compaction triggered successfully!')
    await eventually(lambda: element(user, 'level-table').rows[6]['files'] == 1, message='L6 should hold the result')
    assert element(user, 'level-table').rows[0]['files'] == 0
    await eventually(lambda: '3 files merged' in element(user, 'compaction-status').text)


async def test_a_compaction_started_elsewhere_shows_up(console_backend, user: User):
    write_and_flush(console_backend, 2)
    await open_page(user, '/compaction')
    with admin_client(console_backend) as other:
        other.post('/admin/compact')
    await eventually(lambda: ('completed', 'compaction · default') in lines(user, 'compaction-history'),
                     message='history should list the completed compaction')


async def test_flushes_elsewhere_add_history_lines_without_rebuilding_the_page(console_backend, user: User,
                                                                                monkeypatch):
    """A busy store flushes often: each flush adds its lines to the history; nothing else is rebuilt."""
    await open_page(user, '/compaction')
    await eventually(lambda: element(user, 'level-table').rows, message='the levels should load')
    history = element(user, 'compaction-history')
    elements, pushes, resends = len(user.client.elements), history.pushes, spy_resends(monkeypatch, history)
    write_and_flush(console_backend, 3)
    await eventually(lambda: lines(user, 'compaction-history').count(('completed', 'flush · default')) == 3,
                     message='history should list the three flushes')
    await eventually(lambda: element(user, 'mem-badge').text == '0 records')
    assert history.pushes > pushes and not resends, 'only the new lines are sent, never the whole history'
    assert len(user.client.elements) == elements, 'the page should be patched, not rebuilt'


async def test_flush_button(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/keys/a', json={'value': 'b'})
    await open_page(user, '/compaction')
    await eventually(lambda: element(user, 'mem-badge').text == '1 records')
    user.find(marker='flush-button').click()
    await user.should_see('Memtable flushed successfully!')
    await eventually(lambda: element(user, 'mem-badge').text == '0 records')


async def test_health_cards_flip_the_moment_a_probe_fails(console_backend, user: User):
    await open_page(user, '/health')
    await eventually(lambda: element(user, 'probe-readiness-status').text == 'HEALTHY')
    await eventually(lambda: element(user, 'banner-title').text == 'All Systems Operational',
                     message='every probe checked: the banner should say so')
    console_backend.faults(failing_probes=['readiness'])
    await eventually(lambda: element(user, 'probe-readiness-status').text == 'UNHEALTHY',
                     message='readiness card did not flip')
    await eventually(lambda: element(user, 'banner-title').text == 'Degraded Service')
    await eventually(lambda: lines(user, 'health-timeline')[:1] == [('unhealthy', 'readiness')],
                     message='the timeline should show the transition')
    console_backend.faults(failing_probes=[])
    await eventually(lambda: element(user, 'probe-readiness-status').text == 'HEALTHY')
    user.find(marker='check-all').click()
    await user.should_see('All health probes passed')


async def test_snapshots_appear_live_and_restore_needs_the_typed_name(console_backend, user: User):
    await open_page(user, '/snapshots')
    await user.should_see('No snapshots yet. Create one to capture the store as it is now.')
    with admin_client(console_backend) as other:
        other.put('/keys/before', json={'value': '1'})
        snapshot = other.post('/admin/backups', json={'name': 'nightly'}).json()['data']
    await eventually(lambda: [r['name'] for r in element(user, 'snapshot-table').rows] == ['nightly'],
                     message='a snapshot made elsewhere should appear')
    with admin_client(console_backend) as other:
        other.put('/keys/after', json={'value': '2'})
    user.find(marker='snapshot-table').trigger('restore', snapshot['id'])
    await user.should_see('Type "nightly" to confirm.')
    assert not element(user, 'confirm-button').enabled
    user.find(marker='confirm-typed').type('nightly')
    await eventually(lambda: element(user, 'confirm-button').enabled)
    user.find(marker='confirm-button').click()
    await user.should_see('Snapshot "nightly" restored')
    with admin_client(console_backend) as other:
        assert other.get('/keys/after').status_code == 404
    user.find(marker='snapshot-name').type('from-console')
    user.find(marker='create-snapshot').click()
    await user.should_see('Snapshot "from-console" created')
    user.find(marker='snapshot-table').trigger('browse', snapshot['id'])
    await eventually(lambda: [r['key'] for r in element(user, 'browse-table').rows] == ['before'])
