"""Statistics, feature flags and tokens pages."""

from __future__ import annotations

import httpx
from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


async def test_statistics_follow_writes(console_backend, user: User):
    await sign_in(user, next_page='/stats')
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as other:
        other.post('/keys/batch', json={'records': [{'key': f's{i}', 'value': 'v'} for i in range(7)]})
    await eventually(lambda: {'name': 'Memtable records', 'value': '7'} in element(user, 'engine-stats').rows,
                     message='engine stats did not refresh after writes')
    assert {'name': 'batch sets', 'value': '7'} in element(user, 'metric-counters').rows


async def test_feature_flags_can_be_added_and_toggled(console_backend, user: User):
    await sign_in(user, next_page='/features')
    await user.should_see('No feature flags yet.')
    user.find(marker='flag-name').type('dark-launch')
    user.find(marker='flag-description').type('new checkout')
    user.find(marker='flag-save').click()
    await user.should_see("Feature 'dark-launch' updated")
    await user.should_see(marker='flag-dark-launch')
    user.find(marker='flag-dark-launch').click()
    await user.should_see("Feature 'dark-launch' enabled")
    with admin_client(console_backend) as api:
        assert api.get('/features').json()['data']['features'][0]['enabled'] is True


async def test_tokens_are_created_once_shown_and_revoked_after_confirmation(console_backend, user: User):
    await sign_in(user, next_page='/admin')
    await user.should_see('Active tokens')
    user.find(marker='token-name').type('ci-reader')
    user.find(marker='token-create').click()
    await user.should_see('Token created successfully')
    raw = element(user, 'new-token').text
    assert raw.startswith('apx_')
    assert httpx.get(console_backend.url + '/stats', headers={'Authorization': f'Bearer {raw}'}).status_code == 200
    row = next(r for r in element(user, 'token-table').rows if r['name'] == 'ci-reader')
    assert row['permissions'] == 'Read'
    user.find(marker='token-table').trigger('revoke', row['id'])
    await user.should_see('Revoke "ci-reader"?')
    user.find(marker='confirm-button').click()
    await user.should_see('Token deleted successfully')
    assert httpx.get(console_backend.url + '/stats', headers={'Authorization': f'Bearer {raw}'}).status_code == 401


async def test_rate_limits_show_the_servers_limits(console_backend, user: User):
    await sign_in(user, next_page='/rate-limits')
    await user.should_see('/admin/compact')
    await user.should_see('5 requests per minute per client')


async def test_graphql_playground_runs_queries_and_mutations(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/keys/user:1', json={'value': 'Alice'})
    await sign_in(user, next_page='/graphql')
    user.find(marker='graphql-run').click()
    await eventually(lambda: '"value": "Alice"' in element(user, 'graphql-result').content)
    user.find(marker='graphql-query').clear().type('mutation Set($k: String!) { set(key: $k, value: "from-gql") }')
    user.find(marker='graphql-variables').type('{"k": "gql:1"}')
    user.find(marker='graphql-run').click()
    await eventually(lambda: '"set": true' in element(user, 'graphql-result').content)
    with admin_client(console_backend) as api:
        assert api.get('/keys/gql:1').json()['value'] == 'from-gql'
    user.find(marker='graphql-query').clear().type('{ nope }')
    user.find(marker='graphql-run').click()
    await eventually(lambda: 'nope' in element(user, 'graphql-errors').text)
