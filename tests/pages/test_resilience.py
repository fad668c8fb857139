"""Resilience page: webhook circuit breakers open and reset live; the health summary is the real probes."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in
from tests.webhook_receiver import Receiver


def text(user: User, marker: str) -> str:
    return element(user, marker).text


def create_hook(server, url: str, **extra) -> dict:
    with admin_client(server) as api:
        body = {'name': 'billing', 'url': url, 'events': ['key.set'], 'max_attempts': 1, 'backoff_ms': 10,
                'failure_threshold': 2, 'open_secs': 600, **extra}
        return api.post('/admin/webhooks', json=body).json()['data']


async def test_a_dead_receiver_opens_the_breaker_live_and_reset_closes_it(console_backend, user: User):
    receiver = Receiver()  # its port refuses connections until started
    hook = create_hook(console_backend, receiver.url)
    await sign_in(user, next_page='/resilience')
    key = hook['id']
    await eventually(lambda: text(user, f'breaker-{key}-state') == 'Closed', message='breaker not listed')
    assert text(user, 'breaker-count') == '1'
    await user.should_see('webhook:billing')
    assert not element(user, f'breaker-{key}-reset').enabled, 'nothing to reset while closed and clean'

    with admin_client(console_backend) as other:  # deliveries fail while the page is open
        other.post('/keys', json={'key': 'invoice:1', 'value': 'v'})
        other.post('/keys', json={'key': 'invoice:2', 'value': 'v'})
    await eventually(lambda: text(user, f'breaker-{key}-state') == 'Open', message='the breaker should open live')
    assert text(user, f'breaker-{key}-failures') == 'Failures 2'
    await user.should_see('Next retry:', marker=f'breaker-{key}-next')
    await user.should_see('cannot connect')

    with receiver:
        user.find(marker=f'breaker-{key}-reset').click()
        await user.should_see('Circuit breaker "webhook:billing" reset')
        await eventually(lambda: text(user, f'breaker-{key}-state') == 'Closed')
        assert text(user, f'breaker-{key}-failures') == 'Failures 0'
        with admin_client(console_backend) as other:
            other.post('/keys', json={'key': 'invoice:3', 'value': 'v'})
        await eventually(lambda: text(user, f'breaker-{key}-success') == 'Success 1', message='success not live')
        assert [r.json['data']['key'] for r in receiver.received] == ['invoice:3']

    with admin_client(console_backend) as other:  # deleted elsewhere: the card goes
        other.delete(f'/admin/webhooks/{key}')
    await user.should_see('No circuit breakers configured.', marker='breakers-state')
    assert text(user, 'breaker-count') == '0'


async def test_the_health_summary_is_the_real_probes_and_the_console_link(console_backend, user: User):
    await sign_in(user, next_page='/resilience')
    await user.should_see('No circuit breakers configured.', marker='breakers-state')
    await eventually(lambda: text(user, 'health-api-status') == 'HEALTHY')
    assert text(user, 'health-api-text') == 'Responding normally' and text(user, 'health-api-detail').startswith('up ')
    assert text(user, 'health-storage-status') == 'HEALTHY'
    assert text(user, 'health-storage-text') == 'All operations nominal'
    assert 'SST files' in text(user, 'health-storage-detail')
    await eventually(lambda: text(user, 'health-network-status') == 'HEALTHY')
    assert text(user, 'health-network-text') == 'Live events over WebSocket'

    console_backend.faults(failing_probes=['readiness'])  # the storage engine stops being ready: live
    await eventually(lambda: text(user, 'health-storage-status') == 'DEGRADED', message='probe flip not live')
    assert text(user, 'health-storage-detail') == 'readiness: injected failure'
    assert text(user, 'health-api-status') == 'HEALTHY'
    user.find(marker='check-all').click()
    await user.should_see('Health check failed - backend may be down')
    console_backend.faults(failing_probes=[])
    await eventually(lambda: text(user, 'health-storage-status') == 'HEALTHY')
    user.find(marker='check-all').click()
    await user.should_see('All health probes passed')

    console_backend.stop()  # the backend goes away: the console's own link says so
    await eventually(lambda: text(user, 'health-network-status') != 'HEALTHY', timeout=15,
                     message='the console link should stop being healthy')
    console_backend.start()
    await eventually(lambda: text(user, 'health-network-status') == 'HEALTHY', timeout=15)


async def test_a_real_apexstore_has_no_breakers_but_real_health(console_compat_backend, user: User):
    await sign_in(user, next_page='/resilience')
    await user.should_see('Circuit breakers is not offered by this server.', marker='breakers-state')
    await eventually(lambda: text(user, 'health-api-status') == 'HEALTHY')
    assert text(user, 'health-storage-status') == 'HEALTHY'
