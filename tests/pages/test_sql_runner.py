"""SQL Runner: a user queries keys and JSON values, sees rows or SQLite's error inline, reuses history, exports."""

from __future__ import annotations

import csv
import io
import json

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in

ADULTS = ("SELECT key, json_extract(value, '$.name') AS name, json_extract(value, '$.age') AS age FROM kv "
          "WHERE json_valid(value) AND json_extract(value, '$.age') >= 30 ORDER BY age DESC")


def seed(server) -> None:
    people = {'ann': 31, 'bob': 25, 'cid': 42, 'dee': 30}
    with admin_client(server) as api:
        api.post('/keys/batch', json={'records': [
            {'key': f'person:{name}', 'value': json.dumps({'name': name.title(), 'age': age})}
            for name, age in people.items()] + [{'key': 'note', 'value': 'plain text, <b>not</b> HTML'}]})


def table_rows(user: User) -> list[dict]:
    table = element(user, 'sql-table')
    names = {c['field']: c['label'] for c in table.columns}
    return [{names[k]: v for k, v in row.items() if k in names} for row in table.rows]


async def open_runner(user: User, **sign_in_args) -> None:
    await sign_in(user, next_page='/sql-runner', **sign_in_args)
    await user.should_see(marker='sql-query')
    await user.should_not_see(marker='sql-offered')  # the probe found /query


async def run(user: User, query: str) -> None:
    user.find(marker='sql-query').clear().type(query)
    user.find(marker='sql-query').trigger('keydown.ctrl.enter')  # Ctrl+Enter runs, like the Angular page


async def test_a_json_query_shows_exactly_its_rows_as_text_and_exports(console_backend, user: User):
    seed(console_backend)
    await open_runner(user)
    await run(user, ADULTS)
    await user.should_see('Query returned 3 rows in')
    assert table_rows(user) == [{'key': 'person:cid', 'name': 'Cid', 'age': '42'},
                                {'key': 'person:ann', 'name': 'Ann', 'age': '31'},
                                {'key': 'person:dee', 'name': 'Dee', 'age': '30'}]
    assert element(user, 'sql-row-count').text == '3 rows'
    assert element(user, 'sql-scanned').text == 'scanned 5 keys in default'
    assert element(user, 'sql-elapsed').text.endswith('ms')
    user.find(marker='sql-export-csv').click()
    exported = list(csv.reader(io.StringIO((await user.download.next(timeout=10)).content.decode())))
    assert exported == [['key', 'name', 'age'], ['person:cid', 'Cid', '42'], ['person:ann', 'Ann', '31'],
                        ['person:dee', 'Dee', '30']]
    user.find(marker='sql-export-json').click()
    assert json.loads((await user.download.next(timeout=10)).content)[0] == {'key': 'person:cid', 'name': 'Cid',
                                                                              'age': 42}
    await run(user, "SELECT value, NULL AS empty FROM kv WHERE key = 'note'")
    await eventually(lambda: table_rows(user) == [{'value': 'plain text, <b>not</b> HTML', 'empty': '—'}],
                     message='values are text and NULL shows as a dash')


async def test_errors_are_shown_inline_with_sqlites_message(console_backend, user: User):
    seed(console_backend)
    await open_runner(user)
    await run(user, 'DELETE FROM kv')
    await user.should_see('Query Error')
    await eventually(lambda: element(user, 'sql-error').text.startswith(
        'Query: only SELECT (or WITH … SELECT) queries are allowed; this is a DELETE statement.'))
    await run(user, 'SELECT missing_column FROM kv')
    await eventually(lambda: element(user, 'sql-error').text == 'Query: SQLite: no such column: missing_column')
    await run(user, "SELECT key FROM kv WHERE json_extract(value, '$.age') > 40")  # 'note' is not JSON
    await eventually(lambda: element(user, 'sql-error').text.startswith(
        'Query: SQLite: malformed JSON. Some values are not JSON: put json_valid(value) AND … first'))
    await run(user, 'SELECT count(*) AS n FROM kv')
    await eventually(lambda: table_rows(user) == [{'n': '5'}])
    await user.should_not_see('Query Error')  # a good query clears the error
    await run(user, 'SELECT count(*) AS n FROM kv WHERE')
    await user.should_see('Query: SQLite: incomplete input')
    await user.should_not_see(marker='sql-row-count')  # the last good result is not passed off as this one's
    await run(user, "SELECT key FROM kv WHERE key = 'nobody'")
    await user.should_see('Query executed successfully but returned no rows.')
    user.find(marker='sql-clear').click()
    await user.should_not_see(marker='sql-row-count')
    with admin_client(console_backend) as api:
        assert api.get('/keys/person:ann').status_code == 200  # nothing was deleted


async def test_history_keeps_recent_queries_and_reruns_them(console_backend, user: User):
    seed(console_backend)
    await open_runner(user)
    await user.should_see('No queries yet.')
    await run(user, 'SELECT count(*) AS n FROM kv')
    await eventually(lambda: table_rows(user) == [{'n': '5'}])
    await run(user, "SELECT key FROM kv WHERE key LIKE 'person:%' ORDER BY key LIMIT 1")
    await eventually(lambda: table_rows(user) == [{'key': 'person:ann'}])
    items = [b.text for b in element(user, 'sql-history').descendants() if 'sql-history-item' in b._markers]
    assert items == ["SELECT key FROM kv WHERE key LIKE 'person:%' ORDER BY key LIMIT 1",
                     'SELECT count(*) AS n FROM kv']  # newest first
    user.find(marker='sql-history-item', content='SELECT count').click()
    await eventually(lambda: table_rows(user) == [{'n': '5'}], message='a history entry re-runs its query')
    assert element(user, 'sql-query').value == 'SELECT count(*) AS n FROM kv'
    user.find(marker='sql-history-clear').click()
    await user.should_see('No queries yet.')


async def test_the_scan_bound_is_chosen_and_reported(console_backend, user: User):
    seed(console_backend)
    await open_runner(user)
    user.find(marker='sql-prefix').type('person:')
    element(user, 'sql-max-scan').value = 2
    await run(user, 'SELECT key FROM kv ORDER BY key')
    await eventually(lambda: table_rows(user) == [{'key': 'person:ann'}, {'key': 'person:bob'}])
    assert element(user, 'sql-scanned').text == 'scanned 2 keys under "person:" in default'
    await user.should_see('The scan stopped at 2 keys: rows from later keys are missing.')
    user.find(marker='sql-examples').click()
    user.find(marker='sql-example-largest-values').click()
    assert element(user, 'sql-query').value == 'SELECT key, size FROM kv ORDER BY size DESC LIMIT 20;'


async def test_a_result_says_when_the_store_changed_under_it(console_backend, user: User):
    seed(console_backend)
    await open_runner(user)
    await run(user, 'SELECT count(*) AS n FROM kv')
    await eventually(lambda: table_rows(user) == [{'n': '5'}])
    await user.should_not_see(marker='sql-stale')
    with admin_client(console_backend) as other:
        other.post('/keys', json={'key': 'person:eve', 'value': '{"name": "Eve", "age": 50}'})
    await user.should_see('Keys changed since this query ran.')
    user.find(marker='sql-rerun').click()
    await eventually(lambda: table_rows(user) == [{'n': '6'}], message='re-run shows the new count')
    await user.should_not_see(marker='sql-stale')


async def test_a_read_only_token_may_query(console_backend, user: User):
    seed(console_backend)
    with admin_client(console_backend) as api:
        token = api.post('/admin/tokens', json={'name': 'ro', 'permissions': ['Read']}).json()['data']['token']
    await open_runner(user, token=token)
    await run(user, 'SELECT count(*) AS n FROM kv')
    await eventually(lambda: table_rows(user) == [{'n': '5'}])


async def test_a_server_without_sql_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/sql-runner')
    await user.should_see('SQL Runner is not offered by this server.', marker='sql-offered')
    await user.should_not_see(marker='sql-query')
