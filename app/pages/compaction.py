"""`/compaction`: memtable flush, compaction trigger, real per-level table and chart, live progress."""

from __future__ import annotations

import time

from nicegui import background_tasks, ui

from components.charts import LevelChart
from components.clock import number
from components.confirm import confirm
from components.live_feed import LiveFeed
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import CompactionEvent, KeyChangeEvent
from services.models import ColumnFamily, LevelRow, Stats

from ..context import PageContext, notify
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
RELOAD_EVERY_SECS = 0.5  # at most two stats/levels reads a second per page, however many writes
FEED_LIMIT = 50
LEVELS_FEATURE = 'Per-level data (the /admin/column_families extension)'


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


def level_rows(family: ColumnFamily | None, running: bool) -> list[dict]:
    if family is None:
        return []
    return [{'level': f'L{lv.level}', 'files': lv.files, 'size': human_bytes(lv.bytes),
             'status': level_status(lv.level, lv.files, running)} for lv in family.levels]


@page('/compaction', 'Compaction')
async def compaction(ctx: PageContext) -> None:
    model: dict = {'stats': None, 'families': None, 'offered': True, 'running': False, 'status': 'Idle',
                   'progress': 0.0}
    due = {'view': False, 'reload': False, 'reload_busy': False, 'reload_at': 0.0}
    shown: dict = {'rows': None, 'chart': None}  # what the browser has, so unchanged levels are not resent

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
        feed = LiveFeed(FEED_LIMIT, 'No compaction or flush seen since this page opened.') \
            .classes('max-h-72 overflow-y-auto').mark('compaction-history')

    # -- rendering: one refresher; feed items as they come, the view when its model changed ----------
    def render() -> None:
        """Feed and view each only when dirty; a REST reload at most every RELOAD_EVERY_SECS."""
        feed.flush()
        if due['view']:
            due['view'] = False
            render_view()
        if due['reload'] and not due['reload_busy']:
            wait = due['reload_at'] + RELOAD_EVERY_SECS - time.monotonic()
            if wait > 0:
                refresher.again_in(wait)
            else:
                due['reload'], due['reload_busy'] = False, True
                # a task of its own has no slot: give it the page's, so its error toasts reach this tab
                background_tasks.create(load(), name='compaction reload', context=header.button)

    def render_view() -> None:
        stats: Stats | None = model['stats']
        if stats is not None:
            mem_badge.text = f'{number(stats.mem_records)} records'
            wal_label.text = f'WAL Size {number(stats.wal_kb)} KB'
            flush_button.set_enabled(stats.mem_records > 0 and not model['running'])
        compact_button.set_enabled(not model['running'])
        status_label.text = model['status']
        progress.value = model['progress']
        families: list[ColumnFamily] | None = model['families']
        if families is None:
            levels_badge.text = f'{stats.max_levels_reached if stats else 0} levels'
        else:
            render_levels(families)
        header.stamp()

    def render_levels(families: list[ColumnFamily]) -> None:
        names = [cf.name for cf in families]
        if cf_select.options != names:
            cf_select.set_options(names)
        family = next((cf for cf in families if cf.name == cf_select.value), families[0] if families else None)
        rows = level_rows(family, model['running'])
        if rows != shown['rows']:
            shown['rows'] = level_table.rows = rows
            level_state.settle(bool(rows), 'No level data yet.')
        if family is not None:
            levels_badge.text = f'{sum(1 for lv in family.levels if lv.files)} levels'
            drawn = ([lv.files for lv in family.levels], [lv.bytes // 1024 for lv in family.levels])
            if drawn != shown['chart']:
                shown['chart'] = drawn
                chart.show(*drawn)

    refresher = ctx.refresher(render)

    def show_now() -> None:
        due['view'] = True
        refresher.flush_now()

    # -- loading -----------------------------------------------------------------------------------
    async def load() -> None:
        """Stats and per-level data; per-level data is asked for only while the server offers it."""
        try:
            with ctx.errors() as outcome:
                stats = await ctx.api.stats()
            if not outcome.failed:
                model['stats'] = stats
            if model['offered']:
                with ctx.errors(state=level_state, feature=LEVELS_FEATURE) as outcome:
                    families = await ctx.api.column_families()
                if not outcome.failed:
                    model['families'] = families
                    if level_state.container.visible:  # an earlier error is shown: settle it again
                        shown['rows'] = None
                model['offered'] = not isinstance(outcome.error, NotOffered)
        finally:
            due['reload_at'], due['reload_busy'] = time.monotonic(), False
        show_now()  # also schedules the next reload if writes came in meanwhile

    # -- actions -----------------------------------------------------------------------------------
    async def flush() -> None:
        flush_button.props('loading')
        try:
            with ctx.errors(success='Memtable flushed successfully!'):
                await ctx.api.flush()
        finally:
            flush_button.props(remove='loading')
        await load()

    async def compact() -> None:
        if not await confirm('Trigger compaction', 'Compact every column family now? This rewrites SST files and '
                             'can take a while on a large store.', action='Compact'):
            return
        model.update(running=True, status='Running…', progress=0.0)
        show_now()
        try:
            with ctx.errors() as outcome:
                results = await ctx.api.compact()
        finally:
            model['running'] = False
        if outcome.error is not None:
            model['status'] = f'Failed: {outcome.error.message}'
        else:
            notify('Compaction triggered successfully!' if results else
                   'Compaction finished: nothing needed merging.', 'success')
            model.update(status=f'Completed: {sum(r.files_merged for r in results)} files merged', progress=1.0)
        await load()

    # -- live: events change the model, the refresher shows it -------------------------------------
    def on_compaction(event: CompactionEvent) -> None:
        feed.add(event.status, f'{event.kind} · {event.cf}', describe(event))
        if event.status in ('started', 'running'):
            model['running'] = event.kind == 'compaction' or model['running']
            model['progress'] = float(event.details.get('progress', model['progress']))
        elif event.kind == 'compaction':
            model['running'] = False
            model['progress'] = 1.0 if event.status == 'completed' else model['progress']
        model['status'] = describe(event)
        if event.status in ('completed', 'failed'):
            due['reload'] = True
        levels = event.details.get('levels')
        if levels and model['families'] is not None:
            for family in model['families']:
                if family.name == event.cf:
                    family.levels = [LevelRow(**lv) for lv in levels]
        due['view'] = True
        refresher.mark()

    def on_key_change(_event: KeyChangeEvent) -> None:
        due['reload'] = True  # the memtable count follows writes
        refresher.mark()

    header.button.on_click(load)
    flush_button.on_click(flush)
    compact_button.on_click(compact)
    cf_select.on_value_change(show_now)
    ctx.on(CompactionEvent, on_compaction)
    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(load)
    await load()
