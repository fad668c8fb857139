"""Page tests: NiceGUI's `user` fixture runs main.py in-process against a real backend."""

from __future__ import annotations

import re

import pytest
from nicegui.testing import User

from app.live import SHOWN_PROBE
from tests.conftest import ADMIN_TOKEN

PATIENT_TRIES = 100  # × 0.1 s: what a page may take to show something on a loaded CI machine


@pytest.fixture(autouse=True)
def patient_should_see(monkeypatch: pytest.MonkeyPatch) -> None:
    """NiceGUI's `should_see` gives a page 3 tries 0.1 s apart: a fixed 0.3 s that fails on a busy machine.

    Waiting for the condition (up to 10 s) keeps every test the same story, just not racing the clock.
    """
    original = User.should_see

    async def should_see(self: User, *args, retries: int = PATIENT_TRIES, **kwargs) -> None:
        await original(self, *args, retries=max(retries, PATIENT_TRIES), **kwargs)

    monkeypatch.setattr(User, 'should_see', should_see)


@pytest.fixture(autouse=True)
def tabs_confirm_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    """A browser tab answers a live view's "shown?" probe once it has handled the render; the simulated user
    has no JavaScript, so it answers at once, like a tab that keeps up (a test can take the rule away)."""
    original = User.__init__

    def __init__(self: User, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.javascript_rules[re.compile(re.escape(SHOWN_PROBE))] = lambda _: True

    monkeypatch.setattr(User, '__init__', __init__)


async def sign_in(user: User, token: str = ADMIN_TOKEN, next_page: str = '/dashboard') -> None:
    await user.open(f'/login?next={next_page}')
    user.find(marker='token-input').type(token)
    user.find(marker='sign-in').click()
    await user.should_see(marker='connection-badge')


async def eventually(check, timeout: float = 8.0, message: str = 'condition not met') -> None:
    """Wait for something live to happen (events arrive asynchronously); fail with `message`."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            if check():
                return
        except (AssertionError, LookupError):  # the element may not be on the page yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(message)


def element(user: User, marker: str):
    found = user.find(marker=marker).elements
    assert found, f'no element marked {marker!r}'
    return next(iter(found))


def hidden_or_not(user: User, marker: str):
    """An element by marker even while it is hidden (`element` finds visible ones only)."""
    found = [e for e in user.client.elements.values() if marker in e._markers]
    assert found, f'no element marked {marker!r}'
    return found[0]


def badge_state(user: User) -> str:
    return element(user, 'connection-badge').props.get('data-status', '')
