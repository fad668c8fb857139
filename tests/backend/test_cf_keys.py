"""The key routes per column family (`/cf/{cf}/keys…`) and many TTLs in one request (extensions)."""

from __future__ import annotations


def test_every_key_route_works_in_a_named_column_family_and_leaves_default_alone(backend, api):
    api.post('/admin/column_families', json={'name': 'orders'})
    assert api.post('/cf/orders/keys', json={'key': 'o:1', 'value': 'first', 'ttl_secs': 60}).json() == {
        'success': True, 'data': {'key': 'o:1'}}
    assert api.put('/cf/orders/keys/o:2', json={'value': 'second'}).json() == {'status': 'ok'}
    api.post('/cf/orders/keys/batch', json={'records': [{'key': f'o:{i}', 'value': 'b'} for i in range(3, 6)]})
    assert api.get('/keys/o:1').status_code == 404, 'the default family holds none of them'
    assert api.get('/cf/orders/keys/o:1').json() == {'key': 'o:1', 'value': 'first'}
    assert api.get('/cf/orders/keys', params={'prefix': 'o:', 'limit': '2'}).json() == {
        'keys': ['o:1', 'o:2'], 'cursor': 'o:2'}
    search = api.get('/cf/orders/keys/search', params={'q': 'o:', 'limit': '10'}).json()['data']['records']
    assert [r['key'] for r in search] == ['o:1', 'o:2', 'o:3', 'o:4', 'o:5']
    ttl = api.get('/cf/orders/keys/o:1/ttl').json()
    assert ttl['expired'] is False and 0 < ttl['ttl_secs'] <= 60
    assert api.post('/cf/orders/keys/batch/delete', json={'keys': ['o:3']}).json() == {'deleted_count': 1}
    assert api.delete('/cf/orders/keys/o:2').json() == {'status': 'ok'}
    assert api.delete('/cf/orders/keys', params={'prefix': 'o:5'}).json() == {'status': 'ok', 'prefix': 'o:5'}
    assert api.get('/cf/orders/keys', params={'prefix': ''}).json()['keys'] == ['o:1', 'o:4']
    events = backend.call(lambda b: [(e.payload['cf'], e.payload['key'], e.payload['operation'])
                                     for e in b.bus.history if e.type == 'key_change'])
    assert ('orders', 'o:2', 'delete') in events, 'changes are announced with their column family'


def test_a_missing_column_family_is_404_with_a_reason(api):
    answer = api.get('/cf/nope/keys/a')
    assert (answer.status_code, answer.json()) == (404, {'error': 'column family not found'})
    assert api.get('/cf/__system/keys', params={'prefix': ''}).status_code == 404


def test_many_ttls_in_one_request(api):
    api.post('/keys', json={'key': 'short', 'value': 'x', 'ttl_secs': 100})
    api.post('/keys', json={'key': 'forever', 'value': 'y'})
    answer = api.post('/keys/batch/ttl', json={'keys': ['short', 'forever', 'missing']}).json()
    assert answer['missing'] == ['missing']
    short, forever = answer['ttls']
    assert short['key'] == 'short' and 0 < short['ttl_secs'] <= 100 and not short['expired']
    assert forever == {'key': 'forever', 'ttl_secs': None, 'expired': False}
    too_many = api.post('/keys/batch/ttl', json={'keys': [f'k{i}' for i in range(1001)]})
    assert too_many.status_code == 400


def test_the_real_server_stand_in_has_neither(compat_api):
    assert compat_api.post('/keys/batch/ttl', json={'keys': ['a']}).status_code == 404
    assert compat_api.get('/cf/default/keys/a').status_code == 404
