"""`/stats`: engine statistics and operation counters, refreshed live as the store changes."""

from __future__ import annotations

from nicegui import ui

from components.page_header import PageHeader
from components.states import StatePanel
from services.api import ApiError

from ..context import Coalescer, PageContext
from ..shell import page

STAT_LABELS = {
    'mem_records': 'Memtable records', 'mem_kb': 'Memtable size (KB)', 'wal_kb': 'WAL size (KB)',
    'sst_files': 'SST files', 'sst_kb': 'SST size (KB)', 'total_records': 'Total records (estimate)',
    'max_levels_reached': 'Deepest level in use',
}
COLUMNS = [{'name': 'name', 'label': 'Metric', 'field': 'name', 'align': 'left'},
           {'name': 'value', 'label': 'Value', 'field': 'value', 'align': 'right'}]


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
        try:
            stats = await ctx.api.stats()
            metrics = await ctx.api.metrics()
        except ApiError as exc:
            state.error(f'Could not load statistics from {exc.message}')
            return
        state.hide()
        engine.rows = [{'name': STAT_LABELS.get(k, k), 'value': f'{v:,}'} for k, v in stats.model_dump().items()]
        counters.rows = [{'name': k.removeprefix('apexstore_').removesuffix('_total').replace('_', ' '),
                          'value': f'{v:,.0f}'} for k, v in sorted(metrics.items())]
        engine.update()
        counters.update()
        header.stamp()

    live = Coalescer(load, rate=2)
    header.button.on_click(load)
    ctx.on('events', lambda _event: live.mark())
    ctx.on_resync(load)
    await load()
