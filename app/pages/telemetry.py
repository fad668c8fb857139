"""`/telemetry`: log levels per module, the tracing switch, recent requests and latency per route — live."""

from __future__ import annotations

import asyncio
import time

from nicegui import ui

from components.confirm import confirm
from components.latency_chart import LatencyChart
from components.page_header import PageHeader
from components.states import StatePanel
from services.events.models import FeatureEvent
from services.features.telemetry import (
    OWN_PREFIX,
    LogLevel,
    RequestEntry,
    RouteLatency,
    TelemetryConfig,
    clear_request_log,
    overview,
    request_log,
    route_latencies,
    set_log_level,
    update_config,
)

from ..context import PageContext
from ..shell import page

LOG_ROWS = 100
CHART_ROUTES = 12
LEVEL_COLUMNS = [
    {'name': 'module', 'label': 'Module', 'field': 'module', 'align': 'left'},
    {'name': 'level', 'label': 'Level', 'field': 'level', 'align': 'left'},
    {'name': 'effective', 'label': 'Effective', 'field': 'effective', 'align': 'left'},
    {'name': 'actions', 'label': 'Set level', 'field': 'module', 'align': 'left'},
]
LEVEL_SLOT = r'''
<q-td :props="props">
  <q-badge :color="props.row.level === 'inherit' ? 'grey' : 'primary'" :label="props.row.level" />
</q-td>
'''
LEVEL_ACTIONS_SLOT = r'''
<q-td :props="props">
  <q-btn v-for="lv in ['trace', 'debug', 'info', 'warn', 'error', 'off']" :key="lv"
         dense no-caps size="sm" class="q-mr-xs" :label="lv"
         :unelevated="props.row.level === lv" :flat="props.row.level !== lv"
         :color="props.row.level === lv ? 'primary' : 'grey'"
         @click="$parent.$emit('set_level', [props.row.module, lv])" />
  <q-btn dense flat no-caps size="sm" label="reset" title="Inherit the parent's level"
         :disable="props.row.level === 'inherit'" @click="$parent.$emit('set_level', [props.row.module, 'inherit'])" />
</q-td>
'''  # the levels of services.features.telemetry.LEVELS
LATENCY_COLUMNS = [
    {'name': 'method', 'label': 'Method', 'field': 'method', 'align': 'left'},
    {'name': 'route', 'label': 'Route', 'field': 'route', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'count', 'label': 'Requests', 'field': 'count', 'align': 'right'},
    {'name': 'p50', 'label': 'p50 ms', 'field': 'p50', 'align': 'right'},
    {'name': 'p95', 'label': 'p95 ms', 'field': 'p95', 'align': 'right'},
    {'name': 'max', 'label': 'max ms', 'field': 'max', 'align': 'right'},
    {'name': 'errors', 'label': '4xx / 5xx', 'field': 'errors', 'align': 'right'},
]
REQUEST_COLUMNS = [
    {'name': 'time', 'label': 'Time', 'field': 'time', 'align': 'left'},
    {'name': 'method', 'label': 'Method', 'field': 'method', 'align': 'left'},
    {'name': 'path', 'label': 'Path', 'field': 'path', 'align': 'left', 'classes': 'font-mono break-all'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'ms', 'label': 'Latency ms', 'field': 'ms', 'align': 'right'},
    {'name': 'token', 'label': 'Token', 'field': 'token', 'align': 'left'},
]
STATUS_SLOT = r'''
<q-td :props="props">
  <q-badge :color="props.row.status >= 500 ? 'negative' : props.row.status >= 400 ? 'warning' : 'positive'"
           :label="props.row.status" />
</q-td>
'''


def level_row(level: LogLevel) -> dict:
    return {'module': level.module, 'level': level.level, 'effective': level.effective or level.level}


def latency_row(route: RouteLatency) -> dict:
    return {'key': f'{route.method} {route.route}', 'method': route.method, 'route': route.route,
            'count': route.count, 'p50': f'{route.p50_ms:.1f}', 'p95': f'{route.p95_ms:.1f}',
            'max': f'{route.max_ms:.1f}', 'errors': f'{route.client_errors} / {route.server_errors}'}


def request_row(entry: RequestEntry) -> dict:
    at = entry.at / 1e9
    return {'seq': entry.seq, 'time': time.strftime('%H:%M:%S', time.localtime(at)) + f'.{int(at * 1000) % 1000:03d}',
            'method': entry.method, 'path': entry.path + (f'?{entry.query}' if entry.query else ''),
            'status': entry.status, 'ms': f'{entry.ms:.1f}', 'token': entry.token_name or '—'}


@page('/telemetry', 'Telemetry')
async def telemetry_page(ctx: PageContext) -> None:
    server_config = {'value': TelemetryConfig()}  # the last configuration the server reported
    header = PageHeader('Log levels and telemetry configuration, with the requests this server served (live)')
    state = StatePanel('telemetry-state')
    with ui.column().classes('w-full gap-4') as content:
        with ui.card().classes('w-full'):
            ui.label('Telemetry Configuration').classes('font-semibold')
            with ui.row().classes('w-full items-center gap-6'):
                sampling = ui.number('Sampling rate (share of requests logged)', value=1.0, min=0, max=1, step=0.1,
                                     format='%.2f').classes('w-72').mark('telemetry-sampling')
                tracing = ui.switch('Request tracing (request log)', value=True).mark('telemetry-tracing')
                metrics = ui.switch('Metrics (latency per route)', value=True).mark('telemetry-metrics')
            with ui.row().classes('w-full items-center gap-6'):
                export = ui.number('Export interval (sec)').classes('w-56')
                otlp = ui.input('OTLP endpoint (optional)', placeholder='http://otel-collector:4318') \
                    .classes('grow').mark('telemetry-otlp')
                export.disable()  # nothing is exported by this backend: the reason is said below
                otlp.disable()
            unsupported = ui.label('').classes('text-xs text-gray-500').mark('telemetry-unsupported')
            save_button = ui.button('Save Configuration', icon='save').mark('telemetry-save')
        with ui.card().classes('w-full'):
            ui.label('Log Levels').classes('font-semibold')
            ui.label('Set per module at once; "reset" lets a module inherit its parent\'s level again. '
                     'Changes last until the server restarts.').classes('text-sm text-gray-500')
            levels_table = ui.table(columns=LEVEL_COLUMNS, rows=[], row_key='module').classes('w-full') \
                .props('flat dense').mark('log-levels-table')
            levels_table.add_slot('body-cell-level', LEVEL_SLOT)
            levels_table.add_slot('body-cell-actions', LEVEL_ACTIONS_SLOT)
        with ui.card().classes('w-full'):
            with ui.row().classes('w-full items-center justify-between'):
                ui.label('Latency per route (the slowest by p95 in the chart)').classes('font-semibold')
                latency_note = ui.label('').classes('text-sm text-gray-500').mark('latency-note')
            chart = LatencyChart()
            latency_table = ui.table(columns=LATENCY_COLUMNS, rows=[], row_key='key').classes('w-full') \
                .props('flat dense').mark('latency-table')
        with ui.card().classes('w-full'):
            with ui.row().classes('w-full items-center justify-between'):
                with ui.row().classes('items-center gap-2'):
                    ui.label('Recent requests').classes('font-semibold')
                    requests_badge = ui.badge('0').mark('requests-count')
                with ui.row().classes('items-center gap-2'):
                    include_own = ui.switch('Show this page\'s own reads').mark('requests-include-own')
                    clear_button = ui.button('Clear', icon='delete_sweep').props('flat').mark('requests-clear')
            requests_note = ui.label('').classes('text-sm text-gray-500').mark('requests-status')
            requests_table = ui.table(columns=REQUEST_COLUMNS, rows=[], row_key='seq').classes('w-full') \
                .props('flat dense').mark('requests-table')
            requests_table.add_slot('body-cell-status', STATUS_SLOT)
    content.set_visibility(False)

    def form_dirty() -> bool:
        known = server_config['value']
        return (sampling.value, tracing.value, metrics.value) != (known.sampling_rate, known.tracing_enabled,
                                                                  known.metrics_enabled)

    def show_config(config: TelemetryConfig, force: bool = False) -> None:
        if force or not form_dirty():
            sampling.value, tracing.value, metrics.value = config.sampling_rate, config.tracing_enabled, \
                config.metrics_enabled
            export.value, otlp.value = config.export_interval_sec, config.otlp_endpoint or ''
        server_config['value'] = config

    async def load() -> None:
        with ctx.errors(state=state, feature='Telemetry') as outcome:
            info, log, latencies = await asyncio.gather(
                overview(ctx.api), request_log(ctx.api, LOG_ROWS, include_own=bool(include_own.value)),
                route_latencies(ctx.api))
        if outcome.failed:
            content.set_visibility(False)
            return
        state.hide()
        content.set_visibility(True)
        show_config(info.config)
        unsupported.text = ' · '.join(f'{name}: {why}' for name, why in info.unsupported.items())
        levels = [level_row(level) for level in info.log_levels]
        if levels_table.rows != levels:
            levels_table.rows = levels
        routes = [latency_row(route) for route in latencies.routes]
        if latency_table.rows != routes:
            latency_table.rows = routes
        charted = [r for r in latencies.routes if include_own.value or not r.route.startswith(OWN_PREFIX)]
        slowest = sorted(charted, key=lambda r: (-r.p95_ms, r.route))[:CHART_ROUTES]
        chart.show([f'{r.method} {r.route}' for r in slowest], [r.p50_ms for r in slowest],
                   [r.p95_ms for r in slowest])
        latency_note.text = (f'Percentiles over the last {latencies.window} requests of each route'
                             if latencies.metrics_enabled else 'Metrics are off: latency is not being recorded')
        rows = [request_row(entry) for entry in log.requests]
        if requests_table.rows != rows:
            requests_table.rows = rows
        requests_badge.text = str(len(rows))
        requests_note.text = (f'{log.recorded:,} requests logged since the start (the newest {log.capacity:,} are '
                              f'kept; no headers, credential-like query values redacted)' if log.tracing_enabled
                              else 'Request tracing is off: new requests are not logged')
        header.stamp()

    refresher = ctx.refresher(load, frame=1.0, burst_frame=2.0)  # a REST refetch: at most once a second

    async def save_config() -> None:
        rate = sampling.value
        if rate is None or not 0 <= float(rate) <= 1:
            sampling.props('error error-message="Between 0 and 1"')
            return
        sampling.props(remove='error error-message')
        with ctx.errors(success='Telemetry configuration saved') as outcome:
            config = await update_config(ctx.api, sampling_rate=float(rate), tracing_enabled=bool(tracing.value),
                                         metrics_enabled=bool(metrics.value))
        if not outcome.failed:
            show_config(config, force=True)
            refresher.flush_now()

    async def change_level(module: str, level: str) -> None:
        with ctx.errors(success=f'{module}: log level {level}'):
            await set_log_level(ctx.api, module, level)
        refresher.flush_now()

    async def clear() -> None:
        if not await confirm('Clear request log', 'Forget every logged request and the latency of every route?',
                             action='Clear'):
            return
        with ctx.errors(success='Request log cleared'):
            await clear_request_log(ctx.api)
        refresher.flush_now()

    def on_feature(event: FeatureEvent) -> None:
        if event.feature == 'telemetry':
            refresher.mark()

    save_button.on_click(save_config)
    levels_table.on('set_level', lambda e: change_level(*e.args))
    clear_button.on_click(clear)
    include_own.on_value_change(refresher.flush_now)
    header.button.on_click(refresher.flush_now)
    ctx.on(FeatureEvent, on_feature)

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
