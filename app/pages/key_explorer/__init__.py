"""`/keys`: keys on the left (a flat list or a tree by delimiter), the selected value on the right.

One search bar (prefix / glob / contains / regex / value, walked by cursor; an exact key + Enter opens it),
a column family selector, a "+ Key" dialog (one key, or a batch), bulk delete / delete by pattern / export,
and a URL that holds the explorer's state (`/keys?cf=orders&q=user:&mode=prefix&view=list&key=user:0042`)
so a shared link opens the same view. Every row in the window shows its TTL.

The explorer is one object made of parts, one module each: `listing` (bar, rows, loading, live),
`tree_view`, `value_pane`, `add_dialog`, `bulk`; `model` holds its state and limits.
"""

from __future__ import annotations

from nicegui import ui

from components.lifecycle import when_connected
from services.events.models import KeyChangeEvent
from services.key_search import KeySource

from ...context import OwnWrites, PageContext
from ...live import Expiry
from ...shell import page
from .add_dialog import AddDialog
from .bulk import Bulk
from .listing import Listing
from .model import (
    DEFAULT_CF,
    DELETED_ROW_SECS,
    MAX_ROWS,
    OWN_WRITE_SECS,
    VIEWS,
    Counted,
    FileValue,
    Opened,
    Selection,
    Totals,
    TtlQueue,
    Window,
    mode_of,
    parse_batch,
)
from .tree_view import TreeView
from .value_pane import ValuePane

__all__ = ['MAX_ROWS', 'KeyExplorer', 'key_explorer', 'parse_batch']


class KeyExplorer(Listing, TreeView, ValuePane, AddDialog, Bulk):
    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        cf = ctx.query('cf') or DEFAULT_CF
        self.source = KeySource(ctx.api, cf)
        self.families = sorted({DEFAULT_CF, cf}, key=lambda n: (n != DEFAULT_CF, n))
        self.window, self.own, self.opened = Window(), OwnWrites(OWN_WRITE_SECS), Opened()
        self.from_file, self.totals, self.selection = FileValue(), Totals(), Selection()
        self.counted, self.ttl_queue = Counted(), TtlQueue()
        self.start_query = ctx.query('q') or ''
        self.start_mode = mode_of(ctx.query('mode'))
        self.start_key = ctx.query('key')
        view = ctx.query('view')
        self.build_bar(self.start_mode, self.start_query, view if view in VIEWS else 'list',
                       ctx.query('delim') or ':')
        # two panes side by side while both fit, stacked (keys first) when the page is narrow
        with ui.element('div').classes('w-full flex gap-4 items-start').style('flex-direction: row; flex-wrap: wrap'):
            with ui.column().classes('gap-1').style('flex: 3 1 30rem; min-width: 0'):
                self.build_list()
            self.build_pane(ctx.draft('editor'))
        self.build_add_dialog(ctx.draft('insert'), ctx.draft('batch'))
        self.build_bulk_dialogs()
        self.add_button.on_click(self.add_dialog.open)
        self.refresher = ctx.refresher(self.render)
        self.expiry = Expiry(DELETED_ROW_SECS, self.drop_deleted)
        self.wire_listing()
        self.wire_tree()

    async def start(self) -> None:
        self.ctx.on(KeyChangeEvent, self.on_key_change)
        self.ctx.watch_prefix('')
        self.ctx.on_resync(lambda: self.load(self.window.mode, self.window.query, self.window.title))
        self.settle_state()
        await self.load_families()
        title = f'Search: {self.start_query}' if self.start_query else 'Entries'
        loaded = await self.load(self.start_mode, self.start_query, title)
        if loaded and self.view_toggle.value != 'tree':
            self.grid.paint_first_rows(self.grid_box)
        if loaded and self.start_key:
            await self.open_key(self.start_key)
        when_connected(self.grid_box, self.sync_url)  # the address bar in its canonical form, once the page is up


@page('/keys', 'Key Explorer')
async def key_explorer(ctx: PageContext) -> None:
    await KeyExplorer(ctx).start()
