"""What only a real browser shows: the one-time link, live rows, text-only keys, sign-out."""

from __future__ import annotations

from nicegui.testing import Screen
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from app.auth import issue_login_link
from tests.browser.conftest import find_now
from tests.conftest import ADMIN_TOKEN, admin_client

EVIL = '<img src=x onerror=alert(1)>'


def sign_in_with_link(screen: Screen, next_page: str = '/dashboard') -> None:
    screen.open('/login')  # starts the console
    link = issue_login_link(ADMIN_TOKEN, base_url=screen.url)
    screen.selenium.get(link)
    screen.wait_for(lambda: '/login' not in screen.selenium.current_url)
    if next_page != '/dashboard':
        screen.open(next_page)


def wait_live(screen: Screen) -> None:
    screen.wait_for(lambda: screen.selenium.find_element(
        By.CSS_SELECTOR, '[data-testid="connection-status"]').get_attribute('data-status') == 'connected')


def assert_no_injection(screen: Screen) -> None:
    try:
        alert = screen.selenium.switch_to.alert
        text = alert.text
        alert.dismiss()
        raise AssertionError(f'an alert fired: {text}')
    except NoAlertPresentException:
        pass
    assert not find_now(screen, By.CSS_SELECTOR, 'img[src="x"]'), 'the key became an <img> element'


def test_one_time_link_signs_in_and_leaves_the_address_bar(console_backend, screen: Screen):
    sign_in_with_link(screen)
    screen.should_contain('Real-time storage engine monitoring')
    assert 'once=' not in screen.selenium.current_url
    wait_live(screen)
    badge = screen.selenium.find_element(By.CSS_SELECTOR, '[data-testid="connection-status"]')
    assert 'Live ·' in badge.text


def test_a_key_put_over_rest_appears_on_the_open_explorer_and_dashboard(console_backend, screen: Screen):
    sign_in_with_link(screen, '/keys')
    wait_live(screen)
    with admin_client(console_backend) as other:
        other.put('/keys/appears:live', json={'value': 'hello from REST'})
    screen.should_contain('appears:live')
    screen.should_contain('hello from REST')
    screen.open('/dashboard')
    wait_live(screen)
    with admin_client(console_backend) as other:
        other.put('/keys/appears:dashboard', json={'value': 'again'})
    screen.should_contain('appears:dashboard')
    total_keys = screen.selenium.find_element(By.CSS_SELECTOR, '.stat-card:nth-child(4)')
    screen.wait_for(lambda: total_keys.text.split('\n')[-2:] == ['2', 'All records'])  # the stats card followed
    # the throughput chart got the new data as a patch (setOption), and drew it: the put is in its line
    puts_drawn = ('const chart = getElement(document.querySelector(".nicegui-echart")).chart;'
                  ' return chart ? chart.getOption().series[0].data.reduce((a, b) => a + b, 0) : 0;')
    screen.wait_for(lambda: screen.selenium.execute_script(puts_drawn) >= 1)


def test_an_html_key_renders_as_text_on_every_live_page(console_backend, screen: Screen):
    sign_in_with_link(screen)
    wait_live(screen)
    with admin_client(console_backend) as other:
        other.post('/keys', json={'key': EVIL, 'value': EVIL})
        other.post('/admin/backups', json={'name': EVIL})
    screen.should_contain(EVIL)  # dashboard feed
    assert_no_injection(screen)
    for route in ('/keys', '/snapshots', '/compaction', '/health'):
        screen.open(route)
        wait_live(screen)  # the page is built and its live data arrived
        if route in ('/keys', '/snapshots'):
            screen.should_contain(EVIL)
        assert_no_injection(screen)


def test_note_markdown_is_sanitised(console_backend, screen: Screen):
    with admin_client(console_backend) as other:
        other.put('/notes/evil', json={'content': f'# Title\n\n{EVIL}\n\n<script>alert(2)</script>'})
    screen.allowed_js_errors.append('/x - Failed to load resource')  # the harmless <img src=x> that remains
    sign_in_with_link(screen, '/notes?open=evil')
    screen.should_contain('Title')
    screen.wait_for(lambda: bool(find_now(screen, By.CSS_SELECTOR, 'img[src="x"]')))  # the note is drawn, inert
    try:
        screen.selenium.switch_to.alert.dismiss()
        raise AssertionError('an alert fired from a note')
    except NoAlertPresentException:
        pass
    assert not find_now(screen, By.CSS_SELECTOR, 'img[onerror]')


def test_sign_out_closes_the_session(console_backend, screen: Screen):
    sign_in_with_link(screen)
    wait_live(screen)
    screen.click('Sign out')
    screen.should_contain('API token')
    screen.open('/keys')
    screen.should_contain('API token')  # the session is gone: back to sign-in
    assert console_backend.call(lambda b: b.bus.streams()) == 0


def test_a_tab_frozen_for_ten_seconds_keeps_its_page_and_what_was_typed(console_backend, screen: Screen):
    """Laying out a huge paste can freeze a tab for seconds on a loaded machine. Its socket goes quiet, but the
    console keeps the page: when the tab wakes up it reconnects to the same page, typed input still there
    (with NiceGUI's default 3 s the console dropped the tab after ~6-9 s and it reloaded, input lost)."""
    from nicegui import Client

    sign_in_with_link(screen, '/keys')
    wait_live(screen)
    box = screen.selenium.find_element(By.CSS_SELECTOR, 'input[data-testid="key-search"]')
    box.send_keys('half-typed:query')
    screen.selenium.execute_script('window.beforeTheFreeze = true;')
    page = screen.selenium.execute_script('return window.clientId')
    screen.selenium.set_script_timeout(60)
    screen.selenium.execute_script('const end = Date.now() + 10000; while (Date.now() < end) {}')  # frozen 10 s
    # awake again: the tab reconnects to its page, unless the console has dropped the page meanwhile
    screen.wait_for(lambda: page not in Client.instances or Client.instances[page].has_socket_connection)
    assert page in Client.instances, 'the console dropped the page while the tab was frozen'
    wait_live(screen)
    assert screen.selenium.execute_script('return window.beforeTheFreeze === true'), 'the tab was reloaded'
    assert screen.selenium.execute_script('return window.clientId') == page
    assert box.get_attribute('value') == 'half-typed:query', 'what was typed is kept'
