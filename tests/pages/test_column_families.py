"""Column families: listed with sizes and key counts, created, dropped after typing the name, browsed."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, hidden_or_not, sign_in


def names(user: User) -> list[str]:
    return [r['name'] for r in element(user, 'cf-table').rows]


async def test_column_families_are_listed_created_and_dropped_with_typed_confirmation(console_backend, user: User):
    await sign_in(user, next_page='/column-families')
    await eventually(lambda: names(user) == ['default'], message='the default column family should be listed')
    default = element(user, 'cf-table').rows[0]
    assert default['browse'] == '/keys?cf=default' and 'KB' in default['size']
    user.find(marker='cf-name').type('orders')
    user.find(marker='cf-create').click()
    await user.should_see('Column family "orders" created')
    await eventually(lambda: names(user) == ['default', 'orders'])
    assert element(user, 'cf-count').text == '2'
    orders = element(user, 'cf-table').rows[1]
    assert orders['browse'] == '/keys?cf=orders' and orders['keys'] == '0'
    with admin_client(console_backend) as api:
        assert [cf['name'] for cf in api.get('/admin/column_families').json()['column_families']] == ['default',
                                                                                                       'orders']
    user.find(marker='cf-table').trigger('drop', 'orders')
    await user.should_see('Drop "orders"? Every key in it is deleted; this cannot be undone.')
    assert not element(user, 'confirm-button').enabled  # not until the name is typed
    user.find(marker='confirm-typed').type('orders')
    user.find(marker='confirm-button').click()
    await user.should_see('Column family "orders" dropped')
    await eventually(lambda: names(user) == ['default'])
    with admin_client(console_backend) as api:
        assert [cf['name'] for cf in api.get('/admin/column_families').json()['column_families']] == ['default']


async def test_key_counts_follow_writes_and_another_clients_families_appear(console_backend, user: User):
    await sign_in(user, next_page='/column-families')
    await eventually(lambda: names(user) == ['default'])
    with admin_client(console_backend) as other:
        other.post('/admin/column_families', json={'name': 'audit'})
        other.post('/keys/batch', json={'records': [{'key': f'cf{i}', 'value': 'v'} for i in range(12)]})
    await eventually(lambda: names(user) == ['default', 'audit'] and element(user, 'cf-table').rows[0]['mem_records']
                     == '12', message='the list should refresh on the store\'s events')


async def test_the_server_refuses_bad_names_and_the_default_family(console_backend, user: User):
    await sign_in(user, next_page='/column-families')
    await eventually(lambda: names(user) == ['default'])
    user.find(marker='cf-name').type('no spaces please')
    user.find(marker='cf-create').click()
    await user.should_see('Create column family: invalid column family name')
    with admin_client(console_backend) as api:
        assert api.delete('/admin/column_families/default').json() == {
            'error': 'the default column family cannot be dropped'}
        assert api.delete('/admin/column_families/missing').status_code == 404
        assert api.delete('/admin/column_families/__system').status_code == 404


async def test_a_server_without_column_family_routes_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/column-families')
    await user.should_see('Column families is not offered by this server.', marker='cf-state')
    await user.should_not_see(marker='cf-create')  # nothing to create where nothing is offered
    await user.should_not_see(marker='cf-table')


async def test_a_failed_load_says_why_in_place_with_a_retry_that_loads_again(console_backend, user: User):
    await sign_in(user, next_page='/column-families')
    await eventually(lambda: names(user) == ['default'])
    console_backend.stop()
    await user.open('/column-families')  # opened while the server is down
    await eventually(lambda: user.find(marker='cf-state-retry').elements, timeout=20,
                     message='the section should show the error with a Retry button')
    assert not hidden_or_not(user, 'cf-table').visible
    console_backend.start()
    user.find(marker='cf-state-retry').click()
    await eventually(lambda: hidden_or_not(user, 'cf-table').visible and names(user) == ['default'], timeout=20)
