"""The tree: folders by a delimiter, one level read per opened folder (never the whole column family)."""

from __future__ import annotations

from nicegui import ui

from components.key_tree import Level, group

from .base import ExplorerBase
from .model import TREE_BUDGET


class TreeView(ExplorerBase):
    delimiter: ui.input

    def wire_tree(self) -> None:
        self.view_toggle.on_value_change(self.switch_view)
        self.delimiter.bind_visibility_from(self.view_toggle, 'value', value='tree')
        self.delimiter.on('keydown.enter', self.change_delimiter)
        self.delimiter.on('blur', self.change_delimiter)

    async def read_level(self, prefix: str) -> Level | None:
        level = Level()
        cursor: str | None = None
        read = 0
        with self.ctx.errors(state=self.table_state, feature='Key tree') as outcome:
            while True:
                page_ = await self.source.list_keys(prefix, limit=1000, cursor=cursor)
                group(prefix, page_.keys, self.tree.delimiter, level)
                read += len(page_.keys)
                if page_.cursor is None or not page_.keys:
                    break
                cursor = page_.keys[-1]
                if read >= TREE_BUDGET:
                    level.complete = False
                    break
        return None if outcome.failed else level

    async def load_tree(self) -> None:
        self.tree.root = self.window.query if self.window.mode == 'prefix' else ''
        self.tree.replace([])
        level = await self.read_level(self.tree.root)
        if level is not None:
            self.tree.show_level(self.tree.root, level)
        self.settle_state()
        self.counted.at = float('-inf')
        self.refresher.flush_now()

    async def tree_click(self, row: dict) -> None:
        if row.get('kind') == 'folder':
            path = str(row['key'])
            if self.tree.is_open(path):
                self.tree.collapse(path)
            else:
                level = await self.read_level(path)
                if level is not None:
                    self.tree.show_level(path, level)
            self.counted.at = float('-inf')
            self.refresher.flush_now()
        elif row.get('key'):
            await self.open_key(str(row['key']))

    async def switch_view(self) -> None:
        self.settle_state()
        self.sync_url()
        if self.view_toggle.value == 'tree':
            await self.load_tree()
        self.counted.at = float('-inf')
        self.refresher.flush_now()

    async def change_delimiter(self) -> None:
        if self.lazy_tree is not None:
            self.lazy_tree.delimiter = self.delimiter.value or ':'
        if self.view_toggle.value == 'tree':
            await self.load_tree()
        self.sync_url()

    def tree_put(self, key: str) -> bool:
        """A written key in the tree (only while it is shown: a hidden tree holds no rows)."""
        return self.tree.live_put(key) if self.view_toggle.value == 'tree' else False
