"""Nothing is lost on the way: what the user saves, uploads, restores or imports is what the store gets.

Each story failed before the fix: Save dropped the TTL, large values and large imports were half-written
or silently swapped, Time Travel acted on a rounded timestamp, notes under a folder could not be written,
and a valid 142 KB JSON value was called invalid.
"""

from __future__ import annotations

import json

import pytest
from nicegui import ui
from nicegui.testing import User

from backend.routes.notes import HISTORY_PREFIX
from services.api import ApexApi, ServerError
from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


async def open_explorer(user: User) -> None:
    await sign_in(user, next_page='/keys')
    await user.should_see(marker='key-search')
    await eventually(lambda: badge_state(user) == 'connected')


async def look_up(user: User, key: str) -> None:
    """An exact key in the search bar + Enter opens it."""
    user.find(marker='key-search').clear().type(key).trigger('keydown.enter')
    await user.should_see(f'Key "{key}" found!')


def open_add_dialog(user: User, tab: str = 'Key') -> None:
    user.find(marker='add-key').click()
    element(user, 'add-tabs').value = tab


async def save_with_diff(user: User) -> None:
    """Save shows the diff first; the user confirms it."""
    user.find(marker='value-save').click()
    await user.should_see(marker='diff-save')
    user.find(marker='diff-save').click()


def as_javascript_number(value: object) -> object:
    """What a browser hands back for a row value: JSON numbers become IEEE doubles there (53-bit mantissa)."""
    return int(float(value)) if isinstance(value, int) else value


def small_file(name: str, data: bytes) -> ui.upload.SmallFileUpload:
    return ui.upload.SmallFileUpload(name, 'application/octet-stream', data)


# -- 1. the TTL survives a save ------------------------------------------------------------------------
async def test_saving_an_edited_key_keeps_its_ttl_and_the_viewer_shows_what_is_left(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'session:42', 'value': 'v1', 'ttl_secs': 86150})
    await open_explorer(user)
    await look_up(user, 'session:42')
    await eventually(lambda: element(user, 'value-ttl').text.startswith('Expires in 23 h 55 min'),
                     message='the viewer should show the remaining TTL')
    user.find(marker='value-edit').click()
    user.find(marker='value-editor').clear().type('v2')
    await save_with_diff(user)
    await user.should_see('Key "session:42" saved')
    with admin_client(console_backend) as api:
        assert api.get('/keys/session:42').json()['value'] == 'v2'
        ttl = api.get('/keys/session:42/ttl').json()['ttl_secs']
    assert ttl is not None and 86_000 < ttl <= 86_150, f'the TTL was lost or reset on save: {ttl}'


async def test_the_user_can_change_or_remove_the_ttl_when_saving(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'cache:x', 'value': 'v1', 'ttl_secs': 3600})
    await open_explorer(user)
    await look_up(user, 'cache:x')
    await eventually(lambda: 3590 <= (element(user, 'editor-ttl').value or 0) <= 3600)
    element(user, 'editor-ttl').value = 60
    user.find(marker='value-edit').click()
    await save_with_diff(user)
    await user.should_see('Key "cache:x" saved')
    with admin_client(console_backend) as api:
        assert 0 < api.get('/keys/cache:x/ttl').json()['ttl_secs'] <= 60
    await eventually(lambda: 50 <= (element(user, 'editor-ttl').value or 0) <= 60)
    element(user, 'editor-ttl').value = None
    user.find(marker='ttl-set').click()  # the TTL alone, without editing the value
    await eventually(lambda: element(user, 'value-ttl').text == 'No TTL: never expires')
    with admin_client(console_backend) as api:
        assert api.get('/keys/cache:x/ttl').json()['ttl_secs'] is None


# -- 2. large values go through a file, or are refused before anything is written -----------------------
async def test_a_value_too_large_for_the_text_box_is_inserted_from_a_file(console_backend, user: User):
    await open_explorer(user)
    big = json.dumps({'rows': ['x' * 100] * 15_000})  # ~1.6 MB: over the socket's 1 MB, under the server's 2 MiB
    user.find(marker='insert-key').type('import:big')
    await element(user, 'insert-file').handle_uploads([small_file('big.json', big.encode())])
    await eventually(lambda: 'Insert writes "big.json"' in element(user, 'insert-file-note').text)
    user.find(marker='insert-button').click()
    await user.should_see('Key "import:big" inserted!')
    with admin_client(console_backend) as api:
        assert api.get('/keys/import:big').json()['value'] == big


async def test_a_file_over_the_server_limit_or_not_text_is_refused_and_nothing_is_written(console_backend,
                                                                                           user: User):
    await open_explorer(user)
    open_add_dialog(user)
    user.find(marker='insert-key').type('import:huge')
    await element(user, 'insert-file').handle_uploads([small_file('huge.bin', b'x' * (3 * 1024 * 1024))])
    await eventually(lambda: 'more than the server takes in one request (2 MiB)' in element(user, 'insert-error').text)
    await element(user, 'insert-file').handle_uploads([small_file('photo.jpg', b'\xff\xd8\xff\xe0 binary')])
    await eventually(lambda: 'is not UTF-8 text' in element(user, 'insert-error').text)
    assert element(user, 'insert-key').value == 'import:huge', 'the form keeps what the user typed'
    with admin_client(console_backend) as api:
        assert api.get('/keys/import:huge').status_code == 404


async def test_a_value_the_browser_could_not_send_is_refused_never_swapped_for_the_old_one(console_backend,
                                                                                            user: User):
    """The browser measures the box first and sends only the size when it is over the socket limit."""
    await open_explorer(user)
    open_add_dialog(user)
    user.find(marker='insert-key').type('paste:big')
    user.find(marker='insert-value').type('small')
    user.find(marker='insert-value').trigger('update:value', {'unsent_bytes': 10_000_002})
    user.find(marker='insert-button').click()
    await eventually(lambda: 'more than a text box can send' in element(user, 'insert-error').text)
    await user.should_see('Nothing was written')
    with admin_client(console_backend) as api:
        assert api.get('/keys/paste:big').status_code == 404


async def test_a_batch_the_browser_could_not_send_is_refused_not_replaced_by_the_last_one_it_did(console_backend,
                                                                                                 user: User):
    await open_explorer(user)
    open_add_dialog(user, 'Batch')
    user.find(marker='batch-text').type('[{"key": "b1", "value": "old"}]')
    user.find(marker='batch-text').trigger('update:value', {'unsent_bytes': 3_000_000})
    user.find(marker='batch-button').click()
    await eventually(lambda: 'import it as a file on the Bulk Import page' in element(user, 'batch-error').text)
    with admin_client(console_backend) as api:
        assert api.get('/keys/b1').status_code == 404


# -- 3. Time Travel acts on the exact version ------------------------------------------------------------
FIRST, SECOND = 1_767_225_600_123_456_789, 1_767_225_600_123_456_790  # one double in JavaScript


def add_version(backend, path: str, timestamp: int, content: str) -> None:
    key = HISTORY_PREFIX + path.encode() + b'\0' + f'{timestamp:020d}'.encode()
    backend.call(lambda b: b.store.system_put(key, content.encode()))


async def open_time_travel(user: User, backend) -> None:
    with admin_client(backend) as api:
        api.put('/notes/doc', json={'content': 'now'})
    add_version(backend, 'doc', FIRST, 'first draft')
    add_version(backend, 'doc', SECOND, 'second draft')
    await sign_in(user, next_page='/time-travel?note=doc')
    await eventually(lambda: len(element(user, 'tt-versions').rows) == 3)


async def test_time_travel_views_and_deletes_the_exact_version_the_browser_sent_back(console_backend,
                                                                                     user: User):
    await open_time_travel(user, console_backend)
    oldest = element(user, 'tt-versions').rows[-1]['ts']
    user.find(marker='tt-versions').trigger('view', as_javascript_number(oldest))
    await eventually(lambda: element(user, 'tt-content').content == 'first draft',
                     message='the 19-digit timestamp must survive the browser')
    user.find(marker='tt-versions').trigger('remove', as_javascript_number(oldest))
    await user.should_see(marker='confirm-button')
    user.find(marker='confirm-button').click()
    await user.should_see('deleted')
    with admin_client(console_backend) as api:
        versions = api.get('/notes/doc/history').json()['versions']
    assert FIRST not in versions and SECOND in versions, 'exactly the chosen version goes'


async def test_deleting_or_restoring_a_version_that_is_gone_says_so(console_backend, user: User):
    await open_time_travel(user, console_backend)
    gone = str(FIRST - 1)
    user.find(marker='tt-versions').trigger('remove', gone)
    await user.should_see(marker='confirm-button')
    user.find(marker='confirm-button').click()
    await user.should_see('that version does not exist (nothing was deleted)')
    user.find(marker='tt-versions').trigger('restore', gone)
    await user.should_see(marker='confirm-button')
    user.find(marker='confirm-button').click()
    await user.should_see('version not found')
    with admin_client(console_backend) as api:
        assert api.get('/notes/doc').json()['content'] == 'now'
        assert len(api.get('/notes/doc/history').json()['versions']) == 3


# -- 4. notes under a folder ---------------------------------------------------------------------------
async def test_a_note_under_a_folder_is_created_opened_edited_and_deleted(console_backend, user: User):
    await sign_in(user, next_page='/notes')
    user.find(marker='new-note').click()
    await user.should_see(marker='new-note-path')
    user.find(marker='new-note-path').type('projects/apex')  # the dialog's own example
    user.find(marker='new-note-create').click()
    await eventually(lambda: element(user, 'note-title').text == 'projects/apex')
    user.find(marker='note-editor').clear().type('# Apex\nsee [[projects/beta]] #work')
    user.find(marker='note-save').click()
    await user.should_see('Note "projects/apex" saved')
    await user.open('/notes?open=projects/apex')
    await eventually(lambda: element(user, 'note-editor').value == '# Apex\nsee [[projects/beta]] #work')
    assert 'open=projects/beta' in element(user, 'note-preview').content
    user.find('Delete').click()
    await user.should_see(marker='confirm-button')
    user.find(marker='confirm-button').click()
    await user.should_see('Note "projects/apex" deleted')
    with admin_client(console_backend) as api:
        assert api.get('/notes/projects%2Fapex').status_code == 404
        assert api.get('/notes').json()['notes'] == []


# -- 5. bulk import: checked first, cut by size, exact about what was written ---------------------------
async def upload_import(user: User, name: str, data: bytes) -> None:
    await element(user, 'import-upload').handle_uploads([small_file(name, data)])


def records(count: int, value: str = 'v', prefix: str = 'bulk') -> list[dict]:
    return [{'key': f'{prefix}:{i:05d}', 'value': value} for i in range(count)]


def stored(backend, prefix: str) -> int:
    with admin_client(backend) as api:
        return len(api.get('/keys', params={'prefix': prefix, 'limit': 10_000}).json()['keys'])


async def test_a_thousand_3_kb_records_import_in_batches_cut_by_size(console_backend, user: User):
    await sign_in(user, next_page='/bulk-import')
    await upload_import(user, 'big.json', json.dumps(records(1000, 'x' * 3000)).encode())
    await eventually(lambda: element(user, 'import-summary').text == '1,000 records in big.json')
    user.find(marker='import-button').click()
    await eventually(lambda: element(user, 'import-summary').text == 'Imported 1,000 records', timeout=20)
    assert stored(console_backend, 'bulk:') == 1000


async def test_a_file_with_invalid_records_writes_nothing_and_lists_each_problem(console_backend, user: User):
    data = records(1500)
    data[1199]['key'] = 'k' * 5000
    data[1299]['value'] = None
    await sign_in(user, next_page='/bulk-import')
    await upload_import(user, 'mixed.json', json.dumps(data).encode())
    await eventually(lambda: element(user, 'import-summary').text.startswith('2 of 1,500 records in mixed.json are '
                                                                             'invalid: nothing is written'))
    problems = element(user, 'import-errors').content
    assert 'Record 1200: the key is 5,000 bytes' in problems and 'Record 1300: "value" is missing' in problems
    await user.should_not_see(marker='import-button')
    assert stored(console_backend, 'bulk:') == 0
    user.find(marker='import-skip-button').click()  # the explicit choice
    await eventually(lambda: element(user, 'import-summary').text == 'Imported 1,498 records', timeout=20)
    assert stored(console_backend, 'bulk:') == 1498


@pytest.mark.parametrize(('name', 'data', 'said'), [
    ('dump.json', b'\x00\x01\x02binary\xff', 'is a binary file'),
    ('latin1.csv', 'key,value\nk,caf\xe9\n'.encode('latin-1'), 'is not UTF-8 text'),
    ('deep.json', b'[' * 100_000 + b']' * 100_000, 'nested too deeply'),
])
async def test_binary_undecodable_and_too_deep_files_say_what_is_wrong(console_backend, user: User, name: str,
                                                                       data: bytes, said: str):
    await sign_in(user, next_page='/bulk-import')
    await upload_import(user, name, data)
    await eventually(lambda: said in element(user, 'import-summary').text, message=f'no clear error for {name}')
    await user.should_not_see(marker='import-button')


async def test_ndjson_with_json_object_values_is_stored_as_json_text(console_backend, user: User):
    lines = '\n'.join(json.dumps({'key': f'cfg:{n}', 'value': {'n': n, 'tags': ['a']}}) for n in range(3))
    await sign_in(user, next_page='/bulk-import')
    await upload_import(user, 'config.ndjson', lines.encode())
    await eventually(lambda: element(user, 'import-summary').text == '3 records in config.ndjson')
    user.find(marker='import-button').click()
    await eventually(lambda: element(user, 'import-summary').text == 'Imported 3 records')
    with admin_client(console_backend) as api:
        assert json.loads(api.get('/keys/cfg:2').json()['value']) == {'n': 2, 'tags': ['a']}


async def test_an_import_that_stops_midway_says_exactly_what_was_written(console_backend, user: User,
                                                                       monkeypatch: pytest.MonkeyPatch):
    real_batch_put = ApexApi.batch_put
    calls: list[int] = []

    async def second_batch_refused(self: ApexApi, batch: list) -> int:
        calls.append(len(batch))
        if len(calls) == 2:
            raise ServerError('Batch insert: server error 503 (engine is in read-only mode)', 503)
        return await real_batch_put(self, batch)

    monkeypatch.setattr(ApexApi, 'batch_put', second_batch_refused)
    await sign_in(user, next_page='/bulk-import')
    await upload_import(user, 'r.json', json.dumps(records(2500)).encode())
    await eventually(lambda: element(user, 'import-summary').text == '2,500 records in r.json')
    user.find(marker='import-button').click()
    await eventually(lambda: element(user, 'import-summary').text.startswith(
        'Stopped: the server wrote 1,000 of 2,500 records; batch 2 of 3 failed'))
    assert stored(console_backend, 'bulk:') == 1000


# -- 6. the JSON tab judges the whole value ----------------------------------------------------------
async def test_a_large_valid_json_value_is_valid_and_its_preview_says_it_is_cut(console_backend, user: User):
    value = json.dumps([{'id': n, 'name': f'item {n}'} for n in range(5000)])  # ~142 KB
    assert len(value) > 140_000
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'doc:big', 'value': value})
        api.post('/keys', json={'key': 'doc:bad', 'value': value[:-1]})
    await open_explorer(user)
    await look_up(user, 'doc:big')
    shown = element(user, 'value-json').content
    assert 'not valid JSON' not in shown and 'preview truncated — Load all' in shown
    user.find(marker='load-all').click()
    await eventually(lambda: element(user, 'value-json').content == json.dumps(json.loads(value), indent=2))
    await look_up(user, 'doc:bad')
    assert element(user, 'value-json').content.startswith('(not valid JSON: ')
