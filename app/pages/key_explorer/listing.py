"""The keys on the left: the search bar, the column family, loading a window of rows, counts, TTLs, the
address bar, and rows that follow the store live."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

from nicegui import background_tasks, ui

from components.clock import number
from components.key_grid import KeyGrid, make_row, ttl_text
from components.key_tree import KeyTree
from components.states import StatePanel
from services.api import ApiError
from services.events.models import KeyChangeEvent
from services.key_search import TTL_BATCH, KeySource, SearchMode, matcher, search_page

from ...context import notify
from .base import ExplorerBase
from .model import (
    COUNTS_EVERY_SECS,
    DEFAULT_CF,
    MAX_ROWS,
    MODES,
    PAGE_SIZES,
    SCAN_BUDGET,
    VIEWS,
    mode_of,
)


class Listing(ExplorerBase):
    search_mode: ui.select
    search_button: ui.button
    cf_select: ui.select
    delimiter: ui.input
    add_button: ui.button
    progress: ui.label
    selected_label: ui.label
    filter_input: ui.input
    page_size: ui.select
    more_button: ui.button

    # -- building --------------------------------------------------------------------------------------
    def build_bar(self, mode: SearchMode, query: str, view: str, delimiter: str) -> None:
        """The search bar; the column family, view, + Key and bulk actions; counts, filter, page size."""
        with ui.row().classes('w-full items-center gap-2').style('flex-wrap: nowrap'):
            self.search_mode = ui.select(MODES, value=mode).props('dense outlined options-dense') \
                .classes('shrink-0').style('width: 7.5rem').mark('search-mode')
            self.search_query = ui.input(placeholder='Search keys, or an exact key + Enter  ( / )', value=query) \
                .props('dense outlined clearable data-testid=key-search aria-label="Search keys"') \
                .classes('grow').style('min-width: 0').mark('key-search search-query')
            self.search_button = ui.button(icon='search').props('flat round dense').mark('search-button') \
                .tooltip('Search')
        with ui.row().classes('w-full items-center gap-2'):
            self.cf_select = ui.select(self.families, value=self.source.cf, label='Column family') \
                .props('dense options-dense').style('min-width: 8rem').mark('cf-select')
            self.view_toggle = ui.toggle(VIEWS, value=view).props('dense no-caps').mark('view-toggle')
            self.delimiter = ui.input('Delimiter', value=delimiter).props('dense').style('width: 5rem') \
                .mark('tree-delimiter')
            ui.space()
            self.add_button = ui.button('+ Key').props('dense unelevated').mark('add-key')
            with ui.button(icon='more_vert').props('flat round dense').tooltip('Bulk actions').mark('bulk-menu'):
                with ui.menu():
                    ui.menu_item('Delete selected…', on_click=self.delete_selected).mark('delete-selected')
                    ui.menu_item('Delete by pattern…', on_click=lambda: self.open_prefilled(self.pattern_dialog)) \
                        .props('data-testid=delete-pattern').mark('delete-pattern')
                    ui.menu_item('Export…', on_click=lambda: self.open_prefilled(self.export_dialog)) \
                        .mark('export-open')
        with ui.row().classes('w-full items-center gap-2'):
            self.progress = ui.label('').classes('text-sm text-gray-500').props('data-testid=key-count') \
                .mark('key-count')
            self.selected_label = ui.label('').classes('text-sm').mark('selected-count')
            ui.space()
            self.filter_input = ui.input(placeholder='Filter rows in view…').props('dense clearable') \
                .style('width: 10rem').mark('table-filter')
            self.page_size = ui.select(PAGE_SIZES, value=100).props('dense options-dense').style('width: 5rem') \
                .tooltip('Page size').mark('page-size')

    def build_list(self) -> None:
        self.table_state = StatePanel('table-state')
        with ui.element('div').classes('w-full relative') as self.grid_box:  # the first rows' text sits over it
            self.grid = KeyGrid(on_open=self.open_key, on_select=self.select, on_row=self.focus_row,
                                on_delete=self.delete)
        self.tree_slot = ui.element('div').classes('w-full')  # the tree grid is made the first time it is shown
        self.lazy_tree: KeyTree | None = None
        self.more_button = ui.button('Load more', icon='expand_more').props('flat dense').mark('load-more')

    @property
    def tree(self) -> KeyTree:
        """The tree grid, made on first use: a second AG Grid would cost every list-view page load (bench nav)."""
        if self.lazy_tree is None:
            with self.tree_slot:
                tree = KeyTree(on_open=lambda _k: None, on_row=self.focus_row, on_select=self.select)
            tree.delimiter = self.delimiter.value or ':'
            tree.on('cellClicked', lambda e: self.tree_click(e.args.get('data') or {}))
            self.lazy_tree = tree
        return self.lazy_tree

    @property
    def tree_rows(self) -> dict:
        return self.lazy_tree.rows if self.lazy_tree is not None else {}

    def wire_listing(self) -> None:
        self.filter_input.on_value_change(
            lambda e: self.grid.run_grid_method('setGridOption', 'quickFilterText', e.value or ''))
        self.more_button.on_click(self.load_more)
        self.search_button.on_click(self.search)
        self.search_query.on('keydown.enter', self.search)
        self.page_size.on_value_change(lambda: self.load(self.window.mode, self.window.query, self.window.title))
        self.cf_select.on_value_change(lambda e: self.switch_cf(e.value))
        self.cf_select.on('popup-show', self.load_families)
        ui.keyboard(on_key=self.on_keyboard, ignore=['input', 'select', 'button', 'textarea'])

    # -- rendering: one refresher; the grid gets patches, the labels only when their text changes --
    def render(self) -> None:
        self.grid.flush()
        if self.lazy_tree is not None:
            self.lazy_tree.flush()
        self.show_ttl()
        wait = self.counted.at + COUNTS_EVERY_SECS - time.monotonic()
        if wait > 0:  # in a burst the rows move every frame, the counts twice a second
            self.refresher.again_in(wait)
        else:
            self.show_counts()

    def show_counts(self) -> None:
        self.counted.at = time.monotonic()
        self.progress.text = self.counts_text(len(self.grid.rows))
        self.more_button.set_visibility(self.window.cursor is not None and self.view_toggle.value == 'list')
        self.selected_label.text = f'{number(len(self.selection.keys))} selected' if self.selection.keys else ''

    def counts_text(self, shown: int) -> str:
        total = f'{number(self.totals.store)}' if self.totals.store is not None else '?'
        where = 'the store' if self.source.is_default else f'"{self.source.cf}"'
        if self.view_toggle.value == 'tree':
            folders = sum(1 for row in self.tree.rows.values() if row['kind'] == 'folder')
            keys_shown = number(len(self.tree.rows) - folders)
            return f'{number(folders)} folders · {keys_shown} keys shown · {total} keys in {where}'
        if self.window.scans:
            more = ' so far' if self.window.cursor is not None else ''
            return f'{number(shown)} matches{more} · scanned {number(self.window.scanned)} of {total}'
        return f'{number(shown)} in view · {total} keys in {where}'

    def drop_deleted(self, keys: list[str]) -> None:
        for key in keys:
            self.grid.drop(key)
            if self.lazy_tree is not None:
                self.lazy_tree.drop(f'k:{key}')
        self.settle_state()
        self.refresher.mark()

    def settle_state(self) -> None:
        tree_view = self.view_toggle.value == 'tree'
        self.grid.set_visibility(bool(self.grid.rows) and not tree_view)
        if tree_view or self.lazy_tree is not None:
            self.tree.set_visibility(tree_view)
        self.table_state.settle(bool(self.grid.rows) or tree_view, 'No keys here yet: add one with + Key.')

    # -- the address bar holds the explorer's state ---------------------------------------------------------
    def sync_url(self) -> None:
        params = {'cf': self.source.cf} if not self.source.is_default else {}
        params.update({'q': self.window.query, 'mode': self.window.mode, 'view': self.view_toggle.value or 'list'})
        if (self.delimiter.value or ':') != ':':
            params['delim'] = self.delimiter.value
        if self.opened.key is not None and self.viewer_card.visible:
            params['key'] = self.opened.key
        if self.ctx.embed:
            params['embed'] = '1'
        url = '/keys?' + urlencode(params)
        if url != self.shown_url and ui.context.client.has_socket_connection:
            # not while the page is built: the browser shows the address it asked for, and any JavaScript
            # call makes NiceGUI send the page before its first rows are in it (the first rows then wait
            # for the socket: ~200 ms more per navigation)
            self.shown_url = url
            ui.navigate.history.replace(url)

    shown_url = ''

    # -- the column family ----------------------------------------------------------------------------------
    async def load_families(self) -> None:
        """The families the selector offers; a server without the list offers `default` only."""
        try:
            names = await self.ctx.api.family_names()
        except ApiError:
            return
        self.families = sorted(set(names) | {self.source.cf}, key=lambda n: (n != DEFAULT_CF, n))
        self.cf_select.set_options(self.families, value=self.source.cf)

    async def switch_cf(self, name: str | None) -> None:
        if not name or name == self.source.cf:
            return
        self.source = KeySource(self.ctx.api, name)
        self.close_value()
        self.select([])
        if not await self.load(self.window.mode, self.window.query, self.window.title):
            self.grid.replace([])  # the rows of the family left behind must not pass for this one's
            if self.lazy_tree is not None:
                self.lazy_tree.replace([])
            self.grid.set_visibility(False)
            self.sync_url()

    # -- loading: one page per request, never an unbounded scan --------------------------------------
    async def load(self, mode: SearchMode, query: str, title: str = 'Entries', append: bool = False) -> bool:
        if not append:
            self.table_state.loading()
            self.ttl_queue.reset()
        limit = int(self.page_size.value or 100)
        feature = 'Key search' if self.source.is_default else f'Browsing column family "{self.source.cf}"'
        with self.ctx.errors(state=None if append else self.table_state, feature=feature) as outcome:
            result = await search_page(self.source, mode, query, cursor=self.window.cursor if append else None,
                                       limit=limit, scan_budget=SCAN_BUDGET)
        if outcome.failed:
            return False
        rows = [make_row(r.key, r.value) for r in result.records]
        if append:
            for row in rows:
                self.grid.upsert(row)
            self.window.scanned += result.scanned
        else:
            self.window.mode, self.window.query, self.window.title = mode, query, title
            self.window.match, self.window.scanned = matcher(mode, query), result.scanned
            self.expiry.clear()
            self.grid.replace(rows)
        self.window.cursor = result.cursor
        self.trim_window()
        self.settle_state()
        self.counted.at = float('-inf')  # a user's load shows its counts at once
        self.refresher.flush_now()
        self.sync_url()
        background_tasks.create(self.refresh_total(), name='key count')  # rows first, the count a moment later
        self.queue_ttls([r.key for r in result.records])
        if self.view_toggle.value == 'tree' and not append:
            await self.load_tree()
        return True

    def queue_ttls(self, keys: list[str], *, live: bool = False) -> None:
        """Every row in the window gets its TTL: keys wait in one queue, read TTL_BATCH at a time."""
        self.ttl_queue.add(keys, live=live, now=time.monotonic())
        if not self.ttl_queue.running and self.ttl_queue:
            self.ttl_queue.running = True
            background_tasks.create(self.fill_ttls(), name='row ttls')

    async def fill_ttls(self) -> None:
        """The TTL column, patched in batch by batch (a failure leaves it blank: it is a nicety)."""
        try:
            while self.ttl_queue and not self.refresher.closed:
                if (wait := self.ttl_queue.wait(time.monotonic())) > 0:
                    await asyncio.sleep(wait)
                    continue
                generation, source = self.ttl_queue.generation, self.source
                keys = [key for key in self.ttl_queue.take(TTL_BATCH, time.monotonic()) if key in self.grid.rows]
                try:
                    ttls = await source.key_ttls(keys) if keys else {}
                except ApiError:
                    self.ttl_queue.clear()
                    return
                if generation != self.ttl_queue.generation:
                    continue  # a new window was loaded meanwhile
                changed = False
                for key, ttl in ttls.items():
                    row = self.grid.rows.get(key)
                    text = None if ttl is None else ttl_text(None if ttl.expired else ttl.ttl_secs)
                    if row is not None and text is not None and row.get('ttl') != text:
                        self.grid.upsert({**row, 'ttl': text})
                        changed = True
                if changed:  # most live writes leave the TTL as it was: then there is nothing to send
                    self.refresher.mark()
        finally:
            self.ttl_queue.running = False

    async def refresh_total(self) -> None:
        """How many keys the column family holds (the rows in view are only a window of them)."""
        self.totals.store = await self.source.total()  # the count is a nicety: no toast when it is missing
        self.refresher.mark()

    def trim_window(self) -> None:
        """Keep the first MAX_ROWS keys; the window then ends at the last one held."""
        while len(self.grid.rows) > MAX_ROWS:
            last = self.grid.largest()
            if last is None:
                break
            self.grid.drop(last)
            self.window.cursor = self.grid.largest()

    async def load_more(self) -> None:
        await self.load(self.window.mode, self.window.query, self.window.title, append=True)

    async def search(self) -> None:
        query = self.search_query.value or ''
        mode: SearchMode = mode_of(self.search_mode.value)
        if not await self.load(mode, query, f'Search: {query}' if query else 'Entries'):
            return
        if query and query in self.grid.rows and mode in ('prefix', 'contains', 'glob'):  # an exact key: open it
            await self.fetch_key(query, show=True, found_toast=f'Key "{query}" found!')
            return
        further = '' if self.window.cursor is None or not self.window.scans else \
            f' so far (scanned {number(self.window.scanned)}; Load more searches further)'
        notify(f'{number(len(self.grid.rows))} keys found for "{query}"{further}', 'info')

    # -- selection and keyboard ---------------------------------------------------------------------------------
    def select(self, keys: list[str]) -> None:
        self.selection.keys = keys
        self.counted.at = float('-inf')
        self.refresher.mark()

    async def focus_row(self, row: dict) -> None:
        """Arrow keys move the focused row: the value pane follows (a click focuses and opens at once)."""
        key = row.get('key')
        if row.get('kind') != 'folder' and isinstance(key, str) and key not in (self.opened.key, self.opening):
            await self.open_key(key)

    def on_keyboard(self, e) -> None:  # noqa: ANN001 (NiceGUI's KeyEventArguments)
        if not e.action.keydown:
            return
        if e.key == '/':
            self.search_query.run_method('focus')
        elif e.key.escape and self.viewer_card.visible:
            self.close_value()

    # -- rows: written, gone, and changed by others -------------------------------------------------------
    def show_row(self, key: str, value: str | None, ttl: str = '') -> None:
        self.grid.upsert(make_row(key, value, 'changed' if key in self.grid.rows else 'new', ttl=ttl))
        self.expiry.discard(key)
        self.tree_put(key)
        self.settle_state()
        self.refresher.flush_now()

    def gone(self, key: str) -> None:
        in_tree = self.lazy_tree.mark_deleted(f'k:{key}') if self.lazy_tree is not None else False
        if self.grid.mark_deleted(key) | in_tree:
            self.expiry.add(key)

    def on_key_change(self, event: KeyChangeEvent) -> None:
        """Each event patches at most one row (of this column family); the refresher sends the frame's patches."""
        if event.cf != self.source.cf:
            return
        mine = self.own.is_own(event)
        if event.operation == 'delete_prefix':
            for key in [k for k in self.grid.rows if k.startswith(event.key)]:
                self.gone(key)
            for row_id in [i for i, row in self.tree_rows.items() if row['kind'] == 'key' and
                           row['key'].startswith(event.key)]:
                self.gone(row_id[2:])
            if self.opened.key and self.opened.key.startswith(event.key) and not mine:
                self.conflict.show('deleted')
        elif event.operation == 'delete':
            self.gone(event.key)
            if self.opened.key == event.key and not mine:
                self.conflict.show('deleted')
        else:
            tree_changed = self.tree_put(event.key)
            if event.key in self.grid.rows or self.window.belongs(event.key, event.value):
                value = event.value if event.value is not None else f'({number(event.value_size or 0)} bytes)'
                new = event.key not in self.grid.rows
                ttl = '' if new else self.grid.rows[event.key].get('ttl', '')
                self.grid.upsert(make_row(event.key, value, 'new' if new else 'changed', size=event.value_size,
                                          ttl=ttl))
                self.expiry.discard(event.key)
                if not mine:  # a write may set or clear a TTL: read it again (batched with its neighbours)
                    self.queue_ttls([event.key], live=True)
                if new:
                    self.trim_window()
                    if len(self.grid.rows) == 1:
                        self.settle_state()
                if self.opened.key == event.key and not mine:
                    self.conflict.show('changed')
            elif not tree_changed:
                return
        self.refresher.mark()
