"""Browser tests: NiceGUI's `screen` fixture with Debian's Chromium, headless."""

from __future__ import annotations

import shutil

import pytest
from nicegui.testing import Screen
from selenium import webdriver

CHROMIUM = shutil.which('chromium')
# NiceGUI's screen waits 4 s for text to appear: a fixed deadline that a loaded CI machine misses. The waits
# still end as soon as the condition holds; they just give a busy machine 15 s.
Screen.IMPLICIT_WAIT = 15


def pytest_collection_modifyitems(items) -> None:
    if CHROMIUM and shutil.which('chromedriver'):
        return
    for item in items:
        if 'tests/browser' in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason='chromium/chromedriver not installed (make test installs them)'))


@pytest.fixture(autouse=True)
def desktop_window(screen: Screen):
    """One browser serves every test: a test that narrows the window must not narrow the next one's."""
    yield
    screen.selenium.set_window_size(1400, 1000)


@pytest.fixture(scope='session')
def nicegui_chrome_options(nicegui_chrome_options: webdriver.ChromeOptions) -> webdriver.ChromeOptions:
    for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                     '--disable-background-networking', '--disable-component-update', '--disable-sync',
                     '--no-first-run', '--window-size=1400,1000'):
        nicegui_chrome_options.add_argument(argument)
    if CHROMIUM:
        nicegui_chrome_options.binary_location = CHROMIUM
    return nicegui_chrome_options


def find_now(screen: Screen, by: str, selector: str) -> list:
    """Elements present right now: for checks that something is absent, which the implicit wait (15 s) would
    otherwise turn into a 15 s pause each time; use `screen.wait_for` around it to wait for presence."""
    screen.selenium.implicitly_wait(0)
    try:
        return screen.selenium.find_elements(by, selector)
    finally:
        screen.selenium.implicitly_wait(Screen.IMPLICIT_WAIT)
