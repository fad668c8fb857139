"""`/login`: sign in with an API token, a one-time link, or automatically on a desktop."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from services.api import ApiError, AuthFailed, Unreachable
from services.events import event_service
from services.settings import settings

from ..auth import auto_login_token, consume_login_link, current_session, sign_in
from ..shell import apply_theme, public_page


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link must never send anyone to another site."""
    if not target or not target.startswith('/') or target.startswith('//') or target.startswith('/login'):
        return '/dashboard'
    return target


@public_page('/login')
async def login_page(next: str = '/dashboard', once: str | None = None,  # noqa: A002 - query parameter name
                     expired: int = 0):
    target = safe_next(next)
    if once:
        token = consume_login_link(once)
        if token is not None:
            try:
                await sign_in(token)
                return RedirectResponse(target)  # also drops ?once= from the address bar
            except ApiError:
                pass
        return RedirectResponse(f'/login?next={target}&expired=1')
    session = current_session()
    if session is not None and event_service().status(session.token).state != 'auth_failed':
        return RedirectResponse(target)
    if session is None and (auto := auto_login_token()):
        try:
            await sign_in(auto)
            return RedirectResponse(target)
        except ApiError:
            pass  # fall through to the form, which will say what is wrong when used
    render_form(target, 'That sign-in link has expired or was already used. Sign in with an API token, or '
                        'restart the console for a new link.' if expired else '')


def render_form(target: str, notice: str = '') -> None:
    apply_theme()
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
            button.props('loading')
            try:
                await sign_in(token.value)
            except AuthFailed:
                error.text = 'That token was refused by the server (invalid or expired).'
                return
            except Unreachable:
                error.text = f'Cannot reach the ApexStore server at {settings.backend_url}.'
                return
            except ApiError as exc:
                error.text = exc.message
                return
            finally:
                button.props(remove='loading')
            ui.navigate.to(target)

        button.on_click(submit)
        token.on('keydown.enter', submit)
        ui.label('The token stays on the console server; it is never stored in this browser.') \
            .classes('text-xs text-gray-500')
