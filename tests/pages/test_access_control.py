"""Access Control page: policies created, edited and deleted (confirmed), checked, refused lockouts, live."""

from __future__ import annotations

import httpx
from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def new_token(server, name: str, *permissions: str) -> dict:
    with admin_client(server) as api:
        return api.post('/admin/tokens', json={'name': name, 'permissions': list(permissions)}).json()['data']


def rows(user: User) -> list[dict]:
    return element(user, 'policy-table').rows


def as_token(raw: str) -> dict[str, str]:
    return {'Authorization': f'Bearer {raw}'}


async def test_a_policy_is_created_edited_and_deleted_after_confirmation(console_backend, user: User):
    ci = new_token(console_backend, 'ci', 'Read', 'Write')
    with admin_client(console_backend) as api:
        api.put('/keys/secret:1', json={'value': 'classified'})
    await sign_in(user, next_page='/access-control')
    await user.should_see('No policies yet: every token can do what its permissions allow.')
    user.find(marker='policy-save').click()  # nothing filled in: the form says what is missing
    await eventually(lambda: element(user, 'policy-name').error == 'Enter a name')
    assert element(user, 'policy-resource').error == 'Enter a resource pattern'
    user.find(marker='policy-name').type('no-secrets')
    user.find(marker='policy-resource').type('tables')
    user.find(marker='policy-save').click()
    await eventually(lambda: (element(user, 'policy-resource').error or '').startswith("Use '*', a route glob"))
    element(user, 'policy-resource').value = 'keys:secret:*'
    await eventually(lambda: f'token:{ci["id"]}' in element(user, 'policy-subject').options)
    element(user, 'policy-subject').value = f'token:{ci["id"]}'
    element(user, 'policy-effect').value = 'deny'
    element(user, 'policy-actions').value = ['Read', 'Write']
    element(user, 'policy-priority').value = 50
    user.find(marker='policy-save').click()
    await user.should_see('Policy "no-secrets" created')
    await eventually(lambda: [r['name'] for r in rows(user)] == ['no-secrets'])
    row = rows(user)[0]
    assert (row['subject'], row['resource'], row['actions'], row['effect'], row['priority']) == (
        'Token: ci', 'keys:secret:*', ['Read', 'Write'], 'deny', 50)
    assert element(user, 'policy-count').text == '1' and element(user, 'policy-name').value == ''
    assert httpx.get(f'{console_backend.url}/keys/secret:1', headers=as_token(ci['token'])).status_code == 403

    user.find(marker='policy-table').trigger('edit', row['id'])
    await eventually(lambda: element(user, 'policy-form-title').text == 'Edit Policy "no-secrets"')
    assert element(user, 'policy-resource').value == 'keys:secret:*' and element(user, 'policy-effect').value == 'deny'
    element(user, 'policy-resource').value = 'keys:private:*'
    user.find(marker='policy-save').click()
    await user.should_see('Policy "no-secrets" updated')
    await eventually(lambda: rows(user)[0]['resource'] == 'keys:private:*')
    assert httpx.get(f'{console_backend.url}/keys/secret:1', headers=as_token(ci['token'])).status_code == 200

    user.find(marker='policy-table').trigger('delete', row['id'])
    await user.should_see('Delete policy "no-secrets"?', retries=100)
    user.find(marker='confirm-button').click()
    await user.should_see('Policy "no-secrets" deleted')
    await eventually(lambda: rows(user) == [])
    with admin_client(console_backend) as api:
        assert api.get('/admin/policies').json()['data']['policies'] == []


async def test_a_change_that_would_lock_out_the_last_admin_is_refused_with_the_reason(console_backend, user: User):
    await sign_in(user, next_page='/access-control')
    await user.should_see('No policies yet')
    user.find(marker='policy-name').type('lock-everyone-out')
    user.find(marker='policy-resource').type('/admin/*')
    element(user, 'policy-effect').value = 'deny'
    element(user, 'policy-actions').value = ['Admin']
    user.find(marker='policy-save').click()
    await user.should_see('Create policy: refused: after this change no token could administer access policies')
    assert rows(user) == [] and element(user, 'policy-name').value == 'lock-everyone-out'  # the draft is kept


async def test_check_access_says_which_policy_decides(console_backend, user: User):
    reader = new_token(console_backend, 'reader', 'Read')
    with admin_client(console_backend) as api:
        api.post('/admin/policies', json={'name': 'no-metrics', 'subject': 'role:Read', 'resource': '/metrics',
                                          'actions': ['Read'], 'effect': 'deny', 'priority': 5})
    await sign_in(user, next_page='/access-control')
    await eventually(lambda: [r['name'] for r in rows(user)] == ['no-metrics'])
    assert rows(user)[0]['subject'] == 'Role: Read'
    element(user, 'check-token').value = reader['id']
    user.find(marker='check-target').type('/metrics')
    user.find(marker='check-run').click()
    await user.should_see("Denied: policy 'no-metrics' (deny, priority 5) decides")
    user.find(marker='check-target').clear().type('/stats')
    user.find(marker='check-run').click()
    await user.should_see("Allowed: no policy matches: the token's permissions decide")


async def test_another_admins_policy_appears_live(console_backend, user: User):
    await sign_in(user, next_page='/access-control')
    await user.should_see('No policies yet')
    with admin_client(console_backend) as api:
        api.post('/admin/policies', json={'name': 'from-elsewhere', 'resource': '/metrics', 'actions': ['Read'],
                                          'effect': 'deny'})
    await eventually(lambda: [r['name'] for r in rows(user)] == ['from-elsewhere'],
                     message='a policy made by another admin should appear without a refresh')


async def test_only_admins_may_see_and_change_policies(console_backend, user: User):
    writer = new_token(console_backend, 'writer', 'Read', 'Write', 'Delete')
    await sign_in(user, token=writer['token'], next_page='/access-control')
    await user.should_see('Only tokens with the Admin permission may view or change access policies.',
                          marker='policy-state')
    await user.should_not_see(marker='policy-save')
    await user.should_not_see(marker='policy-table')


async def test_a_server_without_policies_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/access-control')
    await user.should_see('Access control is not offered by this server.', marker='policy-state')
    await user.should_not_see(marker='policy-save')
