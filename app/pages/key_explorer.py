"""`/keys`: lookup, insert, search, batch insert, delete — a cursor-paged table that changes live."""

from __future__ import annotations

import json
import re

from nicegui import ui

from components.cards import card_header
from components.confirm import confirm
from components.conflict_banner import ConflictBanner
from components.key_table import KeyTable
from components.states import StatePanel
from components.value_viewer import ValueViewer
from services.api import ApiError
from services.events.models import KeyChangeEvent
from services.models import Record

from ..context import Coalescer, OwnWrites, PageContext, notify
from ..shell import page

PAGE_SIZES = [50, 100, 250, 500, 1000]
MAX_BATCH = 1000
OWN_WRITE_SECS = 5.0


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


class Scope:
    """What the table currently shows, so live changes know whether they belong in it."""

    def __init__(self) -> None:
        self.mode = 'prefix'
        self.query = ''
        self.cursor: str | None = None
        self.title = 'Entries'

    def matches(self, key: str) -> bool:
        if self.mode == 'contains':
            return self.query in key
        if self.mode == 'regex':
            try:
                return re.search(self.query, key) is not None
            except re.error:
                return False
        return key.startswith(self.query)

    def loaded(self, key: str) -> bool:
        """Inside the part of the keyspace already paged in (later keys arrive with 'Load more')."""
        return self.cursor is None or key <= self.cursor


@page('/keys', 'Key Explorer')
async def key_explorer(ctx: PageContext) -> None:
    scope = Scope()
    own = OwnWrites(OWN_WRITE_SECS)
    opened: dict[str, str | None] = {'key': None, 'value': None}
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
            insert_value = ui.textarea('Value').classes('w-full').props('autogrow').mark('insert-value') \
                .bind_value(insert_draft, 'value')
            insert_ttl = ui.number('TTL (seconds, optional)', min=0, precision=0).classes('w-full')
            insert_button = ui.button('Insert', icon='add').mark('insert-button')
        with ui.card().classes('grow basis-64'):
            card_header('GET', 'Search')
            search_query = ui.input('Query', placeholder='user:').classes('w-full').mark('search-query')
            search_mode = ui.select({'prefix': 'Prefix', 'contains': 'Contains', 'regex': 'Regex'}, value='prefix',
                                    label='Match').classes('w-full').mark('search-mode')
            search_button = ui.button('Search', icon='search').mark('search-button')
        with ui.card().classes('grow basis-64'):
            card_header('POST', 'Batch Insert')
            batch_text = ui.textarea('JSON array', placeholder='[{"key":"k1","value":"v1"}]').classes('w-full') \
                .props('autogrow').mark('batch-text').bind_value(batch_draft, 'text')
            batch_error = ui.label('').classes('text-negative text-sm').mark('batch-error')
            batch_button = ui.button('Insert Batch', icon='playlist_add').mark('batch-button')

    insert_button.bind_enabled_from(insert_key, 'value', backward=lambda v: bool((v or '').strip()))

    with ui.card().classes('w-full'):
        with ui.row().classes('w-full items-center justify-between'):
            with ui.row().classes('items-center gap-2'):
                table_title = ui.label('Entries').classes('font-semibold').mark('table-title')
                count_badge = ui.badge('0').mark('count-badge')
                filtered_badge = ui.badge('', color='grey')
            with ui.row().classes('items-center gap-2'):
                filter_input = ui.input(placeholder='Filter...').props('dense clearable').mark('table-filter')
                page_size = ui.select(PAGE_SIZES, value=100, label='Page size').props('dense').classes('w-28')
                ui.button('Clear', on_click=lambda: clear_table()).props('flat')
        table_state = StatePanel('table-state')
        table = KeyTable(on_open=lambda k: open_key(k), on_refetch=lambda k: refetch(k),
                         on_delete=lambda k: delete(k))
        more_button = ui.button('Load more', icon='expand_more').props('flat').mark('load-more')

    with ui.card().classes('w-full') as viewer_card:
        with ui.row().classes('w-full items-center justify-between'):
            viewer_title = ui.label('').classes('font-semibold font-mono break-all').mark('viewer-title')
            ui.button(icon='close', on_click=lambda: viewer_card.set_visibility(False)).props('flat round dense')
        conflict = ConflictBanner(on_reload=lambda: reload_opened(),
                                  on_keep=lambda: notify('Kept your version; Save will overwrite the other change.',
                                                         'info'))
        viewer = ValueViewer()
        editor = ui.textarea('Edit value').classes('w-full font-mono').props('autogrow').mark('editor') \
            .bind_value(editor_draft, 'value')
        with ui.row().classes('gap-2'):
            save_button = ui.button('Save', icon='save').mark('save-button')
            ui.button('Delete', icon='delete', color='negative', on_click=lambda: delete(opened['key'] or '')) \
                .props('flat')
    viewer_card.set_visibility(False)

    # -- rendering ---------------------------------------------------------------------------------
    def render() -> None:
        table.filter_text = filter_input.value or ''
        visible = table.visible()
        table.render()
        count_badge.text = str(len(table.rows))
        filtered_badge.text = f'{len(visible)} filtered' if table.filter_text else ''
        filtered_badge.set_visibility(bool(table.filter_text))
        table_title.text = scope.title
        more_button.set_visibility(scope.cursor is not None)
        table.table.set_visibility(bool(table.rows))
        table_state.settle(bool(table.rows), 'Use Lookup, Search or Full Scan to load data.')

    live = Coalescer(render, rate=10)
    filter_input.on_value_change(render)

    def settle() -> None:
        if table.settle():
            live.mark()

    ui.timer(0.5, settle)  # fades flashes and removes deleted rows; local only

    def clear_table() -> None:
        table.replace([])
        scope.cursor = None
        render()

    # -- loading (cursor paging: never an unbounded scan) -------------------------------------------
    async def load(mode: str, query: str, title: str, append: bool = False) -> None:
        if not append:
            scope.mode, scope.query, scope.cursor, scope.title = mode, query, None, title
            table_state.loading()
        limit = int(page_size.value or 100)
        try:
            result = await ctx.api.search(query, mode=mode, limit=limit, cursor=scope.cursor if append else None)
        except ApiError as exc:
            table_state.error(exc.message)
            notify(exc.message, 'error')
            return
        records = [(r.key, r.value) for r in result.records]
        if append:
            table.extend(records)
        else:
            table.replace(records)
        scope.cursor = result.cursor if mode == 'prefix' else None
        render()
        return None

    async def list_all() -> None:
        await load('prefix', '', 'Entries')

    async def full_scan() -> None:
        await load('prefix', '', 'Scan Results')

    async def load_more() -> None:
        await load(scope.mode, scope.query, scope.title, append=True)

    async def search() -> None:
        query = search_query.value or ''
        mode = search_mode.value or 'prefix'
        if mode == 'regex':
            try:
                re.compile(query)
            except re.error as exc:
                notify(f'Invalid regex: {exc}', 'error')
                return
        await load(mode, query, f'Search: {query}' if query else 'Entries')
        notify(f'{len(table.rows)} keys found for "{query}"', 'info')

    list_all_button.on_click(list_all)
    scan_button.on_click(full_scan)
    more_button.on_click(load_more)
    search_button.on_click(search)
    search_query.on('keydown.enter', search)
    page_size.on_value_change(lambda: load(scope.mode, scope.query, scope.title))

    # -- single-key actions ------------------------------------------------------------------------
    async def lookup() -> None:
        key = lookup_key.value or ''
        if key:
            await fetch_key(key, show=True, found_toast=f'Key "{key}" found!')

    async def insert() -> None:
        key, value = insert_key.value or '', insert_value.value or ''
        if not key.strip():
            notify('Enter a key.', 'warning')
            return
        ttl = int(insert_ttl.value) if insert_ttl.value else None
        own.remember(key, value)
        insert_button.props('loading')
        try:
            await ctx.api.put_key(key, value, ttl)
        except ApiError as exc:
            notify(exc.message, 'error')  # the form keeps what was typed
            return
        finally:
            insert_button.props(remove='loading')
        table.upsert(key, value)
        render()
        notify(f'Key "{key}" inserted!', 'success')
        insert_key.value = insert_value.value = ''
        insert_ttl.value = None

    async def batch() -> None:
        records, problem = parse_batch(batch_text.value or '')
        batch_error.text = problem or ''
        if records is None:
            notify(problem or 'Invalid batch', 'error')
            return
        for r in records:
            own.remember(r.key, r.value)
        try:
            count = await ctx.api.batch_put(records)
        except ApiError as exc:
            batch_error.text = exc.message
            notify(exc.message, 'error')
            return
        for r in records:
            table.upsert(r.key, r.value)
        render()
        notify(f'{count} keys inserted', 'success')
        batch_text.value = ''

    async def refetch(key: str) -> None:
        await fetch_key(key, show=False, found_toast=f'"{key}" refreshed')

    async def delete(key: str) -> None:
        if not key or not await confirm('Delete key', f'Delete "{key}"? This cannot be undone.'):
            return
        own.remember(key, None)
        try:
            await ctx.api.delete_key(key)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        table.mark_deleted(key)
        render()
        if opened['key'] == key:
            viewer_card.set_visibility(False)
        notify(f'Key "{key}" deleted', 'success')

    async def open_key(key: str) -> None:
        await fetch_key(key, show=True)

    async def fetch_key(key: str, *, show: bool, found_toast: str | None = None) -> None:
        """Read one key; update its row (or mark it gone) and optionally open it in the viewer."""
        try:
            found = await ctx.api.get_key(key)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        if found is None:
            notify(f'Key "{key}" not found', 'warning')
            table.mark_deleted(key)
            render()
            return
        table.upsert(key, found.value, state='' if key not in table.rows else 'changed')
        render()
        if show:
            show_value(key, found.value)
        if found_toast:
            notify(found_toast, 'success' if show else 'info')

    def show_value(key: str, value: str) -> None:
        opened['key'], opened['value'] = key, value
        viewer_title.text = key
        viewer.show(key, value)
        editor.value = value
        conflict.hide()
        viewer_card.set_visibility(True)

    async def save() -> None:
        key = opened['key']
        if key is None:
            return
        value = editor.value or ''
        own.remember(key, value)
        try:
            await ctx.api.put_key(key, value)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        opened['value'] = value
        viewer.show(key, value)
        conflict.hide()
        table.upsert(key, value)
        render()
        notify(f'Key "{key}" saved', 'success')

    async def reload_opened() -> None:
        if opened['key'] is not None:
            await open_key(opened['key'])

    lookup_button.on_click(lookup)
    lookup_key.on('keydown.enter', lookup)
    insert_button.on_click(insert)
    batch_button.on_click(batch)
    save_button.on_click(save)

    # -- live --------------------------------------------------------------------------------------
    def on_key_change(event: KeyChangeEvent) -> None:
        mine = own.is_own(event)
        if event.operation == 'delete_prefix':
            for key in [k for k in table.rows if k.startswith(event.key)]:
                table.mark_deleted(key)
            if opened['key'] and opened['key'].startswith(event.key) and not mine:
                flag_conflict('deleted')
        elif event.operation == 'delete':
            table.mark_deleted(event.key)
            if opened['key'] == event.key and not mine:
                flag_conflict('deleted')
        elif event.key in table.rows or (scope.matches(event.key) and scope.loaded(event.key)):
            table.upsert(event.key, event.value if event.value is not None else f'({event.value_size:,} bytes)')
            if opened['key'] == event.key and not mine:
                flag_conflict('changed')
        live.mark()

    def flag_conflict(what: str) -> None:
        conflict.show(what)

    ctx.on('on_key_changes', on_key_change)
    ctx.watch_prefix('')
    ctx.on_resync(lambda: load(scope.mode, scope.query, scope.title))
    await list_all()
