"""`/stats`: the last hour of the server's metrics as live charts, and a compact table of current values.

The history is sampled once per credential (services/metrics_history.py: every 5 s while any tab
shows it, one hour kept) and shared by every tab; the current-values tables follow the store's events.
"""

from __future__ import annotations

from nicegui import ui

from components.charts import HistoryChart
from components.clock import clock_time, number
from components.states import StatePanel
from services.events.models import CompactionEvent, KeyChangeEvent, SnapshotEvent
from services.metrics_history import OPERATIONS, MetricsHistory, Point, metrics_history

from ..context import PageContext
from ..shell import page

STAT_LABELS = {
    'mem_records': 'Memtable records', 'mem_kb': 'Memtable size (KB)', 'wal_kb': 'WAL size (KB)',
    'sst_files': 'SST files', 'sst_kb': 'SST size (KB)', 'total_records': 'Total records (estimate)',
    'max_levels_reached': 'Deepest level in use',
}
COLUMNS = [{'name': 'name', 'label': 'Metric', 'field': 'name', 'align': 'left'},
           {'name': 'value', 'label': 'Value', 'field': 'value', 'align': 'right'}]
CHANGES_STATS = (KeyChangeEvent, CompactionEvent, SnapshotEvent)  # writes, flushes/compactions, restores
OPS = list(OPERATIONS)


def _num(value: float | None, digits: int = 1, suffix: str = '') -> str:
    return '—' if value is None else f'{value:,.{digits}f}{suffix}'


def current_rows(point: Point | None) -> list[dict]:
    """The newest point as table rows (— where the server does not say)."""
    if point is None:
        return []
    rows = [{'name': f'{op}s/s', 'value': _num(point.ops[op])} for op in OPS]
    rows += [{'name': f'{op} latency (avg)', 'value': _num(point.latency_us[op], 0, ' µs')} for op in OPS]
    ratio = None if point.cache_hit_ratio is None else point.cache_hit_ratio * 100
    rows += [{'name': 'cache hit ratio', 'value': _num(ratio, 1, ' %')},
             {'name': 'errors/s', 'value': _num(point.errors_per_sec, 2)}]
    return rows


def _stamp(at: float) -> str:
    return clock_time(at)


@page('/stats', 'Statistics')
async def statistics(ctx: PageContext) -> None:
    history: MetricsHistory = metrics_history(ctx.session.token)
    with ui.row().classes('w-full items-center justify-between'):
        ui.label(f'The last hour of this server, sampled every {history.interval:g} s and shared by every tab '
                 'signed in with this token').classes('text-gray-500')
        sampled = ui.badge('No samples yet', color='grey').mark('history-status')
    state = StatePanel('stats-state')
    with ui.grid().classes('w-full gap-4 grid-cols-1 lg:grid-cols-2'):
        with ui.card():
            ops_chart = HistoryChart('Operations per second', [f'{op}s/s' for op in OPS], 'ops-chart')
        with ui.card():
            latency_chart = HistoryChart('Average latency (µs)', [f'{op} µs' for op in OPS], 'latency-chart')
        with ui.card():
            cache_chart = HistoryChart('Cache hit ratio (%)', ['hit ratio %'], 'cache-chart', y_max=100)
        with ui.card():
            errors_chart = HistoryChart('Errors per second', ['errors/s'], 'errors-chart')
        with ui.card().classes('lg:col-span-2'):
            size_chart = HistoryChart('Memtable, WAL and disk (KiB)', ['memtable KiB', 'WAL KiB', 'disk KiB'],
                                      'size-chart')
    with ui.row().classes('w-full gap-4 items-start'):
        with ui.card().classes('grow basis-64'):
            ui.label('Now').classes('font-semibold')
            current = ui.table(columns=COLUMNS, rows=[], row_key='name').classes('w-full') \
                .props('flat dense').mark('current-rates')
        with ui.card().classes('grow basis-64'):
            ui.label('Engine').classes('font-semibold')
            engine = ui.table(columns=COLUMNS, rows=[], row_key='name').classes('w-full').props('flat dense') \
                .mark('engine-stats')
        with ui.card().classes('grow basis-64'):
            ui.label('Operation counters (/metrics)').classes('font-semibold')
            counters = ui.table(columns=COLUMNS, rows=[], row_key='name').classes('w-full').props('flat dense') \
                .mark('metric-counters')

    dirty = {'tables': True, 'charts': True}
    drawn = {'samples': -1}

    def draw_charts() -> None:
        """Every chart from the shared history (only when a new sample came in)."""
        if history.error:
            sampled.text = f'Sampling failed: {history.error}'
            sampled.props('color=negative')
        if history.samples == drawn['samples']:
            return
        drawn['samples'] = history.samples
        points = list(history.points)
        times = [int(p.at * 1000) for p in points]
        ops_chart.show(times, {f'{op}s/s': [p.ops[op] for p in points] for op in OPS})
        latency_chart.show(times, {f'{op} µs': [p.latency_us[op] for p in points] for op in OPS})
        cache_chart.show(times, {'hit ratio %': [None if p.cache_hit_ratio is None else p.cache_hit_ratio * 100
                                                 for p in points]})
        errors_chart.show(times, {'errors/s': [p.errors_per_sec for p in points]})
        size_chart.show(times, {'memtable KiB': [p.mem_kb for p in points], 'WAL KiB': [p.wal_kb for p in points],
                                'disk KiB': [p.disk_kb for p in points]})
        show(current, current_rows(points[-1] if points else None))
        if points and not history.error:
            sampled.text = f'{len(points)} samples · last {_stamp(points[-1].at)}'
            sampled.props('color=grey')

    async def load_tables() -> None:
        """Engine and counter tables from REST; errors go to the state panel."""
        with ctx.errors(state=state, feature='Statistics') as outcome:
            stats = await ctx.api.stats()
            metrics = await ctx.api.metrics()
        if outcome.failed:
            return
        if state.container.visible:
            state.hide()
        show(engine, [{'name': STAT_LABELS.get(k, k), 'value': f'{number(v)}'} for k, v in stats.model_dump().items()])
        show(counters, [{'name': k.removeprefix('apexstore_').removesuffix('_total').replace('_', ' '),
                         'value': f'{v:,.0f}'} for k, v in sorted(metrics.items())])

    def show(table: ui.table, rows: list[dict]) -> None:
        """Send a table's rows only when a value changed."""
        if table.rows != rows:
            table.rows = rows

    async def render() -> None:
        """The page's one refresher (at most once a second): new samples to the charts, changes to the tables."""
        if dirty['charts']:
            dirty['charts'] = False
            draw_charts()
        if dirty['tables']:
            dirty['tables'] = False
            await load_tables()

    refresher = ctx.refresher(render, frame=1.0, burst_frame=1.0)

    def changed(part: str) -> None:
        dirty[part] = True
        refresher.mark()

    for kind in CHANGES_STATS:
        ctx.on(kind, lambda _event: changed('tables'))

    async def resync() -> None:
        changed('tables')

    ctx.on_resync(resync)
    release = history.subscribe(ctx.api, lambda: changed('charts'))
    ui.context.client.on_delete(release)
    draw_charts()  # the hour so far, at once
    dirty['charts'] = False
    await load_tables()
    dirty['tables'] = False
