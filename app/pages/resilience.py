"""`/resilience`: circuit breakers (state, failures, next retry, reset) and a real health summary, live.

The Angular page showed canned health text; here "API Server" and "Storage Engine" come from the
backend's own probes (`/health/liveness|readiness|startup`, `/health/check`) and flip on `health_change`
events, and "Console connection" is this console's own link to the backend (the connection status
the badge shows). Breakers come from `/admin/circuit_breakers` (one per webhook on the embedded
backend) and follow its `webhooks` feature events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nicegui import ui

from components.connection_badge import WORDS, age_text
from components.page_header import PageHeader
from components.states import StatePanel
from services.events.models import ConnectionState, ConnectionStatus, FeatureEvent, HealthEvent
from services.features import webhooks as wh
from services.features.webhooks import CircuitBreaker
from services.models import HealthCheck, ProbeResult

from ..context import PageContext, notify
from ..shell import page

LEVELS = {'healthy': ('HEALTHY', 'positive'), 'degraded': ('DEGRADED', 'warning'),
          'unhealthy': ('UNHEALTHY', 'negative'), 'unknown': ('UNKNOWN', 'grey')}
STATES = {'closed': ('Closed', 'positive'), 'open': ('Open', 'negative'), 'half_open': ('Half-Open', 'orange')}
PROBES = ('liveness', 'readiness', 'startup')
GOOD_LINKS = {ConnectionState.connected}
BAD_LINKS = {ConnectionState.auth_failed, ConnectionState.disconnected}
TRANSPORTS = {'websocket': 'WebSocket', 'sse': 'SSE', 'long_poll': 'long polling', 'rest_poll': 'REST polling'}
EMPTY = 'No circuit breakers configured. Each webhook gets one: create a webhook on the Webhooks page.'


def stamp(ns: int | None, fmt: str = '%d/%m %H:%M:%S') -> str:
    return time.strftime(fmt, time.localtime(ns / 1e9)) if ns else 'never'


def uptime_text(seconds: int | None) -> str:
    if seconds is None:
        return ''
    hours, rest = divmod(seconds, 3600)
    return f'up {hours}h {rest // 60}m' if hours else f'up {rest // 60}m {rest % 60}s'


@dataclass
class Summary:
    level: str = 'unknown'
    text: str = 'Checking…'
    detail: str = ''


def api_summary(liveness: ProbeResult | None, check: HealthCheck | None) -> Summary:
    if liveness is None:
        return Summary()
    if not liveness.healthy:
        return Summary('unhealthy', 'Unreachable' if liveness.http_status is None else 'Not responding normally',
                       liveness.message)
    return Summary('healthy', 'Responding normally', uptime_text(check.uptime_secs if check else None))


def storage_summary(readiness: ProbeResult | None, startup: ProbeResult | None) -> Summary:
    known = [p for p in (readiness, startup) if p is not None]
    if not known:
        return Summary()
    failing = [p for p in known if not p.healthy]
    if not failing:
        details = readiness.details if readiness else {}
        parts = [f'{details[k]:,} {label}' for k, label in (('sst_files', 'SST files'), ('wal_kb', 'KB WAL'),
                                                            ('mem_records', 'records in memtable'))
                 if isinstance(details.get(k), int)]
        return Summary('healthy', 'All operations nominal', ', '.join(parts))
    level = 'unhealthy' if len(failing) == len(known) else 'degraded'
    return Summary(level, 'Cannot serve requests' if level == 'unhealthy' else 'Partly failing',
                   '; '.join(f'{p.name}: {p.message}' for p in failing))


def link_summary(status: ConnectionStatus) -> Summary:
    words = WORDS[status.state][0]
    last = None if status.last_event_at is None else time.time() - status.last_event_at
    via = f' over {TRANSPORTS.get(status.transport, status.transport)}' if status.transport else ''
    if status.state in GOOD_LINKS:
        return Summary('healthy', f'Live events{via}', f'last event {age_text(last)}')
    level = 'unhealthy' if status.state in BAD_LINKS else 'degraded'
    detail = status.last_failure or status.notice or ''
    if status.attempt:
        detail = f'attempt {status.attempt}' + (f': {detail}' if detail else '')
    return Summary(level, words + via, detail)


class SummaryCard:
    def __init__(self, key: str, title: str, icon: str) -> None:
        with ui.card().classes('grow basis-64').mark(f'health-{key}'):
            with ui.row().classes('w-full items-center justify-between'):
                with ui.row().classes('items-center gap-2'):
                    ui.icon(icon, size='sm')
                    ui.label(title).classes('font-semibold')
                self.badge = ui.badge('UNKNOWN', color='grey').mark(f'health-{key}-status')
            self.text = ui.label('').mark(f'health-{key}-text')
            self.detail = ui.label('').classes('text-xs text-gray-500 break-all').mark(f'health-{key}-detail')

    def show(self, summary: Summary) -> None:
        text, color = LEVELS[summary.level]
        self.badge.text = text
        self.badge.props(f'color={color}')
        self.text.text, self.detail.text = summary.text, summary.detail


def breaker_body(breaker: CircuitBreaker, on_reset) -> None:
    """One breaker's card content (the card itself stays: only a changed breaker is redrawn)."""
    key = breaker.id or breaker.name
    label, color = STATES[breaker.state]
    with ui.row().classes('w-full items-center justify-between no-wrap'):
        ui.label(breaker.name).classes('font-semibold break-all')
        ui.badge(label, color=color).mark(f'breaker-{key}-state')
    if breaker.target:
        ui.label(breaker.target).classes('font-mono text-xs text-gray-500 break-all')
    with ui.row().classes('w-full justify-between text-sm'):
        ui.label(f'Success {breaker.success_count}').mark(f'breaker-{key}-success')
        ui.label(f'Failures {breaker.failure_count}').mark(f'breaker-{key}-failures')
        ui.label(f'Threshold {breaker.threshold}')
    ui.label(f'Last failure: {stamp(breaker.last_failure_at)}').classes('text-xs')
    if breaker.state == 'open':
        ui.label(f'Next retry: {stamp(breaker.next_retry_at, "%H:%M:%S")} (then one trial attempt)') \
            .classes('text-xs').mark(f'breaker-{key}-next')
    elif breaker.state == 'half_open':
        ui.label('Next attempt is a trial: success closes it, failure opens it again').classes('text-xs')
    if breaker.last_error and breaker.state != 'closed':
        ui.label(breaker.last_error).classes('text-xs text-negative break-all')
    if breaker.id:
        ui.button('Reset', icon='restart_alt', on_click=lambda: on_reset(breaker)).props('flat dense') \
            .mark(f'breaker-{key}-reset').set_enabled(breaker.state != 'closed' or breaker.failure_count > 0)


@page('/resilience', 'Resilience')
async def resilience(ctx: PageContext) -> None:
    probes: dict[str, ProbeResult] = {}
    check: list[HealthCheck] = []
    breakers: dict[str, CircuitBreaker] = {}
    link = [ctx.status()]
    listed = [False]  # whether the breaker list loaded (not offered, or no permission: events change nothing)

    header = PageHeader('Circuit breaker and system health dashboard', 'Check All', 'done_all', 'check-all')
    ui.label('System Health').classes('text-lg font-semibold')
    with ui.row().classes('w-full gap-4 items-stretch'):
        api_card = SummaryCard('api', 'API Server', 'dns')
        storage_card = SummaryCard('storage', 'Storage Engine', 'storage')
        link_card = SummaryCard('network', 'Console connection', 'lan')
    with ui.row().classes('items-center gap-2'):
        ui.label('Circuit Breakers').classes('text-lg font-semibold')
        count = ui.badge('0').mark('breaker-count')
    ui.label('Each webhook has one: it opens after repeated failed deliveries, waits, then lets one trial '
             'through.').classes('text-sm text-gray-500')
    state = StatePanel('breakers-state')
    grid = ui.row().classes('w-full gap-4').mark('breaker-grid')

    cards: dict[str, ui.card] = {}
    dirty: set[str] = set()  # breakers whose card must be redrawn at the next render

    def render() -> None:
        """The page's one refresher: the three summaries and the changed breaker cards, from the page's model."""
        api_card.show(api_summary(probes.get('liveness'), check[0] if check else None))
        storage_card.show(storage_summary(probes.get('readiness'), probes.get('startup')))
        link_card.show(link_summary(link[0]))
        for key in [k for k in cards if k not in breakers]:
            cards.pop(key).delete()
        for key, breaker in breakers.items():
            if key not in cards:
                with grid:
                    cards[key] = ui.card().classes('w-80').mark('breaker-card', f'breaker-{key}')
                dirty.add(key)
            if key in dirty:
                cards[key].clear()
                with cards[key]:
                    breaker_body(breaker, reset)
        dirty.clear()
        count.text = str(len(breakers))

    refresher = ctx.refresher(render)

    def put(breaker: CircuitBreaker) -> None:
        key = breaker.id or breaker.name
        breakers[key] = breaker
        dirty.add(key)

    async def load_health() -> bool:
        with ctx.errors() as outcome:
            for name in PROBES:
                probes[name] = await ctx.api.probe(name)
            check[:] = [await ctx.api.health_check()]
        return not outcome.failed

    async def load_breakers() -> None:
        with ctx.errors(state=state, feature='Circuit breakers') as outcome:
            found = await wh.circuit_breakers(ctx.api)
        breakers.clear()
        listed[0] = not outcome.failed
        if not outcome.failed:
            for breaker in found:
                put(breaker)
            state.settle(bool(found), EMPTY)

    async def check_all(announce: bool = True) -> None:
        healthy = await load_health()
        await load_breakers()
        refresher.flush_now()
        header.stamp()
        if announce and healthy:
            ok = all(p.healthy for p in probes.values())
            notify('All health probes passed' if ok else 'Health check failed - backend may be down',
                   'success' if ok else 'error')

    async def reset(breaker: CircuitBreaker) -> None:
        assert breaker.id is not None
        with ctx.errors(success=f'Circuit breaker "{breaker.name}" reset') as outcome:
            put(await wh.reset_breaker(ctx.api, breaker.id))
        if not outcome.failed:
            refresher.flush_now()

    def on_health(event: HealthEvent) -> None:
        healthy = event.status == 'healthy'
        previous = probes.get(event.probe)
        probes[event.probe] = ProbeResult(name=event.probe, healthy=healthy, http_status=200 if healthy else 503,
                                          message=event.reason or ('ok' if healthy else 'failing'),
                                          details=previous.details if previous else {})
        refresher.mark()

    def on_status(status: ConnectionStatus) -> None:
        link[0] = status
        refresher.mark()

    def on_feature(event: FeatureEvent) -> None:
        if event.feature != wh.FEATURE or not listed[0]:  # nothing to patch where the list is not shown
            return
        breaker = wh.breaker_of(event.data)
        if event.name == 'changed' and event.data.get('action') == 'deleted':
            breakers.pop(str(event.data.get('webhook_id')), None)
        elif breaker is not None:
            put(breaker)
        state.settle(bool(breakers), EMPTY)
        refresher.mark()

    async def resync() -> None:
        await check_all(False)

    header.button.on_click(lambda: check_all(True))
    ctx.on(HealthEvent, on_health)
    ctx.on(FeatureEvent, on_feature)
    ctx.on_status(on_status)
    ctx.on_resync(resync)
    state.loading()
    render()
    await check_all(False)
