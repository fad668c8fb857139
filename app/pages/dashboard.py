"""`/dashboard`: stats cards, write/read cards, operation history — live stats, throughput chart, feed."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from nicegui import background_tasks, ui

from components.cards import card_header
from components.charts import ThroughputChart
from components.clock import clock_time, number
from components.live_feed import LiveFeed
from components.stat_card import StatCard
from services.api import ApiError
from services.events.models import KeyChangeEvent

from ..context import PageContext, notify
from ..shell import page

HISTORY_LIMIT = 50
FEED_LIMIT = 25  # no scrolling box: a scrolled feed makes the browser repaint every hidden row per change
CHART_WINDOW_SECS = 180
CHART_EVERY_SECS = 1.0  # the chart scrolls once a second while its window holds traffic
STATS_EVERY_SECS = 1.0  # at most one stats read a second per page, however many writes
HISTORY_COLUMNS = [
    {'name': 'op', 'label': 'Op', 'field': 'op', 'align': 'left'},
    {'name': 'key', 'label': 'Key', 'field': 'key', 'align': 'left'},
    {'name': 'value', 'label': 'Value', 'field': 'value', 'align': 'left'},
    {'name': 'result', 'label': 'Result', 'field': 'result', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'center'},
    {'name': 'time', 'label': 'Time', 'field': 'time', 'align': 'left'},
]


class Throughput:
    """Puts/deletes per second for the last few minutes, bucketed by wall-clock second."""

    def __init__(self, window: int = CHART_WINDOW_SECS) -> None:
        self.window = window
        self.buckets: dict[int, list[int]] = {}

    def add(self, operation: str, at: float | None = None) -> None:
        second = int(at or time.time())
        bucket = self.buckets.setdefault(second, [0, 0])
        bucket[0 if operation == 'put' else 1] += 1

    def busy(self, now: float | None = None) -> bool:
        """Whether the chart's window still holds traffic (then it keeps scrolling)."""
        return any(second > (now or time.time()) - self.window for second in self.buckets)

    def series(self, now: float | None = None) -> tuple[list[str], list[int], list[int]]:
        end = int(now or time.time())
        seconds = range(end - self.window + 1, end + 1)
        for old in [s for s in self.buckets if s < seconds[0]]:
            del self.buckets[old]
        labels = [clock_time(s) for s in seconds]
        return labels, [self.buckets.get(s, [0, 0])[0] for s in seconds], [self.buckets.get(s, [0, 0])[1]
                                                                            for s in seconds]


@dataclass
class Due:
    """What the dashboard's refresher still owes the screen, and when it last drew each part."""
    stats: bool = False
    stats_busy: bool = False
    stats_at: float = 0.0
    chart: bool = True
    chart_at: float = 0.0


@page('/dashboard', 'Dashboard')
async def dashboard(ctx: PageContext) -> None:
    history: deque[dict] = deque(maxlen=HISTORY_LIMIT)
    throughput = Throughput()

    with ui.row().classes('w-full items-center justify-between'):
        ui.label('Real-time storage engine monitoring').classes('text-gray-500')
        refresh_button = ui.button('Refresh Stats', icon='refresh').props('flat')
    with ui.row().classes('w-full gap-4'):
        mem = StatCard('memory', 'MemTable', 'card-memtable')
        wal = StatCard('receipt_long', 'WAL', 'card-wal')
        disk = StatCard('storage', 'Disk Usage', 'card-disk')
        keys = StatCard('key', 'Total Keys', 'card-keys')
    stats_error = ui.label('').classes('text-negative text-sm')

    async def load_stats() -> None:
        try:
            stats = await ctx.api.stats()
        except ApiError as exc:
            stats_error.text = f'Stats unavailable: {exc.message}'
            return
        finally:
            due.stats_at = time.monotonic()
            due.stats_busy = False
        stats_error.text = ''
        mem.set(f'{number(stats.mem_records)} records', f'{stats.mem_kb / 1024:.2f} MB')
        wal.set(f'{number(stats.wal_kb)} KB', 'Write-ahead log')
        disk.set(f'{stats.sst_kb / 1024:.2f} MB', f'{stats.sst_files} SSTables')
        keys.set(f'{number(stats.total_records)}', 'All records')

    refresh_button.on_click(load_stats)

    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow min-w-[20rem]'):
            card_header('PUT', 'Write')
            write_key = ui.input('Key', placeholder='user:1').classes('w-full').mark('write-key')
            write_value = ui.input('Value', placeholder='John Doe').classes('w-full').mark('write-value')
            write_button = ui.button('Write', icon='save').mark('write-button')
        with ui.card().classes('grow min-w-[20rem]'):
            card_header('GET', 'Read')
            read_key = ui.input('Key', placeholder='user:1').classes('w-full').mark('read-key')
            read_button = ui.button('Read', icon='search').mark('read-button')
            read_result = ui.label('').classes('font-mono whitespace-pre-wrap break-all').mark('read-result')

    write_button.bind_enabled_from(write_key, 'value', backward=lambda v: bool((v or '').strip()))

    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow min-w-[28rem] basis-2/3'):
            ui.label('Writes per second (live)').classes('font-semibold')
            chart = ThroughputChart(CHART_WINDOW_SECS)
        with ui.card().classes('grow min-w-[18rem] basis-1/4'):
            ui.label('Latest changes (live)').classes('font-semibold')
            feed = LiveFeed(FEED_LIMIT).mark('change-feed')

    with ui.card().classes('w-full'):
        with ui.row().classes('w-full items-center justify-between'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Operation History').classes('font-semibold')
                count_badge = ui.badge('0')
            with ui.row().classes('items-center gap-2'):
                history_filter = ui.input(placeholder='Filter by key or result...').props('dense clearable')
                ui.button('Clear History', on_click=lambda: clear_history()).props('flat')
        history_table = ui.table(columns=HISTORY_COLUMNS, rows=[]).classes('w-full').props('flat dense')
        history_empty = ui.label('No operations yet. Try writing or reading some keys.').classes('text-gray-500')

    def render_history() -> None:
        needle = (history_filter.value or '').lower()
        rows = [h for h in history if not needle or needle in h['key'].lower() or needle in h['result'].lower()]
        history_table.rows = rows
        history_table.update()
        count_badge.text = str(len(history))
        history_empty.set_visibility(not history)

    def clear_history() -> None:
        history.clear()
        render_history()

    history_filter.on_value_change(render_history)

    def record(op: str, key: str, value: str, result: str, ok: bool) -> None:
        history.appendleft({'op': op, 'key': key, 'value': value[:80], 'result': result[:120],
                            'status': '✓' if ok else '✕', 'time': clock_time()})
        render_history()

    async def write() -> None:
        key, value = (write_key.value or '').strip(), (write_value.value or '').strip()
        if not key or not value:
            notify('Enter a key and a value.', 'warning')
            return
        write_button.props('loading')
        try:
            await ctx.api.put_key(key, value)
        except ApiError as exc:
            notify(exc.message, 'error')
            record('PUT', key, value, exc.message, False)
            return
        finally:
            write_button.props(remove='loading')
        notify(f'Key "{key}" written successfully!', 'success')
        record('PUT', key, value, 'ok', True)
        write_key.value = write_value.value = ''

    async def read() -> None:
        key = (read_key.value or '').strip()
        if not key:
            return
        try:
            found = await ctx.api.get_key(key)
        except ApiError as exc:
            read_result.text = exc.message
            read_result.classes(replace='font-mono whitespace-pre-wrap break-all text-negative')
            record('GET', key, '', exc.message, False)
            return
        if found is None:
            read_result.text = 'Key not found'
            read_result.classes(replace='font-mono whitespace-pre-wrap break-all text-negative')
            record('GET', key, '', 'Key not found', False)
            return
        read_result.text = found.value
        read_result.classes(replace='font-mono whitespace-pre-wrap break-all')
        notify('Key found!', 'success')
        record('GET', key, found.value, 'ok', True)

    write_button.on_click(write)
    write_value.on('keydown.enter', write)
    read_button.on_click(read)
    read_key.on('keydown.enter', read)

    due = Due()

    def render() -> None:
        """The page's one refresher: feed items as they come, the chart and stats at most once a second."""
        feed.flush()
        now = time.monotonic()
        if due.chart:
            wait = due.chart_at + CHART_EVERY_SECS - now
            if wait <= 0:
                redraw_chart()
            else:
                refresher.again_in(wait)
        if due.stats and not due.stats_busy:
            wait = due.stats_at + STATS_EVERY_SECS - now
            if wait <= 0:
                due.stats, due.stats_busy = False, True
                background_tasks.create(load_stats(), name='dashboard stats')
            else:
                refresher.again_in(wait)

    def redraw_chart() -> None:
        labels, puts, deletes = throughput.series()
        chart.show(labels, puts, deletes)
        due.chart_at = time.monotonic()
        due.chart = throughput.busy()  # keep scrolling while the window holds traffic
        if due.chart:
            refresher.again_in(CHART_EVERY_SECS)

    refresher = ctx.refresher(render)

    def on_key_change(event: KeyChangeEvent) -> None:
        throughput.add('put' if event.operation == 'put' else 'delete')
        detail = '' if event.value is None else event.value[:60]
        feed.add(event.operation, event.key, detail)
        due.stats = due.chart = True
        refresher.mark()

    async def resync() -> None:
        due.stats = True
        refresher.mark()

    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(resync)
    render_history()
    redraw_chart()
    with ctx.errors():
        await load_stats()
