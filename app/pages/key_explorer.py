"""`/keys`: lookup, insert, search, batch insert, delete — a cursor-paged table that changes live.

What is written is what the user sees: a value too large for the socket is refused, not swapped for the
last one that arrived (see `ValueInput`); larger values come from a file, over HTTP, up to the server's
2 MiB request limit; saving an opened key keeps its TTL unless the user changes it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field

from nicegui import background_tasks, ui
from nicegui.elements.upload_files import FileUpload
from nicegui.events import UploadEventArguments

from components.cards import card_header
from components.confirm import confirm
from components.conflict_banner import ConflictBanner
from components.key_grid import KeyGrid, make_row
from components.states import StatePanel
from components.value_viewer import ValueInput, ValueViewer
from services.api import MAX_REQUEST_BYTES, ApiError
from services.events.models import KeyChangeEvent
from services.key_search import Matcher, SearchMode, matcher, search_page
from services.models import KeyTtl, Record

from ..context import OwnWrites, PageContext, notify
from ..live import Expiry
from ..shell import page

PAGE_SIZES = [50, 100, 250, 500, 1000]
MAX_BATCH = 1000
MAX_ROWS = 2000  # rows one grid holds; beyond it the window ends and "Load more" resumes after it
OWN_WRITE_SECS = 5.0
COUNTS_EVERY_SECS = 0.5
DELETED_ROW_SECS = 2.5
SCAN_BUDGET = 10_000  # keys one search call reads (in pages of 1000), never the whole store
MODES: dict[str, str] = {'prefix': 'Prefix', 'glob': 'Pattern (glob)', 'contains': 'Contains', 'regex': 'Regex',
                         'value': 'Value contains'}


def parse_batch(text: str) -> tuple[list[Record] | None, str | None]:
    """Client-side validation of the batch textarea: records, or a message saying what is wrong."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None, 'Invalid JSON'
    if not isinstance(data, list) or not data:
        return None, 'Expected a non-empty JSON array'
    if len(data) > MAX_BATCH:
        return None, f'At most {MAX_BATCH} records per batch (got {len(data)})'
    records = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get('key'), str) or not isinstance(item.get('value'), str):
            return None, f'Item {index + 1}: expected {{"key": "…", "value": "…"}} with string key and value'
        if not item['key']:
            return None, f'Item {index + 1}: the key must not be empty'
        records.append(Record(key=item['key'], value=item['value']))
    return records, None


@dataclass
class Window:
    """Which keys the grid holds: the first rows of a result in key order, and where it stops.

    `cursor` is where "Load more" resumes (the last key read); None means the result is complete,
    so every new matching key belongs in view. Live keys past the cursor are not in the window.
    """
    mode: SearchMode = 'prefix'
    query: str = ''
    title: str = 'Entries'
    cursor: str | None = None
    scanned: int = 0
    match: Matcher = field(default=lambda key, value: True)

    def belongs(self, key: str, value: str | None) -> bool:
        if self.cursor is not None and key > self.cursor:
            return False
        try:
            return self.match(key, value)
        except ApiError:  # a regex that backtracks on this key: it is not shown, the page goes on
            return False

    @property
    def scans(self) -> bool:
        return self.mode not in ('prefix',)


def duration(secs: int) -> str:
    """`86150` -> `23 h 55 min 50 s`."""
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f'{hours} h' if hours else '', f'{minutes} min' if minutes else '', f'{seconds} s' if seconds else '']
    return ' '.join(p for p in parts if p) or '0 s'


async def read_text_file(file: FileUpload) -> tuple[str | None, str | None]:
    """(the file as text, None) or (None, why it cannot be a value): values are UTF-8 text, at most 2 MiB."""
    if file.size() > MAX_REQUEST_BYTES:
        return None, (f'"{file.name}" is {file.size():,} bytes: more than the server takes in one request '
                      '(2 MiB). Nothing was written.')
    data = await file.read()
    try:
        return data.decode('utf-8'), None
    except UnicodeDecodeError as exc:
        return None, f'"{file.name}" is not UTF-8 text (byte {exc.start:,}): values are text. Nothing was written.'


@dataclass
class FileValue:
    """A value loaded from a file for Insert: it came over HTTP, never through the socket."""
    name: str = ''
    text: str | None = None


@dataclass
class Opened:
    """The key shown in the value viewer (None: the viewer is closed), and its TTL when it was read."""
    key: str | None = None
    value: str | None = None
    expires_at: float | None = None  # loop time the key expires at (None: it never does, or unknown)
    ttl_problem: str | None = None  # why the TTL is unknown
    ttl_shown: int | None = None  # what the TTL field was set to: Save sends the user's value only if changed

    def remaining(self) -> int | None:
        if self.expires_at is None:
            return None
        return max(1, math.ceil(self.expires_at - asyncio.get_running_loop().time()))

    def set_ttl(self, ttl: KeyTtl | None) -> None:
        secs = ttl.ttl_secs if ttl is not None and not ttl.expired else None
        self.expires_at = None if secs is None else asyncio.get_running_loop().time() + secs
        self.ttl_problem = None
        self.ttl_shown = secs

    def ttl_text(self) -> str:
        if self.key is None:
            return ''
        if self.ttl_problem is not None:
            return f'TTL unknown ({self.ttl_problem}); Save writes no TTL unless you set one'
        remaining = self.remaining()
        if remaining is None:
            return 'No TTL: never expires'
        return f'Expires in {duration(remaining)} ({remaining:,} s)'


@dataclass
class Counted:
    at: float = float('-inf')  # when the counts above the grid were last drawn


@dataclass
class Totals:
    store: int | None = None  # keys in the whole store (from its stats); None while unknown


@page('/keys', 'Key Explorer')
async def key_explorer(ctx: PageContext) -> None:
    window = Window()
    own = OwnWrites(OWN_WRITE_SECS)
    opened = Opened()
    from_file = FileValue()
    totals = Totals()
    insert_draft = ctx.draft('insert')
    batch_draft = ctx.draft('batch')
    editor_draft = ctx.draft('editor')

    with ui.row().classes('w-full items-center justify-between'):
        ui.label('Lookup, search, insert, delete and full scan').classes('text-gray-500')
        with ui.row().classes('gap-2'):
            list_all_button = ui.button('List All Keys', icon='list').props('flat')
            scan_button = ui.button('Full Scan', icon='manage_search').props('flat')

    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-64'):
            card_header('GET', 'Lookup Key')
            lookup_key = ui.input('Key', placeholder='user:1').classes('w-full').mark('lookup-key')
            lookup_button = ui.button('Lookup', icon='search').mark('lookup-button')
        with ui.card().classes('grow basis-64'):
            card_header('POST', 'Insert Key')
            insert_key = ui.input('Key', placeholder='user:1').classes('w-full').mark('insert-key') \
                .bind_value(insert_draft, 'key')
            insert_value = ValueInput('Value').classes('w-full').props('autogrow').mark('insert-value') \
                .bind_value(insert_draft, 'value')
            insert_file = ui.upload(label='…or a value from a file (max 2 MiB)', auto_upload=True, max_files=1,
                                    max_file_size=MAX_REQUEST_BYTES) \
                .props('flat bordered color=grey-9 text-color=grey-4').classes('w-full').style('max-height: 4.5rem') \
                .mark('insert-file')
            with ui.row().classes('items-center gap-1') as file_row:
                file_note = ui.label('').classes('text-sm').mark('insert-file-note')
                ui.button(icon='close', on_click=lambda: clear_file()).props('flat round dense') \
                    .tooltip('Use the text box instead')
            insert_ttl = ui.number('TTL (seconds, optional)', min=0, precision=0).classes('w-full')
            insert_error = ui.label('').classes('text-negative text-sm').mark('insert-error')
            insert_button = ui.button('Insert', icon='add').mark('insert-button')
        with ui.card().classes('grow basis-64'):
            card_header('GET', 'Search')
            search_query = ui.input('Query', placeholder='user:').classes('w-full').mark('search-query')
            search_mode = ui.select(MODES, value='prefix', label='Match').classes('w-full').mark('search-mode')
            search_button = ui.button('Search', icon='search').mark('search-button')
        with ui.card().classes('grow basis-64'):
            card_header('POST', 'Batch Insert')
            batch_text = ValueInput('JSON array', placeholder='[{"key":"k1","value":"v1"}]').classes('w-full') \
                .props('autogrow').mark('batch-text').bind_value(batch_draft, 'text')
            batch_error = ui.label('').classes('text-negative text-sm').mark('batch-error')
            batch_button = ui.button('Insert Batch', icon='playlist_add').mark('batch-button')

    file_row.set_visibility(False)
    insert_button.bind_enabled_from(insert_key, 'value', backward=lambda v: bool((v or '').strip()))

    with ui.card().classes('w-full'):
        with ui.row().classes('w-full items-center justify-between'):
            with ui.row().classes('items-center gap-2'):
                table_title = ui.label('Entries').classes('font-semibold').mark('table-title')
                count_badge = ui.badge('0').mark('count-badge')
                progress = ui.label('').classes('text-sm text-gray-500').mark('key-count')
            with ui.row().classes('items-center gap-2'):
                filter_input = ui.input(placeholder='Filter rows in view…').props('dense clearable') \
                    .mark('table-filter')
                page_size = ui.select(PAGE_SIZES, value=100, label='Page size').props('dense').classes('w-28')
                ui.button('Clear', on_click=lambda: clear_table()).props('flat')
        table_state = StatePanel('table-state')
        grid = KeyGrid(on_open=lambda k: open_key(k))
        more_button = ui.button('Load more', icon='expand_more').props('flat').mark('load-more')

    with ui.card().classes('w-full') as viewer_card:
        with ui.row().classes('w-full items-center justify-between'):
            viewer_title = ui.label('').classes('font-semibold font-mono break-all').mark('viewer-title')
            ui.button(icon='close', on_click=lambda: viewer_card.set_visibility(False)).props('flat round dense')
        conflict = ConflictBanner(on_reload=lambda: reload_opened(),
                                  on_keep=lambda: notify('Kept your version; Save will overwrite the other change.',
                                                         'info'))
        ttl_label = ui.label('').classes('text-sm text-gray-500').mark('viewer-ttl')
        viewer = ValueViewer()
        editor = ValueInput('Edit value').classes('w-full font-mono').props('autogrow').mark('editor') \
            .bind_value(editor_draft, 'value')
        editor_ttl = ui.number('TTL (seconds; empty: never expires)', min=0, precision=0).classes('w-72') \
            .mark('editor-ttl')
        with ui.row().classes('gap-2'):
            save_button = ui.button('Save', icon='save').mark('save-button')
            ui.button('Refetch', icon='refresh', on_click=lambda: refetch(opened.key or '')).props('flat')
            ui.button('Delete', icon='delete', color='negative', on_click=lambda: delete(opened.key or '')) \
                .props('flat')
    viewer_card.set_visibility(False)

    # -- rendering: one refresher; the grid gets patches, the labels only when their text changes --
    def render() -> None:
        grid.flush()
        show_ttl()
        wait = counted.at + COUNTS_EVERY_SECS - time.monotonic()
        if wait > 0:  # in a burst the rows move every frame, the counts twice a second
            refresher.again_in(wait)
        else:
            show_counts()

    def show_counts() -> None:
        counted.at = time.monotonic()
        shown = len(grid.rows)
        count_badge.text = f'{shown:,}'
        progress.text = counts_text(shown)
        table_title.text = window.title
        more_button.set_visibility(window.cursor is not None)

    def show_ttl() -> None:
        """The opened key's TTL, counting down while the viewer is open (sent only when its text changes)."""
        ttl_label.text = opened.ttl_text()
        if opened.expires_at is not None and viewer_card.visible:
            refresher.again_in(1.0)

    def counts_text(shown: int) -> str:
        total = f' of {totals.store:,} keys' if totals.store is not None else ''
        if window.scans:
            more = ' so far' if window.cursor is not None else ''
            return f'{shown:,} matches{more} · scanned {window.scanned:,}{total}'
        return f'{shown:,} in view{total}'

    refresher = ctx.refresher(render)
    counted = Counted()

    def drop_deleted(keys: list[str]) -> None:
        for key in keys:
            grid.drop(key)
        settle_state()
        refresher.mark()

    expiry = Expiry(DELETED_ROW_SECS, drop_deleted)
    filter_input.on_value_change(lambda e: grid.run_grid_method('setGridOption', 'quickFilterText', e.value or ''))

    def settle_state() -> None:
        grid.set_visibility(bool(grid.rows))
        table_state.settle(bool(grid.rows), 'Use Lookup, Search or Full Scan to load data.')

    def clear_table() -> None:
        grid.replace([])
        expiry.clear()
        window.cursor = None
        settle_state()
        refresher.flush_now()

    # -- loading: one page per request, never an unbounded scan --------------------------------------
    async def load(mode: SearchMode, query: str, title: str, append: bool = False) -> bool:
        if not append:
            table_state.loading()
        limit = int(page_size.value or 100)
        with ctx.errors(state=None if append else table_state, feature='Key search') as outcome:
            result = await search_page(ctx.api, mode, query, cursor=window.cursor if append else None,
                                       limit=limit, scan_budget=SCAN_BUDGET)
        if outcome.failed:
            return False
        rows = [make_row(r.key, r.value) for r in result.records]
        if append:
            for row in rows:
                grid.upsert(row)
            window.scanned += result.scanned
        else:
            window.mode, window.query, window.title = mode, query, title
            window.match, window.scanned = matcher(mode, query), result.scanned
            expiry.clear()
            grid.replace(rows)
        window.cursor = result.cursor
        trim_window()
        settle_state()
        counted.at = float('-inf')  # a user's load shows its counts at once
        refresher.flush_now()
        background_tasks.create(refresh_total(), name='key count')  # rows first, the count a moment later
        return True

    async def refresh_total() -> None:
        """How many keys the store holds (the rows in view are only a window of them)."""
        try:
            stats = await ctx.api.stats()
        except ApiError:
            totals.store = None  # the count is a nicety: no toast when it is missing
        else:
            totals.store = stats.total_records
        refresher.mark()

    def trim_window() -> None:
        """Keep the first MAX_ROWS keys; the window then ends at the last one held."""
        while len(grid.rows) > MAX_ROWS:
            last = grid.largest()
            if last is None:
                break
            grid.drop(last)
            window.cursor = grid.largest()

    async def list_all() -> None:
        await load('prefix', '', 'Entries')

    async def full_scan() -> None:
        await load('prefix', '', 'Scan Results')

    async def load_more() -> None:
        await load(window.mode, window.query, window.title, append=True)

    async def search() -> None:
        query = search_query.value or ''
        mode: SearchMode = search_mode.value or 'prefix'
        if await load(mode, query, f'Search: {query}' if query else 'Entries'):
            further = '' if window.cursor is None or not window.scans else \
                f' so far (scanned {window.scanned:,}; Load more searches further)'
            notify(f'{len(grid.rows):,} keys found for "{query}"{further}', 'info')

    list_all_button.on_click(list_all)
    scan_button.on_click(full_scan)
    more_button.on_click(load_more)
    search_button.on_click(search)
    search_query.on('keydown.enter', search)
    page_size.on_value_change(lambda: load(window.mode, window.query, window.title))

    # -- single-key actions ------------------------------------------------------------------------
    def show_row(key: str, value: str | None) -> None:
        grid.upsert(make_row(key, value, 'changed' if key in grid.rows else 'new'))
        expiry.discard(key)
        settle_state()
        refresher.flush_now()

    async def lookup() -> None:
        key = lookup_key.value or ''
        if key:
            await fetch_key(key, show=True, found_toast=f'Key "{key}" found!')

    def refuse_insert(problem: str) -> None:
        insert_error.text = problem
        notify(problem, 'error')

    async def insert() -> None:
        key = insert_key.value or ''
        if not key.strip():
            notify('Enter a key.', 'warning')
            return
        if from_file.text is None and (problem := insert_value.too_large_message('The value in the box')):
            refuse_insert(problem)  # the box keeps it; what the server last received is not what the user sees
            return
        value = from_file.text if from_file.text is not None else insert_value.value or ''
        ttl = int(insert_ttl.value) if insert_ttl.value else None
        own.remember(key, value)
        insert_error.text = ''
        insert_button.props('loading')
        try:
            with ctx.errors() as outcome:  # on failure the form keeps what was typed
                await ctx.api.put_key(key, value, ttl)
        finally:
            insert_button.props(remove='loading')
        if outcome.error is not None:
            insert_error.text = outcome.error.message
            return
        show_row(key, value)
        notify(f'Key "{key}" inserted!', 'success')
        insert_key.value = insert_value.value = ''
        insert_ttl.value = None
        clear_file()

    async def value_from_file(event: UploadEventArguments) -> None:
        text, problem = await read_text_file(event.file)
        insert_file.reset()
        if text is None:
            clear_file()
            refuse_insert(problem or 'The file cannot be a value')
            return
        from_file.name, from_file.text = event.file.name, text
        file_note.text = f'Insert writes "{from_file.name}" ({len(text.encode()):,} bytes), not the text box'
        file_row.set_visibility(True)
        insert_error.text = ''

    def clear_file() -> None:
        from_file.name, from_file.text = '', None
        file_row.set_visibility(False)

    def file_rejected() -> None:
        refuse_insert('That file is larger than 2 MiB, the most the server takes in one request. Nothing was written.')

    async def batch() -> None:
        if too_large := batch_text.too_large_message('The batch', 'import it as a file on the Bulk Import page'):
            batch_error.text = too_large
            notify(too_large, 'error')
            return
        records, problem = parse_batch(batch_text.value or '')
        batch_error.text = problem or ''
        if records is None:
            notify(problem or 'Invalid batch', 'error')
            return
        for r in records:
            own.remember(r.key, r.value)
        with ctx.errors() as outcome:
            count = await ctx.api.batch_put(records)
        if outcome.error is not None:
            batch_error.text = outcome.error.message
            return
        for r in records:
            grid.upsert(make_row(r.key, r.value, 'changed' if r.key in grid.rows else 'new'))
        settle_state()
        refresher.flush_now()
        notify(f'{count} keys inserted', 'success')
        batch_text.value = ''

    async def refetch(key: str) -> None:
        if key:
            await fetch_key(key, show=False, found_toast=f'"{key}" refreshed')

    async def delete(key: str) -> None:
        if not key or not await confirm('Delete key', f'Delete "{key}"? This cannot be undone.'):
            return
        own.remember(key, None)
        with ctx.errors() as outcome:
            await ctx.api.delete_key(key)
        if outcome.failed:
            return
        if grid.mark_deleted(key):
            expiry.add(key)
        refresher.flush_now()
        if opened.key == key:
            viewer_card.set_visibility(False)
        notify(f'Key "{key}" deleted', 'success')

    async def open_key(key: str) -> None:
        await fetch_key(key, show=True)

    async def fetch_key(key: str, *, show: bool, found_toast: str | None = None) -> None:
        """Read one key; update its row (or mark it gone) and optionally open it in the viewer."""
        with ctx.errors() as outcome:
            found = await ctx.api.get_key(key)
        if outcome.failed:
            return
        if found is None:
            notify(f'Key "{key}" not found', 'warning')
            if grid.mark_deleted(key):
                expiry.add(key)
            refresher.flush_now()
            return
        show_row(key, found.value)
        if show:
            await read_ttl(key)
            show_value(key, found.value)
        if found_toast:
            notify(found_toast, 'success' if show else 'info')

    async def read_ttl(key: str) -> None:
        """The opened key's TTL, so Save can keep it; a server without the TTL route leaves it unknown."""
        try:
            opened.set_ttl(await ctx.api.key_ttl(key))
        except ApiError as exc:
            opened.set_ttl(None)
            opened.ttl_problem = exc.message
        editor_ttl.value = opened.ttl_shown
        refresher.flush_now()

    def show_value(key: str, value: str) -> None:
        opened.key, opened.value = key, value
        viewer_title.text = key
        viewer.show(key, value)
        editor.value = value
        conflict.hide()
        viewer_card.set_visibility(True)
        refresher.flush_now()

    def ttl_to_save() -> int | None:
        """The TTL as the user left it: the time still remaining, or what they typed instead."""
        typed = editor_ttl.value
        if (typed if typed is None else int(typed)) != opened.ttl_shown:
            return int(typed) if typed else None
        return opened.remaining()

    async def save() -> None:
        key = opened.key
        if key is None:
            return
        if problem := editor.too_large_message('Your edit'):
            notify(problem, 'error')
            return
        value = editor.value or ''
        own.remember(key, value)
        with ctx.errors() as outcome:
            await ctx.api.put_key(key, value, ttl_to_save())
        if outcome.failed:
            return
        opened.value = value
        viewer.show(key, value)
        conflict.hide()
        show_row(key, value)
        await read_ttl(key)
        notify(f'Key "{key}" saved', 'success')

    async def reload_opened() -> None:
        if opened.key is not None:
            await open_key(opened.key)

    lookup_button.on_click(lookup)
    lookup_key.on('keydown.enter', lookup)
    insert_button.on_click(insert)
    insert_file.on_upload(value_from_file)
    insert_file.on_rejected(file_rejected)
    batch_button.on_click(batch)
    save_button.on_click(save)

    # -- live: each event patches at most one row; the refresher sends the frame's patches ----------
    def on_key_change(event: KeyChangeEvent) -> None:
        mine = own.is_own(event)
        if event.operation == 'delete_prefix':
            for key in [k for k in grid.rows if k.startswith(event.key)]:
                if grid.mark_deleted(key):
                    expiry.add(key)
            if opened.key and opened.key.startswith(event.key) and not mine:
                conflict.show('deleted')
        elif event.operation == 'delete':
            if grid.mark_deleted(event.key):
                expiry.add(event.key)
            if opened.key == event.key and not mine:
                conflict.show('deleted')
        elif event.key in grid.rows or window.belongs(event.key, event.value):
            value = event.value if event.value is not None else f'({event.value_size or 0:,} bytes)'
            new = event.key not in grid.rows
            grid.upsert(make_row(event.key, value, 'new' if new else 'changed', size=event.value_size))
            expiry.discard(event.key)
            if new:
                trim_window()
                if len(grid.rows) == 1:
                    settle_state()
            if opened.key == event.key and not mine:
                conflict.show('changed')
        else:
            return
        refresher.mark()

    ctx.on(KeyChangeEvent, on_key_change)
    ctx.watch_prefix('')
    ctx.on_resync(lambda: load(window.mode, window.query, window.title))
    await list_all()
