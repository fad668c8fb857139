"""Browser tests: NiceGUI's `screen` fixture with Debian's Chromium, headless."""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver

CHROMIUM = shutil.which('chromium')


def pytest_collection_modifyitems(items) -> None:
    if CHROMIUM and shutil.which('chromedriver'):
        return
    for item in items:
        if 'tests/browser' in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason='chromium/chromedriver not installed (make test installs them)'))


@pytest.fixture(scope='session')
def nicegui_chrome_options(nicegui_chrome_options: webdriver.ChromeOptions) -> webdriver.ChromeOptions:
    for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                     '--disable-background-networking', '--disable-component-update', '--disable-sync',
                     '--no-first-run', '--window-size=1400,1000'):
        nicegui_chrome_options.add_argument(argument)
    if CHROMIUM:
        nicegui_chrome_options.binary_location = CHROMIUM
    return nicegui_chrome_options
