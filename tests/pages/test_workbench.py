"""Workbench: value search, key ranges, index lookups and transactions in one query box, with history."""

from __future__ import annotations

import json

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


def result_keys(user: User) -> list[str]:
    return [row.get('key', '') for row in element(user, 'wb-results').rows]


def history_labels(user: User) -> list[str]:
    """The history list, top to bottom (empty when it holds nothing yet)."""
    try:
        items = user.find(marker='wb-history-item').elements
    except AssertionError:
        return []
    return [item.default_slot.children[0].text for item in sorted(items, key=lambda e: e.id)]


async def open_workbench(user: User, backend, records: int = 0) -> None:
    if records:
        with admin_client(backend) as api:
            api.post('/keys/batch', json={'records': [
                {'key': f'user:{i:03d}', 'value': json.dumps({'name': f'n{i}', 'city': 'Paris' if i % 2 else 'Oslo'})}
                for i in range(records)]})
    await sign_in(user, next_page='/workbench')
    await user.should_see(marker='wb-run')
    await eventually(lambda: badge_state(user) == 'connected')


async def test_value_search_and_key_range_show_a_table_and_ctrl_enter_runs(console_backend, user: User):
    await open_workbench(user, console_backend, records=6)
    user.find(marker='wb-text').type('"n3"')
    user.find(marker='wb-run').click()
    await eventually(lambda: result_keys(user) == ['user:003'], message='the value search should find one record')
    assert element(user, 'wb-summary').text.startswith('1 records')
    element(user, 'wb-mode').value = 'range'
    user.find(marker='wb-lower').type('user:002')
    user.find(marker='wb-upper').type('user:005')
    user.find(marker='wb-upper').trigger('keydown.ctrl.enter')
    await eventually(lambda: result_keys(user) == ['user:002', 'user:003', 'user:004'])
    element(user, 'wb-limit').value = 2
    user.find(marker='wb-lower').trigger('keydown.enter')
    await eventually(lambda: result_keys(user) == ['user:002', 'user:003'])
    await user.should_see(marker='wb-next')
    user.find(marker='wb-next').click()
    await eventually(lambda: result_keys(user) == ['user:002', 'user:003', 'user:004'], message='the next page appends')


async def test_mistakes_are_said_inline_before_anything_is_sent(console_backend, user: User):
    await open_workbench(user, console_backend)
    user.find(marker='wb-run').click()
    await eventually(lambda: element(user, 'wb-error').text == 'Enter the text the values must contain.')
    element(user, 'wb-mode').value = 'range'
    user.find(marker='wb-lower').type('b')
    user.find(marker='wb-upper').type('a')
    user.find(marker='wb-run').click()
    await eventually(lambda: element(user, 'wb-error').text == 'The upper bound must come after the lower bound.')
    element(user, 'wb-mode').value = 'txn'
    user.find(marker='wb-ops').type('[{"op": "put", "key": "a"}')
    user.find(marker='wb-run').click()
    await eventually(lambda: element(user, 'wb-error').text.startswith('Invalid JSON'))
    user.find(marker='wb-ops').clear().type('[{"op": "put", "key": "a"}]')
    user.find(marker='wb-run').click()
    await eventually(lambda: element(user, 'wb-error').text == 'Operation 1: a put needs a "value" (a string)')
    user.find(marker='wb-ops').clear().type('[{"op": "upsert", "key": "a", "value": "1"}]')
    user.find(marker='wb-run').click()
    await eventually(lambda: element(user, 'wb-error').text.startswith('Operation 1: op:'))
    element(user, 'wb-mode').value = 'index'
    user.find(marker='wb-conditions').type('city')
    user.find(marker='wb-run').click()
    await eventually(lambda: 'write each condition as field=value' in element(user, 'wb-error').text)
    assert history_labels(user) == [], 'nothing invalid was sent or remembered'
    with admin_client(console_backend) as api:
        assert api.get('/keys/a').status_code == 404


async def test_index_lookup_after_registering_a_field(console_backend, user: User):
    await open_workbench(user, console_backend)
    element(user, 'wb-mode').value = 'index'
    await user.should_see('none yet')
    user.find(marker='wb-index-field').type('city')
    user.find(marker='wb-index-add').click()
    await user.should_see('Field "city" is indexed from now on')
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [
            {'key': f'user:{i}', 'value': json.dumps({'city': 'Paris' if i % 2 else 'Oslo', 'role': 'r'})}
            for i in range(4)]})
    await user.should_see(marker='wb-index-chip')
    user.find(marker='wb-index-chip').click()  # the indexed field's chip starts a condition
    assert element(user, 'wb-conditions').value == 'city='
    user.find(marker='wb-conditions').type('Paris')
    user.find(marker='wb-conditions').trigger('keydown.enter')
    await eventually(lambda: result_keys(user) == ['user:1', 'user:3'])


async def test_a_transaction_commits_every_operation_and_rows_follow_the_store(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/keys/old', json={'value': 'x'})
    await open_workbench(user, console_backend)
    element(user, 'wb-mode').value = 'txn'
    ops = [{'op': 'put', 'key': 'acct:1', 'value': '90'}, {'op': 'put', 'key': 'acct:2', 'value': '110'},
           {'op': 'delete', 'key': 'old'}]
    user.find(marker='wb-ops').type(json.dumps(ops))
    user.find(marker='wb-ops').trigger('keydown.ctrl.enter')
    await user.should_see('Transaction 1 committed: 3 operations')
    assert [(r['op'], r['key'], r['result']) for r in element(user, 'wb-results').rows] == [
        ('put', 'acct:1', 'committed'), ('put', 'acct:2', 'committed'), ('delete', 'old', 'committed')]
    with admin_client(console_backend) as api:
        assert api.get('/keys/acct:2').json()['value'] == '110' and api.get('/keys/old').status_code == 404
    element(user, 'wb-mode').value = 'range'
    user.find(marker='wb-lower').type('acct:')
    user.find(marker='wb-run').click()
    await eventually(lambda: result_keys(user) == ['acct:1', 'acct:2'])
    with admin_client(console_backend) as other:
        other.put('/keys/acct:1', json={'value': '95'})
        other.delete('/keys/acct:2')
    rows = lambda: {r['key']: r for r in element(user, 'wb-results').rows}  # noqa: E731
    await eventually(lambda: rows()['acct:1']['value'] == '95' and rows()['acct:1']['live'] == 'changed'
                     and rows()['acct:2']['live'] == 'deleted', message='rows in view follow other clients')


async def test_a_failed_operation_rolls_the_transaction_back(console_backend, user: User):
    await open_workbench(user, console_backend)
    element(user, 'wb-mode').value = 'txn'
    long_key = 'k' * 5000
    user.find(marker='wb-ops').type(json.dumps([{'op': 'put', 'key': 'a', 'value': '1'},
                                                {'op': 'put', 'key': long_key, 'value': '2'}]))
    user.find(marker='wb-run').click()
    await eventually(lambda: 'longer than 4096 bytes' in element(user, 'wb-error').text, message='checked first')
    user.find(marker='wb-ops').clear().type(json.dumps([{'op': 'put', 'key': 'a', 'value': '1'},
                                                        {'op': 'put', 'key': 'b', 'value': '2', 'cf': 'nope'}]))
    user.find(marker='wb-run').click()
    await eventually(lambda: 'commit failed' in element(user, 'wb-error').text)
    with admin_client(console_backend) as api:
        assert api.get('/keys/a').status_code == 404, 'nothing of a failed transaction is written'


async def test_history_keeps_past_queries_and_a_click_runs_one_again(console_backend, user: User):
    await open_workbench(user, console_backend, records=4)
    for number in (1, 2, 1):
        user.find(marker='wb-text').clear().type(f'"n{number}"')
        user.find(marker='wb-run').click()
        await eventually(lambda: result_keys(user) == [f'user:{number:03d}'])  # noqa: B023 (awaited here)
    await eventually(lambda: history_labels(user) == ['Value search: "n1"', 'Value search: "n2"'],
                     message='newest first, each query once')
    element(user, 'wb-mode').value = 'range'
    user.find(marker='wb-history-1').click()  # the older query runs again, in its own mode
    await eventually(lambda: result_keys(user) == ['user:002'])
    assert element(user, 'wb-mode').value == 'value' and element(user, 'wb-text').value == '"n2"'
    await eventually(lambda: history_labels(user) == ['Value search: "n2"', 'Value search: "n1"'])
    await user.open('/workbench')  # history survives a reload (per browser)
    await eventually(lambda: history_labels(user) == ['Value search: "n2"', 'Value search: "n1"'])
    user.find(marker='wb-history-clear').click()
    await eventually(lambda: history_labels(user) == [])


async def test_a_real_apexstore_offers_search_and_ranges_but_this_one_no_index_or_transactions(
        console_compat_backend, user: User):
    await open_workbench(user, console_compat_backend, records=3)
    element(user, 'wb-mode').value = 'index'
    await user.should_see('Index lookup is not offered by this server.', marker='wb-state')
    assert not element(user, 'wb-run').enabled
    element(user, 'wb-mode').value = 'txn'
    user.find(marker='wb-ops').type('[{"op": "put", "key": "a", "value": "1"}]')
    user.find(marker='wb-run').click()
    await user.should_see('Transactions is not offered by this server.', marker='wb-state')
    element(user, 'wb-mode').value = 'range'
    user.find(marker='wb-run').click()
    await eventually(lambda: result_keys(user) == ['user:000', 'user:001', 'user:002'])
