"""The key explorer in a real browser: find by prefix, a JSON value as a tree, live rows, a phone-wide layout."""

from __future__ import annotations

import json

from nicegui.testing import Screen
from selenium.common.exceptions import ElementClickInterceptedException, ElementNotInteractableException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import find_now
from tests.browser.test_browser import sign_in_with_link, wait_live
from tests.conftest import admin_client

DOC = {'profile': {'name': 'Ada', 'languages': ['en', 'fr']}, 'active': True}


def search_box(screen: Screen):
    return screen.selenium.find_element(By.CSS_SELECTOR,
                                        '[data-testid="key-search"] input, input[data-testid="key-search"]')


def pane(screen: Screen):
    return screen.selenium.find_element(By.CSS_SELECTOR, '[data-testid="value-pane"]')


def grid_text(screen: Screen) -> str:
    return screen.selenium.find_element(By.CSS_SELECTOR, '[data-testid="key-table"]').text


def rect(screen: Screen, testid: str) -> dict:
    return screen.selenium.execute_script(
        'return document.querySelector(arguments[0]).getBoundingClientRect().toJSON()', f'[data-testid="{testid}"]')


def test_find_by_prefix_open_json_as_a_tree_live_rows_and_a_phone_layout(console_backend, screen: Screen):
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'user:{i:03d}', 'value': f'name {i}'} for i in range(5)]
                 + [{'key': 'doc:1', 'value': json.dumps(DOC)}]})
    sign_in_with_link(screen, '/keys')
    wait_live(screen)
    screen.wait_for(lambda: 'doc:1' in grid_text(screen))

    search_box(screen).send_keys('user:', Keys.ENTER)  # find by prefix
    screen.wait_for(lambda: 'doc:1' not in grid_text(screen) and 'user:004' in grid_text(screen))
    screen.wait_for(lambda: 'q=user%3A' in screen.selenium.current_url)  # the address bar holds the search

    box = search_box(screen)
    box.send_keys(Keys.CONTROL, 'a')
    box.send_keys('doc:1', Keys.ENTER)  # an exact key opens
    screen.wait_for(lambda: 'Ada' in screen.selenium.find_element(By.CSS_SELECTOR, '[data-testid="value-tree"]').text)
    tree_text = screen.selenium.find_element(By.CSS_SELECTOR, '[data-testid="value-tree"]').text
    assert 'profile' in tree_text and 'languages' in tree_text, 'the JSON shows as a tree of its fields'
    screen.wait_for(lambda: 'key=doc%3A1' in screen.selenium.current_url)
    screen.selenium.execute_script('document.activeElement.blur()')
    ActionChains(screen.selenium).send_keys(Keys.ESCAPE).perform()  # Esc closes the value
    screen.wait_for(lambda: not pane(screen).is_displayed())
    ActionChains(screen.selenium).send_keys('/').perform()  # / focuses the search bar
    screen.wait_for(lambda: screen.selenium.switch_to.active_element == search_box(screen))

    box = search_box(screen)
    box.send_keys(Keys.CONTROL, 'a')
    box.send_keys('user:', Keys.ENTER)
    screen.wait_for(lambda: 'user:002' in grid_text(screen))
    with admin_client(console_backend) as other:
        other.put('/keys/user:002', json={'value': 'patched by another client'})
    screen.wait_for(lambda: 'patched by another client' in grid_text(screen))
    screen.selenium.find_element(By.XPATH, '//*[@data-testid="key-table"]//*[@col-id="key" and .="user:002"]').click()
    screen.wait_for(lambda: pane(screen).is_displayed() and 'patched by another client' in pane(screen).text)

    screen.selenium.set_window_size(390, 844)
    sizes = 'return [document.documentElement.scrollWidth, window.innerWidth]'
    screen.wait_for(lambda: (lambda w: w[0] <= w[1])(screen.selenium.execute_script(sizes)))  # the drawer slid away
    width = screen.selenium.execute_script(sizes)
    assert width[1] <= 400, f'the window did not narrow: {width}'
    assert width[0] <= width[1], f'the page scrolls sideways at 390 px: {width}'
    keys, value = rect(screen, 'key-table'), rect(screen, 'value-pane')
    assert value['top'] >= keys['bottom'] - 1, f'the value pane should sit below the keys: {keys} {value}'
    assert value['right'] <= width[1] + 1 and keys['right'] <= width[1] + 1
    screen.wait_for(lambda: 'Open' in grid_text(screen) and 'Delete' in grid_text(screen))  # rows became cards
    card = screen.selenium.find_element(By.XPATH, '//*[@data-testid="key-table"]//*[contains(@class, "key-card")]'
                                                  '[.//*[.="user:000"]]')
    assert 'name 0' in card.text, 'a card shows the key, its value and its actions'
    card.find_element(By.XPATH, './/button[.="Delete"]').click()
    screen.should_contain('This cannot be undone.')  # the confirmation, before anything is deleted


def clicked(element) -> bool:
    """Click unless something still covers the element (a dialog that is opening): for `wait_for`."""
    try:
        element.click()
    except (ElementClickInterceptedException, ElementNotInteractableException):
        return False
    return True


def by_testid(screen: Screen, name: str):
    return screen.selenium.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')


def field(screen: Screen, name: str):
    """The input or textarea of a Quasar field marked `name` (the attribute lands on the field or on its input)."""
    return screen.selenium.find_element(By.CSS_SELECTOR, f'input[data-testid="{name}"], textarea[data-testid="{name}"],'
                                        f' [data-testid="{name}"] input, [data-testid="{name}"] textarea')


def test_a_142_kb_json_value_opens_as_a_tree_and_an_edit_is_saved_keeping_the_ttl(console_backend, screen: Screen):
    big = {'orders': [{'id': i, 'customer': f'customer-{i}', 'lines': [{'sku': f'sku-{i}-{j}', 'qty': j}
                                                                       for j in range(8)]} for i in range(470)]}
    text = json.dumps(big)
    assert 130_000 < len(text) < 160_000
    with admin_client(console_backend) as api:
        api.put('/keys/orders:big', json={'value': text})
        api.put('/keys/session:1', json={'value': '{"user": "ada"}', 'ttl_secs': 3600})
    sign_in_with_link(screen, '/keys?key=orders%3Abig')
    wait_live(screen)
    screen.should_contain('preview truncated — load all')  # a big value comes in parts, never "not valid JSON"
    assert 'not valid JSON' not in pane(screen).text
    assert '140.3 KB' in by_testid(screen, 'value-size').text
    screen.selenium.find_element(By.XPATH, '//button[.//span[normalize-space()="Load all"]]').click()
    screen.wait_for(lambda: '1 prop' in by_testid(screen, 'value-tree').text)  # the whole document, as a tree

    screen.open('/keys?key=session%3A1')
    screen.wait_for(lambda: 'ada' in by_testid(screen, 'value-tree').text)
    screen.wait_for(lambda: any(ch.isdigit() for ch in by_testid(screen, 'value-ttl').text))
    by_testid(screen, 'value-edit').click()
    editor = field(screen, 'value-editor')
    editor.send_keys(Keys.CONTROL, 'a')
    editor.send_keys('{"user": "grace"}')
    by_testid(screen, 'value-save').click()
    screen.wait_for(lambda: clicked(by_testid(screen, 'diff-save')))  # once the dialog has finished opening
    with admin_client(console_backend) as api:
        screen.wait_for(lambda: api.get('/keys/session:1').json()['value'] == '{"user": "grace"}')
        ttl = api.get('/keys/session:1/ttl').json()
    assert 0 < ttl['ttl_secs'] <= 3600, f'saving must keep the TTL: {ttl}'


def test_delete_by_pattern_previews_the_count_and_needs_the_pattern_typed(console_backend, screen: Screen):
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'tmp:{i}', 'value': 'x'} for i in range(7)]
                 + [{'key': 'keep:1', 'value': 'y'}]})
    sign_in_with_link(screen, '/keys')
    wait_live(screen)
    screen.wait_for(lambda: 'tmp:6' in grid_text(screen))
    screen.selenium.find_element(By.CSS_SELECTOR, '[aria-label="Bulk actions"]').click()
    by_testid(screen, 'delete-pattern').click()
    field(screen, 'pattern-query').send_keys('tmp:')
    by_testid(screen, 'pattern-preview').click()
    screen.wait_for(lambda: by_testid(screen, 'pattern-count').text == '7 keys match')
    assert not by_testid(screen, 'pattern-delete').is_enabled(), 'not before the pattern is typed'
    field(screen, 'pattern-typed').send_keys('tmp:')
    screen.wait_for(lambda: by_testid(screen, 'pattern-delete').is_enabled())
    by_testid(screen, 'pattern-delete').click()
    with admin_client(console_backend) as api:
        screen.wait_for(lambda: api.get('/keys', params={'prefix': 'tmp:'}).json()['keys'] == [])
        assert api.get('/keys/keep:1').status_code == 200
    screen.wait_for(lambda: 'tmp:6' not in grid_text(screen) and 'keep:1' in grid_text(screen))


def test_the_first_rows_arrive_with_the_page_and_give_way_to_the_grid(console_backend, screen: Screen):
    with admin_client(console_backend) as api:
        api.post('/keys/batch', json={'records': [{'key': f'first:{i:02d}', 'value': f'v{i}'} for i in range(30)]})
    sign_in_with_link(screen, '/dashboard')
    html = screen.selenium.execute_script(
        'return fetch("/keys", {credentials: "same-origin"}).then(r => r.text())')  # the page as the server sends it
    assert 'first:00    v0' in html, 'the first rows are text in the page itself, before any script ran'
    assert '<html lang="en-US"' in html, 'screen readers need the page\'s language'
    screen.open('/keys')
    screen.wait_for(lambda: 'first:19' in grid_text(screen))
    preview = '//*[not(self::script)][contains(text(), "first:00    v0")]'  # the page's own JSON is a script
    screen.wait_for(lambda: not find_now(screen, By.XPATH, preview))
