"""`/keys`: keys on the left (a flat list or a tree by delimiter), the selected value on the right.

One search bar (prefix / glob / contains / regex / value, walked by cursor; an exact key + Enter opens it),
a "+ Key" dialog (one key, or a batch), bulk delete / delete by pattern / export, and a URL that holds the
explorer's state (`/keys?q=user:&mode=prefix&view=list&key=user:0042`) so a shared link opens the same view.

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
from urllib.parse import urlencode

from nicegui import background_tasks, ui
from nicegui.elements.upload_files import FileUpload
from nicegui.events import UploadEventArguments

from components.confirm import confirm
from components.conflict_banner import ConflictBanner
from components.key_export import FORMATS, export_bytes, text_diff
from components.key_grid import KeyGrid, make_row, size_text, ttl_text
from components.key_tree import KeyTree, Level, group
from components.states import StatePanel
from components.value_viewer import TextBlock, ValueInput, ValueViewer, encoding_of, parse_json
from services.api import MAX_REQUEST_BYTES, ApiError
from services.events.models import KeyChangeEvent
from services.key_search import SEARCH_MODES, Matcher, SearchMode, matcher, search_page
from services.models import KeyTtl, Record

from ..context import OwnWrites, PageContext, notify
from ..live import Expiry, FrameBudget
from ..shell import page

PAGE_SIZES = [50, 100, 250, 500, 1000]
MAX_BATCH = 1000
MAX_ROWS = 2000  # rows one grid holds; beyond it the window ends and "Load more" resumes after it
OWN_WRITE_SECS = 5.0
COUNTS_EVERY_SECS = 0.5
BOX = 'input-style="max-height: 16rem"'  # a pasted 10 MB value scrolls inside its box, the buttons stay
TALL_BOX = 'input-style="max-height: 24rem"'
DELETED_ROW_SECS = 2.5
SCAN_BUDGET = 10_000  # keys one search call reads (in pages of 1000), never the whole store
TREE_BUDGET = 10_000  # keys one folder expansion reads; beyond it counts say "n+"
TTL_ROWS = 200  # rows whose TTL a load reads (one request each, a few at a time)
TTL_PARALLEL = 8
PREVIEW_BUDGET = 100_000  # keys a delete-by-pattern preview reads before it says "at least"
EXPORT_MAX = 100_000  # records one export holds
BATCH_DELETE = 1000
VIEWS: dict[str, str] = {'list': 'List', 'tree': 'Tree'}
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


@dataclass
class Selection:
    keys: list[str] = field(default_factory=list)


def _mode(value: str | None) -> SearchMode:
    return value if value in SEARCH_MODES else 'prefix'  # type: ignore[return-value]


@page('/keys', 'Key Explorer')
async def key_explorer(ctx: PageContext) -> None:
    window = Window()
    own = OwnWrites(OWN_WRITE_SECS)
    opened = Opened()
    from_file = FileValue()
    totals = Totals()
    selection = Selection()
    counted = Counted()
    pattern_dialog, export_dialog = ui.dialog(), ui.dialog()
    insert_draft = ctx.draft('insert')
    batch_draft = ctx.draft('batch')
    editor_draft = ctx.draft('editor')
    start_query = ctx.query('q') or ''
    start_mode = _mode(ctx.query('mode'))
    start_view = ctx.query('view') if ctx.query('view') in VIEWS else 'list'
    start_key = ctx.query('key')
    start_delimiter = ctx.query('delim') or ':'

    # -- the bar: search, view, + Key, bulk --------------------------------------------------------------
    with ui.row().classes('w-full items-center gap-2').style('flex-wrap: nowrap'):
        search_mode = ui.select(MODES, value=start_mode).props('dense outlined options-dense') \
            .classes('shrink-0').style('width: 7.5rem').mark('search-mode')
        search_query = ui.input(placeholder='Search keys, or an exact key + Enter  ( / )', value=start_query) \
            .props('dense outlined clearable data-testid=key-search aria-label="Search keys"') \
            .classes('grow').style('min-width: 0').mark('key-search search-query')
        search_button = ui.button(icon='search').props('flat round dense').mark('search-button') \
            .tooltip('Search')
    with ui.row().classes('w-full items-center gap-2'):
        view_toggle = ui.toggle(VIEWS, value=start_view).props('dense no-caps').mark('view-toggle')
        delimiter = ui.input('Delimiter', value=start_delimiter).props('dense').style('width: 5rem') \
            .mark('tree-delimiter')
        ui.space()
        add_button = ui.button('+ Key').props('dense unelevated').mark('add-key')
        with ui.button(icon='more_vert').props('flat round dense').tooltip('Bulk actions').mark('bulk-menu'):
            with ui.menu():
                ui.menu_item('Delete selected…', on_click=lambda: delete_selected()).mark('delete-selected')
                ui.menu_item('Delete by pattern…', on_click=lambda: open_prefilled(pattern_dialog)) \
                    .props('data-testid=delete-pattern').mark('delete-pattern')
                ui.menu_item('Export…', on_click=lambda: open_prefilled(export_dialog)).mark('export-open')
    with ui.row().classes('w-full items-center gap-2'):
        progress = ui.label('').classes('text-sm text-gray-500').props('data-testid=key-count').mark('key-count')
        selected_label = ui.label('').classes('text-sm').mark('selected-count')
        ui.space()
        filter_input = ui.input(placeholder='Filter rows in view…').props('dense clearable') \
            .style('width: 10rem').mark('table-filter')
        page_size = ui.select(PAGE_SIZES, value=100).props('dense options-dense').style('width: 5rem') \
            .tooltip('Page size')

    # two panes side by side while both fit, stacked (keys first) when the page is narrow
    with ui.element('div').classes('w-full flex gap-4 items-start').style('flex-direction: row; flex-wrap: wrap'):
        with ui.column().classes('gap-1').style('flex: 3 1 30rem; min-width: 0'):
            table_state = StatePanel('table-state')
            grid = KeyGrid(on_open=lambda k: open_key(k), on_select=lambda keys: select(keys),
                           on_row=lambda row: focus_row(row))
            tree = KeyTree(on_open=lambda _k: None, on_row=lambda row: focus_row(row),
                           on_select=lambda keys: select(keys))
            tree.delimiter = start_delimiter
            tree.on('cellClicked', lambda e: tree_click(e.args.get('data') or {}))
            more_button = ui.button('Load more', icon='expand_more').props('flat dense').mark('load-more')
        with ui.card().style('flex: 2 1 24rem; min-width: 0').props('data-testid=value-pane') \
                .mark('value-pane') as viewer_card:
            with ui.row().classes('w-full items-center gap-1').style('flex-wrap: nowrap'):
                viewer_title = ui.label('').classes('font-semibold font-mono break-all grow').style('min-width: 0') \
                    .mark('viewer-title')
                ui.button(icon='content_copy', on_click=lambda: copy_key()).props('flat round dense') \
                    .tooltip('Copy key').mark('copy-key')
                ui.button(icon='file_copy', on_click=lambda: copy_value()).props('flat round dense') \
                    .tooltip('Copy value').mark('copy-value')
                ui.button(icon='download', on_click=lambda: download_value()).props('flat round dense') \
                    .tooltip('Download value').mark('download-value')
                ui.button(icon='close', on_click=lambda: close_value()).props('flat round dense') \
                    .tooltip('Close (Esc)').mark('close-value')
            with ui.row().classes('w-full items-center gap-3 text-sm text-gray-500'):
                size_label = ui.label('').props('data-testid=value-size').mark('value-size')
                encoding_label = ui.label('').mark('value-encoding')
                ttl_label = ui.label('').props('data-testid=value-ttl').mark('value-ttl viewer-ttl')
            with ui.row().classes('w-full items-center gap-2'):
                editor_ttl = ui.number('TTL (s; empty: never)', min=0, precision=0).props('dense') \
                    .style('width: 11rem').mark('editor-ttl')
                ui.button('Set TTL', on_click=lambda: set_ttl()).props('flat dense').mark('ttl-set')
                ui.space()
                edit_button = ui.button('Edit', icon='edit', on_click=lambda: start_edit()) \
                    .props('flat dense data-testid=value-edit').mark('value-edit')
                ui.button(icon='refresh', on_click=lambda: refetch(opened.key or '')).props('flat round dense') \
                    .tooltip('Refetch').mark('refetch')
                ui.button('Delete', icon='delete', color='negative', on_click=lambda: delete(opened.key or '')) \
                    .props('flat dense').mark('delete-key')
            conflict = ConflictBanner(on_reload=lambda: reload_opened(),
                                      on_keep=lambda: notify('Kept your version; Save will overwrite the other '
                                                             'change.', 'info'))
            viewer = ValueViewer()
            with ui.column().classes('w-full gap-1') as edit_section:
                editor = ValueInput('Edit value').classes('w-full font-mono') \
                    .props(f'autogrow data-testid=value-editor {TALL_BOX}').mark('value-editor editor') \
                    .bind_value(editor_draft, 'value')
                json_error = ui.label('').classes('text-negative text-sm').mark('value-json-error')
                with ui.row().classes('gap-2'):
                    save_button = ui.button('Save', icon='save').props('data-testid=value-save') \
                        .mark('value-save save-button')
                    ui.button('Cancel', on_click=lambda: stop_edit()).props('flat').mark('value-cancel')
    viewer_card.set_visibility(False)
    edit_section.set_visibility(False)

    # -- the + Key dialog: one key (text or file), or a batch --------------------------------------------
    with ui.dialog() as add_dialog, ui.card().style('width: 36rem; max-width: 100%'):
        with ui.tabs().props('dense align=left').mark('add-tabs') as add_tabs:
            ui.tab('Key')
            ui.tab('Batch')
        with ui.tab_panels(add_tabs, value='Key').classes('w-full'):
            with ui.tab_panel('Key'):
                insert_key = ui.input('Key', placeholder='user:1').classes('w-full').mark('insert-key') \
                    .bind_value(insert_draft, 'key')
                insert_value = ValueInput('Value').classes('w-full').props(f'autogrow {BOX}').mark('insert-value') \
                    .bind_value(insert_draft, 'value')
                insert_file = ui.upload(label='…or a value from a file (max 2 MiB)', auto_upload=True,
                                        max_files=1, max_file_size=MAX_REQUEST_BYTES) \
                    .props('flat bordered').classes('w-full').style('max-height: 4.5rem').mark('insert-file')
                with ui.row().classes('items-center gap-1') as file_row:
                    file_note = ui.label('').classes('text-sm').mark('insert-file-note')
                    ui.button(icon='close', on_click=lambda: clear_file()).props('flat round dense') \
                        .tooltip('Use the text box instead')
                insert_ttl = ui.number('TTL (seconds, optional)', min=0, precision=0).classes('w-full')
                insert_error = ui.label('').classes('text-negative text-sm').mark('insert-error')
                insert_button = ui.button('Insert', icon='add').mark('insert-button')
            with ui.tab_panel('Batch'):
                batch_text = ValueInput('JSON array', placeholder='[{"key":"k1","value":"v1"}]') \
                    .classes('w-full').props(f'autogrow {BOX}').mark('batch-text').bind_value(batch_draft, 'text')
                batch_error = ui.label('').classes('text-negative text-sm').mark('batch-error')
                batch_button = ui.button('Insert Batch', icon='playlist_add').mark('batch-button')
        with ui.row().classes('w-full justify-end'):
            ui.button('Close', on_click=add_dialog.close).props('flat')
    file_row.set_visibility(False)
    insert_button.bind_enabled_from(insert_key, 'value', backward=lambda v: bool((v or '').strip()))
    add_button.on_click(add_dialog.open)

    # -- delete by pattern: preview how many match, then type the pattern to confirm -----------------------
    with pattern_dialog, ui.card().style('width: 32rem; max-width: 100%'):
        ui.label('Delete by pattern').classes('text-lg font-semibold')
        with ui.row().classes('w-full items-center gap-2').style('flex-wrap: nowrap'):
            pattern_mode = ui.select(MODES, value='prefix').props('dense').style('width: 9rem').mark('pattern-mode')
            pattern_query = ui.input('Pattern').props('dense').classes('grow').mark('pattern-query')
        pattern_preview_button = ui.button('Preview', icon='visibility', on_click=lambda: preview_pattern()) \
            .props('flat').mark('pattern-preview')
        pattern_count = ui.label('').classes('text-sm').mark('pattern-count')
        pattern_hint = ui.label('').classes('text-sm text-gray-500')
        pattern_typed = ui.input(placeholder='type the pattern to confirm').props('dense').classes('w-full') \
            .mark('pattern-typed')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=pattern_dialog.close).props('flat')
            pattern_go = ui.button('Delete matching keys', color='negative', on_click=lambda: delete_pattern()) \
                .mark('pattern-delete')
    pattern_state: dict[str, object] = {'previewed': None}

    # -- export: the selection or every match of a search, as JSON / NDJSON / CSV --------------------------
    with export_dialog, ui.card().style('width: 28rem; max-width: 100%'):
        ui.label('Export keys').classes('text-lg font-semibold')
        export_scope = ui.radio({'selection': 'Selected keys', 'search': 'Every match of the search below'},
                                value='search').mark('export-scope')
        with ui.row().classes('w-full items-center gap-2').style('flex-wrap: nowrap'):
            export_mode = ui.select(MODES, value='prefix').props('dense').style('width: 9rem').mark('export-mode')
            export_query = ui.input('Pattern').props('dense').classes('grow').mark('export-query')
        export_format = ui.select(FORMATS, value='json', label='Format').props('dense').style('width: 8rem') \
            .mark('export-format')
        export_note = ui.label('').classes('text-sm text-gray-500').mark('export-note')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=export_dialog.close).props('flat')
            ui.button('Export', icon='download', on_click=lambda: export()).mark('export-go')

    def prefill_dialogs() -> None:
        for mode_box, query_box in ((pattern_mode, pattern_query), (export_mode, export_query)):
            mode_box.value, query_box.value = window.mode, window.query
        pattern_typed.value = ''
        pattern_count.text = pattern_hint.text = ''
        pattern_state['previewed'] = None
        export_scope.value = 'selection' if selection.keys else 'search'

    def open_prefilled(dialog: ui.dialog) -> None:
        prefill_dialogs()
        dialog.open()

    # -- rendering: one refresher; the grid gets patches, the labels only when their text changes --
    def render() -> None:
        grid.flush()
        tree.flush()
        show_ttl()
        wait = counted.at + COUNTS_EVERY_SECS - time.monotonic()
        if wait > 0:  # in a burst the rows move every frame, the counts twice a second
            refresher.again_in(wait)
        else:
            show_counts()

    def show_counts() -> None:
        counted.at = time.monotonic()
        progress.text = counts_text(len(grid.rows))
        more_button.set_visibility(window.cursor is not None and view_toggle.value == 'list')
        selected_label.text = f'{len(selection.keys):,} selected' if selection.keys else ''

    def show_ttl() -> None:
        """The opened key's TTL, counting down while the viewer is open (sent only when its text changes)."""
        ttl_label.text = opened.ttl_text()
        if opened.expires_at is not None and viewer_card.visible:
            refresher.again_in(1.0)

    def counts_text(shown: int) -> str:
        total = f'{totals.store:,}' if totals.store is not None else '?'
        if view_toggle.value == 'tree':
            folders = sum(1 for row in tree.rows.values() if row['kind'] == 'folder')
            return f'{folders:,} folders · {len(tree.rows) - folders:,} keys shown · {total} keys in the store'
        if window.scans:
            more = ' so far' if window.cursor is not None else ''
            return f'{shown:,} matches{more} · scanned {window.scanned:,} of {total}'
        return f'{shown:,} in view · {total} keys in the store'

    refresher: FrameBudget = ctx.refresher(render)

    def drop_deleted(keys: list[str]) -> None:
        for key in keys:
            grid.drop(key)
            tree.drop(f'k:{key}')
        settle_state()
        refresher.mark()

    expiry = Expiry(DELETED_ROW_SECS, drop_deleted)
    filter_input.on_value_change(lambda e: grid.run_grid_method('setGridOption', 'quickFilterText', e.value or ''))

    def settle_state() -> None:
        tree_view = view_toggle.value == 'tree'
        grid.set_visibility(bool(grid.rows) and not tree_view)
        tree.set_visibility(tree_view)
        table_state.settle(bool(grid.rows) or tree_view, 'No keys here yet: add one with + Key.')

    # -- the address bar holds the explorer's state ---------------------------------------------------------
    shown_url = {'url': ''}

    def sync_url() -> None:
        params = {'q': window.query, 'mode': window.mode, 'view': view_toggle.value or 'list'}
        if tree.delimiter != ':':
            params['delim'] = tree.delimiter
        if opened.key is not None and viewer_card.visible:
            params['key'] = opened.key
        if ctx.embed:
            params['embed'] = '1'
        url = '/keys?' + urlencode(params)
        if url != shown_url['url']:
            shown_url['url'] = url
            ui.navigate.history.replace(url)

    # -- loading: one page per request, never an unbounded scan --------------------------------------
    async def load(mode: SearchMode, query: str, title: str = 'Entries', append: bool = False) -> bool:
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
        sync_url()
        background_tasks.create(refresh_total(), name='key count')  # rows first, the count a moment later
        background_tasks.create(fill_ttls([r.key for r in result.records[:TTL_ROWS]]), name='row ttls')
        if view_toggle.value == 'tree' and not append:
            await load_tree()
        return True

    async def fill_ttls(keys: list[str]) -> None:
        """The TTL column: one small request per row, a few at a time, patched in as they come."""
        gate = asyncio.Semaphore(TTL_PARALLEL)

        async def one(key: str) -> None:
            async with gate:
                if refresher.closed or key not in grid.rows:
                    return
                try:
                    ttl = await ctx.api.key_ttl(key)
                except ApiError:
                    return
            row = grid.rows.get(key)
            if row is not None and ttl is not None:
                grid.upsert({**row, 'ttl': ttl_text(None if ttl.expired else ttl.ttl_secs)})
                refresher.mark()

        await asyncio.gather(*(one(key) for key in keys))

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

    async def load_more() -> None:
        await load(window.mode, window.query, window.title, append=True)

    async def search() -> None:
        query = search_query.value or ''
        mode: SearchMode = _mode(search_mode.value)
        if not await load(mode, query, f'Search: {query}' if query else 'Entries'):
            return
        if query and query in grid.rows and mode in ('prefix', 'contains', 'glob'):  # an exact key: open it
            await fetch_key(query, show=True, found_toast=f'Key "{query}" found!')
            return
        further = '' if window.cursor is None or not window.scans else \
            f' so far (scanned {window.scanned:,}; Load more searches further)'
        notify(f'{len(grid.rows):,} keys found for "{query}"{further}', 'info')

    more_button.on_click(load_more)
    search_button.on_click(search)
    search_query.on('keydown.enter', search)
    page_size.on_value_change(lambda: load(window.mode, window.query, window.title))

    # -- the tree: one level per opened folder ----------------------------------------------------------------
    async def read_level(prefix: str) -> Level | None:
        level = Level()
        cursor: str | None = None
        read = 0
        with ctx.errors(state=table_state, feature='Key tree') as outcome:
            while True:
                page_ = await ctx.api.list_keys(prefix, limit=1000, cursor=cursor)
                group(prefix, page_.keys, tree.delimiter, level)
                read += len(page_.keys)
                if page_.cursor is None or not page_.keys:
                    break
                cursor = page_.keys[-1]
                if read >= TREE_BUDGET:
                    level.complete = False
                    break
        return None if outcome.failed else level

    async def load_tree() -> None:
        tree.root = window.query if window.mode == 'prefix' else ''
        tree.replace([])
        level = await read_level(tree.root)
        if level is not None:
            tree.show_level(tree.root, level)
        settle_state()
        counted.at = float('-inf')
        refresher.flush_now()

    async def tree_click(row: dict) -> None:
        if row.get('kind') == 'folder':
            path = str(row['key'])
            if tree.is_open(path):
                tree.collapse(path)
            else:
                level = await read_level(path)
                if level is not None:
                    tree.show_level(path, level)
            counted.at = float('-inf')
            refresher.flush_now()
        elif row.get('key'):
            await open_key(str(row['key']))

    async def switch_view() -> None:
        settle_state()
        sync_url()
        if view_toggle.value == 'tree':
            await load_tree()
        counted.at = float('-inf')
        refresher.flush_now()

    async def change_delimiter() -> None:
        tree.delimiter = delimiter.value or ':'
        if view_toggle.value == 'tree':
            await load_tree()
        sync_url()

    view_toggle.on_value_change(switch_view)
    delimiter.bind_visibility_from(view_toggle, 'value', value='tree')
    delimiter.on('keydown.enter', change_delimiter)
    delimiter.on('blur', change_delimiter)

    # -- selection and keyboard ---------------------------------------------------------------------------------
    def select(keys: list[str]) -> None:
        selection.keys = keys
        counted.at = float('-inf')
        refresher.mark()

    async def focus_row(row: dict) -> None:
        """Arrow keys move the focused row: the value pane follows (a click focuses and opens at once)."""
        key = row.get('key')
        if row.get('kind') != 'folder' and isinstance(key, str) and key not in (opened.key, opening.get('key')):
            await open_key(key)

    def on_key(e) -> None:  # noqa: ANN001 (NiceGUI's KeyEventArguments)
        if not e.action.keydown:
            return
        if e.key == '/':
            search_query.run_method('focus')
        elif e.key.escape and viewer_card.visible:
            close_value()

    ui.keyboard(on_key=on_key, ignore=['input', 'select', 'button', 'textarea'])

    # -- single-key actions ------------------------------------------------------------------------
    def show_row(key: str, value: str | None, ttl: str = '') -> None:
        grid.upsert(make_row(key, value, 'changed' if key in grid.rows else 'new', ttl=ttl))
        expiry.discard(key)
        tree_put(key)
        settle_state()
        refresher.flush_now()

    def tree_put(key: str) -> bool:
        """A written key in the tree (only while it is shown: a hidden tree holds no rows)."""
        return tree.live_put(key) if view_toggle.value == 'tree' else False

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
        show_row(key, value, ttl_text(ttl))
        notify(f'Key "{key}" inserted!', 'success')
        insert_key.value = insert_value.value = ''
        insert_ttl.value = None
        clear_file()
        add_dialog.close()

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
            grid.upsert(make_row(r.key, r.value, 'changed' if r.key in grid.rows else 'new', ttl='∞'))
            tree_put(r.key)
        settle_state()
        refresher.flush_now()
        notify(f'{count} keys inserted', 'success')
        batch_text.value = ''

    async def refetch(key: str) -> None:
        if key:
            await fetch_key(key, show=False, found_toast=f'"{key}" refreshed')

    def gone(key: str) -> None:
        if grid.mark_deleted(key) | tree.mark_deleted(f'k:{key}'):
            expiry.add(key)

    async def delete(key: str) -> None:
        if not key or not await confirm('Delete key', f'Delete "{key}"? This cannot be undone.'):
            return
        own.remember(key, None)
        with ctx.errors() as outcome:
            await ctx.api.delete_key(key)
        if outcome.failed:
            return
        gone(key)
        refresher.flush_now()
        if opened.key == key:
            close_value()
        notify(f'Key "{key}" deleted', 'success')

    opening: dict[str, str | None] = {'key': None}  # the key being read for the pane (a click also focuses)

    async def open_key(key: str) -> None:
        if opening['key'] == key:
            return
        opening['key'] = key
        try:
            await fetch_key(key, show=True)
        finally:
            opening['key'] = None

    async def fetch_key(key: str, *, show: bool, found_toast: str | None = None) -> None:
        """Read one key; update its row (or mark it gone) and optionally open it in the viewer."""
        with ctx.errors() as outcome:
            found = await ctx.api.get_key(key)
        if outcome.failed:
            return
        if found is None:
            notify(f'Key "{key}" not found', 'warning')
            gone(key)
            refresher.flush_now()
            return
        if show:
            await read_ttl(key)
        show_row(key, found.value, ttl_text(opened.ttl_shown) if show and opened.ttl_problem is None else
                 (grid.rows.get(key) or {}).get('ttl', ''))
        if show:
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
        same = opened.key == key
        opened.key, opened.value = key, value
        viewer_title.text = key
        size_label.text = size_text(len(value.encode()))
        encoding_label.text = encoding_of(value)
        viewer.show(key, value, pick_tab=not same)
        editor.value = value
        json_error.text = ''
        conflict.hide()
        viewer_card.set_visibility(True)
        refresher.flush_now()
        sync_url()

    def close_value() -> None:
        viewer_card.set_visibility(False)
        stop_edit()
        sync_url()

    def start_edit() -> None:
        edit_section.set_visibility(True)
        edit_button.set_visibility(False)

    def stop_edit() -> None:
        edit_section.set_visibility(False)
        edit_button.set_visibility(True)

    def download_value() -> None:
        viewer.download()

    def copy_key() -> None:
        if opened.key is not None:
            ui.clipboard.write(opened.key)
            notify('Key copied', 'info')

    def copy_value() -> None:
        if opened.value is not None:
            ui.clipboard.write(opened.value)
            notify('Value copied', 'info')

    def ttl_to_save() -> int | None:
        """The TTL as the user left it: the time still remaining, or what they typed instead."""
        typed = editor_ttl.value
        if (typed if typed is None else int(typed)) != opened.ttl_shown:
            return int(typed) if typed else None
        return opened.remaining()

    async def write_opened(value: str, what: str) -> None:
        key = opened.key
        if key is None:
            return
        own.remember(key, value)
        ttl = ttl_to_save()
        with ctx.errors() as outcome:
            await ctx.api.put_key(key, value, ttl)
        if outcome.failed:
            return
        opened.value = value
        viewer.show(key, value, pick_tab=False)
        size_label.text = size_text(len(value.encode()))
        encoding_label.text = encoding_of(value)
        conflict.hide()
        await read_ttl(key)
        show_row(key, value, ttl_text(opened.ttl_shown))
        notify(f'Key "{key}" {what}', 'success')

    async def set_ttl() -> None:
        """Change only the TTL: the stored value is written back as it is, with the new TTL."""
        if opened.value is not None:
            await write_opened(opened.value, 'TTL updated')

    async def save() -> None:
        if opened.key is None or opened.value is None:
            return
        if problem := editor.too_large_message('Your edit'):
            notify(problem, 'error')
            return
        value = editor.value or ''
        if parse_json(opened.value)[0] is not None and (problem := parse_json(value)[1]) is not None:
            json_error.text = f'Not valid JSON ({problem}); the stored value is JSON. Fix it before saving.'
            notify('Not valid JSON: nothing was saved', 'error')
            return
        json_error.text = ''
        with ui.dialog() as diff_dialog, ui.card().style('width: 48rem; max-width: 100%'):
            ui.label(f'Save "{opened.key}"?').classes('text-lg font-semibold break-all')
            TextBlock(text_diff(opened.value, value)).classes('max-h-96 overflow-auto').mark('value-diff')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: diff_dialog.submit(False)).props('flat')
                ui.button('Save', icon='save', on_click=lambda: diff_dialog.submit(True)).mark('diff-save')
        diff_dialog.open()
        go = await diff_dialog
        diff_dialog.delete()
        if go:
            await write_opened(value, 'saved')

    async def reload_opened() -> None:
        if opened.key is not None:
            await open_key(opened.key)

    insert_button.on_click(insert)
    insert_file.on_upload(value_from_file)
    insert_file.on_rejected(file_rejected)
    batch_button.on_click(batch)
    save_button.on_click(save)

    # -- bulk: delete the selection, delete by pattern, export ------------------------------------------------
    async def delete_keys(keys: list[str]) -> int:
        deleted = 0
        for start in range(0, len(keys), BATCH_DELETE):
            chunk = keys[start:start + BATCH_DELETE]
            for key in chunk:
                own.remember(key, None)
            deleted += await ctx.api.batch_delete(chunk)
            for key in chunk:
                gone(key)
        return deleted

    async def delete_selected() -> None:
        keys = list(selection.keys)
        if not keys:
            notify('Select keys with the row checkboxes first.', 'info')
            return
        if not await confirm(f'Delete {len(keys):,} keys',
                             f'Delete the {len(keys):,} selected keys? This cannot be undone.'):
            return
        with ctx.errors() as outcome:
            deleted = await delete_keys(keys)
        if outcome.failed:
            return
        if opened.key in keys:
            close_value()
        select([])
        refresher.flush_now()
        notify(f'{deleted:,} keys deleted', 'success')

    def pattern_ready(typed: str | None) -> bool:
        previewed = pattern_state['previewed']
        return previewed is not None and (typed or '') == pattern_query.value and bool(pattern_query.value)

    pattern_go.bind_enabled_from(pattern_typed, 'value', backward=pattern_ready)

    async def count_matches(mode: SearchMode, query: str) -> tuple[int, bool]:
        """How many keys match (walked by cursor, up to PREVIEW_BUDGET read) and whether that is all."""
        found, scanned, cursor = 0, 0, None
        while True:
            page_ = await search_page(ctx.api, mode, query, cursor=cursor, limit=1000, scan_budget=SCAN_BUDGET)
            found += len(page_.records)
            scanned += page_.scanned
            cursor = page_.cursor
            if cursor is None:
                return found, True
            if scanned >= PREVIEW_BUDGET:
                return found, False

    async def preview_pattern() -> None:
        mode, query = _mode(pattern_mode.value), pattern_query.value or ''
        if not query:
            pattern_count.text = 'Enter a pattern: an empty one would match every key.'
            return
        pattern_preview_button.props('loading')
        try:
            with ctx.errors() as outcome:
                count, complete = await count_matches(mode, query)
        finally:
            pattern_preview_button.props(remove='loading')
        if outcome.failed:
            return
        pattern_state['previewed'] = (mode, query, count)
        pattern_count.text = f'{count:,} keys match' if complete else \
            f'At least {count:,} keys match (read {PREVIEW_BUDGET:,} keys; more may)'
        pattern_hint.text = f'Type "{query}" to confirm.'
        pattern_typed.value = ''

    async def delete_pattern() -> None:
        previewed = pattern_state['previewed']
        mode, query = _mode(pattern_mode.value), pattern_query.value or ''
        if not isinstance(previewed, tuple) or previewed[:2] != (mode, query) or pattern_typed.value != query:
            notify('Preview the pattern and type it to confirm.', 'warning')
            return
        deleted = 0
        with ctx.errors() as outcome:
            if mode == 'prefix':  # one range delete on the server
                keys = [k for k in list(grid.rows) if k.startswith(query)]
                await ctx.api.delete_prefix(query)
                deleted = previewed[2]
                for key in keys:
                    gone(key)
                for row_id in [i for i, row in tree.rows.items() if row['kind'] == 'key' and
                               row['key'].startswith(query)]:
                    gone(row_id[2:])
            else:
                cursor: str | None = None
                while True:
                    page_ = await search_page(ctx.api, mode, query, cursor=cursor, limit=BATCH_DELETE,
                                              scan_budget=SCAN_BUDGET)
                    deleted += await delete_keys([r.key for r in page_.records])
                    cursor = page_.cursor
                    if cursor is None:
                        break
        pattern_dialog.close()
        refresher.flush_now()
        if outcome.failed:
            return
        if opened.key is not None and matcher(mode, query)(opened.key, opened.value):
            close_value()
        notify(f'Deleted every key under "{query}" ({deleted:,} at the preview)' if mode == 'prefix' else
               f'{deleted:,} keys deleted', 'success')

    async def export_records() -> tuple[list[tuple[str, str]], bool]:
        if export_scope.value == 'selection':
            pairs = []
            for key in selection.keys[:EXPORT_MAX]:
                found = await ctx.api.get_key(key)
                if found is not None:
                    pairs.append((key, found.value))
            return pairs, len(selection.keys) <= EXPORT_MAX
        mode, query = _mode(export_mode.value), export_query.value or ''
        pairs, cursor = [], None
        while len(pairs) < EXPORT_MAX:
            page_ = await search_page(ctx.api, mode, query, cursor=cursor, limit=1000, scan_budget=SCAN_BUDGET)
            pairs += [(r.key, r.value) for r in page_.records]
            cursor = page_.cursor
            if cursor is None:
                return pairs, True
        return pairs[:EXPORT_MAX], False

    async def export() -> None:
        fmt = export_format.value or 'json'
        export_note.text = 'Reading…'
        with ctx.errors() as outcome:
            pairs, complete = await export_records()
        if outcome.failed:
            export_note.text = ''
            return
        ui.download(export_bytes(pairs, fmt), filename=f'keys-{time.strftime("%Y%m%d-%H%M%S")}.{fmt}')
        export_note.text = f'{len(pairs):,} keys exported' + ('' if complete else f' (the first {EXPORT_MAX:,})')
        notify(export_note.text, 'success')

    # -- live: each event patches at most one row; the refresher sends the frame's patches ----------
    def on_key_change(event: KeyChangeEvent) -> None:
        mine = own.is_own(event)
        if event.operation == 'delete_prefix':
            for key in [k for k in grid.rows if k.startswith(event.key)]:
                gone(key)
            for row_id in [i for i, row in tree.rows.items() if row['kind'] == 'key' and
                           row['key'].startswith(event.key)]:
                gone(row_id[2:])
            if opened.key and opened.key.startswith(event.key) and not mine:
                conflict.show('deleted')
        elif event.operation == 'delete':
            gone(event.key)
            if opened.key == event.key and not mine:
                conflict.show('deleted')
        else:
            tree_changed = tree_put(event.key)
            if event.key in grid.rows or window.belongs(event.key, event.value):
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
            elif not tree_changed:
                return
        refresher.mark()

    ctx.on(KeyChangeEvent, on_key_change)
    ctx.watch_prefix('')
    ctx.on_resync(lambda: load(window.mode, window.query, window.title))
    settle_state()
    await load(start_mode, start_query, f'Search: {start_query}' if start_query else 'Entries')
    if start_key:
        await open_key(start_key)
