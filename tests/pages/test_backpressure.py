"""Backpressure page: limits validated and saved (applied at once), write traffic and refusals shown live."""

from __future__ import annotations

import httpx
from nicegui.testing import User

from tests.backend.test_backpressure import HeldWrite
from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def text(user: User, marker: str) -> str:
    return element(user, marker).text


def server_config(server) -> dict:
    with admin_client(server) as api:
        return api.get('/admin/backpressure').json()['data']


async def test_limits_are_validated_saved_and_refusals_show_live(console_backend, user: User):
    await sign_in(user, next_page='/backpressure')
    await user.should_see('Off: writes are counted but never limited')
    assert element(user, 'bp-max_concurrency').value == 100 and element(user, 'bp-enabled').value is False
    assert text(user, 'bp-summary') == ('Current effective config: max 3 retries with 100ms initial backoff '
                                        '(factor 2), max 30000ms.')
    element(user, 'bp-max_concurrency').value = 0
    element(user, 'bp-backoff_initial_ms').value = 50_000
    user.find(marker='bp-save').click()
    await user.should_see('Fix the highlighted fields first.')
    assert element(user, 'bp-max_concurrency').error == 'Max Concurrency must be a whole number from 1 to 10,000'
    assert element(user, 'bp-backoff_initial_ms').error == ('Initial Backoff (ms) must be a whole number from 10 '
                                                            'to 10,000')
    assert server_config(console_backend)['max_concurrency'] == 100  # nothing was sent
    element(user, 'bp-backoff_initial_ms').value = 5000
    element(user, 'bp-backoff_max_ms').value = 1000
    user.find(marker='bp-save').click()
    await eventually(lambda: element(user, 'bp-backoff_initial_ms').error ==
                     'Initial Backoff must not exceed Max Backoff')
    element(user, 'bp-backoff_initial_ms').value = 100
    element(user, 'bp-max_concurrency').value = 1
    element(user, 'bp-max_queue_size').value = 0
    element(user, 'bp-enabled').value = True
    user.find(marker='bp-save').click()
    await user.should_see('Backpressure config saved')
    await user.should_see('On: at most 1 writes at once, 0 waiting')
    config = server_config(console_backend)
    assert (config['enabled'], config['max_concurrency'], config['max_queue_size']) == (True, 1, 0)

    held = HeldWrite(console_backend.url, 'slow')
    try:
        await eventually(lambda: text(user, 'bp-in-flight') == '1 / 1', message='the held write should show')
        with admin_client(console_backend) as api:
            assert api.put('/keys/fast', json={'value': '1'}).status_code == 503
        await eventually(lambda: text(user, 'bp-rejected') == '1', message='the refusal should show live')
    finally:
        assert held.finish().status_code == 200
    await eventually(lambda: text(user, 'bp-in-flight') == '0 / 1')
    assert text(user, 'bp-peak_in_flight') == '1'
    user.find(marker='bp-reset').click()
    await eventually(lambda: text(user, 'bp-rejected') == '0')


async def test_writes_are_counted_while_off_and_another_admins_change_shows(console_backend, user: User):
    await sign_in(user, next_page='/backpressure')
    await user.should_see('Off: writes are counted but never limited')
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': 'a', 'value': '1'}]})
        api.put('/keys/b', json={'value': '2'})
        await eventually(lambda: text(user, 'bp-admitted') == '2', message='writes should be counted while off')
        api.put('/admin/backpressure', json={'enabled': True, 'max_queue_size': 42})
    await eventually(lambda: element(user, 'bp-max_queue_size').value == 42,
                     message='an unedited form should take another admin\'s change')
    assert element(user, 'bp-enabled').value is True
    await user.should_see('On: at most 100 writes at once, 42 waiting')


async def test_a_token_without_admin_sees_the_traffic_but_cannot_change_limits(console_backend, user: User):
    with admin_client(console_backend) as api:
        raw = api.post('/admin/tokens', json={'name': 'ops', 'permissions': ['Read', 'Write']}).json()['data']['token']
    await sign_in(user, token=raw, next_page='/backpressure')
    await user.should_see('Off: writes are counted but never limited')
    element(user, 'bp-enabled').value = True
    user.find(marker='bp-save').click()
    await user.should_see('Save backpressure: this token lacks the permission (Insufficient permissions)')
    assert server_config(console_backend)['enabled'] is False
    assert httpx.get(f'{console_backend.url}/admin/backpressure',
                     headers={'Authorization': f'Bearer {raw}'}).status_code == 200


async def test_a_server_without_backpressure_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/backpressure')
    await user.should_see('Backpressure is not offered by this server.', marker='bp-state')
    await user.should_not_see(marker='bp-save')
