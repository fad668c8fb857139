"""Bulk import and export over the core routes, with progress."""

from __future__ import annotations

import json

from nicegui import ui
from nicegui.testing import User

from app.pages.bulk_import import parse_records
from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def test_every_supported_format_parses_and_bad_files_say_why():
    assert [r.key for r in parse_records('[{"key":"a","value":"1"}]', 'x.json').records] == ['a']
    assert [(r.key, r.value) for r in parse_records('{"a": 1, "b": "x"}', 'x.json').records] == [('a', '1'), ('b', 'x')]
    assert [r.key for r in parse_records('{"key":"a","value":"1"}\n{"key":"b","value":"2"}', 'x.ndjson').records] \
        == ['a', 'b']
    assert [r.key for r in parse_records('key,value\na,1\nb,2\n', 'x.csv').records] == ['a', 'b']
    assert [(r.key, r.value) for r in parse_records('{"key":"only","value":"one"}', 'x.ndjson').records] \
        == [('only', 'one')]
    assert parse_records('', 'x.json').problem == 'The file is empty'
    assert parse_records('[{"key": "", "value": "v"}]', 'x.json').errors[0].startswith('Record 1')
    assert (parse_records('name,age\nx,1', 'x.csv').problem or '').startswith('A CSV file needs')
    assert (parse_records('[{"key": "a"', 'x.json').problem or '').startswith('Could not read the file')


async def test_a_file_of_2500_records_imports_in_batches_and_exports_back(console_backend, user: User):
    await sign_in(user, next_page='/bulk-import')
    data = json.dumps([{'key': f'bulk:{i:05d}', 'value': f'v{i}'} for i in range(2500)]).encode()
    upload = element(user, 'import-upload')
    await upload.handle_uploads([ui.upload.SmallFileUpload('records.json', 'application/json', data)])
    await eventually(lambda: element(user, 'import-summary').text == '2,500 records in records.json')
    user.find(marker='import-button').click()
    await eventually(lambda: element(user, 'import-summary').text == 'Imported 2,500 records',
                     message='the import should go through in batches')
    await user.should_see('2,500 records imported')
    assert element(user, 'import-progress').value == 1
    with admin_client(console_backend) as api:
        assert api.get('/keys/bulk:02499').json()['value'] == 'v2499'
    user.find(marker='export-prefix').type('bulk:')
    user.find(marker='export-button').click()
    response = await user.download.next(timeout=10)
    exported = json.loads(response.content)
    assert len(exported) == 2500 and exported[0] == {'key': 'bulk:00000', 'value': 'v0'}
