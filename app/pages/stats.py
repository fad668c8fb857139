"""`/stats`: engine statistics and operation counters, refreshed live as the store changes."""

from __future__ import annotations

from nicegui import ui

from components.page_header import PageHeader
from components.states import StatePanel
from services.events.models import CompactionEvent, KeyChangeEvent, SnapshotEvent

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


@page('/stats', 'Statistics')
async def statistics(ctx: PageContext) -> None:
    header = PageHeader('Storage engine statistics and operation counters')
    state = StatePanel('stats-state')
    with ui.row().classes('w-full gap-4 items-start'):
        with ui.card().classes('grow basis-80'):
            ui.label('Engine').classes('font-semibold')
            engine = ui.table(columns=COLUMNS, rows=[], row_key='name').classes('w-full').props('flat dense') \
                .mark('engine-stats')
        with ui.card().classes('grow basis-80'):
            ui.label('Operation counters (/metrics)').classes('font-semibold')
            counters = ui.table(columns=COLUMNS, rows=[], row_key='name').classes('w-full').props('flat dense') \
                .mark('metric-counters')

    async def load() -> None:
        """Both tables from REST; errors go to the state panel (a refresher's render runs without a slot)."""
        with ctx.errors(state=state, feature='Statistics') as outcome:
            stats = await ctx.api.stats()
            metrics = await ctx.api.metrics()
        if outcome.failed:
            return
        if state.container.visible:
            state.hide()
        show(engine, [{'name': STAT_LABELS.get(k, k), 'value': f'{v:,}'} for k, v in stats.model_dump().items()])
        show(counters, [{'name': k.removeprefix('apexstore_').removesuffix('_total').replace('_', ' '),
                         'value': f'{v:,.0f}'} for k, v in sorted(metrics.items())])
        header.stamp()

    def show(table: ui.table, rows: list[dict]) -> None:
        """Send a table's rows only when a value changed."""
        if table.rows != rows:
            table.rows = rows

    refresher = ctx.refresher(load, frame=0.5, burst_frame=1.0)  # a REST refetch: at most twice a second
    header.button.on_click(load)
    for kind in CHANGES_STATS:
        ctx.on(kind, lambda _event: refresher.mark())
    ctx.on_resync(load)
    await load()
