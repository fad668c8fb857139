"""Vector indexes: create, upsert, exact k-NN search and delete, against a real embedded backend."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import admin_client

POINTS = {  # 2-D points: easy to check by hand
    'east': [1.0, 0.0], 'north': [0.0, 1.0], 'northeast': [1.0, 1.0], 'far-east': [10.0, 0.5],
    'west': [-1.0, 0.0], 'south-west': [-2.0, -2.0],
}


def ok(answer: httpx.Response) -> dict:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body['success'] is True
    return body.get('data') or {}


def error(answer: httpx.Response, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body['success'] is False and body['message'] == body['error']
    return body['message']


def index_with_points(api: httpx.Client, name: str, metric: str) -> None:
    ok(api.post('/vector/indexes', json={'name': name, 'dimension': 2, 'metric': metric}))
    ok(api.post(f'/vector/indexes/{name}/vectors', json={'vectors': [
        {'key': key, 'vector': vector, 'metadata': {'label': key.upper()}} for key, vector in POINTS.items()]}))


def search(api: httpx.Client, name: str, **body) -> list[tuple[str, float]]:
    results = ok(api.post(f'/vector/indexes/{name}/search', json=body))['results']
    return [(r['key'], r['score']) for r in results]


def test_an_index_is_created_listed_and_counts_its_vectors(api):
    assert ok(api.get('/vector/indexes')) == {'indexes': []}
    created = ok(api.post('/vector/indexes', json={'name': 'docs', 'dimension': 128, 'metric': 'dot'}))
    assert created['name'] == 'docs' and created['status'] == 'active' and created['size'] == 0
    index_with_points(api, 'plane', 'cosine')
    indexes = {i['name']: i for i in ok(api.get('/vector/indexes'))['indexes']}
    assert list(indexes) == ['docs', 'plane']
    assert indexes['plane']['size'] == len(POINTS) and indexes['plane']['dimension'] == 2
    assert indexes['plane']['metric'] == 'cosine' and indexes['plane']['created_at'] > 1_600_000_000 * 10**9
    again = ok(api.post('/vector/indexes/plane/vectors', json={'vectors': [
        {'key': 'east', 'vector': [2.0, 0.0]}, {'key': 'up', 'vector': [0.0, 3.0]}]}))
    assert again == {'upserted': 2, 'added': 1, 'size': len(POINTS) + 1}
    assert ok(api.get('/vector/indexes/plane/vectors/east')) == {'key': 'east', 'vector': [2.0, 0.0],
                                                                 'metadata': None}
    listed = ok(api.get('/vector/indexes/plane/vectors', params={'limit': 3}))
    assert [v['key'] for v in listed['vectors']] == ['east', 'far-east', 'north'] and listed['cursor'] == 'north'
    rest = ok(api.get('/vector/indexes/plane/vectors', params={'cursor': 'north'}))
    assert [v['key'] for v in rest['vectors']] == ['northeast', 'south-west', 'up', 'west']
    assert api.get('/keys', params={'prefix': 'vector'}).json()['keys'] == []  # never visible as keys


def test_cosine_search_ranks_by_direction(api):
    index_with_points(api, 'plane', 'cosine')
    hits = search(api, 'plane', vector=[1.0, 0.1], k=4)
    assert [key for key, _ in hits] == ['far-east', 'east', 'northeast', 'north']
    assert hits[1][1] == pytest.approx(1 / (1.01 ** 0.5), rel=1e-5)
    assert hits[3][1] == pytest.approx(0.1 / (1.01 ** 0.5), rel=1e-5)
    with_metadata = ok(api.post('/vector/indexes/plane/search', json={'vector': [-1, -1], 'k': 1}))['results']
    assert with_metadata == [{'key': 'south-west', 'score': pytest.approx(1.0), 'metadata': {'label': 'SOUTH-WEST'}}]


def test_euclidean_search_ranks_by_distance_closest_first(api):
    index_with_points(api, 'plane', 'euclidean')
    hits = search(api, 'plane', vector=[0.9, 0.2], k=3)
    assert [key for key, _ in hits] == ['east', 'northeast', 'north']
    assert [score for _, score in hits] == pytest.approx([(0.01 + 0.04) ** 0.5, (0.01 + 0.64) ** 0.5,
                                                          (0.81 + 0.64) ** 0.5], rel=1e-5)
    assert [key for key, _ in search(api, 'plane', vector=[-1.5, -1.5], k=2)] == ['south-west', 'west']


def test_dot_product_search_favours_long_vectors(api):
    index_with_points(api, 'plane', 'dot')
    assert search(api, 'plane', vector=[1, 0], k=2) == [('far-east', pytest.approx(10.0)),
                                                        ('east', pytest.approx(1.0))]


def test_the_angular_query_field_takes_numbers_but_not_text(api):
    index_with_points(api, 'plane', 'euclidean')
    assert search(api, 'plane', query='[0.9, 0.2]', k=1)[0][0] == 'east'
    assert search(api, 'plane', query='-1.5, -1.5', k=1)[0][0] == 'south-west'
    message = error(api.post('/vector/indexes/plane/search', json={'query': 'cheap flights to rome'}))
    assert message == ('text queries need a vector: this server has no embedding model. Give the query as 2 numbers, '
                       'e.g. [0.1, 0.2, …]')


def test_searches_follow_upserts_and_deletes(api):
    index_with_points(api, 'plane', 'euclidean')
    assert search(api, 'plane', vector=[5, 5], k=1)[0][0] == 'northeast'
    ok(api.post('/vector/indexes/plane/vectors', json={'vectors': [{'key': 'middle', 'vector': [5, 5]}]}))
    assert search(api, 'plane', vector=[5, 5], k=1) == [('middle', 0.0)]
    ok(api.delete('/vector/indexes/plane/vectors/middle'))
    assert search(api, 'plane', vector=[5, 5], k=1)[0][0] == 'northeast'
    assert 'not found' in error(api.delete('/vector/indexes/plane/vectors/middle'), 404)


def test_dimension_mismatch_and_bad_vectors_are_400_with_a_clear_message(api):
    index_with_points(api, 'plane', 'cosine')
    assert error(api.post('/vector/indexes/plane/search', json={'vector': [1, 2, 3]})) == (
        "the query vector has 3 numbers; index 'plane' has dimension 2")
    assert error(api.post('/vector/indexes/plane/vectors', json={'vectors': [
        {'key': 'ok', 'vector': [1, 2]}, {'key': 'bad', 'vector': [1]}]})) == (
        "the vector for key 'bad' has 1 numbers; index 'plane' has dimension 2")
    assert 'all zeros' in error(api.post('/vector/indexes/plane/vectors', json={'vectors': [
        {'key': 'zero', 'vector': [0, 0]}]}))
    assert 'not finite' in error(api.post('/vector/indexes/plane/vectors', content=(
        b'{"vectors": [{"key": "nan", "vector": [NaN, 1]}]}')))
    assert error(api.post('/vector/indexes/plane/vectors', json={'vectors': [{'key': '', 'vector': [1, 1]}]})) == (
        "vector key '': key must not be empty")
    assert ok(api.get('/vector/indexes'))['indexes'][0]['size'] == len(POINTS)  # all or nothing: nothing written


def test_bad_index_definitions_are_refused(api):
    assert 'dimension' in error(api.post('/vector/indexes', json={'name': 'x', 'dimension': 0}))
    assert 'dimension' in error(api.post('/vector/indexes', json={'name': 'x', 'dimension': 4097}))
    assert 'metric' in error(api.post('/vector/indexes', json={'name': 'x', 'dimension': 3, 'metric': 'manhattan'}))
    assert 'invalid index name' in error(api.post('/vector/indexes', json={'name': 'a b', 'dimension': 3}))
    ok(api.post('/vector/indexes', json={'name': 'x', 'dimension': 3}))
    assert error(api.post('/vector/indexes', json={'name': 'x', 'dimension': 3}), 409) == (
        "vector index 'x' already exists")
    assert 'not found' in error(api.post('/vector/indexes/missing/search', json={'vector': [1]}), 404)
    assert 'k' in error(api.post('/vector/indexes/x/search', json={'vector': [1, 1, 1], 'k': 0}))


def test_deleting_an_index_deletes_its_vectors(api):
    index_with_points(api, 'plane', 'cosine')
    assert ok(api.delete('/vector/indexes/plane')) == {}
    assert ok(api.get('/vector/indexes')) == {'indexes': []}
    assert 'not found' in error(api.post('/vector/indexes/plane/search', json={'vector': [1, 0]}), 404)
    ok(api.post('/vector/indexes', json={'name': 'plane', 'dimension': 2}))
    assert ok(api.get('/vector/indexes/plane/vectors'))['vectors'] == []  # nothing came back from before
    assert search(api, 'plane', vector=[1, 0]) == []


def test_changes_are_announced_as_feature_events(api):
    start = api.get('/events/poll').json()['next']
    index_with_points(api, 'plane', 'cosine')
    api.delete('/vector/indexes/plane')
    events = api.get('/events/poll', params={'since': start}).json()['events']
    seen = [(e['feature'], e['name'], e['data']) for e in events if e['type'] == 'feature_event']
    assert seen == [('vectors', 'index_created', {'index': 'plane'}),
                    ('vectors', 'vectors_upserted', {'index': 'plane', 'count': 6, 'added': 6, 'size': 6}),
                    ('vectors', 'index_deleted', {'index': 'plane', 'size': 6})]


def test_permissions_read_searches_write_upserts_admin_manages_indexes(backend, api):
    index_with_points(api, 'plane', 'cosine')

    def token(*permissions: str) -> str:
        return api.post('/admin/tokens', json={'name': 't', 'permissions': list(permissions)}).json()['data']['token']

    with admin_client(backend, token('Read')) as reader:
        assert ok(reader.get('/vector/indexes'))['indexes'][0]['name'] == 'plane'
        assert reader.post('/vector/indexes/plane/search', json={'vector': [1, 0]}).status_code == 200
        assert reader.post('/vector/indexes', json={'name': 'mine', 'dimension': 2}).status_code == 403
        assert reader.delete('/vector/indexes/plane').status_code == 403
        assert reader.post('/vector/indexes/plane/vectors', json={'vectors': [
            {'key': 'k', 'vector': [1, 1]}]}).status_code == 403
    with admin_client(backend, token('Write')) as writer:
        assert writer.post('/vector/indexes/plane/vectors', json={'vectors': [
            {'key': 'k', 'vector': [1, 1]}]}).status_code == 200
        assert writer.post('/vector/indexes', json={'name': 'mine', 'dimension': 2}).status_code == 403
        assert writer.delete('/vector/indexes/plane/vectors/k').status_code == 403
        assert writer.post('/vector/indexes/plane/search', json={'vector': [1, 0]}).status_code == 403
    with admin_client(backend, token('Delete')) as deleter:
        assert deleter.delete('/vector/indexes/plane/vectors/k').status_code == 200
        assert deleter.delete('/vector/indexes/plane').status_code == 403
    assert httpx.get(backend.url + '/vector/indexes').status_code == 401


def test_indexes_survive_a_restart(tmp_path):
    from tests.conftest import make_backend

    with make_backend(tmp_path / 'kept') as server, admin_client(server) as api:
        index_with_points(api, 'plane', 'euclidean')
    with make_backend(tmp_path / 'kept') as server, admin_client(server) as api:
        assert ok(api.get('/vector/indexes'))['indexes'][0]['size'] == len(POINTS)
        assert search(api, 'plane', vector=[1, 0], k=1) == [('east', 0.0)]


def test_a_real_apexstore_has_no_vector_routes(compat_api):
    assert compat_api.get('/vector/indexes').status_code == 404
