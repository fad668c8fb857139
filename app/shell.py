"""The shell every page shares (header, navigation, badge, theme), skipped with `?embed=1`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from fastapi.responses import RedirectResponse
from nicegui import app, background_tasks, ui
from nicegui.elements.mixins.text_element import TextElement

from components.connection_badge import ConnectionBadge
from components.outage_banner import OutageBanner
from services.events.models import ConnectionStatus
from services.offered import Probe, route_probe

from .auth import current_session, sign_out
from .context import PageContext, notify

log = logging.getLogger(__name__)
VERSION = '0.1.0'

NAV: list[tuple[str, list[tuple[str, str, str]]]] = [
    ('General', [('Dashboard', '/dashboard', 'dashboard'), ('Statistics', '/stats', 'query_stats'),
                 ('Health', '/health', 'monitor_heart'), ('Resilience', '/resilience', 'shield')]),
    ('Data', [('Key Explorer', '/keys', 'key'), ('Workbench', '/workbench', 'terminal'),
              ('Feature Flags', '/features', 'flag'),
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

# route -> the request its page makes first, for pages a real ApexStore server may lack (asked once per server:
# the navigation groups the pages whose route is missing under "Not on this server", naming the route)
NEEDS: dict[str, Probe] = {
    '/resilience': Probe('GET', '/admin/circuit_breakers'), '/webhooks': Probe('GET', '/admin/webhooks'),
    '/sql-runner': Probe('POST', '/query', {'query': 'SELECT 1'}), '/vector-search': Probe('GET', '/vector/indexes'),
    '/replication': Probe('GET', '/admin/replication'), '/chaos': Probe('GET', '/admin/chaos'),
    '/backpressure': Probe('GET', '/admin/backpressure'), '/data-scrubber': Probe('GET', '/admin/scrubber'),
    '/pubsub': Probe('GET', '/pubsub/topics'), '/data-sync': Probe('GET', '/admin/sync'),
    '/wasm-plugins': Probe('GET', '/admin/wasm'), '/access-control': Probe('GET', '/admin/policies'),
    '/server-config': Probe('GET', '/admin/config'), '/telemetry': Probe('GET', '/admin/telemetry'),
    '/quotas': Probe('GET', '/admin/quotas'), '/cicd': Probe('GET', '/admin/cicd'),
    '/column-families': Probe('GET', '/admin/column_families'), '/features': Probe('GET', '/features'),
    '/admin': Probe('GET', '/admin/tokens'), '/snapshots': Probe('GET', '/admin/backups'),
    '/backup': Probe('GET', '/admin/backups'),
}
NOT_HERE = 'Not on this server'
THEMES = {'system': (None, 'brightness_auto', 'Theme: follows the system'),
          'dark': (True, 'dark_mode', 'Theme: dark'), 'light': (False, 'light_mode', 'Theme: light')}

# white text on each is >= 4.5:1 (tests/unit/test_contrast.py); the dark theme lightens them for text (CSS)
BRAND = {'primary': '#c2410c', 'positive': '#15803d', 'negative': '#b91c1c', 'info': '#1d4ed8', 'warning': '#b45309'}
DARK_BACKGROUNDS = ('#0d0f14', '#1a1e2a', '#13161e')  # page, card, drawer (CSS below)

CSS = '''
:root { --accent: #f97316; }
body { font-family: Inter, system-ui, sans-serif; }
.font-mono { font-family: "JetBrains Mono", ui-monospace, monospace; }
.body--dark { background: #0d0f14; }
.body--dark .q-card { background: #1a1e2a; }
.body--dark .q-drawer { background: #13161e; }
.q-header { color: #0f172a; }
/* contrast >= 4.5:1 for text in both themes: Quasar's brand colours are darkened for white text on them,
   and lightened where they are text on the dark background */
.body--dark .text-primary { color: #fb923c !important; }
.body--dark .text-positive { color: #4ade80 !important; }
.body--dark .text-negative { color: #f87171 !important; }
.body--dark .text-info { color: #93c5fd !important; }
.body--dark .text-warning { color: #fbbf24 !important; }
.body--dark .text-gray-500 { color: #9ca3af; }
.body--light .text-gray-400 { color: #6b7280; }
.skip-link { position: absolute; left: -10000px; top: .5rem; z-index: 10000; padding: .5rem 1rem;
             background: #fff; color: #111; border-radius: .25rem; }
.skip-link:focus { left: .5rem; }
.nav-absent { opacity: .6; }
/* while the server is gone the page's buttons cannot work: shown disabled, the outage banner says why */
.backend-down .q-btn, .backend-down .q-toggle, .backend-down .q-checkbox { opacity: .45; pointer-events: none; }
.nav-needs { font-size: .7rem; }
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


def apply_theme() -> ui.dark_mode:
    # white text on these is >= 4.5:1 (the Angular orange #f97316 was 2.8:1, its green badge 2.3:1)
    ui.colors(**BRAND)
    ui.add_css(CSS)
    app.storage.user.setdefault('theme', 'system')  # follows the OS until the user picks one
    return ui.dark_mode(THEMES.get(app.storage.user['theme'], THEMES['system'])[0])


class Heading(TextElement):
    """The page's one <h1>."""

    def __init__(self, text: str) -> None:
        super().__init__(tag='h1', text=text)


def _nav_link(label: str, route: str, icon: str, current: str, needs: str | None = None) -> str:
    active = ' text-primary bg-orange-500/10' if route == current else ''
    current_attr = ' aria-current="page"' if route == current else ''
    absent = ' nav-absent' if needs else ''
    hint = (f'<span class="nav-needs block text-gray-500">needs {escape(needs)}</span>' if needs else '')
    title = f' title="{escape(label)} needs {escape(needs)}, which this server does not offer"' if needs else ''
    return (f'<a href="{escape(route)}" class="nav-link flex items-center gap-3 px-4 py-1 no-underline '
            f'text-inherit{active}{absent}"{current_attr}{title}><i class="q-icon notranslate material-icons '
            f'text-base" aria-hidden="true">{escape(icon)}</i><span class="text-sm">{escape(label)}{hint}</span></a>')


def nav_html(current: str, absent: frozenset[str] = frozenset()) -> str:
    """The navigation as one static HTML block: ~140 elements per tab become one (memory, first paint).

    Only constants from NAV go in (no user data), escaped all the same. Routes in `absent` (the
    server lacks what they need) move to a last, greyed group that names the missing route.
    """
    parts = ['<nav aria-label="Pages">']
    missing = []
    for group, items in NAV:
        present = [item for item in items if item[1] not in absent]
        missing += [item for item in items if item[1] in absent]
        if present:
            parts.append(f'<div class="px-4 pt-3 text-xs uppercase tracking-wide text-gray-500">{escape(group)}</div>')
        parts += [_nav_link(label, route, icon, current) for label, route, icon in present]
    if missing:
        parts.append(f'<div class="px-4 pt-3 text-xs uppercase tracking-wide text-gray-500">{NOT_HERE}</div>')
        parts += [_nav_link(label, route, icon, current, str(NEEDS[route]) if route in NEEDS else route)
                  for label, route, icon in missing]
    parts.append('</nav>')
    return ''.join(parts)


def absent_routes(server: str) -> frozenset[str]:
    known = route_probe.known(server) or {}
    return frozenset(route for route, offered in known.items() if not offered)


def _drawer(ctx: PageContext) -> ui.left_drawer:
    # closed below 1024 px, open beside the page above it: Quasar decides from the width at mount (show-if-above);
    # not NiceGUI's value=None, which asks the browser over the socket and logs an error when it answers late
    with ui.left_drawer(value=False).props('show-if-above breakpoint=1024').classes('p-0') as drawer:
        with ui.row().classes('items-center gap-2 px-4 py-3'):
            ui.icon('bolt', size='md').classes('text-primary').props('aria-hidden=true')
            ui.label('ApexStore').classes('text-lg font-bold')
            ui.badge(f'v{VERSION}', color='primary')
        nav = ui.html(nav_html(ctx.route, absent_routes(ctx.api.base_url)), sanitize=False).classes('w-full') \
            .mark('nav')
    if route_probe.known(ctx.api.base_url) is None:
        background_tasks.create(_regroup_nav(ctx, nav), name='probe routes')
    return drawer


async def _regroup_nav(ctx: PageContext, nav: ui.html) -> None:
    """Ask the server once which optional routes it has; regroup this tab's navigation if some are missing."""
    answers = await route_probe.probe(ctx.api, NEEDS)
    if answers and not all(answers.values()) and not nav.client.is_deleted:
        nav.set_content(nav_html(ctx.route, absent_routes(ctx.api.base_url)))


def _theme_button(dark: ui.dark_mode) -> None:
    """One button cycles system -> dark -> light (a menu would cost every tab a dozen more elements)."""
    order = list(THEMES)

    def label(name: str) -> str:
        following = order[(order.index(name) + 1) % len(order)]
        return f'{THEMES[name][2]}; click for {following}'

    choice = app.storage.user.get('theme', 'system')
    choice = choice if choice in THEMES else 'system'
    button = ui.button(icon=THEMES[choice][1]).props('flat round dense').mark('theme-toggle')
    button._props['aria-label'] = label(choice)

    def cycle() -> None:
        current = app.storage.user.get('theme', 'system')
        name = order[(order.index(current) + 1) % len(order)] if current in order else 'dark'
        app.storage.user['theme'] = name
        dark.value = THEMES[name][0]
        button._props['aria-label'] = label(name)
        button.props(f'icon={THEMES[name][1]}')  # sends both

    button.on_click(cycle)


def _header(title: str, ctx: PageContext, drawer: ui.left_drawer, dark: ui.dark_mode) -> ConnectionBadge:
    with ui.header().classes('items-center justify-between no-wrap bg-transparent backdrop-blur border-b '
                             'border-gray-700'):
        with ui.row().classes('items-center gap-2 no-wrap min-w-0'):
            ui.link('Skip to main content', '#main-content').classes('skip-link')
            ui.button(icon='menu', on_click=drawer.toggle).props('flat round dense aria-label="Navigation"')
            Heading(title).classes('text-lg font-semibold m-0 truncate').mark('page-title')
        with ui.row().classes('items-center gap-2 no-wrap'):
            badge = ConnectionBadge(ctx.reconnect_now, ctx.status)
            ui.label(ctx.session.identity).classes('text-sm text-gray-400 max-lg:hidden').mark('identity')
            _theme_button(dark)
            ui.button('Sign out', icon='logout', on_click=_sign_out).props('flat dense no-caps').mark('sign-out')
    return badge


@contextmanager
def frame(title: str, ctx: PageContext):
    """Header with title, live badge, identity, theme toggle and sign out; nav drawer with six groups."""
    dark = apply_theme()
    if ctx.embed:
        with ui.column().classes('w-full p-3 gap-3'):
            with ui.row().classes('w-full items-center justify-between'):
                Heading(title).classes('text-lg font-semibold m-0')
                badge = ConnectionBadge(ctx.reconnect_now, ctx.status)
            banner = OutageBanner(ctx.reconnect_now)
            with ui.column().classes('w-full gap-3') as content:
                yield
            banner.content = content
    else:
        badge = _header(title, ctx, _drawer(ctx), dark)
        banner = OutageBanner(ctx.reconnect_now)
        with ui.column().classes('w-full max-w-[1400px] mx-auto p-4 max-sm:p-2 gap-4') \
                .props('id=main-content role=main tabindex=-1') as content:
            yield
        banner.content = content

    def on_status(status: ConnectionStatus) -> None:
        badge.show(status)
        banner.show(status)
        if status.state == 'auth_failed':
            notify('The API token was refused (revoked or expired). Please sign in again; '
                   'your unsaved input is kept.', 'error')
            ui.navigate.to(f'/login?next={quote(ctx.route)}')

    ctx.on_status(on_status)


def name_icon_buttons(client) -> None:
    """Icon-only buttons get an accessible name: their tooltip's text, else their title, else their icon's name."""
    elements = list(client.elements.values())
    tips = {str(e.props.get('target')): e.text for e in elements if isinstance(e, ui.tooltip) and e.props.get('target')}
    for element in elements:
        if not isinstance(element, ui.button) or element.text or 'aria-label' in element.props:
            continue
        inner = next((c.text for c in element.default_slot.children if isinstance(c, ui.tooltip)), None)
        name = inner or tips.get(f'#{element.html_id}') or element.props.get('title') \
            or str(element.props.get('icon') or 'button').replace('_', ' ')
        element._props['aria-label'] = name  # before the page is sent: no update needed


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


def register_pages() -> None:
    """Create every route. Called by main.py at start (and again for each test app)."""
    unserved = [route for _group, items in NAV for _label, route, _icon in items if route not in _registry]
    if unserved:
        raise RuntimeError(f'navigation routes without a page module: {", ".join(unserved)}')
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


def page(route: str, title: str, *aliases: str) -> Callable:
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
            name_icon_buttons(ui.context.client)
        # no functools.wraps: FastAPI must see render's own signature; the module makes NiceGUI's test reset
        # re-import the page module like any other page
        render.__name__, render.__module__ = build.__name__, build.__module__

        for path in (route, *aliases):
            _claim(path, build.__module__, _page_registration(path, render))
        return build
    return decorator
