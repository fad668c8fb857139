"""Notes and tags: write Markdown with links and tags; other clients' edits show up live."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


async def test_create_edit_and_link_notes(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/notes/plans', json={'content': 'Plans link to [[ideas]] #work'})
    await sign_in(user, next_page='/notes')
    await eventually(lambda: badge_state(user) == 'connected')
    user.find(marker='new-note').click()
    await user.should_see(marker='new-note-path')
    user.find(marker='new-note-path').type('ideas')
    user.find(marker='new-note-create').click()
    await eventually(lambda: element(user, 'note-title').text == 'ideas')
    user.find(marker='note-editor').clear().type('# Ideas\nSee [[plans]] #work #draft')
    user.find(marker='note-save').click()
    await user.should_see('Note "ideas" saved')
    assert element(user, 'note-preview').content == '# Ideas\nSee [plans](/notes?open=plans) #work #draft'
    await user.should_see('#draft')
    await user.should_see('← plans')  # the backlink from the other note
    with admin_client(console_backend) as api:
        assert api.get('/notes/ideas').json()['tags'] == ['draft', 'work']


async def test_another_clients_edit_of_the_open_note_is_flagged(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/notes/shared', json={'content': 'v1'})
    await sign_in(user, next_page='/notes?open=shared')
    await eventually(lambda: element(user, 'note-title').text == 'shared')
    await eventually(lambda: badge_state(user) == 'connected')
    user.find(marker='note-editor').clear().type('my draft')
    with admin_client(console_backend) as api:
        api.put('/notes/shared', json={'content': 'v2 from elsewhere'})
        api.put('/notes/brand-new', json={'content': 'appears in the list'})
    await eventually(lambda: 'another client' in element(user, 'conflict-text').text)
    assert element(user, 'note-editor').value == 'my draft'
    await user.should_see('brand-new')


async def test_tags_count_notes_and_update_live(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/notes/a', json={'content': '#work'})
        api.put('/notes/b', json={'content': '#work #home'})
    await sign_in(user, next_page='/tags')
    await user.should_see('#work · 2')
    await user.should_see('#home · 1')
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as api:
        api.put('/notes/c', json={'content': '#garden'})
    await user.should_see('#garden · 1')


async def test_graph_view_draws_the_notes_around_one_and_follows_changes(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/notes/hub', json={'content': '[[a]] [[b]]'})
        api.put('/notes/a', json={'content': 'back to [[hub]]'})
    await sign_in(user, next_page='/graph?root=hub')
    chart = element(user, 'graph-chart')
    await eventually(lambda: {d['name'] for d in chart.options['series'][0]['data']} == {'hub', 'a', 'b'})
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as api:
        api.put('/notes/b', json={'content': 'links [[c]]'})
    await eventually(lambda: 'c' in {d['name'] for d in element(user, 'graph-chart').options['series'][0]['data']},
                     message='the graph should redraw when a note changes')


async def test_time_travel_lists_versions_live_shows_changes_and_restores(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.put('/notes/doc', json={'content': 'first line'})
    await sign_in(user, next_page='/time-travel?note=doc')
    await eventually(lambda: len(element(user, 'tt-versions').rows) == 1)
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as api:
        api.put('/notes/doc', json={'content': 'second line'})
    await eventually(lambda: len(element(user, 'tt-versions').rows) == 2, message='a new save should appear live')
    oldest = element(user, 'tt-versions').rows[-1]['ts']
    user.find(marker='tt-versions').trigger('view', oldest)
    await eventually(lambda: element(user, 'tt-content').content == 'first line')
    assert '-first line' in element(user, 'tt-diff').content and '+second line' in element(user, 'tt-diff').content
    user.find(marker='tt-versions').trigger('restore', oldest)
    await user.should_see(marker='confirm-button')
    user.find(marker='confirm-button').click()
    await user.should_see('"doc" restored to')
    with admin_client(console_backend) as api:
        assert api.get('/notes/doc').json()['content'] == 'first line'
