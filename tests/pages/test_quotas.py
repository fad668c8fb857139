"""Quotas page: quotas created, edited and deleted (confirmed); each token's usage follows its requests live."""

from __future__ import annotations

import httpx
from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def new_token(server, name: str, *permissions: str) -> dict:
    with admin_client(server) as api:
        return api.post('/admin/tokens', json={'name': name, 'permissions': list(permissions)}).json()['data']


def rows(user: User) -> list[dict]:
    return element(user, 'quota-table').rows


def text(user: User, marker: str) -> str:
    return element(user, marker).text


async def test_a_quota_is_created_edited_and_deleted_after_confirmation(console_backend, user: User):
    ci = new_token(console_backend, 'ci', 'Read', 'Write')
    await sign_in(user, next_page='/quotas')
    await user.should_see('No quotas yet: no token is limited.')
    user.find(marker='quota-save').click()
    await eventually(lambda: element(user, 'quota-tenant').error == 'Choose a token')
    await eventually(lambda: ci['id'] in element(user, 'quota-tenant').options)
    element(user, 'quota-tenant').value = ci['id']
    element(user, 'quota-max_requests_per_min').value = 2.5
    user.find(marker='quota-save').click()
    await eventually(lambda: element(user, 'quota-max_requests_per_min').error ==
                     'A whole number ≥ 0, or empty for no limit')
    element(user, 'quota-max_requests_per_min').value = 3
    element(user, 'quota-storage').value = 1
    element(user, 'quota-storage-unit').value = 'KB'
    user.find(marker='quota-description').type('CI runner')
    user.find(marker='quota-save').click()
    await user.should_see('Quota for "ci" created')
    await eventually(lambda: len(rows(user)) == 1)
    row = rows(user)[0]
    assert (row['tenant'], row['requests'], row['reads'], row['storage'], row['active']) == (
        'ci', '3', '∞', '1.00 KB', True)
    assert ci['id'] not in element(user, 'quota-tenant').options  # one quota per token

    user.find(marker='quota-table').trigger('edit', row['id'])
    await eventually(lambda: text(user, 'quota-form-title') == 'Edit Quota for "ci"')
    assert not element(user, 'quota-tenant').enabled and element(user, 'quota-storage-unit').value == 'KB'
    element(user, 'quota-max_requests_per_min').value = 10
    user.find(marker='quota-save').click()
    await user.should_see('Quota for "ci" updated')
    await eventually(lambda: rows(user)[0]['requests'] == '10')
    with admin_client(console_backend) as api:
        saved = api.get('/admin/quotas').json()['data']['quotas'][0]
    assert saved['max_requests_per_min'] == 10 and saved['max_storage_bytes'] == 1024
    assert saved['description'] == 'CI runner'

    user.find(marker='quota-table').trigger('delete', row['id'])
    await user.should_see('Delete the quota of "ci"?')
    user.find(marker='confirm-button').click()
    await user.should_see('Quota for "ci" deleted')
    await eventually(lambda: rows(user) == [])


async def test_usage_follows_the_tokens_requests_and_writes_live(console_backend, user: User):
    app = new_token(console_backend, 'app', 'Read', 'Write')
    with admin_client(console_backend) as api:
        quota = api.post('/admin/quotas', json={'tenant': app['id'], 'max_requests_per_min': 3,
                                                'max_storage_bytes': 100}).json()['data']
    await sign_in(user, next_page='/quotas')
    await eventually(lambda: text(user, f'usage-{quota["id"]}-requests') == '0 / 3')
    with httpx.Client(base_url=console_backend.url, headers={'Authorization': f'Bearer {app["token"]}'}) as client:
        assert client.put('/keys/k', json={'value': 'x' * 39}).status_code == 200
        assert client.get('/stats').status_code == 200
        await eventually(lambda: text(user, f'usage-{quota["id"]}-requests') == '2 / 3',
                         message='the usage bar should follow the token\'s requests')
        assert text(user, f'usage-{quota["id"]}-storage') == '40 bytes / 100 bytes'
        assert text(user, f'usage-{quota["id"]}-writes') == '1 (no limit)'
        assert client.get('/stats').status_code == 200
        assert client.get('/stats').status_code == 429
    await eventually(lambda: text(user, f'usage-{quota["id"]}-requests') == '3 / 3')
    await eventually(lambda: text(user, f'usage-{quota["id"]}-rejected').startswith('refused: 1 over a rate'))
    assert rows(user)[0]['used'] == '3'


async def test_only_admins_may_see_and_change_quotas(console_backend, user: User):
    writer = new_token(console_backend, 'writer', 'Read', 'Write')
    await sign_in(user, token=writer['token'], next_page='/quotas')
    await user.should_see('Only tokens with the Admin permission may view or change quotas.', marker='quota-state')
    await user.should_not_see(marker='quota-save')


async def test_a_server_without_quotas_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/quotas')
    await user.should_see('Quotas is not offered by this server.', marker='quota-state')
    await user.should_not_see(marker='quota-save')
