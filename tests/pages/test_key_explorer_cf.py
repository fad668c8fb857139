"""Key explorer per column family (`/keys?cf=…`: list, search, get, put, delete there, the family in the link)
and a TTL for every row in the window, read in a few batched requests."""

from __future__ import annotations

import asyncio
import time

import pytest
from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


def table_keys(user: User) -> list[str]:
    return sorted(element(user, 'key-table').rows)


def addresses(user: User, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the explorer writes into the address bar, newest last (it still reaches the browser)."""
    seen: list[str] = []
    history = user.navigate.history  # the simulated browser's (NiceGUI points ui.navigate at it)
    replace = history.replace

    def spy(url: str) -> None:
        seen.append(url)
        replace(url)

    monkeypatch.setattr(history, 'replace', spy)
    return seen


def with_orders(backend, orders: int = 3) -> None:
    with admin_client(backend) as api:
        api.post('/admin/column_families', json={'name': 'orders'})
        api.post('/cf/orders/keys/batch', json={'records': [{'key': f'order:{i}', 'value': f'o{i}'}
                                                            for i in range(orders)]})
        api.post('/keys', json={'key': 'user:1', 'value': 'in default'})


async def open_explorer(user: User, path: str = '/keys') -> None:
    await sign_in(user, next_page='/keys')
    await eventually(lambda: badge_state(user) == 'connected')
    if path != '/keys':
        await user.open(path)
    await user.should_see(marker='key-search')


async def test_a_link_with_cf_browses_that_family_and_the_link_keeps_it(console_backend, user: User,
                                                                       monkeypatch: pytest.MonkeyPatch):
    with_orders(console_backend)
    urls = addresses(user, monkeypatch)
    await open_explorer(user, '/keys?cf=orders&key=order:1')
    await eventually(lambda: table_keys(user) == ['order:0', 'order:1', 'order:2'],
                     message='only the keys of "orders" should be listed')
    assert element(user, 'cf-select').value == 'orders'
    await eventually(lambda: element(user, 'viewer-title').text == 'order:1', message='the link\'s key opens')
    assert element(user, 'value-pane').visible
    await eventually(lambda: element(user, 'key-count').text == '3 in view · 3 keys in "orders"')
    await eventually(lambda: any('cf=orders' in url and 'key=order%3A1' in url for url in urls),
                     message='the address bar should name the family')


async def test_the_selector_switches_family_and_writes_land_there(console_backend, user: User):
    with_orders(console_backend, orders=1)
    await open_explorer(user)
    await eventually(lambda: table_keys(user) == ['user:1'])
    await eventually(lambda: 'orders' in element(user, 'cf-select').options)
    element(user, 'cf-select').value = 'orders'
    await eventually(lambda: table_keys(user) == ['order:0'])
    user.find(marker='add-key').click()
    user.find(marker='insert-key').type('order:new')
    user.find(marker='insert-value').type('fresh')
    user.find(marker='insert-button').click()
    await user.should_see('Key "order:new" inserted!')
    with admin_client(console_backend) as api:
        assert api.get('/cf/orders/keys/order:new').json()['value'] == 'fresh'
        assert api.get('/keys/order:new').status_code == 404, 'nothing was written to default'
    user.find(marker='key-search').clear().type('order:0').trigger('keydown.enter')
    await user.should_see('Key "order:0" found!')
    user.find(marker='delete-key').click()
    await user.should_see('Delete "order:0"? This cannot be undone.')
    user.find(marker='confirm-button').click()
    await user.should_see('Key "order:0" deleted')
    with admin_client(console_backend) as api:
        assert api.get('/cf/orders/keys/order:0').status_code == 404


async def test_only_the_familys_own_changes_appear_live(console_backend, user: User):
    with_orders(console_backend, orders=1)
    await open_explorer(user, '/keys?cf=orders')
    await eventually(lambda: table_keys(user) == ['order:0'])
    with admin_client(console_backend) as other:
        other.post('/keys', json={'key': 'order:elsewhere', 'value': 'default family'})
        other.put('/cf/orders/keys/order:9', json={'value': 'here'})
    await eventually(lambda: 'order:9' in table_keys(user), message='a write to "orders" should appear')
    assert 'order:elsewhere' not in table_keys(user), 'a write to another family must not'


async def test_every_row_in_the_window_gets_its_ttl(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'k:{i:03d}', 'value': 'v', 'ttl_secs': 7200}
                                                  for i in range(450)]})
        api.post('/keys', json={'key': 'z:forever', 'value': 'v'})
    await open_explorer(user)
    await eventually(lambda: len(table_keys(user)) == 100)
    element(user, 'page-size').value = 500
    await eventually(lambda: len(table_keys(user)) == 451)
    rows = element(user, 'key-table').rows
    await eventually(lambda: all(row['ttl'] in ('1h 59m', '2h 0m') for key, row in rows.items()
                                 if key.startswith('k:')) and rows['z:forever']['ttl'] == '∞',
                     timeout=15, message='rows past the first 200 should show their TTL too')
    reads = console_backend.call(lambda b: b.requests['/keys/batch/ttl'])
    assert 1 <= reads <= 3, f'451 TTLs should take a few batched requests, not {reads}'


async def test_a_real_apexstore_browses_default_only_and_reads_ttls_one_by_one(console_compat_backend, user: User):
    with admin_client(console_compat_backend) as api:
        api.post('/keys', json={'key': 'temp', 'value': 'v', 'ttl_secs': 600})
    await open_explorer(user, '/keys?cf=orders')
    await user.should_see('Browsing column family "orders" is not offered by this server.', marker='table-state')
    assert element(user, 'cf-select').options == ['default', 'orders']
    element(user, 'cf-select').value = 'default'
    await eventually(lambda: table_keys(user) == ['temp'])
    await eventually(lambda: element(user, 'key-table').rows['temp']['ttl'] in ('9m 59s', '10m 0s'),
                     message='without the batch route each TTL is read on its own')


async def test_a_ttl_set_by_another_client_shows_in_the_row_after_a_few_batched_reads(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'live:ttl', 'value': 'v'})
    await open_explorer(user)
    await eventually(lambda: element(user, 'key-table').rows.get('live:ttl', {}).get('ttl') == '∞')
    before = console_backend.call(lambda b: b.requests['/keys/batch/ttl'])
    with admin_client(console_backend) as api:  # 2 s of writes to the row; the last one sets a TTL
        started = time.monotonic()
        while time.monotonic() - started < 2.0:
            api.post('/keys/batch', json={'records': [{'key': 'live:ttl', 'value': 'again'}]})
            await asyncio.sleep(0)  # the page takes its events meanwhile
        api.post('/keys/batch', json={'records': [{'key': 'live:ttl', 'value': 'last', 'ttl_secs': 7200}]})
    await eventually(lambda: element(user, 'key-table').rows['live:ttl']['ttl'] in ('1h 59m', '2h 0m'),
                     timeout=15, message='the TTL the last write set should show')
    reads = console_backend.call(lambda b: b.requests['/keys/batch/ttl']) - before
    assert reads <= 8, f'writes to a row should cost a TTL read per wave (twice a second), not {reads}'
