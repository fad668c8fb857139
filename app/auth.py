"""Sessions, sign-in and the route guard.

The browser only holds NiceGUI's signed session cookie; `app.storage.user` keeps nothing but a random
session id. Tokens live in this process's memory (never on disk, in a page, a URL or a log), so
restarting the console signs everyone out. One-time sign-in links map a random nonce to a token
once and are consumed on first use.
"""

from __future__ import annotations

import logging
import secrets
import time
import weakref
from dataclasses import dataclass, field

from nicegui import app

from services.api import ApexApi, AuthFailed, PermissionDenied
from services.events import event_service
from services.events.models import CompactionEvent
from services.settings import settings

log = logging.getLogger(__name__)
SESSION_KEY = 'session_id'
ONCE_TTL_SECS = 15 * 60


@dataclass
class Session:
    session_id: str
    token: str = field(repr=False)
    identity: str
    api: ApexApi = field(repr=False)
    can_read: bool = True
    last_seen: float = field(default_factory=time.monotonic)
    clients: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False)  # open tabs of this session

    def in_use(self) -> bool:
        return any(not client.is_deleted for client in list(self.clients))


_sessions: dict[str, Session] = {}
_once: dict[str, tuple[str, float]] = {}


def identity_for(token: str) -> str:
    """What the header shows: a fingerprint, never the token."""
    from services.events.channel import credential_id

    return f'token …{credential_id(token)[:6]}'


def issue_login_link(token: str, base_url: str | None = None) -> str:
    """A single-use sign-in URL (`/login?once=…`), valid for 15 minutes."""
    nonce = secrets.token_urlsafe(24)
    _once[nonce] = (token, time.monotonic() + ONCE_TTL_SECS)
    base = base_url or f'http://{settings.console_host}:{settings.console_port}'
    return f'{base}/login?once={nonce}'


def consume_login_link(nonce: str) -> str | None:
    token, deadline = _once.pop(nonce, (None, 0.0))
    if token is None or time.monotonic() > deadline:
        return None
    return token


async def sign_in(token: str) -> Session:
    """Check the token against the backend, then open a server-side session for this browser.

    Raises AuthFailed (refused) or ApiError (unreachable etc.); nothing is stored on failure.
    """
    token = token.strip()
    if not token:
        raise AuthFailed('Enter an API token')
    api = ApexApi(settings.backend_url, token,
                  on_admin_action=lambda event: _note_admin_action(token, event))
    can_read = True
    try:
        await api.check_token()
    except PermissionDenied:
        can_read = False  # valid credential without Read: sign in, but pages will say what they cannot show
    except Exception:
        await api.close()
        raise
    await sign_out()
    session = Session(secrets.token_urlsafe(24), token, identity_for(token), api, can_read)
    _sessions[session.session_id] = session
    app.storage.user[SESSION_KEY] = session.session_id
    event_service().connect(token)
    log.info('signed in (%s)', session.identity)
    return session


def _note_admin_action(token: str, event: CompactionEvent) -> None:
    event_service().note_admin_action(token, event)


def current_session() -> Session | None:
    session = _sessions.get(app.storage.user.get(SESSION_KEY, ''))
    if session is not None:
        session.last_seen = time.monotonic()
    return session


async def end_session(session: Session) -> None:
    if _sessions.pop(session.session_id, None) is None:
        return
    await event_service().disconnect(session.token)
    await session.api.close()
    log.info('signed out (%s)', session.identity)


async def sign_out() -> None:
    session = _sessions.get(app.storage.user.get(SESSION_KEY, ''))
    app.storage.user.pop(SESSION_KEY, None)
    if session is not None:
        await end_session(session)


async def expire_idle_sessions(max_idle_secs: float) -> int:
    """Release credentials of sessions nobody used for a long time (last one out closes the socket).

    A session with a tab still open counts as used: live pages need no clicks to be useful.
    """
    now = time.monotonic()
    for session in _sessions.values():
        if session.in_use():
            session.last_seen = now
    stale = [s for s in _sessions.values() if now - s.last_seen > max_idle_secs]
    for session in stale:
        await end_session(session)
    return len(stale)


async def end_sessions_for_token(token: str) -> None:
    for session in [s for s in _sessions.values() if s.token == token]:
        await end_session(session)


def auto_login_token() -> str | None:
    """Desktop use: with APEXSTORE_TOKEN set and the console on loopback, sign local users in."""
    if settings.apexstore_token is None or settings.console_host not in ('127.0.0.1', 'localhost', '::1'):
        return None
    return settings.apexstore_token.get_secret_value()


async def close_all() -> None:
    for session in list(_sessions.values()):
        await end_session(session)
