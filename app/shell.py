"""The shell every page shares (header, navigation, badge, theme), skipped with `?embed=1`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from fastapi.responses import RedirectResponse
from nicegui import app, ui

from components.connection_badge import ConnectionBadge
from services.events.models import ConnectionStatus

from .auth import current_session, sign_out
from .context import PageContext, notify

log = logging.getLogger(__name__)
VERSION = '0.1.0'

NAV: list[tuple[str, list[tuple[str, str, str]]]] = [
    ('General', [('Dashboard', '/dashboard', 'dashboard'), ('Statistics', '/stats', 'query_stats'),
                 ('Health', '/health', 'monitor_heart'), ('Resilience', '/resilience', 'shield')]),
    ('Data', [('Key Explorer', '/keys', 'key'), ('Feature Flags', '/features', 'flag'),
              ('Column Families', '/column-families', 'view_column'),
              ('SQL Runner', '/sql-runner', 'terminal'), ('GraphQL Playground', '/graphql', 'hub'),
              ('Vector Search', '/vector-search', 'scatter_plot'), ('Bulk Import', '/bulk-import', 'upload_file')]),
    ('Content', [('Notes', '/notes', 'description'), ('Graph View', '/graph', 'share'), ('Tags', '/tags', 'sell'),
                 ('Time Travel', '/time-travel', 'history')]),
    ('System', [('Compaction', '/compaction', 'compress'), ('Snapshots', '/snapshots', 'photo_camera'),
                ('Rate Limits', '/rate-limits', 'speed'), ('Backup', '/backup', 'backup'),
                ('Replication', '/replication', 'lan'), ('CDC', '/cdc', 'sync_alt'), ('Chaos', '/chaos', 'bolt'),
                ('Backpressure', '/backpressure', 'compress'),
                ('Data Scrubber', '/data-scrubber', 'cleaning_services')]),
    ('Integrations', [('Webhooks', '/webhooks', 'webhook'), ('Pub/Sub', '/pubsub', 'campaign'),
                      ('Data Sync', '/data-sync', 'sync'), ('WASM Plugins', '/wasm-plugins', 'extension')]),
    ('Admin', [('Tokens', '/admin', 'vpn_key'), ('Access Control', '/access-control', 'admin_panel_settings'),
               ('Server Config', '/server-config', 'settings'), ('Telemetry', '/telemetry', 'insights'),
               ('Quotas', '/quotas', 'data_usage'), ('CI/CD', '/cicd', 'build')]),
]

CSS = '''
:root { --accent: #f97316; }
body { font-family: Inter, system-ui, sans-serif; }
.font-mono { font-family: "JetBrains Mono", ui-monospace, monospace; }
.body--dark { background: #0d0f14; }
.body--dark .q-card { background: #1a1e2a; }
.body--dark .q-drawer { background: #13161e; }
.q-header { color: #0f172a; }
.body--dark .q-header { color: #f1f5f9; }
.row-flash td { animation: flash 1.5s ease-out; }
.row-new td { animation: flash-new 1.5s ease-out; }
.row-deleted td, .ag-row.row-deleted { text-decoration: line-through; opacity: .55; }
.ag-row.row-new { animation: flash-new 1.5s ease-out; }
.nav-link:hover { background: rgba(249,115,22,.08); }
.live-feed { gap: 4px; contain: content; }  /* a push repaints the feed, not the page */
.live-feed-item { gap: 8px; }
@keyframes flash { from { background: rgba(249,115,22,.35); } to { background: transparent; } }
@keyframes flash-new { from { background: rgba(34,197,94,.35); } to { background: transparent; } }
'''


def apply_theme() -> None:
    ui.colors(primary='#f97316', positive='#22c55e', negative='#ef4444', info='#3b82f6', warning='#f59e0b')
    ui.add_css(CSS)
    app.storage.user.setdefault('dark', True)  # dark by default, like the Angular app
    ui.dark_mode().bind_value(app.storage.user, 'dark')


def _toggle_theme() -> None:
    app.storage.user['dark'] = not app.storage.user.get('dark', True)


def nav_html(current: str) -> str:
    """The navigation as one static HTML block: ~140 elements per tab become one (memory, first paint).

    Only constants from NAV go in (no user data), escaped all the same.
    """
    parts = []
    for group, items in NAV:
        parts.append(f'<div class="px-4 pt-3 text-xs uppercase tracking-wide text-gray-500">{escape(group)}</div>')
        for label, route, icon in items:
            active = ' text-primary bg-orange-500/10' if route == current else ''
            parts.append(
                f'<a href="{escape(route)}" class="nav-link flex items-center gap-3 px-4 py-1 no-underline '
                f'text-inherit{active}"><i class="q-icon notranslate material-icons text-base" aria-hidden="true">'
                f'{escape(icon)}</i><span class="text-sm">{escape(label)}</span></a>')
    return ''.join(parts)


def _drawer(ctx: PageContext) -> ui.left_drawer:
    with ui.left_drawer(value=True).classes('p-0') as drawer:
        with ui.row().classes('items-center gap-2 px-4 py-3'):
            ui.icon('bolt', size='md').classes('text-primary')
            ui.label('ApexStore').classes('text-lg font-bold')
            ui.badge(f'v{VERSION}', color='primary')
        ui.html(nav_html(ctx.route), sanitize=False).classes('w-full').mark('nav')
    return drawer


def _header(title: str, ctx: PageContext, drawer: ui.left_drawer) -> ConnectionBadge:
    with ui.header().classes('items-center justify-between bg-transparent backdrop-blur border-b border-gray-700'):
        with ui.row().classes('items-center gap-2'):
            ui.button(icon='menu', on_click=drawer.toggle).props('flat round dense')
            ui.label(title).classes('text-lg font-semibold').mark('page-title')
        with ui.row().classes('items-center gap-2'):
            badge = ConnectionBadge(ctx.reconnect_now, ctx.status)
            ui.label(ctx.session.identity).classes('text-sm text-gray-400').mark('identity')
            ui.button(icon='contrast', on_click=_toggle_theme).props('flat round dense') \
                .tooltip('Dark/light theme').mark('theme-toggle')
            ui.button('Sign out', icon='logout', on_click=_sign_out).props('flat dense no-caps')
    return badge


@contextmanager
def frame(title: str, ctx: PageContext):
    """Header with title, live badge, identity, theme toggle and sign out; nav drawer with six groups."""
    apply_theme()
    if ctx.embed:
        with ui.column().classes('w-full p-3 gap-3'):
            with ui.row().classes('w-full items-center justify-between'):
                ui.label(title).classes('text-lg font-semibold')
                badge = ConnectionBadge(ctx.reconnect_now, ctx.status)
            yield
    else:
        badge = _header(title, ctx, _drawer(ctx))
        with ui.column().classes('w-full max-w-[1400px] mx-auto p-4 gap-4'):
            yield

    def on_status(status: ConnectionStatus) -> None:
        badge.show(status)
        if status.state == 'auth_failed':
            notify('The API token was refused (revoked or expired). Please sign in again; '
                   'your unsaved input is kept.', 'error')
            ui.navigate.to(f'/login?next={quote(ctx.route)}')

    ctx.on_status(on_status)


async def _sign_out() -> None:
    await sign_out()
    ui.navigate.to('/login')


@dataclass
class Registration:
    module: str
    register: Callable[[], None]


_registry: dict[str, Registration] = {}  # route -> the page that serves it


def _claim(route: str, module: str, register: Callable[[], None]) -> None:
    """One page per route: a second module claiming a route is a bug, never a silent replacement.

    Re-importing the same module (NiceGUI's test reset does) replaces its own entry.
    """
    existing = _registry.get(route)
    if existing is not None and existing.module != module:
        raise RuntimeError(f'{route} is served by {existing.module}; {module} cannot claim it too')
    _registry[route] = Registration(module, register)


def registered(route: str) -> bool:
    return route in _registry


def register_pages() -> None:
    """Create every route. Called by main.py at start (and again for each test app)."""
    from .pages.planned import claim_unbuilt_routes

    claim_unbuilt_routes()  # placeholders only where no page claimed the route
    for registration in _registry.values():
        registration.register()


def _page_registration(path: str, render: Callable) -> Callable[[], None]:
    def register() -> None:
        ui.page(path)(render)
    return register


def public_page(route: str) -> Callable:
    """A page that needs no session (sign-in)."""
    def decorator(build: Callable) -> Callable:
        def register() -> None:
            ui.page(route)(build)
        _claim(route, build.__module__, register)
        return build
    return decorator


def page(route: str, title: str, *aliases: str, owner: str | None = None) -> Callable:
    """A signed-in page at `route` (and aliases); `?embed=1` renders it without the shell."""
    def decorator(build: Callable[[PageContext], Awaitable[None]]) -> Callable:
        async def render(embed: int = 0):
            session = current_session()
            if session is None:
                return RedirectResponse(f'/login?next={quote(route)}')
            session.clients.add(ui.context.client)
            ctx = PageContext(session, route, embed=bool(embed))
            ui.page_title(f'{title} · ApexStore Console')
            with frame(title, ctx):
                await build(ctx)
        # no functools.wraps: FastAPI must see render's own signature; the module makes NiceGUI's test reset
        # re-import the page module like any other page
        render.__name__, render.__module__ = build.__name__, build.__module__

        for path in (route, *aliases):
            _claim(path, owner or build.__module__, _page_registration(path, render))
        return build
    return decorator
