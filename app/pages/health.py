"""`/health`: the three real probes, /health/check details and uptime; flips instantly on events."""

from __future__ import annotations

from nicegui import ui

from components.clock import clock_time
from components.live_feed import LiveFeed
from components.page_header import PageHeader
from services.events.models import HealthEvent
from services.models import HealthCheck, ProbeResult

from ..context import PageContext, notify
from ..shell import page

FEED_LIMIT = 50
PROBES = [('liveness', 'Liveness'), ('readiness', 'Readiness'), ('startup', 'Startup')]
BANNERS = {
    'healthy': ('All Systems Operational', 'All health probes are passing', 'positive', 'check_circle'),
    'degraded': ('Degraded Service', 'Some health probes are failing', 'warning', 'warning'),
    'unhealthy': ('Service Unavailable', 'Backend may be down', 'negative', 'error'),
    'unknown': ('Checking…', 'Waiting for the first probe results', 'grey', 'hourglass_empty'),
}


def overall(results: dict[str, bool | None]) -> str:
    known = [v for v in results.values() if v is not None]
    if not known:
        return 'unknown'
    if all(known):
        return 'healthy'
    return 'unhealthy' if not any(known) else 'degraded'


def uptime_text(seconds: int | None) -> str:
    if seconds is None:
        return '—'
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}h {minutes}m {secs}s' if hours else f'{minutes}m {secs}s'


class ProbeCard:
    def __init__(self, name: str, label: str, on_check) -> None:
        self.name = name
        with ui.card().classes('grow basis-64').mark(f'probe-{name}'):
            with ui.row().classes('w-full items-center justify-between'):
                ui.label(label).classes('font-semibold')
                self.badge = ui.badge('UNKNOWN', color='grey').mark(f'probe-{name}-status')
            self.message = ui.label('—').classes('text-sm')
            ui.label(f'GET /health/{name}').classes('font-mono text-xs text-gray-500')
            self.checked = ui.label('').classes('text-xs text-gray-500')
            ui.button('Check', icon='refresh', on_click=lambda: on_check(name)).props('flat dense') \
                .mark(f'check-{name}')

    def show(self, healthy: bool | None, message: str) -> None:
        text, color = ('UNKNOWN', 'grey') if healthy is None else \
            ('HEALTHY', 'positive') if healthy else ('UNHEALTHY', 'negative')
        self.badge.text = text
        self.badge.props(f'color={color}')
        self.message.text = message
        self.checked.text = f'Checked {clock_time()}'


@page('/health', 'Health')
async def health(ctx: PageContext) -> None:
    results: dict[str, bool | None] = {name: None for name, _ in PROBES}
    flipped: dict[str, tuple[bool, str]] = {}  # probe cards an event changed, shown at the next frame

    header = PageHeader('Health probe status for the ApexStore backend', 'Check All', 'done_all', 'check-all')

    with ui.card().classes('w-full').mark('health-banner') as banner:
        with ui.row().classes('items-center gap-3'):
            banner_icon = ui.icon('hourglass_empty', size='lg')
            with ui.column().classes('gap-0'):
                banner_title = ui.label('').classes('text-lg font-semibold').mark('banner-title')
                banner_text = ui.label('').classes('text-gray-500')
    del banner

    with ui.row().classes('w-full gap-4'):
        cards = {name: ProbeCard(name, label, lambda n: check(n)) for name, label in PROBES}

    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-80'):
            ui.label('Engine check').classes('font-semibold')
            uptime = ui.label('Uptime —').mark('uptime')
            details = ui.label('').classes('font-mono text-sm whitespace-pre-wrap')
        with ui.card().classes('grow basis-96'):
            ui.label('Recent transitions (live)').classes('font-semibold')
            timeline = LiveFeed(FEED_LIMIT, 'No probe has changed state since this page opened.') \
                .classes('max-h-72 overflow-y-auto').mark('health-timeline')

    def render() -> None:
        """The page's one refresher: flipped cards, new timeline items, the banner."""
        for name, (healthy, message) in flipped.items():
            cards[name].show(healthy, message)
        flipped.clear()
        timeline.flush()
        render_banner()

    def render_banner() -> None:
        title, text, color, icon = BANNERS[overall(results)]
        banner_title.text, banner_text.text = title, text
        banner_icon.name = icon
        banner_icon.classes(replace=f'text-{color}')
        header.stamp()

    refresher = ctx.refresher(render)

    def show_probe(result: ProbeResult) -> None:
        results[result.name] = result.healthy
        cards[result.name].show(result.healthy, result.message)

    def show_check(result: HealthCheck) -> None:
        uptime.text = f'Uptime {uptime_text(result.uptime_secs)}'
        details.text = '\n'.join(f'{k}: {v:,}' if isinstance(v, int) else f'{k}: {v}'
                                 for k, v in result.details.items()) or (result.reason or '')

    async def check(name: str) -> None:
        with ctx.errors():
            show_probe(await ctx.api.probe(name))
        refresher.flush_now()

    async def check_all(announce: bool = True) -> None:
        with ctx.errors() as outcome:
            for name, _ in PROBES:
                show_probe(await ctx.api.probe(name))
            show_check(await ctx.api.health_check())
        if outcome.failed:
            return
        refresher.flush_now()
        if announce:
            healthy = overall(results) == 'healthy'
            notify('All health probes passed' if healthy else 'Health check failed - backend may be down',
                   'success' if healthy else 'error')

    def on_health(event: HealthEvent) -> None:
        healthy = event.status == 'healthy'
        results[event.probe] = healthy
        flipped[event.probe] = (healthy, event.reason or ('ok' if healthy else 'failing'))
        timeline.add(event.status, event.probe, (event.reason or '') + (' (observed by polling)' if event.derived
                                                                         else ''))
        refresher.mark()

    async def refetch() -> None:
        await check_all(False)

    header.button.on_click(lambda: check_all(True))
    ctx.on(HealthEvent, on_health)
    ctx.on_resync(refetch)
    render_banner()
    await check_all(False)
