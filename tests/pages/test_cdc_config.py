"""CDC page, configuration part: enable, retention and batch size; tracked tables that capture changes, live."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def tracked(user: User) -> dict[str, dict]:
    return {row['table']: row for row in element(user, 'cdc-tables').rows}


async def open_cdc(user: User) -> None:
    await sign_in(user, next_page='/cdc')
    await user.should_see(marker='cdc-save')
    await eventually(lambda: element(user, 'cdc-retention').value == 24, message='the saved configuration loads')


async def test_the_configuration_is_saved_and_checked_before_sending(console_backend, user: User):
    await open_cdc(user)
    assert element(user, 'cdc-enabled').value is True and element(user, 'cdc-batch').value == 1000
    element(user, 'cdc-batch').value = 5
    user.find(marker='cdc-save').click()
    await eventually(lambda: 'batch size 100–100,000' in element(user, 'cdc-config-error').text)
    element(user, 'cdc-batch').value = 500
    element(user, 'cdc-retention').value = 48
    element(user, 'cdc-enabled').value = False
    user.find(marker='cdc-save').click()
    await user.should_see('CDC configuration saved')
    assert element(user, 'cdc-config-error').text == ''
    with admin_client(console_backend) as api:
        assert api.get('/admin/cdc').json()['data']['config'] == {'enabled': False, 'retention_hours': 48,
                                                                   'batch_size': 500}


async def test_a_tracked_table_captures_changes_live_and_can_be_removed(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/admin/column_families', json={'name': 'orders'})
    await open_cdc(user)
    assert element(user, 'cdc-table-events').value == ['insert', 'update', 'delete'], 'the Angular default'
    await eventually(lambda: 'orders' in element(user, 'cdc-table-name').options)
    element(user, 'cdc-table-name').value = 'orders'
    user.find(marker='cdc-table-add').click()
    await user.should_see('Table "orders" is tracked')
    await eventually(lambda: tracked(user).get('orders', {}).get('status') == 'Active')
    assert tracked(user)['orders']['events'] == 'insert, update, delete'
    with admin_client(console_backend) as other:
        other.post('/cf/orders/keys', json={'key': 'o:1', 'value': 'new'})
        other.put('/cf/orders/keys/o:1', json={'value': 'paid'})
    await eventually(lambda: tracked(user)['orders']['captured'] == '2',
                     message='the captured count follows another client\'s writes')
    assert tracked(user)['orders']['last_event'] != '—'
    user.find(marker='cdc-tables').trigger('changes', 'orders')
    await eventually(lambda: [(r['op'], r['key']) for r in element(user, 'cdc-changes').rows] == [
        ('insert', 'o:1'), ('update', 'o:1')], message='the captured changes are listed oldest first')
    user.find('Close').click()
    user.find(marker='cdc-tables').trigger('remove', 'orders')
    await user.should_see('Stop tracking "orders"? Its captured changes are dropped.')
    user.find(marker='confirm-button').click()
    await user.should_see('Table "orders" is no longer tracked')
    await eventually(lambda: tracked(user) == {})


async def test_another_clients_configuration_shows_up(console_backend, user: User):
    await open_cdc(user)
    with admin_client(console_backend) as other:
        other.put('/admin/cdc', json={'enabled': True, 'retention_hours': 72, 'batch_size': 2000})
        other.post('/admin/cdc/tables', json={'table': 'default', 'events': ['delete']})
    await eventually(lambda: element(user, 'cdc-retention').value == 72 and 'default' in tracked(user),
                     message='the page follows CDC changes made elsewhere')
    assert element(user, 'cdc-batch').value == 2000


async def test_a_table_must_be_a_column_family(console_backend, user: User):
    await open_cdc(user)
    element(user, 'cdc-table-events').value = []
    element(user, 'cdc-table-name').value = 'default'
    user.find(marker='cdc-table-add').click()
    await eventually(lambda: element(user, 'cdc-table-error').text == 'Choose at least one kind of change to capture.')
    with admin_client(console_backend) as api:
        answer = api.post('/admin/cdc/tables', json={'table': 'my_table', 'events': ['insert']})
    assert answer.json()['message'] == "Error: column family 'my_table' does not exist"


async def test_a_real_apexstore_has_no_cdc_configuration_but_the_live_stream_stays(console_compat_backend,
                                                                                     user: User):
    await sign_in(user, next_page='/cdc')
    await user.should_see('CDC configuration is not offered by this server.', marker='cdc-config-state')
    await user.should_not_see(marker='cdc-save')
    await user.should_see(marker='cdc-feed')
