"""`/login`: sign in with an API token, a one-time link, or automatically on a desktop."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from services.api import ApiError, AuthFailed, Unreachable
from services.events import event_service
from services.settings import settings

from ..auth import (
    complete_hand_off,
    consume_login_link,
    current_browser_id,
    current_session,
    desktop_token,
    hand_off,
    issue_login_link,
    just_signed_out,
    open_session,
    renew_browser,
    sign_in_here,
)
from ..security import client_address, sign_in_throttle, too_many_attempts
from ..shell import CSS, public_page

DEFAULT_TARGET = '/dashboard'
MANUAL_KEY = 'desktop_sign_in'  # in the signed cookie: 'manual' once this browser signed out on a desktop
NOTICES = {
    1: 'That sign-in link has expired or was already used. Sign in with an API token, or restart the console for '
       'a new link.',
    2: 'The sign-in did not complete in time. Please sign in again.',
}


def safe_next(target: str | None) -> str:
    """A path on this console (with its query), else the dashboard: a sign-in must never lead to another site.

    Browsers read `/\\host` and `/<tab>/host` as `//host`, so backslashes and control characters are refused
    outright, as is anything that parses with a scheme or host; only path and query are kept.
    """
    if not target or any(char == '\\' or ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return DEFAULT_TARGET
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith('/') or parts.path.startswith(('//', '/login')):
        return DEFAULT_TARGET
    return urlunsplit(('', '', parts.path, parts.query, ''))


@public_page('/login')
async def login_page(request: Request, next: str = DEFAULT_TARGET,  # noqa: A002 - query parameter name
                     once: str | None = None, expired: int = 0):
    target = safe_next(next)
    if once:
        return await _sign_in_with_link(request, once, target)
    session = current_session()
    if session is not None and event_service().status(session.token).state != 'auth_failed':
        return RedirectResponse(target)
    if just_signed_out(current_browser_id()):
        request.session[MANUAL_KEY] = 'manual'  # a desktop sign-out stays signed out until asked otherwise
    desktop = desktop_token(request)
    if desktop and request.session.get(MANUAL_KEY) != 'manual':
        try:
            await sign_in_here(await open_session(desktop))
            return RedirectResponse(target)
        except ApiError:
            pass  # fall through to the form, which will say what is wrong when used
    browser_id = await renew_browser()  # the form's sign-in binds to an id issued now, never one brought along
    render_form(request, browser_id, target, NOTICES.get(expired, ''), offer_local=desktop is not None)


async def _sign_in_with_link(request: Request, nonce: str, target: str) -> RedirectResponse:
    token = consume_login_link(nonce)
    if token is not None:
        try:
            await sign_in_here(await open_session(token))
            request.session.pop(MANUAL_KEY, None)  # a link (also the local-user button's) opts back in
            return RedirectResponse(target)  # also drops ?once= from the address bar
        except ApiError:
            pass
    return RedirectResponse('/login?' + urlencode({'next': target, 'expired': 1}))


@public_page('/login/complete')
async def complete_sign_in(ticket: str = ''):
    """The HTTP end of a form sign-in: binds the session to this browser (see app.auth)."""
    target = await complete_hand_off(ticket)
    return RedirectResponse(target if target is not None else '/login?expired=2')


def apply_anonymous_theme() -> None:
    """The shell's look without per-browser storage: nothing is stored for visitors who are not signed in."""
    ui.colors(primary='#f97316', positive='#22c55e', negative='#ef4444', info='#3b82f6', warning='#f59e0b')
    ui.add_css(CSS)
    ui.dark_mode(True)


def render_form(request: Request, browser_id: str, target: str, notice: str = '', offer_local: bool = False) -> None:
    apply_anonymous_theme()
    ui.page_title('Sign in · ApexStore Console')
    with ui.card().classes('absolute-center w-[26rem] max-w-[95vw] gap-3'):
        with ui.row().classes('items-center gap-2'):
            ui.icon('bolt', size='lg').classes('text-primary')
            ui.label('ApexStore Console').classes('text-xl font-bold')
        ui.label(f'Server: {settings.backend_url}').classes('text-sm text-gray-500')
        token = ui.input('API token', password=True, password_toggle_button=True,
                         placeholder='apx_…').classes('w-full').props('autofocus').mark('token-input')
        error = ui.label(notice).classes('text-negative text-sm').mark('login-error')
        button = ui.button('Sign in', icon='login').classes('w-full').mark('sign-in')

        async def submit() -> None:
            if not (token.value or '').strip():
                error.text = 'Enter an API token.'
                return
            address = client_address(request)
            if (wait := sign_in_throttle.attempt(address)) > 0:
                error.text = too_many_attempts(wait)
                return
            button.props('loading')
            try:
                session = await open_session(token.value)
            except AuthFailed:
                sign_in_throttle.refused(address)
                error.text = 'That token was refused by the server (invalid or expired).'
                return
            except Unreachable:
                sign_in_throttle.not_judged(address)
                error.text = f'Cannot reach the ApexStore server at {settings.backend_url}.'
                return
            except ApiError as exc:
                sign_in_throttle.not_judged(address)
                error.text = exc.message
                return
            finally:
                button.props(remove='loading')
            sign_in_throttle.accepted(address)
            ui.navigate.to(hand_off(session, browser_id, target))

        button.on_click(submit)
        token.on('keydown.enter', submit)
        if offer_local:
            ui.button('Sign in as local user', icon='computer', on_click=lambda: sign_in_locally(request, target)) \
                .props('outline').classes('w-full').mark('local-sign-in')
        ui.label('The token stays on the console server; it is never stored in this browser.') \
            .classes('text-xs text-gray-500')


def sign_in_locally(request: Request, target: str) -> None:
    """Desktop, after a sign-out: an explicit click signs the local user in again (through a one-time link)."""
    if (token := desktop_token(request)) is not None:
        ui.navigate.to(issue_login_link(token, base_url='', next_path=target))
