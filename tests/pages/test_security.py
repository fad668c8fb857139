"""Trust: who the console answers, who it signs in, where a sign-in leads, and what it leaves behind.

Raw HTTP goes through the whole middleware stack of the console the `user` fixture started (httpx over
ASGI), so Host headers, client addresses and cookies are exactly what a browser or an attacker would send.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import stat
import time
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner
from nicegui import app
from nicegui.storage import Storage
from nicegui.testing import User
from pydantic import SecretStr

from services.settings import settings
from tests.conftest import ADMIN_TOKEN
from tests.pages.conftest import eventually

DASHBOARD = 'Real-time storage engine monitoring'
HEALTH = 'Health probe status for the ApexStore backend'


def browser(*, host: str | None = None, address: str = '127.0.0.1', cookies: httpx.Cookies | None = None,
            ) -> httpx.AsyncClient:
    """Someone's browser, talking to the running console."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50123)),
                             base_url='http://test', headers={'Host': host} if host else None, cookies=cookies)


def user_at(address: str) -> User:
    """A second person with a browser at another address (the `user` fixture's console must be running)."""
    return User(httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50123)),
                                  base_url='http://test'))


def on_the_desktop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, 'apexstore_token', SecretStr(ADMIN_TOKEN))


def browser_id(cookies: httpx.Cookies) -> str:
    """NiceGUI's browser id inside the signed session cookie."""
    payload = TimestampSigner(os.environ['CONSOLE_STORAGE_SECRET']).unsign(cookies['session'])
    return json.loads(base64.b64decode(payload))['id']


def signed_in_sessions() -> int:
    from app.auth import _sessions

    return len(_sessions)


def browser_storage_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or Storage.path).glob('storage-user-*.json'))


async def sign_in(user: User, next_page: str = '/dashboard') -> None:
    """Like tests.pages.conftest.sign_in, with patience for a loaded machine."""
    await user.open(f'/login?next={next_page}')
    await try_token(user, ADMIN_TOKEN)
    await user.should_see(marker='connection-badge', retries=50)


async def try_token(user: User, token: str) -> None:
    user.find(marker='token-input').clear().type(token)
    user.find(marker='sign-in').click()


def login_error(user: User) -> str:
    return next(iter(user.find(marker='login-error').elements)).text


# -- 1. the desktop sign-in only trusts this machine ------------------------------------------------------------

async def test_a_page_under_a_foreign_host_name_gets_nothing_not_even_the_desktop_sign_in(
        console_backend, user: User, monkeypatch):
    """DNS rebinding: rebind.attacker.example resolves to 127.0.0.1, so the victim's browser sends its name."""
    on_the_desktop(monkeypatch)
    async with browser(host='rebind.attacker.example:8080') as attacker_page:
        for path in ('/login?next=/dashboard', '/dashboard', '/'):
            response = await attacker_page.get(path)
            assert response.status_code == 400, path
            assert 'location' not in response.headers
    assert signed_in_sessions() == 0


async def test_the_desktop_signs_in_a_browser_on_this_machine_under_its_loopback_names(
        console_backend, user: User, monkeypatch):
    on_the_desktop(monkeypatch)
    for host in ('127.0.0.1:8080', 'localhost:8080', '[::1]:8080'):
        async with browser(host=host) as local:
            response = await local.get('/login?next=/health')
            assert response.status_code == 307, host
            assert response.headers['location'] == '/health'


async def test_the_desktop_does_not_sign_in_someone_on_the_network(console_backend, user: User, monkeypatch):
    on_the_desktop(monkeypatch)
    async with browser(host='127.0.0.1:8080', address='192.0.2.10') as lan_peer:
        response = await lan_peer.get('/login?next=/dashboard')
    assert response.status_code == 200  # the sign-in form, not a way in
    assert 'API token' in response.text and 'Sign in as local user' not in response.text
    assert signed_in_sessions() == 0


@pytest.fixture
def console_behind_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the `user` fixture starts the console."""
    monkeypatch.setenv('CONSOLE_ALLOWED_HOSTS', 'console.example.internal, 10.0.0.5')


async def test_an_operator_lists_the_host_names_the_console_answers_to(console_backend, console_behind_a_name,
                                                                       user: User):
    for host, status in (('console.example.internal', 200), ('10.0.0.5:8080', 200), ('localhost:8080', 400),
                         ('evil.example', 400)):
        async with browser(host=host) as visitor:
            assert (await visitor.get('/login')).status_code == status, host


async def test_signing_out_on_the_desktop_stays_signed_out_until_asked(console_backend, user: User, monkeypatch):
    on_the_desktop(monkeypatch)
    await user.open('/dashboard')
    await user.should_see(DASHBOARD)
    user.find('Sign out').click()
    await user.should_see(marker='local-sign-in', retries=30)
    await user.should_see('API token')
    await user.open('/health')  # coming back later: still the sign-in form
    await user.should_see(marker='local-sign-in')
    await user.should_not_see(HEALTH)
    user.find(marker='local-sign-in').click()
    await user.should_see(HEALTH, retries=30)


# -- 2. a sign-in never leads to another site -------------------------------------------------------------------

async def test_a_sign_in_link_never_leads_to_another_site(console_backend, user: User):
    from app.auth import issue_login_link

    foreign = ['/\\evil.example', '/%09/evil.example', '/%0A/evil.example', '//evil.example', '/\\/evil.example',
               'https://evil.example/', 'javascript:alert(1)', '/%5Cevil.example']
    for next_link in foreign:
        async with browser() as visitor:
            response = await visitor.get(f"{issue_login_link(ADMIN_TOKEN, base_url='')}&next={next_link}")
        assert response.headers['location'] == '/dashboard', next_link
    async with browser() as visitor:  # a path of this console keeps its query, drops a fragment
        response = await visitor.get(f"{issue_login_link(ADMIN_TOKEN, base_url='')}&next=/keys%3Fq%3Dab%23x")
    assert response.headers['location'] == '/keys?q=ab'


async def test_signing_in_from_a_link_with_a_foreign_next_lands_on_the_dashboard(console_backend, user: User):
    await user.open('/login?next=/%09/evil.example')
    await try_token(user, ADMIN_TOKEN)
    await user.should_see(DASHBOARD, retries=30)
    assert not any('evil' in path for path in user.back_history[1:])


# -- 3. a session id planted before sign-in is worthless -------------------------------------------------------

async def test_a_cookie_planted_before_sign_in_does_not_become_a_signed_in_session(console_backend, user: User):
    async with browser() as attacker:
        await attacker.get('/login')  # the attacker's own valid, signed session cookie ...
        for cookie in attacker.cookies.jar:
            user.http_client.cookies.jar.set_cookie(cookie)  # ... planted in the victim's browser
        planted = browser_id(attacker.cookies)
        await sign_in(user)
        await user.should_see(DASHBOARD)
        assert browser_id(user.http_client.cookies) != planted
        response = await attacker.get('/dashboard')
    assert response.status_code == 307 and response.headers['location'].startswith('/login')


async def test_signing_in_and_out_each_issue_a_fresh_session_id(console_backend, user: User):
    """The id a session binds to is issued during the sign-in (with the form); sign-out retires it."""
    await user.http_client.get('/keys')  # a first visit: the browser gets an id
    before = browser_id(user.http_client.cookies)
    await user.open('/login?next=/dashboard')
    await try_token(user, ADMIN_TOKEN)
    await user.should_see(DASHBOARD, retries=30)
    signed_in = browser_id(user.http_client.cookies)
    copy = httpx.Cookies(user.http_client.cookies)
    user.find('Sign out').click()
    await user.should_see('API token', retries=30)
    assert len({before, signed_in, browser_id(user.http_client.cookies)}) == 3
    async with browser(cookies=copy) as someone_with_the_old_cookie:
        response = await someone_with_the_old_cookie.get('/dashboard')
    assert response.status_code == 307 and response.headers['location'].startswith('/login')


async def test_a_second_sign_in_tab_still_signs_in(console_backend, user: User):
    """Each sign-in form is issued its own id; finishing in the older tab rebinds to a fresh one, not to the cookie."""
    await user.open('/login?next=/health')
    first_tab = user.client
    async with browser(cookies=user.http_client.cookies) as second_tab:
        await second_tab.get('/login')  # loaded later: the browser's cookie is now this tab's
        for cookie in second_tab.cookies.jar:
            user.http_client.cookies.jar.set_cookie(cookie)
    assert user.client is first_tab
    await try_token(user, ADMIN_TOKEN)
    await user.should_see(HEALTH, retries=30)


# -- 4. guessing tokens slows down and is logged --------------------------------------------------------------

async def test_guessing_tokens_slows_down_and_is_logged_without_the_token(console_backend, user: User, caplog):
    def refusals() -> list[str]:
        return [r.getMessage() for r in caplog.records if 'sign-in refused' in r.getMessage()]

    caplog.set_level(logging.WARNING)
    await user.open('/login')
    for guess in range(3):
        await try_token(user, f'apx_guess-{guess}')
        await eventually(lambda: len(refusals()) == guess + 1, message='each refusal is logged')  # noqa: B023
        assert login_error(user) == 'That token was refused by the server (invalid or expired).'
    await try_token(user, ADMIN_TOKEN)  # even the right token is not even checked now
    await eventually(lambda: login_error(user).startswith('Too many attempts — try again in '))
    assert login_error(user) == 'Too many attempts — try again in 1 s.'
    assert signed_in_sessions() == 0
    assert len(refusals()) == 3 and all('client 127.0.0.1' in message for message in refusals())
    assert not any('apx_guess' in r.getMessage() or 'guess-' in r.getMessage() for r in caplog.records)
    await asyncio.sleep(1.1)  # the wait is over
    await try_token(user, ADMIN_TOKEN)
    await user.should_see(DASHBOARD, retries=30)


async def test_guesses_spread_over_many_addresses_slow_the_whole_console(console_backend, user: User, monkeypatch):
    from app.security import sign_in_throttle

    monkeypatch.setattr(sign_in_throttle.per_console, 'free', 2)  # 20 in earnest
    guessers = [user_at(f'198.51.100.{n}') for n in (1, 2, 3)]
    try:
        for n, guesser in enumerate(guessers):
            await guesser.open('/login')
            await try_token(guesser, f'apx_guess-{n}')
        await guessers[2].should_see('Too many attempts — try again in', retries=30)
        await guessers[1].should_see('That token was refused by the server (invalid or expired).')
    finally:
        for guesser in guessers:
            await guesser.http_client.aclose()


# -- 5. framing and other response headers ---------------------------------------------------------------------

async def test_no_response_may_be_framed_sniffed_or_leak_its_address(console_backend, user: User):
    await sign_in(user)
    async with browser(cookies=user.http_client.cookies) as visitor:
        responses = [await visitor.get(path) for path in ('/login', '/dashboard', '/keys?embed=1', '/no-such-page')]
    async with browser(host='evil.example') as attacker_page:
        responses.append(await attacker_page.get('/login'))
    for response in responses:
        assert response.headers['content-security-policy'] == "frame-ancestors 'none'", response.url
        assert response.headers['x-frame-options'] == 'DENY'
        assert response.headers['x-content-type-options'] == 'nosniff'
        assert response.headers['referrer-policy'] == 'no-referrer'


@pytest.fixture
def portal_may_embed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the `user` fixture starts the console."""
    monkeypatch.setenv('CONSOLE_FRAME_ANCESTORS', 'https://portal.example, https://ops.example:8443')


async def test_a_listed_portal_may_embed_pages_but_not_the_full_console(console_backend, portal_may_embed,
                                                                        user: User):
    await sign_in(user, next_page='/keys')
    async with browser(cookies=user.http_client.cookies) as visitor:
        embedded = await visitor.get('/keys?embed=1')
        full = await visitor.get('/keys')
    assert embedded.status_code == 200
    assert embedded.headers['content-security-policy'] == \
        'frame-ancestors https://portal.example https://ops.example:8443'
    assert 'x-frame-options' not in embedded.headers
    assert full.headers['x-frame-options'] == 'DENY'
    assert full.headers['content-security-policy'] == "frame-ancestors 'none'"


# -- 6. per-browser storage: private, only while signed in, then gone --------------------------------------------

async def test_anonymous_visits_leave_nothing_on_disk(console_backend, user: User):
    for _ in range(20):
        async with browser() as visitor:
            assert (await visitor.get('/login')).status_code == 200
    await user.open('/login')
    await user.open('/keys')
    await asyncio.sleep(0.5)  # NiceGUI writes storage from background tasks
    assert browser_storage_files() == []


async def test_a_signed_in_browsers_storage_is_private_and_goes_with_its_sign_out(console_backend, user: User):
    await sign_in(user)
    await eventually(lambda: len(browser_storage_files()) == 1, message='no storage for the session')
    [file] = browser_storage_files()
    assert file.is_relative_to(settings.console_data_dir)  # not ./.nicegui
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    user.find('Sign out').click()
    await user.should_see('API token', retries=30)
    await eventually(lambda: not file.exists(), message='the signed-out browser left its storage behind')


async def test_an_expired_session_takes_its_storage_along(console_backend, user: User):
    from app.auth import expire_idle_sessions

    await sign_in(user)
    await eventually(lambda: len(browser_storage_files()) == 1, message='no storage for the session')
    [file] = browser_storage_files()
    user.client.delete()  # the tab closes
    assert await expire_idle_sessions(max_idle_secs=0) == 1
    await eventually(lambda: not file.exists(), message='the expired session left its storage behind')


async def test_storage_no_live_session_owns_is_swept(console_backend, user: User):
    from app.auth import expire_idle_sessions

    await sign_in(user)
    await eventually(lambda: len(browser_storage_files()) == 1, message='no storage for the session')
    [owned] = browser_storage_files()
    orphan = Storage.path / 'storage-user-00000000-0000-0000-0000-000000000000.json'
    orphan.write_text('{"dark": false}')
    an_hour_ago = time.time() - 3600
    os.utime(orphan, (an_hour_ago, an_hour_ago))
    await expire_idle_sessions(max_idle_secs=3600)
    assert not orphan.exists()
    assert owned.exists()
