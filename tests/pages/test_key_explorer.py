"""Key explorer: paging, lookup, insert, search, batch, delete — and rows that change while you look."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


def table_keys(user: User) -> list[str]:
    """The keys the grid shows, in its (key) order."""
    return sorted(element(user, 'key-table').rows)


def table_row(user: User, key: str) -> dict | None:
    return element(user, 'key-table').rows.get(key)


async def open_explorer(user: User, backend, records: int = 0) -> None:
    if records:
        with admin_client(backend) as api:
            api.post('/keys/batch', json={'records': [{'key': f'user:{i:03d}', 'value': f'name {i}'}
                                                      for i in range(records)]})
    await sign_in(user, next_page='/keys')
    await user.should_see('Lookup Key')
    await eventually(lambda: badge_state(user) == 'connected')


async def test_opening_shows_the_first_page_and_load_more_pages_with_the_cursor(console_backend, user: User):
    await open_explorer(user, console_backend, records=130)
    await eventually(lambda: len(table_keys(user)) == 100, message='first page should hold 100 keys')
    assert table_keys(user)[0] == 'user:000'
    user.find(marker='load-more').click()
    await eventually(lambda: len(table_keys(user)) == 130)
    assert table_keys(user)[-1] == 'user:129'


async def test_lookup_insert_and_validation(console_backend, user: User):
    await open_explorer(user, console_backend)
    await user.should_see('Use Lookup, Search or Full Scan to load data.')
    user.find(marker='insert-key').type('cfg:theme')
    user.find(marker='insert-value').type('{"mode": "dark"}')
    user.find(marker='insert-button').click()
    await user.should_see('Key "cfg:theme" inserted!')
    user.find(marker='lookup-key').type('cfg:theme')
    user.find(marker='lookup-button').click()
    await user.should_see('Key "cfg:theme" found!')
    assert element(user, 'viewer-title').text == 'cfg:theme'
    user.find(marker='lookup-key').clear().type('missing')
    user.find(marker='lookup-button').click()
    await user.should_see('Key "missing" not found')


async def test_batch_insert_validates_before_sending(console_backend, user: User):
    await open_explorer(user, console_backend)
    user.find(marker='batch-text').type('[{"key": "a"')
    user.find(marker='batch-button').click()
    await eventually(lambda: element(user, 'batch-error').text == 'Invalid JSON')
    user.find(marker='batch-text').clear().type('{"key": "a", "value": "b"}')
    user.find(marker='batch-button').click()
    await eventually(lambda: element(user, 'batch-error').text == 'Expected a non-empty JSON array')
    user.find(marker='batch-text').clear().type('[{"key": "b1", "value": "1"}, {"key": "b2", "value": "2"}]')
    user.find(marker='batch-button').click()
    await user.should_see('2 keys inserted')
    await eventually(lambda: {'b1', 'b2'} <= set(table_keys(user)))


async def test_search_modes(console_backend, user: User):
    await open_explorer(user, console_backend, records=12)
    user.find(marker='search-query').type('user:01')
    user.find(marker='search-button').click()
    await user.should_see('2 keys found for "user:01"')
    assert table_keys(user) == ['user:010', 'user:011']


async def test_delete_asks_first(console_backend, user: User):
    await open_explorer(user, console_backend, records=2)
    await eventually(lambda: 'user:001' in table_keys(user))
    user.find(marker='key-table').trigger('cellClicked', {'data': {'key': 'user:001'}})  # click the row
    await eventually(lambda: element(user, 'viewer-title').text == 'user:001')
    user.find('Delete').click()
    await user.should_see('Delete "user:001"? This cannot be undone.')
    user.find(marker='confirm-button').click()
    await user.should_see('Key "user:001" deleted')
    with admin_client(console_backend) as api:
        assert api.get('/keys/user:001').status_code == 404


async def test_rows_change_live_when_another_client_writes(console_backend, user: User):
    await open_explorer(user, console_backend, records=3)
    await eventually(lambda: len(table_keys(user)) == 3)
    with admin_client(console_backend) as other:
        other.put('/keys/user:001', json={'value': 'renamed'})
        other.put('/keys/user:new', json={'value': 'fresh'})
        other.delete('/keys/user:002')
    await eventually(lambda: (table_row(user, 'user:001') or {}).get('preview') == 'renamed',
                     message='changed row was not updated in place')
    await eventually(lambda: 'user:new' in table_keys(user), message='new key did not appear')
    await eventually(lambda: (table_row(user, 'user:002') or {}).get('state') == 'deleted',
                     message='deleted row was not marked')
    await eventually(lambda: 'user:002' not in table_keys(user), timeout=8, message='deleted row was not removed')
    grid = element(user, 'key-table')
    assert grid.rebuilds == 1, 'live changes must patch rows, not resend the grid'
    assert grid.transactions >= 2


async def test_the_key_being_edited_is_never_silently_overwritten(console_backend, user: User):
    await open_explorer(user, console_backend, records=1)
    user.find(marker='lookup-key').type('user:000')
    user.find(marker='lookup-button').click()
    await user.should_see('Key "user:000" found!')
    user.find(marker='editor').clear().type('my unsaved edit')
    with admin_client(console_backend) as other:
        other.put('/keys/user:000', json={'value': 'theirs'})
    await user.should_see(marker='conflict-text')
    await eventually(lambda: element(user, 'conflict-text').visible and 'another client' in
                     element(user, 'conflict-text').text)
    assert element(user, 'editor').value == 'my unsaved edit'
    user.find(marker='conflict-reload').click()
    await eventually(lambda: element(user, 'editor').value == 'theirs')


async def test_large_values_show_a_preview_with_load_all(console_backend, user: User):
    big = '{"data": "' + 'x' * 100_000 + '"}'
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'blob', 'value': big})
    await open_explorer(user, console_backend)
    user.find(marker='lookup-key').type('blob')
    user.find(marker='lookup-button').click()
    await user.should_see('Key "blob" found!')
    await user.should_see('showing the first 64 KB')
    assert len(element(user, 'value-text').content) == 64 * 1024
    user.find(marker='load-all').click()
    await eventually(lambda: len(element(user, 'value-text').content) == len(big))


async def test_a_value_too_large_for_the_server_is_refused_clearly_and_the_form_keeps_it(console_backend,
                                                                                           user: User):
    await open_explorer(user, console_backend)
    huge = 'x' * (2 * 1024 * 1024 + 1)
    user.find(marker='insert-key').type('too:big')
    element(user, 'insert-value').value = huge
    user.find(marker='insert-button').click()
    await user.should_see('the value is too large for the server (max 2 MiB per request)', retries=50)
    assert element(user, 'insert-key').value == 'too:big'
    assert len(element(user, 'insert-value').value) == len(huge)
    with admin_client(console_backend) as api:
        assert api.get('/keys/too:big').status_code == 404
