"""Key explorer: paging, search / exact-key open, + Key, batch, delete, tree, deep links, bulk actions —
and rows that change while you look."""

from __future__ import annotations

import csv
import io
import json

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
    await user.should_see(marker='key-search')
    await eventually(lambda: badge_state(user) == 'connected')


async def look_up(user: User, key: str) -> None:
    """Type an exact key in the search bar and press Enter: it opens."""
    user.find(marker='key-search').clear().type(key).trigger('keydown.enter')


def open_add_dialog(user: User, tab: str = 'Key') -> None:
    user.find(marker='add-key').click()
    element(user, 'add-tabs').value = tab


async def test_opening_shows_the_first_page_and_load_more_pages_with_the_cursor(console_backend, user: User):
    await open_explorer(user, console_backend, records=130)
    await eventually(lambda: len(table_keys(user)) == 100, message='first page should hold 100 keys')
    assert table_keys(user)[0] == 'user:000'
    user.find(marker='load-more').click()
    await eventually(lambda: len(table_keys(user)) == 130)
    assert table_keys(user)[-1] == 'user:129'


async def test_add_a_key_then_an_exact_key_and_enter_opens_it(console_backend, user: User):
    await open_explorer(user, console_backend)
    await user.should_see('No keys here yet: add one with + Key.')
    open_add_dialog(user)
    user.find(marker='insert-key').type('cfg:theme')
    user.find(marker='insert-value').type('{"mode": "dark"}')
    user.find(marker='insert-button').click()
    await user.should_see('Key "cfg:theme" inserted!')
    await look_up(user, 'cfg:theme')
    await user.should_see('Key "cfg:theme" found!')
    assert element(user, 'viewer-title').text == 'cfg:theme'
    assert element(user, 'value-size').text == '16 B'
    assert element(user, 'value-encoding').text == 'UTF-8'
    assert element(user, 'value-tree').properties['content'] == {'json': {'mode': 'dark'}}, 'JSON opens as a tree'
    await look_up(user, 'missing')
    await user.should_see('0 keys found for "missing"')


async def test_batch_insert_validates_before_sending(console_backend, user: User):
    await open_explorer(user, console_backend)
    open_add_dialog(user, 'Batch')
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
    user.find(marker='key-search').type('user:01')
    user.find(marker='search-button').click()
    await user.should_see('2 keys found for "user:01"')
    assert table_keys(user) == ['user:010', 'user:011']
    element(user, 'search-mode').value = 'regex'
    user.find(marker='key-search').clear().type('[15]$')
    user.find(marker='search-button').click()
    await user.should_see('3 keys found for "[15]$"')
    assert table_keys(user) == ['user:001', 'user:005', 'user:011']
    assert element(user, 'key-count').text.startswith('3 matches · scanned 12 of ')


async def test_delete_asks_first(console_backend, user: User):
    await open_explorer(user, console_backend, records=2)
    await eventually(lambda: 'user:001' in table_keys(user))
    user.find(marker='key-table').trigger('cellClicked', {'data': {'key': 'user:001'}})  # click the row
    await eventually(lambda: element(user, 'viewer-title').text == 'user:001')
    user.find(marker='delete-key').click()
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
    await look_up(user, 'user:000')
    await user.should_see('Key "user:000" found!')
    user.find(marker='value-edit').click()
    user.find(marker='value-editor').clear().type('my unsaved edit')
    with admin_client(console_backend) as other:
        other.put('/keys/user:000', json={'value': 'theirs'})
    await user.should_see(marker='conflict-text')
    await eventually(lambda: element(user, 'conflict-text').visible and 'another client' in
                     element(user, 'conflict-text').text)
    assert element(user, 'value-editor').value == 'my unsaved edit'
    user.find(marker='conflict-reload').click()
    await eventually(lambda: element(user, 'value-editor').value == 'theirs')


async def test_large_values_show_a_preview_with_load_all(console_backend, user: User):
    big = '{"data": "' + 'x' * 100_000 + '"}'
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'blob', 'value': big})
    await open_explorer(user, console_backend)
    await look_up(user, 'blob')
    await user.should_see('Key "blob" found!')
    await user.should_see('showing the first 64 KB (preview truncated — load all)')
    assert len(element(user, 'value-text').content) == 64 * 1024
    user.find(marker='load-all').click()
    await eventually(lambda: len(element(user, 'value-text').content) == len(big))


async def test_a_value_too_large_for_the_server_is_refused_clearly_and_the_form_keeps_it(console_backend,
                                                                                           user: User):
    await open_explorer(user, console_backend)
    huge = 'x' * (2 * 1024 * 1024 + 1)
    open_add_dialog(user)
    user.find(marker='insert-key').type('too:big')
    element(user, 'insert-value').value = huge
    user.find(marker='insert-button').click()
    await user.should_see('the value is too large for the server (max 2 MiB per request)', retries=50)
    assert element(user, 'insert-key').value == 'too:big'
    assert len(element(user, 'insert-value').value) == len(huge)
    with admin_client(console_backend) as api:
        assert api.get('/keys/too:big').status_code == 404


async def test_a_shared_link_opens_the_same_search_view_and_key(console_backend, user: User):
    await open_explorer(user, console_backend, records=12)
    await user.open('/keys?q=user:00&mode=prefix&view=list&key=user:004')
    await eventually(lambda: table_keys(user) == [f'user:{i:03d}' for i in range(10)],
                     message='the link\'s search should be applied')
    await eventually(lambda: element(user, 'viewer-title').text == 'user:004', message='the link\'s key should open')
    assert element(user, 'key-search').value == 'user:00'
    assert element(user, 'value-pane').visible


async def test_the_tree_groups_keys_in_folders_with_counts_and_opens_them_lazily(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'user:{i}:name', 'value': 'n'} for i in range(3)]
                 + [{'key': f'order:{i}', 'value': 'o'} for i in range(5)] + [{'key': 'plain', 'value': 'p'}]})
    await open_explorer(user, console_backend)
    await user.open('/keys?view=tree')
    tree = element(user, 'key-tree')
    await eventually(lambda: 'f:user:' in tree.rows, message='folders should show')
    assert {i: r['count'] for i, r in tree.rows.items()} == {'f:user:': '3', 'f:order:': '5', 'k:plain': ''}
    user.find(marker='key-tree').trigger('cellClicked', {'data': tree.rows['f:user:']})  # open a folder: read its level
    await eventually(lambda: 'f:user:1:' in tree.rows)
    assert tree.rows['f:user:1:']['depth'] == 1 and tree.rows['f:user:']['open']
    assert 'k:order:1' not in tree.rows, 'closed folders hold no rows'
    with admin_client(console_backend) as other:
        other.put('/keys/order:99', json={'value': 'new'})
    await eventually(lambda: tree.rows['f:order:']['count'] == '6', message='a closed folder counts live keys')
    user.find(marker='key-tree').trigger('cellClicked', {'data': tree.rows['f:user:']})
    await eventually(lambda: 'f:user:1:' not in tree.rows, message='a folder closes again')


async def test_bulk_delete_of_the_selection_confirms_with_the_count(console_backend, user: User):
    await open_explorer(user, console_backend, records=5)
    await eventually(lambda: len(table_keys(user)) == 5)
    user.find(marker='key-table').trigger('keysSelected', ['user:001', 'user:003'])  # two row checkboxes
    await eventually(lambda: element(user, 'selected-count').text == '2 selected')
    user.find(marker='delete-selected').click()
    await user.should_see('Delete the 2 selected keys? This cannot be undone.')
    user.find(marker='confirm-button').click()
    await user.should_see('2 keys deleted')
    with admin_client(console_backend) as api:
        assert api.get('/keys', params={'prefix': 'user:'}).json()['keys'] == ['user:000', 'user:002', 'user:004']


async def test_delete_by_pattern_previews_the_count_and_wants_the_pattern_typed(console_backend, user: User):
    await open_explorer(user, console_backend, records=12)
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'keep:1', 'value': 'x'})
    user.find(marker='delete-pattern').click()
    element(user, 'pattern-mode').value = 'glob'
    user.find(marker='pattern-query').clear().type('user:01*')
    user.find(marker='pattern-preview').click()
    await eventually(lambda: element(user, 'pattern-count').text == '2 keys match')
    assert not element(user, 'pattern-delete').enabled, 'nothing is deleted before the pattern is typed'
    user.find(marker='pattern-typed').type('user:01')
    assert not element(user, 'pattern-delete').enabled
    user.find(marker='pattern-typed').clear().type('user:01*')
    await eventually(lambda: element(user, 'pattern-delete').enabled)
    user.find(marker='pattern-delete').click()
    await user.should_see('2 keys deleted')
    with admin_client(console_backend) as api:
        keys = api.get('/keys', params={'prefix': ''}).json()['keys']
    assert 'user:010' not in keys and 'user:011' not in keys and 'user:009' in keys and 'keep:1' in keys


async def test_export_writes_every_match_as_json_ndjson_or_csv(console_backend, user: User):
    await open_explorer(user, console_backend, records=3)
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'other', 'value': 'a,"b"'})
    exported = {}
    for fmt in ('json', 'ndjson', 'csv'):
        user.find(marker='export-open').click()
        user.find(marker='export-query').clear().type('user:')
        element(user, 'export-format').value = fmt
        user.find(marker='export-go').click()
        exported[fmt] = (await user.download.next(timeout=5)).content.decode()
    expected = [{'key': f'user:{i:03d}', 'value': f'name {i}'} for i in range(3)]
    assert json.loads(exported['json']) == expected
    assert [json.loads(line) for line in exported['ndjson'].splitlines()] == expected
    assert list(csv.DictReader(io.StringIO(exported['csv']))) == expected


async def test_editing_a_json_value_is_validated_and_save_shows_the_diff_first(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'cfg:app', 'value': '{"mode": "dark"}'})
    await open_explorer(user, console_backend)
    await look_up(user, 'cfg:app')
    await user.should_see('Key "cfg:app" found!')
    user.find(marker='value-edit').click()
    user.find(marker='value-editor').clear().type('{"mode": ')
    user.find(marker='value-save').click()
    await user.should_see('Not valid JSON: nothing was saved')
    assert 'Not valid JSON' in element(user, 'value-json-error').text
    user.find(marker='value-editor').clear().type('{"mode": "light"}')
    user.find(marker='value-save').click()
    await user.should_see(marker='value-diff')
    diff = element(user, 'value-diff').content
    assert '-{"mode": "dark"}' in diff and '+{"mode": "light"}' in diff
    user.find(marker='diff-save').click()
    await user.should_see('Key "cfg:app" saved')
    with admin_client(console_backend) as api:
        assert api.get('/keys/cfg:app').json()['value'] == '{"mode": "light"}'


async def test_delete_by_prefix_uses_the_current_search_and_one_range_delete(console_backend, user: User):
    await open_explorer(user, console_backend, records=12)
    user.find(marker='key-search').type('user:00')
    user.find(marker='search-button').click()
    await user.should_see('10 keys found for "user:00"')
    user.find(marker='delete-pattern').click()
    assert element(user, 'pattern-query').value == 'user:00', 'the dialog starts from the search in view'
    user.find(marker='pattern-preview').click()
    await eventually(lambda: element(user, 'pattern-count').text == '10 keys match')
    user.find(marker='pattern-typed').type('user:00')
    await eventually(lambda: element(user, 'pattern-delete').enabled)
    user.find(marker='pattern-delete').click()
    await user.should_see('Deleted every key under "user:00" (10 at the preview)')
    await eventually(lambda: all(row['state'] == 'deleted' for row in element(user, 'key-table').rows.values()),
                     message='the deleted rows are struck through')
    with admin_client(console_backend) as api:
        assert api.get('/keys', params={'prefix': 'user:'}).json()['keys'] == ['user:010', 'user:011']
