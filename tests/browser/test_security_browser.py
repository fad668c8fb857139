"""Trust in a real browser against the real server: the form sign-in's hand-off, desktop sign-out, headers."""

from __future__ import annotations

import httpx
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import ADMIN_TOKEN

HEALTH = 'Health probe status for the ApexStore backend'


def test_signing_in_with_the_form_lands_on_the_page_asked_for(console_backend, screen: Screen):
    screen.open('/login?next=/health')
    screen.find_by_css('input[type="password"]').send_keys(ADMIN_TOKEN + Keys.ENTER)
    screen.should_contain(HEALTH)
    assert screen.current_path == '/health'  # the hand-off ticket is gone from the address bar


def test_signing_out_of_the_desktop_offers_to_sign_in_again(console_backend, screen: Screen, monkeypatch):
    monkeypatch.setenv('APEXSTORE_TOKEN', ADMIN_TOKEN)  # read when the first page starts the console
    screen.open('/health')
    screen.should_contain(HEALTH)  # a local browser is signed in by itself
    screen.click('Sign out')
    screen.should_contain('Sign in as local user')
    screen.open('/health')
    screen.should_contain('Sign in as local user')  # still signed out
    screen.click('Sign in as local user')
    screen.should_contain(HEALTH)


def test_the_served_console_answers_only_its_own_names_and_forbids_framing(console_backend, screen: Screen):
    screen.open('/login')  # starts the console
    port = screen.url.rsplit(':', 1)[1]
    rebound = httpx.get(f'{screen.url}/login', headers={'Host': f'rebind.attacker.example:{port}'})
    assert rebound.status_code == 400
    page = httpx.get(f'{screen.url}/login')
    assert page.status_code == 200
    for response in (rebound, page):
        assert response.headers['x-frame-options'] == 'DENY'
        assert response.headers['content-security-policy'] == "frame-ancestors 'none'"
        assert response.headers['x-content-type-options'] == 'nosniff'
        assert response.headers['referrer-policy'] == 'no-referrer'
    assert screen.selenium.find_elements(By.CSS_SELECTOR, 'input[type="password"]')
