"""Sessions, sign-in and the route guard.

The browser only holds NiceGUI's signed session cookie, whose random browser id is the key of its server-side
session here. Tokens live in this process's memory (never on disk, in a page, a URL or a log), so restarting
the console signs everyone out. One-time sign-in links map a random nonce to a token once and are consumed on
first use.

Session fixation: a session is only ever bound to a browser id the console issued in the very response that
rendered the sign-in form or completed the sign-in (see `renew_browser`), never to an id the browser brought
along. We rotate NiceGUI's own browser id rather than keep a second random value beside it because NiceGUI
keys `app.storage.user` (theme, unsaved drafts) by that id: with a second value, whoever planted the cookie
would still share that storage with the victim. A form sign-in happens over the WebSocket, which cannot set a
cookie, so it finishes with one HTTP hand-off request that rotates the id again if the cookie is not the one
issued with the form. Signing out retires the id at once (its session and storage are gone) and the next
sign-in page issues a fresh one.
"""

from __future__ import annotations

import logging
import secrets
import time
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlencode

from nicegui import app
from starlette.requests import Request

from services.api import ApexApi, AuthFailed, PermissionDenied
from services.events import event_service
from services.events.models import CompactionEvent
from services.offered import route_probe
from services.settings import LOOPBACK_NAMES, settings

from .security import drop_browser_storage, is_local_request, renew_browser_id, sweep_browser_storage

log = logging.getLogger(__name__)
ONCE_TTL_SECS = 15 * 60
HAND_OFF_TTL_SECS = 60  # from a successful form sign-in to its hand-off request
SIGNED_OUT_TTL_SECS = 15 * 60  # how long the sign-in page remembers that this browser just signed out
STORAGE_GRACE_SECS = 15 * 60  # unbound browser storage (drafts waiting for a sign-in) is kept this long


@dataclass
class Session:
    token: str = field(repr=False)
    identity: str
    api: ApexApi = field(repr=False)
    can_read: bool = True
    browser_id: str = ''  # the NiceGUI browser id it is bound to ('' until bound)
    last_seen: float = field(default_factory=time.monotonic)
    clients: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False)  # open tabs of this session

    def in_use(self) -> bool:
        return any(not client.is_deleted for client in list(self.clients))


@dataclass
class HandOff:
    session: Session
    browser_id: str  # the id issued with the sign-in form
    target: str
    deadline: float


_sessions: dict[str, Session] = {}  # by browser id
_once: dict[str, tuple[str, float]] = {}
_hand_offs: dict[str, HandOff] = {}
_signed_out: dict[str, float] = {}  # browser id -> until when the sign-in page treats it as just signed out


def identity_for(token: str) -> str:
    """What the header shows: a fingerprint, never the token."""
    from services.events.channel import credential_id

    return f'token …{credential_id(token)[:6]}'


def issue_login_link(token: str, base_url: str | None = None, next_path: str | None = None) -> str:
    """A single-use sign-in URL (`/login?once=…`), valid for 15 minutes."""
    nonce = secrets.token_urlsafe(24)
    _once[nonce] = (token, time.monotonic() + ONCE_TTL_SECS)
    base = base_url if base_url is not None else f'http://{settings.console_host}:{settings.console_port}'
    query = {'once': nonce, **({'next': next_path} if next_path else {})}
    return f'{base}/login?{urlencode(query)}'


def consume_login_link(nonce: str) -> str | None:
    token, deadline = _once.pop(nonce, (None, 0.0))
    if token is None or time.monotonic() > deadline:
        return None
    return token


async def open_session(token: str) -> Session:
    """Check the token against the backend and open its live connection; the session is not bound yet.

    Raises AuthFailed (refused) or ApiError (unreachable etc.); nothing is kept on failure.
    """
    token = token.strip()
    if not token:
        raise AuthFailed('Enter an API token')
    api = ApexApi(settings.backend_url, token, on_admin_action=lambda event: _note_admin_action(token, event),
                  gate=event_service().blocked)  # no token to a restarting or foreign embedded backend
    can_read = True
    try:
        await api.check_token()
    except PermissionDenied:
        can_read = False  # valid credential without Read: sign in, but pages will say what they cannot show
    except Exception:
        await api.close()
        raise
    event_service().connect(token)
    route_probe.forget(api.base_url)  # a sign-in asks the server again which optional pages it has
    return Session(token, identity_for(token), api, can_read)


def _note_admin_action(token: str, event: CompactionEvent) -> None:
    event_service().note_admin_action(token, event)


async def _bind(session: Session, browser_id: str) -> None:
    if (previous := _sessions.get(browser_id)) is not None:
        await end_session(previous)
    session.browser_id = browser_id
    session.last_seen = time.monotonic()
    _sessions[browser_id] = session
    log.info('signed in (%s)', session.identity)


async def renew_browser() -> str:
    """A fresh browser id for this response (HTTP only); a session bound to the old one ends."""
    old_id = current_browser_id()
    new_id = await renew_browser_id()
    if old_id and (old := _sessions.get(old_id)) is not None:
        await end_session(old)
    return new_id


async def sign_in_here(session: Session) -> None:
    """Bind `session` to this browser under a fresh id (while handling its HTTP request)."""
    await _bind(session, await renew_browser())


def hand_off(session: Session, browser_id: str, target: str) -> str:
    """After a form sign-in (WebSocket): the URL of the HTTP request that binds the session to the browser."""
    ticket = secrets.token_urlsafe(24)
    _hand_offs[ticket] = HandOff(session, browser_id, target, time.monotonic() + HAND_OFF_TTL_SECS)
    return '/login/complete?' + urlencode({'ticket': ticket})


async def complete_hand_off(ticket: str) -> str | None:
    """Bind a form sign-in to the browser presenting `ticket`; returns where to go, or None if it expired.

    The id must be the one issued with the form: if another cookie arrives (a second sign-in tab, or one
    planted meanwhile), the browser gets a fresh id instead of the session landing on that cookie.
    """
    pending = _hand_offs.pop(ticket, None)
    if pending is None:
        return None
    if time.monotonic() > pending.deadline:
        await _release(pending.session)
        return None
    browser_id = current_browser_id()
    if browser_id != pending.browser_id:
        browser_id = await renew_browser()
    await _bind(pending.session, browser_id)
    return pending.target


def current_browser_id() -> str | None:
    try:
        browser_id = app.storage.browser.get('id')
    except RuntimeError:  # no request in this context
        return None
    return str(browser_id) if browser_id else None


def current_session() -> Session | None:
    session = _sessions.get(current_browser_id() or '')
    if session is not None:
        session.last_seen = time.monotonic()
    return session


async def _release(session: Session) -> None:
    await event_service().disconnect(session.token)
    await session.api.close()


async def end_session(session: Session, *, keep_storage: bool = False) -> None:
    """Sign a session out: its credential is released and its browser's storage removed (unless kept)."""
    if _sessions.get(session.browser_id) is not session:
        return
    del _sessions[session.browser_id]
    if not keep_storage:
        drop_browser_storage(session.browser_id)
    await _release(session)
    log.info('signed out (%s)', session.identity)


async def sign_out() -> None:
    """Sign this browser out; its id is retired (nothing is bound to it again) and remembered as signed out."""
    browser_id = current_browser_id()
    if browser_id is None:
        return
    _signed_out[browser_id] = time.monotonic() + SIGNED_OUT_TTL_SECS
    session = _sessions.get(browser_id)
    if session is not None:
        await end_session(session)
    else:
        drop_browser_storage(browser_id)


def just_signed_out(browser_id: str | None) -> bool:
    """Whether this browser signed out recently (asked once, by the sign-in page)."""
    deadline = _signed_out.pop(browser_id or '', 0.0)
    return time.monotonic() <= deadline


async def expire_idle_sessions(max_idle_secs: float) -> int:
    """Release credentials of sessions nobody used for a long time (last one out closes the socket).

    A session with a tab still open counts as used: live pages need no clicks to be useful. Also drops
    unfinished hand-offs, stale links and marks, and browser storage no live session owns.
    """
    now = time.monotonic()
    for session in _sessions.values():
        if session.in_use():
            session.last_seen = now
    stale = [s for s in _sessions.values() if now - s.last_seen > max_idle_secs]
    for session in stale:
        await end_session(session)
    for ticket in [t for t, pending in _hand_offs.items() if now > pending.deadline]:
        await _release(_hand_offs.pop(ticket).session)
    for nonce in [n for n, (_, deadline) in _once.items() if now > deadline]:
        del _once[nonce]
    for browser_id in [b for b, deadline in _signed_out.items() if now > deadline]:
        del _signed_out[browser_id]
    sweep_browser_storage(keep=set(_sessions), grace_secs=STORAGE_GRACE_SECS)
    return len(stale)


async def end_sessions_for_token(token: str) -> None:
    for session in [s for s in _sessions.values() if s.token == token]:
        await end_session(session)


async def refused_token(token: str) -> None:
    """The server refused a credential (revoked, expired): every session using it must sign in again.

    Their browsers keep their storage, so unsaved drafts are still there after the new sign-in.
    """
    refused = [s for s in _sessions.values() if s.token == token]
    for session in refused:
        await end_session(session, keep_storage=True)
    if refused:
        log.warning('the server refused the credential of %s; %d session(s) signed out', refused[0].identity,
                    len(refused))


def auto_login_token() -> str | None:
    """Desktop use: APEXSTORE_TOKEN with the console on loopback."""
    if settings.apexstore_token is None or settings.console_host not in LOOPBACK_NAMES:
        return None
    return settings.apexstore_token.get_secret_value()


def desktop_token(request: Request) -> str | None:
    """The desktop token, for requests from this machine only (Host name and peer address on loopback)."""
    token = auto_login_token()
    return token if token is not None and is_local_request(request) else None


async def close_all() -> None:
    for session in list(_sessions.values()):
        await end_session(session)
    for pending in list(_hand_offs.values()):
        await _release(pending.session)
    _hand_offs.clear()
