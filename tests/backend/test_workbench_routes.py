"""Secondary indexes and transactions answer exactly as the real ApexStore server does (reference §2.3, §2.5)."""

from __future__ import annotations

import json

import httpx

from backend.tokens import Permission
from tests.conftest import admin_client


def put(api: httpx.Client, key: str, doc: dict | str) -> None:
    assert api.put(f'/keys/{key}', json={'value': doc if isinstance(doc, str) else json.dumps(doc)}).status_code == 200


def token_client(backend, *permissions: Permission) -> httpx.Client:
    _, raw = backend.call(lambda b: b.tokens.create('limited', list(permissions)))
    return admin_client(backend, raw)


class TestSecondaryIndexes:
    def test_a_registered_field_indexes_later_writes_only(self, api):
        put(api, 'user:0', {'city': 'Paris'})  # before the index: not retroactive
        answer = api.post('/keys/anything/index/city')
        assert answer.json() == {'status': 'ok', 'key': 'anything', 'field': 'city'}
        assert api.get('/keys/indexes').json() == {'indexes': ['city']}
        put(api, 'user:1', {'city': 'Paris', 'age': 3})
        put(api, 'user:2', {'city': 'Lyon'})
        put(api, 'user:3', {'city': 7})  # not a string: not indexed
        put(api, 'note', 'plain text')
        found = api.get('/keys/by-index', params={'index': 'city', 'eq': 'Paris'})
        assert found.status_code == 200
        assert found.json() == {'success': True, 'data': {'records': [
            {'key': 'user:1', 'value': '{"city": "Paris", "age": 3}'}]}}

    def test_several_fields_must_all_match_and_stale_entries_never_answer(self, api):
        api.post('/keys/x/index/city')
        api.post('/keys/x/index/role')
        for i, (city, role) in enumerate([('Paris', 'admin'), ('Paris', 'user'), ('Lyon', 'admin')]):
            put(api, f'u{i}', {'city': city, 'role': role})
        both = api.get('/keys/by-index', params={'index': 'city,role', 'eq': 'Paris,admin'}).json()
        assert [r['key'] for r in both['data']['records']] == ['u0']
        put(api, 'u0', {'city': 'Lyon', 'role': 'admin'})  # moved away
        api.delete('/keys/u1')
        paris = api.get('/keys/by-index', params={'index': 'city', 'eq': 'Paris'}).json()
        assert paris['data']['records'] == []
        lyon = api.get('/keys/by-index', params={'index': 'city', 'eq': 'Lyon', 'limit': '1'}).json()
        assert [r['key'] for r in lyon['data']['records']] == ['u0']

    def test_errors_are_the_real_servers(self, api):
        assert api.get('/keys/by-index', params={'eq': 'x'}).json() == {'error': 'index parameter is required'}
        assert api.get('/keys/by-index', params={'index': 'city'}).json() == {'error': 'eq parameter is required'}
        mismatch = api.get('/keys/by-index', params={'index': 'a,b', 'eq': 'x'})
        assert (mismatch.status_code, mismatch.json()) == (500, {'error': 'internal server error'})
        assert api.get('/keys/by-index', params={'index': 'a', 'eq': 'x', 'limit': 'no'}).status_code == 400

    def test_index_entries_stay_out_of_the_key_listing(self, api):
        api.post('/keys/k/index/city')
        put(api, 'user:1', {'city': 'Paris'})
        assert api.get('/keys', params={'prefix': ''}).json()['keys'] == ['user:1']

    def test_reading_needs_read_and_registering_needs_write(self, backend):
        with token_client(backend, Permission.Write) as writer:
            assert writer.post('/keys/k/index/city').status_code == 200
            assert writer.get('/keys/indexes').status_code == 403
        with token_client(backend, Permission.Read) as reader:
            assert reader.get('/keys/indexes').json() == {'indexes': ['city']}
            assert reader.post('/keys/k/index/other').status_code == 403

    def test_a_server_without_the_routes_answers_404_in_compat_mode(self, compat_api):
        assert compat_api.post('/txn').status_code == 404


class TestTransactions:
    def test_buffered_operations_apply_on_commit_across_column_families(self, api):
        api.post('/admin/column_families', json={'name': 'orders'})
        put(api, 'gone', 'bye')
        begin = api.post('/txn')
        assert begin.json() == {'txn_id': 1}
        assert api.post('/txn/1/put', json={'key': 'a', 'value': '1'}).json() == {'status': 'ok'}
        assert api.post('/txn/1/put', json={'key': 'o1', 'value': 'x', 'cf': 'orders'}).json() == {'status': 'ok'}
        assert api.post('/txn/1/delete', json={'key': 'gone'}).json() == {'status': 'ok'}
        assert api.get('/keys/a').status_code == 404, 'nothing is written before the commit'
        assert api.post('/txn/1/commit').json() == {'status': 'ok', 'txn_id': 1}
        assert api.get('/keys/a').json() == {'key': 'a', 'value': '1'}
        assert api.get('/keys/gone').status_code == 404
        assert api.get('/cf/orders/keys/o1').json() == {'key': 'o1', 'value': 'x'}
        again = api.post('/txn/1/commit')
        assert (again.status_code, again.json()) == (404, {'error': 'transaction not found'})

    def test_rollback_discards_and_ids_count_up(self, api):
        assert api.post('/txn').json() == {'txn_id': 1}
        assert api.post('/txn').json() == {'txn_id': 2}
        api.post('/txn/2/put', json={'key': 'never', 'value': 'x'})
        assert api.post('/txn/2/rollback').json() == {'status': 'ok', 'txn_id': 2}
        assert api.get('/keys/never').status_code == 404
        assert api.post('/txn/2/put', json={'key': 'k', 'value': 'v'}).json() == {'error': 'transaction not found'}
        assert api.post('/txn/abc/commit').status_code == 404

    def test_a_commit_into_a_missing_column_family_fails_and_writes_nothing(self, api):
        txn = api.post('/txn').json()['txn_id']
        api.post(f'/txn/{txn}/put', json={'key': 'a', 'value': '1'})
        api.post(f'/txn/{txn}/put', json={'key': 'b', 'value': '2', 'cf': 'nope'})
        failed = api.post(f'/txn/{txn}/commit')
        assert (failed.status_code, failed.json()) == (500, {'error': 'commit failed'})
        assert api.get('/keys/a').status_code == 404

    def test_delete_needs_the_delete_permission_and_the_content_type_guard_holds(self, backend, api):
        with token_client(backend, Permission.Write) as writer:
            txn = writer.post('/txn').json()['txn_id']
            assert writer.post(f'/txn/{txn}/delete', json={'key': 'a'}).status_code == 403
        bare = httpx.post(backend.url + '/txn', headers={'Authorization': api.headers['Authorization']})
        assert bare.status_code == 415

    def test_committed_writes_are_announced_and_indexed(self, backend, api):
        api.post('/keys/k/index/city')
        txn = api.post('/txn').json()['txn_id']
        api.post(f'/txn/{txn}/put', json={'key': 'p', 'value': '{"city": "Oslo"}'})
        api.post(f'/txn/{txn}/commit')
        found = api.get('/keys/by-index', params={'index': 'city', 'eq': 'Oslo'}).json()['data']['records']
        assert found == [{'key': 'p', 'value': '{"city": "Oslo"}'}]
        events = backend.call(lambda b: [e.payload for e in b.bus.history if e.type == 'key_change'])
        assert any(e['key'] == 'p' and e['operation'] == 'put' for e in events)
