"""Webhooks page: create (secret shown once), deliveries live, edit, test, delete, validation, not offered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nicegui.testing import User

from backend.tokens import Permission
from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def rows(user: User) -> list[dict]:
    return element(user, 'webhook-table').rows


def backend_hooks(server) -> list[dict]:
    with admin_client(server) as api:
        return api.get('/admin/webhooks').json()['data']['webhooks']


def create_by_api(server, url: str, **extra) -> dict:
    with admin_client(server) as api:
        body = {'name': 'audit feed', 'url': url, 'events': ['key.set'], 'backoff_ms': 10, **extra}
        return api.post('/admin/webhooks', json=body).json()['data']


async def test_an_admin_creates_a_webhook_copies_the_secret_and_sees_deliveries_live(console_backend, user: User,
                                                                                     receiver: Receiver):
    await sign_in(user, next_page='/webhooks')
    await user.should_see('No webhooks yet. Create one above to receive store events over HTTP.')
    user.find(marker='new-webhook-name').type('orders feed')
    user.find(marker='new-webhook-url').type(receiver.url)
    user.find(marker='new-webhook-prefix').type('orders:')
    user.find(marker='webhook-create').click()
    await user.should_see('Webhook "orders feed" created')
    secret = element(user, 'webhook-secret').text
    assert secret.startswith('whsec_')
    await user.should_see('Receivers verify X-Apex-Signature')
    await eventually(lambda: [r['name'] for r in rows(user)] == ['orders feed'])
    first = rows(user)[0]
    assert first['events'] == ['key.set', 'key.delete'] and first['prefix'] == 'orders:' and first['active']
    assert first['counts'] == '0 delivered · 0 failed' and first['last'] == ''
    assert element(user, 'new-webhook-name').value == '', 'the form is ready for the next one'

    with admin_client(console_backend) as other:  # another client writes: the row follows each delivery
        other.post('/keys', json={'key': 'orders:7', 'value': 'paid'})
        other.post('/keys', json={'key': 'users:1', 'value': 'not for this webhook'})
    await eventually(lambda: rows(user)[0]['counts'] == '1 delivered · 0 failed', message='delivery not shown live')
    assert rows(user)[0]['last_status'] == 'success' and rows(user)[0]['last'] != ''
    await eventually(lambda: len(receiver.received) == 1)
    post = receiver.received[0]
    assert post.json['data']['key'] == 'orders:7' and post.signed_with(secret)

    await user.open('/webhooks')  # the secret was shown once; a new visit never shows it
    await eventually(lambda: [r['name'] for r in rows(user)] == ['orders feed'])
    await user.should_not_see(marker='webhook-secret')


async def test_the_form_says_what_is_missing_or_wrong(console_backend, user: User):
    await sign_in(user, next_page='/webhooks')
    await user.should_see('No webhooks yet', marker='webhooks-state')
    user.find(marker='webhook-create').click()
    await user.should_see('Enter a name for the webhook')
    await user.should_see('Enter the URL to POST events to')
    user.find(marker='new-webhook-name').type('bad one')
    user.find(marker='new-webhook-url').type('ftp://files.example.com')
    user.find(marker='new-webhook-event-key.set').click()
    user.find(marker='new-webhook-event-key.delete').click()  # nothing selected now
    user.find(marker='new-webhook-url').trigger('keydown.enter')  # Enter submits too
    await user.should_see('Enter a URL starting with http:// or https:// and a host name')
    await user.should_see('Choose at least one event type')
    assert element(user, 'new-webhook-name-error').text == ''
    user.find(marker='new-webhook-event-flush').click()
    user.find(marker='new-webhook-url').clear().type('http://me:secret@hooks.example.com/x')
    user.find(marker='webhook-create').click()  # fine here, refused by the server: its reason shows at the form
    await user.should_see('Create webhook: url: must not contain credentials')
    assert backend_hooks(console_backend) == []


async def test_edit_test_and_delete_with_confirmation(console_backend, user: User, receiver: Receiver):
    await sign_in(user, next_page='/webhooks')
    await user.should_see('No webhooks yet', marker='webhooks-state')
    hook = create_by_api(console_backend, receiver.url)  # made elsewhere: it appears here by itself
    await eventually(lambda: [r['name'] for r in rows(user)] == ['audit feed'], message='not live')

    user.find(marker='webhook-table').trigger('edit', hook['id'])
    await user.should_see('Edit webhook "audit feed"')
    assert element(user, 'edit-webhook-url').value == receiver.url
    user.find(marker='edit-webhook-name').clear().type('renamed feed')
    user.find(marker='edit-webhook-event-flush').click()
    user.find(marker='edit-webhook-active').click()
    user.find(marker='webhook-save').click()
    await user.should_see('Webhook "renamed feed" saved')
    await eventually(lambda: rows(user)[0]['name'] == 'renamed feed' and not rows(user)[0]['active'])
    saved = backend_hooks(console_backend)[0]
    assert saved['events'] == ['key.set', 'flush'] and saved['active'] is False

    user.find(marker='webhook-table').trigger('test', hook['id'])
    await user.should_see('Test webhook delivered (HTTP 200)')
    await eventually(lambda: len(receiver.of('webhook.test')) == 1)
    assert receiver.of('webhook.test')[0].signed_with(hook['secret'])
    await eventually(lambda: rows(user)[0]['counts'] == '1 delivered · 0 failed')

    receiver.stop()
    user.find(marker='webhook-table').trigger('test', hook['id'])
    await user.should_see('Test delivery failed: cannot connect')
    await eventually(lambda: rows(user)[0]['last_status'] == 'failed'
                     and 'cannot connect' in rows(user)[0]['last_error'])

    user.find(marker='webhook-table').trigger('delete', hook['id'])
    await user.should_see('Delete "renamed feed" (' + receiver.url + ')? No more events are sent to it')
    user.find('Cancel').click()
    await eventually(lambda: len(backend_hooks(console_backend)) == 1)
    user.find(marker='webhook-table').trigger('delete', hook['id'])
    await user.should_see(marker='confirm-button')
    user.find(marker='confirm-button').click()
    await user.should_see('Webhook "renamed feed" deleted')
    await eventually(lambda: rows(user) == [])
    assert backend_hooks(console_backend) == []
    await user.should_see('No webhooks yet', marker='webhooks-state')


async def test_rotating_the_secret_shows_the_new_one_once(console_backend, user: User, receiver: Receiver):
    hook = create_by_api(console_backend, receiver.url)
    await sign_in(user, next_page='/webhooks')
    await eventually(lambda: [r['id'] for r in rows(user)] == [hook['id']])
    user.find(marker='webhook-table').trigger('edit', hook['id'])
    await user.should_see(marker='webhook-rotate')
    user.find(marker='webhook-rotate').click()
    await user.should_see('Make a new signing secret?')
    user.find(marker='confirm-button').click()
    await user.should_see('New signing secret made')
    new_secret = element(user, 'rotated-secret').text
    assert new_secret.startswith('whsec_') and new_secret != hook['secret']
    with admin_client(console_backend) as other:
        other.post('/keys', json={'key': 'k', 'value': 'v'})
    await eventually(lambda: len(receiver.received) == 1)
    assert receiver.received[0].signed_with(new_secret)


async def test_the_delivery_log_lists_each_attempt(console_backend, user: User, receiver: Receiver):
    receiver.statuses.append(503)
    hook = create_by_api(console_backend, receiver.url)
    with admin_client(console_backend) as other:
        other.post('/keys', json={'key': 'k', 'value': 'v'})
    await eventually(lambda: len(receiver.received) == 2)
    await sign_in(user, next_page='/webhooks')
    await eventually(lambda: rows(user) and rows(user)[0]['counts'] == '1 delivered · 0 failed')
    user.find(marker='webhook-table').trigger('log', hook['id'])
    await user.should_see('Recent deliveries of "audit feed"')
    log = element(user, 'log-table').rows
    assert [(r['outcome'], r['http'], r['attempt']) for r in log] == [('delivered', 200, 2), ('retrying', 503, 1)]
    assert log[1]['error'] == 'HTTP 503: receiver says no'


async def test_a_token_without_admin_sees_why(console_backend, user: User):
    _, raw = console_backend.call(lambda b: b.tokens.create('reader', [Permission.Read]))
    await sign_in(user, token=raw, next_page='/webhooks')
    await user.should_see('List webhooks: this token lacks the permission (Insufficient permissions)',
                          marker='webhooks-state')


async def test_a_server_without_webhooks_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/webhooks')
    await user.should_see('Webhooks is not offered by this server.', marker='webhooks-state')
    await user.should_not_see(marker='webhook-create')
    await user.should_not_see(marker='webhook-table')
