"""Page tests: NiceGUI's `user` fixture runs main.py in-process against a real backend."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import ADMIN_TOKEN


async def sign_in(user: User, token: str = ADMIN_TOKEN, next_page: str = '/dashboard') -> None:
    await user.open(f'/login?next={next_page}')
    user.find(marker='token-input').type(token)
    user.find(marker='sign-in').click()
    await user.should_see(marker='connection-badge')
