"""Vector Search: a user creates an index, adds vectors, finds the nearest keys, and deletes with confirmation."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in

POINTS = [{'key': 'east', 'vector': [1, 0]}, {'key': 'north', 'vector': [0, 1]},
          {'key': 'northeast', 'vector': [1, 1], 'metadata': {'label': '<b>NE</b>'}},
          {'key': 'west', 'vector': [-1, 0]}]


def rows(user: User, marker: str) -> list[dict]:
    return element(user, marker).rows


def index_names(user: User) -> list[str]:
    return [r['name'] for r in rows(user, 'vec-table')]


def hits(user: User) -> list[tuple[str, str]]:
    return [(r['key'], r['score']) for r in rows(user, 'vec-results')]


def plane(server, metric: str) -> None:
    with admin_client(server) as api:
        api.post('/vector/indexes', json={'name': 'plane', 'dimension': 2, 'metric': metric})
        api.post('/vector/indexes/plane/vectors', json={'vectors': POINTS})


async def search(user: User, query: str) -> None:
    user.find(marker='vec-query').clear().type(query).trigger('keydown.enter')


async def test_an_index_is_created_filled_and_searched_from_the_page(console_backend, user: User):
    await sign_in(user, next_page='/vector-search')
    await user.should_see('No vector indexes yet: create one above.')
    await user.should_see('This server has no embedding model')  # said plainly, before anyone types text
    user.find(marker='vec-name').type('plane')
    element(user, 'vec-dimension').value = 2
    element(user, 'vec-metric').value = 'euclidean'
    user.find(marker='vec-name').trigger('keydown.enter')
    await user.should_see('Vector index "plane" created')
    await eventually(lambda: rows(user, 'vec-table') == [
        {'name': 'plane', 'dimension': 2, 'metric': 'Euclidean', 'size': '0 vectors', 'status': 'active',
         'created': rows(user, 'vec-table')[0]['created']}])
    assert element(user, 'vec-search-index').value == 'plane'
    user.find(marker='vec-key').type('east')
    user.find(marker='vec-vector').type('1, 0')
    user.find(marker='vec-metadata').type('{"label": "E"}')
    user.find(marker='vec-upsert').click()
    await user.should_see('1 vectors upserted into "plane" (1 new)')
    user.find(marker='vec-bulk').type('[{"key": "north", "vector": [0, 1]}, {"key": "northeast", "vector": [1, 1]},'
                                      ' {"key": "west", "vector": [-1, 0]}]')
    user.find(marker='vec-bulk-upsert').click()
    await user.should_see('3 vectors upserted into "plane" (3 new)')
    await eventually(lambda: [r['key'] for r in rows(user, 'vec-vectors')] == ['east', 'north', 'northeast', 'west'])
    assert rows(user, 'vec-vectors')[0]['vector'] == '[1, 0]' and rows(user, 'vec-vectors')[0]['metadata'] == \
        '{"label": "E"}'
    await eventually(lambda: rows(user, 'vec-table')[0]['size'] == '4 vectors')
    await search(user, '[0.9, 0.2]')
    await eventually(lambda: hits(user)[:3] == [('east', '0.2236'), ('northeast', '0.8062'), ('north', '1.2042')],
                     message='the nearest keys come first, by euclidean distance')
    assert rows(user, 'vec-results')[0]['metadata'] == '{"label": "E"}'
    assert element(user, 'vec-score-meaning').text == 'score = distance (lower is closer), over 4 vectors'


async def test_cosine_search_ranks_by_direction_and_text_queries_are_explained(console_backend, user: User):
    plane(console_backend, 'cosine')
    await sign_in(user, next_page='/vector-search')
    await eventually(lambda: index_names(user) == ['plane'])
    await search(user, '10 1')
    await eventually(lambda: [key for key, _ in hits(user)] == ['east', 'northeast', 'north', 'west'])
    assert hits(user)[0] == ('east', '0.9950') and hits(user)[-1] == ('west', '-0.9950')
    assert rows(user, 'vec-results')[1]['metadata'] == '{"label": "<b>NE</b>"}'  # text in a cell, not HTML
    await search(user, 'red shoes')
    await user.should_see('Text cannot be searched: this server has no embedding model')
    await search(user, '[1, 2, 3]')
    await user.should_see("Vector search: the query vector has 3 numbers; index 'plane' has dimension 2")


async def test_deleting_needs_the_index_name_typed_and_vectors_can_be_deleted(console_backend, user: User):
    plane(console_backend, 'euclidean')
    await sign_in(user, next_page='/vector-search')
    await eventually(lambda: [r['key'] for r in rows(user, 'vec-vectors')] == ['east', 'north', 'northeast', 'west'])
    user.find(marker='vec-vectors').trigger('remove', 'west')
    await user.should_see('Delete the vector "west" from "plane"?')
    user.find(marker='confirm-button').click()
    await user.should_see('Vector "west" deleted')
    await eventually(lambda: [r['key'] for r in rows(user, 'vec-vectors')] == ['east', 'north', 'northeast'])
    user.find(marker='vec-table').trigger('remove', 'plane')
    await user.should_see('Delete the index "plane"? All vectors will be lost (3 vectors).')
    assert not element(user, 'confirm-button').enabled
    user.find(marker='confirm-typed').type('plane')
    user.find(marker='confirm-button').click()
    await user.should_see('Vector index "plane" deleted')
    await user.should_see('No vector indexes yet: create one above.')
    with admin_client(console_backend) as api:
        assert api.get('/vector/indexes').json()['data']['indexes'] == []


async def test_another_clients_changes_appear_live(console_backend, user: User):
    await sign_in(user, next_page='/vector-search')
    await user.should_see('No vector indexes yet: create one above.')
    plane(console_backend, 'dot')
    await eventually(lambda: index_names(user) == ['plane'] and rows(user, 'vec-table')[0]['size'] == '4 vectors',
                     message='an index made elsewhere should appear with its size')
    await eventually(lambda: len(rows(user, 'vec-vectors')) == 4)
    with admin_client(console_backend) as other:
        other.post('/vector/indexes/plane/vectors', json={'vectors': [{'key': 'up', 'vector': [0, 5]}]})
    await eventually(lambda: rows(user, 'vec-table')[0]['size'] == '5 vectors')
    await eventually(lambda: 'up' in [r['key'] for r in rows(user, 'vec-vectors')])


async def test_a_read_only_token_searches_but_cannot_create(console_backend, user: User):
    plane(console_backend, 'euclidean')
    with admin_client(console_backend) as api:
        token = api.post('/admin/tokens', json={'name': 'ro', 'permissions': ['Read']}).json()['data']['token']
    await sign_in(user, token=token, next_page='/vector-search')
    await eventually(lambda: index_names(user) == ['plane'])
    await search(user, '-1 0.1')
    await eventually(lambda: hits(user)[0][0] == 'west')
    user.find(marker='vec-name').type('mine')
    user.find(marker='vec-create').click()
    await user.should_see('Create vector index: this token lacks the permission')


async def test_a_server_without_vector_routes_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/vector-search')
    await user.should_see('Vector search is not offered by this server.', marker='vec-offered')
    await user.should_not_see(marker='vec-create')
