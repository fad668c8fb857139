"""Signing in and out: the token is checked, kept server-side, and released on sign-out."""

from __future__ import annotations

import asyncio

from nicegui.testing import User

from services.events import event_service
from tests.conftest import ADMIN_TOKEN
from tests.pages.conftest import sign_in


async def test_every_page_sends_a_signed_out_user_to_login_and_back(console_backend, user: User):
    await user.open('/keys')
    await user.should_see('API token')
    user.find(marker='token-input').type(ADMIN_TOKEN)
    user.find(marker='sign-in').click()
    await user.should_see(marker='key-search')


async def test_a_bad_token_gets_a_clear_message_and_the_field_keeps_it(console_backend, user: User):
    await user.open('/login')
    user.find(marker='token-input').type('apx_wrong')
    user.find(marker='sign-in').click()
    await user.should_see('That token was refused by the server (invalid or expired).')
    assert user.find(marker='token-input').elements.pop().value == 'apx_wrong'


async def test_sign_out_releases_the_credential(console_backend, user: User):
    await sign_in(user)
    await user.should_see('Real-time storage engine monitoring')
    assert event_service().status(ADMIN_TOKEN).state in ('connecting', 'connected')
    user.find('Sign out').click()
    await user.should_see('API token')
    assert event_service().status(ADMIN_TOKEN).state == 'disconnected'


async def test_a_one_time_link_works_once(console_backend, user: User):
    from app.auth import issue_login_link

    link = issue_login_link(ADMIN_TOKEN, base_url='')
    await user.open(link)
    await user.should_see('Real-time storage engine monitoring')
    user.find('Sign out').click()
    await user.should_see('API token')
    await user.open(link)
    await user.should_see('That sign-in link has expired or was already used.', retries=30)


async def test_desktop_use_signs_local_users_in_with_the_configured_token(console_backend, user: User, monkeypatch):
    from pydantic import SecretStr

    from services.settings import settings

    monkeypatch.setattr(settings, 'apexstore_token', SecretStr(ADMIN_TOKEN))
    await user.open('/health')
    await user.should_see('Health probe status for the ApexStore backend')


async def test_an_idle_session_expires_and_releases_its_connection(console_backend, user: User):
    from app.auth import expire_idle_sessions

    await sign_in(user)
    await asyncio.sleep(0.01)
    assert await expire_idle_sessions(max_idle_secs=0) == 0  # a tab is open: still in use
    user.client.delete()  # the tab closes
    await asyncio.sleep(0.01)
    assert await expire_idle_sessions(max_idle_secs=0) == 1
    assert event_service().status(ADMIN_TOKEN).state == 'disconnected'
    await user.open('/keys')
    await user.should_see('API token')
