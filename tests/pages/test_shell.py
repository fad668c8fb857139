"""The shell: connection badge, embed mode, theme, forced sign-in on a revoked token, pages a server lacks."""

from __future__ import annotations

import sys

from nicegui import ui
from nicegui.testing import User

from services.events import event_service
from tests.conftest import ADMIN_TOKEN, admin_client
from tests.pages.conftest import badge_state, element, eventually, hidden_or_not, sign_in


async def test_components_react_to_events(console_backend, user: User):
    """Acceptance criterion "components react": a page bound to the stream updates by itself."""
    await sign_in(user)
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as other:
        other.put('/keys/reacts', json={'value': 'yes'})
    await eventually(lambda: any(item.subject == 'reacts' for item in element(user, 'change-feed').items),
                     message='the dashboard feed should show the write')


async def test_badge_shows_state_in_words_and_details_with_reconnect(console_backend, user: User):
    await sign_in(user)
    await eventually(lambda: badge_state(user) == 'connected')
    user.find(marker='connection-badge').click()
    await user.should_see('Live connection')
    assert element(user, 'detail-transport').text == 'websocket'
    user.find('Reconnect now').click()
    await user.should_see('Reconnecting…')
    console_backend.faults(refuse_upgrades=True, drop_sockets=True)
    await eventually(lambda: badge_state(user) == 'fallback_sse', message='badge should say SSE fallback')
    assert element(user, 'connection-badge').text.startswith('SSE fallback')
    console_backend.faults(refuse_upgrades=False)
    await eventually(lambda: badge_state(user) == 'connected', timeout=10)


async def test_embed_mode_renders_the_page_without_the_shell(console_backend, user: User):
    await sign_in(user)
    await user.open('/keys?embed=1')
    await user.should_see(marker='key-search')
    await user.should_see(marker='connection-badge')
    await user.should_not_see('Sign out')
    await user.should_not_see('Feature Flags')


async def test_the_theme_follows_the_system_until_the_user_picks_one_which_is_remembered(console_backend, user: User):
    await sign_in(user)
    from nicegui import app

    assert app.storage.user.get('theme') == 'system'
    assert element(user, 'theme-toggle').props['icon'] == 'brightness_auto'
    user.find(marker='theme-toggle').click()  # system -> dark -> light
    await eventually(lambda: app.storage.user.get('theme') == 'dark')
    assert element(user, 'theme-toggle').props['aria-label'] == 'Theme: dark; click for light'
    user.find(marker='theme-toggle').click()
    await eventually(lambda: app.storage.user.get('theme') == 'light')
    assert element(user, 'theme-toggle').props['icon'] == 'light_mode'
    await user.open('/health')
    assert element(user, 'theme-toggle').props['icon'] == 'light_mode', 'the choice outlives the page'
    assert user.find(ui.dark_mode).elements.pop().value is False


async def test_a_revoked_token_sends_the_user_to_login_keeping_unsaved_input(console_backend, user: User):
    with admin_client(console_backend) as api:
        created = api.post('/admin/tokens', json={'name': 'temp', 'permissions': ['Admin']}).json()['data']
    await sign_in(user, token=created['token'], next_page='/keys')
    await eventually(lambda: badge_state(user) == 'connected')
    user.find(marker='add-key').click()
    user.find(marker='insert-key').type('draft:key')
    user.find(marker='insert-value').type('typed but not saved')
    with admin_client(console_backend) as api:
        api.delete(f"/admin/tokens/{created['id']}")  # the server ends the token's stream at once (4401)
    await user.should_see('API token', retries=100)
    sessions = sys.modules['app.auth']._sessions  # the app module the running console imported
    assert not [s for s in sessions.values() if s.token == created['token']], 'its session must be over'
    await sign_in(user, next_page='/keys')
    await user.should_see(marker='key-search')
    user.find(marker='add-key').click()
    await user.should_see(marker='insert-key')
    assert element(user, 'insert-key').value == 'draft:key'
    assert element(user, 'insert-value').value == 'typed but not saved'


async def test_pages_a_real_server_lacks_are_grouped_apart_naming_the_route_they_need(console_compat_backend,
                                                                                      user: User):
    await sign_in(user, next_page='/dashboard')
    await eventually(lambda: 'Not on this server' in element(user, 'nav').content, timeout=15,
                     message='the navigation should regroup once the server was asked')
    nav = element(user, 'nav').content
    present, absent = nav.split('Not on this server')
    assert 'needs GET /admin/webhooks' in absent and 'needs POST /query' in absent and '>Webhooks' in absent
    assert '>Webhooks' not in present and '>Dashboard' in present and '>Key Explorer' in present
    await user.open('/webhooks')
    await user.should_see('not offered by this server', retries=50)


async def test_the_embedded_backend_offers_every_page_so_nothing_is_grouped_apart(console_backend, user: User):
    from services.offered import route_probe

    await sign_in(user, next_page='/dashboard')
    await eventually(lambda: route_probe.known(f'http://127.0.0.1:{console_backend.config.port}') is not None,
                     timeout=15)
    await user.open('/health')
    assert 'Not on this server' not in element(user, 'nav').content


async def test_every_page_has_one_heading_a_skip_link_and_a_navigation_landmark(console_backend, user: User):
    await sign_in(user, next_page='/keys')
    headings = [e for e in user.client.elements.values() if e.tag == 'h1']
    assert [h.text for h in headings] == ['Key Explorer']
    assert user.find('Skip to main content').elements.pop().props['href'] == '#main-content'
    assert '<nav aria-label="Pages">' in element(user, 'nav').content
    assert 'aria-current="page"' in element(user, 'nav').content
    main = [e for e in user.client.elements.values() if e.props.get('id') == 'main-content']
    assert main and main[0].props.get('role') == 'main'
    unnamed = [b for b in user.client.elements.values() if isinstance(b, ui.button) and not b.text
               and not b.props.get('aria-label')]
    assert not unnamed, f'icon-only buttons need an accessible name: {unnamed}'
    assert hidden_or_not(user, 'copy-key').props['aria-label'] == 'Copy key', 'named after its tooltip'


async def test_a_banner_says_the_server_is_gone_and_goes_away_when_it_is_back(console_backend, user: User):
    await sign_in(user, next_page='/dashboard')
    await eventually(lambda: badge_state(user) == 'connected')
    assert not [e for e in user.client.elements.values() if 'outage-banner' in e._markers], \
        'no banner (not even a hidden one) while connected'
    console_backend.stop()
    await eventually(lambda: hidden_or_not(user, 'outage-banner').visible, timeout=15,
                     message='a page-wide banner should say the server is gone')
    assert 'cannot be reached' in element(user, 'outage-text').text
    main = next(e for e in user.client.elements.values() if e.props.get('id') == 'main-content')
    assert 'backend-down' in main.classes, 'the page\'s buttons are shown disabled while the server is gone'
    assert 'Reconnect now' in [getattr(e, 'text', '') for e in user.find(marker='outage-reconnect').elements]
    console_backend.start()
    await eventually(lambda: not hidden_or_not(user, 'outage-banner').visible, timeout=20,
                     message='the banner should go once the server is back')
    assert 'backend-down' not in main.classes


async def test_the_token_never_reaches_the_page(console_backend, user: User):
    await sign_in(user)
    await eventually(lambda: badge_state(user) == 'connected')
    user.find(marker='connection-badge').click()
    await user.should_see('Live connection')
    page_dump = str([(e.props, getattr(e, 'text', '')) for e in user.client.elements.values()])
    assert ADMIN_TOKEN not in page_dump
    assert ADMIN_TOKEN not in str(dict(user.client.request.cookies) if user.client.request else {})
    assert event_service().status(ADMIN_TOKEN).credential_id in page_dump


async def test_a_pages_subscriptions_end_when_its_browser_tab_goes_away(console_backend, user: User):
    await sign_in(user)
    hub = event_service()._channel(ADMIN_TOKEN).hub
    dashboard_client = user.client
    on_dashboard = len(hub.subscriptions)
    assert on_dashboard > 0
    await user.open('/health')
    assert len(hub.subscriptions) > on_dashboard  # both tabs are live
    dashboard_client.delete()  # what NiceGUI does when a tab closes
    await eventually(lambda: len(hub.subscriptions) == on_dashboard, message='the closed tab still subscribes')


async def test_the_cdc_page_tails_the_change_stream_and_can_pause(console_backend, user: User):
    await sign_in(user, next_page='/cdc')
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as other:
        other.put('/keys/tail:1', json={'value': 'one'})
        other.post('/admin/flush')
    await eventually(lambda: {item.subject for item in element(user, 'cdc-feed').items} >= {'tail:1', 'default'})
    user.find(marker='cdc-pause').click()
    with admin_client(console_backend) as other:
        other.put('/keys/tail:2', json={'value': 'two'})
    await eventually(lambda: 'paused, 1 not shown' in element(user, 'cdc-summary').text)
    assert 'tail:2' not in {item.subject for item in element(user, 'cdc-feed').items}
    user.find(marker='cdc-prefix').type('tail:')
    await eventually(lambda: {item.subject for item in element(user, 'cdc-feed').items} == {'tail:1'},
                     message='the key prefix should leave only matching keys')
