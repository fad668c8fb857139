"""What every part of the explorer shares: its state, the widgets more than one part touches, and the calls
one part makes into another (each part is a mixin of `KeyExplorer`, in its own module)."""

from __future__ import annotations

from nicegui import ui

from components.conflict_banner import ConflictBanner
from components.key_grid import KeyGrid
from components.key_tree import KeyTree
from components.states import StatePanel
from services.key_search import KeySource, SearchMode

from ...context import OwnWrites, PageContext
from ...live import Expiry, FrameBudget
from .model import Counted, FileValue, Opened, Selection, Totals, TtlQueue, Window


class ExplorerBase:
    ctx: PageContext
    source: KeySource  # the column family in view
    families: list[str]  # the column families the selector offers
    window: Window
    own: OwnWrites
    opened: Opened
    from_file: FileValue
    totals: Totals
    selection: Selection
    counted: Counted
    ttl_queue: TtlQueue
    refresher: FrameBudget
    expiry: Expiry
    # widgets shared between parts
    table_state: StatePanel
    grid: KeyGrid
    lazy_tree: KeyTree | None

    @property
    def tree(self) -> KeyTree:  # listing (made on first use)
        raise NotImplementedError

    @property
    def tree_rows(self) -> dict:  # listing
        raise NotImplementedError
    view_toggle: ui.toggle
    search_query: ui.input
    viewer_card: ui.card
    conflict: ConflictBanner
    pattern_dialog: ui.dialog
    export_dialog: ui.dialog
    add_dialog: ui.dialog
    opening: str | None = None  # the key being read for the value pane (a click also focuses its row)

    # -- calls across parts (each is defined by the part named) -------------------------------------
    async def open_key(self, key: str) -> None:  # value pane
        raise NotImplementedError

    async def fetch_key(self, key: str, *, show: bool, found_toast: str | None = None) -> None:  # value pane
        raise NotImplementedError

    def close_value(self) -> None:  # value pane
        raise NotImplementedError

    def show_ttl(self) -> None:  # value pane
        raise NotImplementedError

    def show_row(self, key: str, value: str | None, ttl: str = '') -> None:  # listing
        raise NotImplementedError

    def gone(self, key: str) -> None:  # listing
        raise NotImplementedError

    def settle_state(self) -> None:  # listing
        raise NotImplementedError

    def sync_url(self) -> None:  # listing
        raise NotImplementedError

    def tree_put(self, key: str) -> bool:  # tree view
        raise NotImplementedError

    async def load_tree(self) -> None:  # tree view
        raise NotImplementedError

    async def tree_click(self, row: dict) -> None:  # tree view
        raise NotImplementedError

    async def load(self, mode: SearchMode, query: str, title: str = 'Entries', append: bool = False) -> bool:
        raise NotImplementedError  # listing

    def select(self, keys: list[str]) -> None:  # listing
        raise NotImplementedError

    async def delete_selected(self) -> None:  # bulk
        raise NotImplementedError

    async def delete(self, key: str) -> None:  # value pane (confirmation, then delete)
        raise NotImplementedError

    def open_prefilled(self, dialog: ui.dialog) -> None:  # bulk
        raise NotImplementedError
