"""`/compaction`: memtable flush, compaction trigger, real per-level table and chart, live progress."""

from __future__ import annotations

from collections import deque

from nicegui import ui

from components.charts import LevelChart
from components.confirm import confirm
from components.feed import ChangeFeed
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import ApiError, NotOffered
from services.events.models import CompactionEvent
from services.models import ColumnFamily, LevelRow, Stats

from ..context import Coalescer, PageContext, notify
from ..shell import page

LEVEL_COLUMNS = [
    {'name': 'level', 'label': 'Level', 'field': 'level', 'align': 'left'},
    {'name': 'files', 'label': 'SSTables', 'field': 'files', 'align': 'right'},
    {'name': 'size', 'label': 'Size', 'field': 'size', 'align': 'right'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
]


def human_bytes(size: int) -> str:
    n = float(size)
    for unit in ('B', 'KB', 'MB', 'GB'):
        if n < 1024 or unit == 'GB':
            return f'{n:,.0f} {unit}' if unit == 'B' else f'{n:,.1f} {unit}'
        n /= 1024
    return f'{n:.1f} GB'


L0_COMPACTION_TRIGGER = 4  # RocksDB's default level0_file_num_compaction_trigger


def level_status(level: int, files: int, running: bool) -> str:
    if running and files:
        return 'Running'
    if level == 0 and files >= L0_COMPACTION_TRIGGER:
        return 'Pending'
    return 'Idle'


def describe(event: CompactionEvent) -> str:
    d = event.details
    if event.status == 'completed' and 'files_merged' in d:
        return (f'{event.kind} of {event.cf} completed: {d.get("files_merged", 0)} files merged, '
                f'{human_bytes(d.get("bytes_read", 0))} read, {human_bytes(d.get("bytes_written", 0))} written')
    if event.status == 'running' and 'progress' in d:
        return f'{event.kind} of {event.cf} running: {round(100 * d["progress"])}%'
    if event.status == 'failed':
        return f'{event.kind} of {event.cf} failed: {d.get("error", "unknown error")}'
    return f'{event.kind} of {event.cf} {event.status} ({event.trigger})'


@page('/compaction', 'Compaction')
async def compaction(ctx: PageContext) -> None:
    state: dict = {'stats': None, 'families': None, 'running': False}
    history: deque[CompactionEvent] = deque(maxlen=50)

    header = PageHeader('LSM-Tree level compaction and memtable flush management')

    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-80'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Memtable').classes('font-semibold')
                mem_badge = ui.badge('0 records').mark('mem-badge')
            wal_label = ui.label('WAL Size — KB')
            flush_button = ui.button('Flush Memtable', icon='save_alt').mark('flush-button')
        with ui.card().classes('grow basis-80'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Compaction').classes('font-semibold')
                levels_badge = ui.badge('0 levels').mark('levels-badge')
            status_label = ui.label('Idle').mark('compaction-status')
            progress = ui.linear_progress(value=0, show_value=False).classes('w-full').mark('compaction-progress')
            compact_button = ui.button('Trigger Compaction', icon='compress').mark('compact-button')

    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-96'):
            ui.label('LSM-Tree Levels').classes('font-semibold')
            cf_select = ui.select(['default'], value='default', label='Column family').props('dense').classes('w-48')
            level_state = StatePanel('level-state')
            level_table = ui.table(columns=LEVEL_COLUMNS, rows=[], row_key='level').classes('w-full') \
                .props('flat dense').mark('level-table')
        with ui.card().classes('grow basis-96'):
            ui.label('Files and size per level').classes('font-semibold')
            chart = LevelChart()

    with ui.card().classes('w-full'):
        ui.label('Recent compactions and flushes (live)').classes('font-semibold')
        feed = ChangeFeed(marker='compaction-history')
        feed.empty_text = 'No compaction or flush seen since this page opened.'
        feed.render()

    def render() -> None:
        stats: Stats | None = state['stats']
        if stats is not None:
            mem_badge.text = f'{stats.mem_records:,} records'
            wal_label.text = f'WAL Size {stats.wal_kb:,} KB'
            flush_button.set_enabled(stats.mem_records > 0 and not state['running'])
        compact_button.set_enabled(not state['running'])
        families: list[ColumnFamily] | None = state['families']
        if families is None:
            level_table.rows = []
            level_state.not_offered('Per-level data (the /admin/column_families extension)')
            levels_badge.text = f'{stats.max_levels_reached if stats else 0} levels'
        else:
            cf_select.options = [cf.name for cf in families]
            cf_select.update()
            family = next((cf for cf in families if cf.name == cf_select.value), families[0] if families else None)
            rows = []
            if family is not None:
                for lv in family.levels:
                    rows.append({'level': f'L{lv.level}', 'files': lv.files, 'size': human_bytes(lv.bytes),
                                 'status': level_status(lv.level, lv.files, state['running'])})
                chart.show([lv.files for lv in family.levels], [lv.bytes // 1024 for lv in family.levels])
                levels_badge.text = f'{sum(1 for lv in family.levels if lv.files)} levels'
            level_table.rows = rows
            level_state.settle(bool(rows), 'No level data yet.')
        level_table.update()
        header.stamp()
        feed.render()

    live = Coalescer(render, rate=10)

    async def load() -> None:
        try:
            state['stats'] = await ctx.api.stats()
        except ApiError as exc:
            notify(exc.message, 'error')
        try:
            state['families'] = await ctx.api.column_families()
        except NotOffered:
            state['families'] = None
        except ApiError as exc:
            notify(exc.message, 'error')
        render()

    reload_live = Coalescer(load, rate=4)

    async def flush() -> None:
        flush_button.props('loading')
        try:
            await ctx.api.flush()
            notify('Memtable flushed successfully!', 'success')
        except ApiError as exc:
            notify(exc.message, 'error')
        finally:
            flush_button.props(remove='loading')
        await load()

    async def compact() -> None:
        if not await confirm('Trigger compaction', 'Compact every column family now? This rewrites SST files and '
                             'can take a while on a large store.', action='Compact'):
            return
        state['running'] = True
        status_label.text = 'Running…'
        progress.value = 0
        render()
        try:
            results = await ctx.api.compact()
        except ApiError as exc:
            notify(exc.message, 'error')
            status_label.text = f'Failed: {exc.message}'
        else:
            merged = sum(r.files_merged for r in results)
            notify('Compaction triggered successfully!' if results else
                   'Compaction finished: nothing needed merging.', 'success')
            status_label.text = f'Completed: {merged} files merged'
            progress.value = 1
        finally:
            state['running'] = False
        await load()

    def on_compaction(event: CompactionEvent) -> None:
        history.appendleft(event)
        feed.add(event.status, f'{event.kind} · {event.cf}', describe(event))
        if event.status in ('started', 'running'):
            state['running'] = event.kind == 'compaction' or state['running']
            status_label.text = describe(event)
            progress.value = float(event.details.get('progress', progress.value or 0))
        elif event.status in ('completed', 'failed'):
            if event.kind == 'compaction':
                state['running'] = False
                progress.value = 1 if event.status == 'completed' else progress.value
            status_label.text = describe(event)
            reload_live.mark()
        levels = event.details.get('levels')
        if levels and state['families'] is not None:
            for family in state['families']:
                if family.name == event.cf:
                    family.levels = [LevelRow(**lv) for lv in levels]
        live.mark()

    header.button.on_click(load)
    flush_button.on_click(flush)
    compact_button.on_click(compact)
    cf_select.on_value_change(render)
    ctx.on('on_compaction_events', on_compaction)
    ctx.on('on_key_changes', lambda _event: reload_live.mark())  # memtable count follows writes
    ctx.on_resync(load)
    await load()
