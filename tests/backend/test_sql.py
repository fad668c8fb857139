"""`POST /query`: read-only SQL over a bounded scan of the store, against a real embedded backend."""

from __future__ import annotations

import json

import httpx
import pytest

from backend.features.sql import MAX_ROWS
from tests.conftest import admin_client


def query(api: httpx.Client, sql: str, **options) -> httpx.Response:
    return api.post('/query', json={'query': sql, **options})


def data(answer: httpx.Response) -> dict:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body['success'] is True
    return body['data']


def error(answer: httpx.Response, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body['success'] is False and body['message'] == body['error']
    return body['message']


@pytest.fixture
def users(api: httpx.Client) -> httpx.Client:
    """Ten users with JSON values, two orders, and one value that is not JSON at all."""
    records = [{'key': f'user:{i:02}', 'value': json.dumps({'name': f'user {i}', 'age': 20 + i * 3,
                                                            'team': 'red' if i % 2 else 'blue'})}
               for i in range(10)]
    records += [{'key': 'order:1', 'value': '{"total": 12.5}'}, {'key': 'order:2', 'value': '{"total": 99}'},
                {'key': 'plain', 'value': 'not json'}]
    assert api.post('/keys/batch', json={'records': records}).status_code == 200
    return api


def test_json_extract_where_and_order_by_return_exactly_the_right_rows(users):
    sql = '''SELECT key, json_extract(value, '$.name') AS name, json_extract(value, '$.age') AS age
             FROM kv WHERE key LIKE 'user:%' AND json_extract(value, '$.team') = 'red' AND age > 30
             ORDER BY age DESC'''
    answer = data(query(users, sql))
    assert answer['columns'] == ['key', 'name', 'age']
    assert answer['rows'] == [{'key': 'user:09', 'name': 'user 9', 'age': 47},
                              {'key': 'user:07', 'name': 'user 7', 'age': 41},
                              {'key': 'user:05', 'name': 'user 5', 'age': 35}]
    assert answer['row_count'] == 3
    assert answer['scanned'] == 13 and answer['scan_complete'] is True and answer['truncated'] is False
    assert isinstance(answer['elapsed_ms'], int)


def test_the_angular_placeholder_query_works_and_every_column_is_there(users):
    answer = data(query(users, 'SELECT * FROM keys LIMIT 2;'))
    assert answer['columns'] == ['key', 'value', 'cf', 'size']
    assert answer['rows'][0] == {'key': 'order:1', 'value': '{"total": 12.5}', 'cf': 'default', 'size': 15}


def test_aggregates_and_json_each_read_values(users):
    answer = data(query(users, "SELECT json_extract(value, '$.team') AS team, count(*) AS n, "
                               "sum(json_extract(value, '$.age')) AS ages FROM kv WHERE json_valid(value) "
                               "AND key LIKE 'user:%' GROUP BY team ORDER BY team"))
    assert answer['rows'] == [{'team': 'blue', 'n': 5, 'ages': 20 + 26 + 32 + 38 + 44},
                              {'team': 'red', 'n': 5, 'ages': 23 + 29 + 35 + 41 + 47}]
    fields = data(query(users, "SELECT j.key FROM kv, json_each(kv.value) AS j WHERE kv.key = 'user:00' "
                               'ORDER BY j.key'))
    assert [r['key'] for r in fields['rows']] == ['age', 'name', 'team']


def test_the_scan_is_bounded_by_prefix_and_max_scan_and_says_so(users):
    by_prefix = data(query(users, 'SELECT count(*) AS n FROM kv', prefix='order:'))
    assert by_prefix['rows'] == [{'n': 2}] and by_prefix['scanned'] == 2 and by_prefix['scan_complete'] is True
    bounded = query(users, 'SELECT key FROM kv ORDER BY key', max_scan=4)
    assert bounded.json()['message'].endswith('(scanned 4 keys; the scan stopped at 4 keys)')
    assert [r['key'] for r in data(bounded)['rows']] == ['order:1', 'order:2', 'plain', 'user:00']
    assert data(bounded)['scan_complete'] is False
    assert error(query(users, 'SELECT 1', max_scan=10_000_000)).startswith('Json deserialize error: max_scan')


def test_other_column_families_are_queried_by_name(users):
    users.post('/admin/column_families', json={'name': 'audit'})
    assert data(query(users, 'SELECT count(*) AS n FROM kv', cf='audit'))['rows'] == [{'n': 0}]
    assert 'not found' in error(query(users, 'SELECT 1', cf='nope'), 404)
    assert 'not found' in error(query(users, 'SELECT 1', cf='__system'), 404)  # internal records stay hidden


def test_limit_is_capped_whatever_the_query_asks(api):
    sql = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 5000) SELECT x FROM n'
    answer = data(query(api, sql))
    assert answer['row_count'] == MAX_ROWS == len(answer['rows'])
    assert answer['truncated'] is True and answer['rows'][-1] == {'x': MAX_ROWS}
    smaller = data(query(api, sql, max_rows=10))
    assert smaller['row_count'] == 10 and smaller['truncated'] is True
    exact = data(query(api, 'SELECT 1 AS one LIMIT 5'))
    assert exact['truncated'] is False
    assert 'max_rows' in error(query(api, 'SELECT 1', max_rows=MAX_ROWS + 1))


@pytest.mark.parametrize('sql, keyword', [
    ('DELETE FROM kv', 'a DELETE statement'), ('DROP TABLE kv', 'a DROP statement'),
    ("ATTACH DATABASE '/tmp/x.db' AS x", 'an ATTACH statement'), ('PRAGMA query_only = 0', 'a PRAGMA statement'),
    ("INSERT INTO kv VALUES ('a', 'b', 'default', 1)", 'an INSERT statement'),
    ("UPDATE kv SET value = 'x'", 'an UPDATE statement'), ('', 'not a statement'),
])
def test_anything_but_select_is_refused_clearly(users, sql, keyword):
    message = error(query(users, sql) if sql else users.post('/query', json={'query': '  -- nothing\n'}))
    assert message.startswith(f'only SELECT (or WITH … SELECT) queries are allowed; this is {keyword}.')


def test_writes_hidden_behind_with_are_refused_by_sqlite_itself(users):
    message = error(query(users, 'WITH doomed AS (SELECT key FROM kv) DELETE FROM kv WHERE key IN doomed'))
    assert message == 'only reading is allowed; the query tried DELETE (kv) (SQLite: not authorized)'
    assert 'the query tried a table-valued function' in error(query(users, "SELECT * FROM pragma_table_info('kv')"))
    assert error(query(users, 'SELECT 1; DELETE FROM kv')).startswith('run one statement at a time')
    assert users.get('/keys/user:00').status_code == 200  # nothing happened to the store


def test_sqlite_errors_come_back_with_sqlites_message(users):
    assert error(query(users, 'SELECT nope FROM kv')) == 'SQLite: no such column: nope'
    assert error(query(users, 'SELECT * FROM missing')) == 'SQLite: no such table: missing'
    assert error(query(users, 'SELECT randomblob(1000000000)')) == 'SQLite: string or blob too big'
    assert error(query(users, "SELECT key FROM kv WHERE json_extract(value, '$.age') > 1")).startswith(
        'SQLite: malformed JSON. Some values are not JSON: put json_valid(value) AND … first in the WHERE clause')


def test_a_runaway_query_stops_at_the_time_budget(api):
    sql = 'WITH RECURSIVE forever(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM forever) SELECT count(*) FROM forever'
    message = error(query(api, sql, timeout_secs=0.5))
    assert message.startswith('the query ran past its time budget of 0.5 s and was stopped (SQLite: interrupted)')
    assert data(query(api, 'SELECT 2 AS two'))['rows'] == [{'two': 2}]  # the server is fine afterwards


def test_odd_values_come_back_as_json(api):
    answer = data(query(api, "SELECT 1 AS a, 2 AS a, x'00ff' AS blob, 1e999 AS big, NULL AS empty"))
    assert answer['columns'] == ['a', 'a:2', 'blob', 'big', 'empty']
    assert answer['rows'] == [{'a': 1, 'a:2': 2, 'blob': '0x00ff', 'big': 'inf', 'empty': None}]


def test_a_read_only_token_may_query_and_bad_input_is_4xx(backend, users):
    read_only = users.post('/admin/tokens', json={'name': 'ro', 'permissions': ['Read']}).json()['data']['token']
    write_only = users.post('/admin/tokens', json={'name': 'wo', 'permissions': ['Write']}).json()['data']['token']
    with admin_client(backend, read_only) as reader:
        assert data(query(reader, 'SELECT count(*) AS n FROM kv'))['rows'] == [{'n': 13}]
    with admin_client(backend, write_only) as writer:
        assert query(writer, 'SELECT 1').status_code == 403
    assert httpx.post(backend.url + '/query', json={'query': 'SELECT 1'}).status_code == 401
    assert users.post('/query', content=b'{"query": 1}').status_code == 400
    assert users.post('/query', content=b'not json').status_code == 400
    assert users.post('/query', json={}).status_code == 400
    assert users.post('/query', json={'query': 'SELECT 1', 'timeout_secs': 60}).status_code == 400
    assert users.get('/query').status_code == 404


def test_a_real_apexstore_has_no_query_route(compat_api):
    assert compat_api.post('/query', json={'query': 'SELECT 1'}).status_code == 404
