"""`/stats`: engine statistics and operation counters, refreshed live as the store changes."""

from __future__ import annotations

import time

from nicegui import ui

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
    with ui.row().classes('w-full items-center justify-between'):
        ui.label('Storage engine statistics and operation counters').classes('text-gray-500')
        with ui.row().classes('items-center gap-2'):
            last = ui.badge('Last: —', color='grey')
            refresh = ui.button('Refresh', icon='refresh').props('flat')
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
        last.text = f'Last: {time.strftime("%H:%M:%S")}'

    live = Coalescer(load, rate=2)
    refresh.on_click(load)
    ctx.on('events', lambda _event: live.mark())
    ctx.on_resync(load)
    await load()
