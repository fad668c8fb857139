"""Against a server that behaves like the real ApexStore (`--compat apexstore`): everything still works."""

from __future__ import annotations

from nicegui.testing import User

from services.events import event_service
from tests.conftest import ADMIN_TOKEN, admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


async def signed_in(user: User, route: str) -> None:
    await sign_in(user, next_page=route)
    await eventually(lambda: badge_state(user) == 'connected')
    assert event_service().status(ADMIN_TOKEN).dialect == 'cdc'


async def test_dashboard_and_key_explorer_update_live_from_cdc_events(console_compat_backend, user: User):
    await signed_in(user, '/keys')
    with admin_client(console_compat_backend) as other:
        other.put('/keys/cdc:1', json={'value': 'from another client'})
    await eventually(lambda: 'cdc:1' in element(user, 'key-table').rows,
                     message='a CDC put should add the row')
    await user.open('/dashboard')
    await user.should_see('MemTable')
    with admin_client(console_compat_backend) as other:
        other.put('/keys/cdc:2', json={'value': 'again'})
    await eventually(lambda: any(item.subject == 'cdc:2' for item in element(user, 'change-feed').items),
                     message='a CDC put should reach the dashboard feed')


async def test_health_flips_from_probe_polling_when_the_server_pushes_nothing(console_compat_backend, user: User):
    await signed_in(user, '/health')
    await eventually(lambda: element(user, 'probe-liveness-status').text == 'HEALTHY')
    console_compat_backend.faults(failing_probes=['liveness'])
    await eventually(lambda: element(user, 'probe-liveness-status').text == 'UNHEALTHY', timeout=10,
                     message='derived health_change should flip the card')


async def test_compaction_trigger_and_derived_progress(console_compat_backend, user: User):
    with admin_client(console_compat_backend) as api:
        for round_ in range(2):
            api.post('/keys/batch', json={'records': [{'key': f'k{i}', 'value': str(round_)} for i in range(100)]})
            api.post('/admin/flush')
    await signed_in(user, '/compaction')
    await user.should_see('not offered by this server')  # per-level data is an extension route
    user.find(marker='compact-button').click()
    await user.should_see('Compact every column family now?')
    user.find(marker='confirm-button').click()
    await user.should_see('Compaction triggered successfully!')
    await eventually(lambda: '2 files merged' in element(user, 'compaction-status').text)


async def test_snapshots_say_they_are_not_offered(console_compat_backend, user: User):
    await signed_in(user, '/snapshots')
    await user.should_see('Snapshots is not offered by this server.', retries=50)
