"""The key explorer's tree: folders by a delimiter, expanded lazily, in the same bounded AG Grid.

A folder is a row whose id is `f:` + its path (`user:`); a key is a row whose id is `k:` + the key.
Rows are sorted by path, so every folder's descendants follow it: the grid shows the tree in order,
indented by depth, and only the folders the user opened hold rows (one level per expansion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .key_grid import KeyGrid

TREE_COLUMNS: list[dict[str, Any]] = [
    {'field': 'key', 'headerName': 'Key', 'sort': 'asc', 'flex': 3, 'minWidth': 140, 'cellClass': 'font-mono',
     ':valueFormatter': 'p => (p.data.kind === "folder" ? (p.data.open ? "▾ " : "▸ ") : "") + p.data.label',
     ':cellStyle': 'p => ({paddingLeft: (p.data.depth * 18 + 8) + "px"})'},
    {'field': 'count', 'headerName': 'Keys', 'width': 96, 'type': 'rightAligned', 'enableCellChangeFlash': True},
]


@dataclass
class Level:
    """One folder's children as read from the store: sub-folders with their key counts, and keys."""
    folders: dict[str, int] = field(default_factory=dict)  # folder path -> keys seen under it
    keys: list[str] = field(default_factory=list)
    complete: bool = True  # False: the walk stopped at its budget, counts are lower bounds


def group(prefix: str, keys: list[str], delimiter: str, level: Level) -> None:
    """Add keys under `prefix` to `level`: a key with the delimiter after the prefix is in a sub-folder."""
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        cut = rest.find(delimiter) if delimiter else -1
        if cut >= 0:
            folder = prefix + rest[:cut + len(delimiter)]
            level.folders[folder] = level.folders.get(folder, 0) + 1
        else:
            level.keys.append(key)


def count_text(count: int, complete: bool) -> str:
    return f'{count:,}' if complete else f'{count:,}+'


def folder_row(path: str, count: int, complete: bool, depth: int, parent: str) -> dict[str, Any]:
    label = path[len(parent):]
    return {'id': f'f:{path}', 'key': path, 'label': label, 'kind': 'folder', 'depth': depth, 'open': False,
            'count': count_text(count, complete), 'size': '', 'state': ''}


def key_row(key: str, depth: int, parent: str, state: str = '') -> dict[str, Any]:
    return {'id': f'k:{key}', 'key': key, 'label': key[len(parent):] or key, 'kind': 'key', 'depth': depth,
            'count': '', 'size': '', 'state': state}


class KeyTree(KeyGrid):
    """Folder rows and key rows; `expand` adds a level under a folder, `collapse` takes it out again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(columns=TREE_COLUMNS, marker='key-tree', **kwargs)
        self.delimiter = ':'
        self.root = ''  # the prefix the tree starts at (its level-0 rows are under it)

    def folder(self, path: str) -> dict[str, Any] | None:
        return self.rows.get(f'f:{path}')

    def is_open(self, path: str) -> bool:
        row = self.folder(path)
        return path == self.root or bool(row and row.get('open'))

    def show_level(self, prefix: str, level: Level) -> None:
        """Rows for one opened folder (`prefix` '' is the root): its sub-folders first-class, its keys."""
        row = self.folder(prefix)
        depth = 0 if row is None else row['depth'] + 1
        if row is not None:
            self.upsert({**row, 'open': True})
        for path, count in level.folders.items():
            self.upsert(folder_row(path, count, level.complete, depth, prefix))
        for key in level.keys:
            self.upsert(key_row(key, depth, prefix))

    def collapse(self, prefix: str) -> None:
        for row_id in [i for i, row in self.rows.items() if row['key'].startswith(prefix) and row['key'] != prefix]:
            self.drop(row_id)
        if (row := self.folder(prefix)) is not None:
            self.upsert({**row, 'open': False})

    def parent_of(self, key: str) -> str:
        """The deepest folder shown as open that holds `key` ('' the root), where a live key belongs."""
        parent = self.root
        start = len(self.root)
        while self.delimiter and (cut := key.find(self.delimiter, start)) >= 0:
            path = key[:cut + len(self.delimiter)]
            if not self.is_open(path):
                return parent if self.folder(path) is None else path
            parent, start = path, cut + len(self.delimiter)
        return parent

    def live_put(self, key: str) -> bool:
        """A key written elsewhere: a row when its folder is open, a count bump when it is closed."""
        if f'k:{key}' in self.rows or not key.startswith(self.root):
            return False
        parent = self.parent_of(key)
        if self.is_open(parent):
            rest = key[len(parent):]
            cut = rest.find(self.delimiter) if self.delimiter else -1
            folder = self.folder(parent)
            depth = 0 if folder is None else folder['depth'] + 1
            if cut < 0:
                self.upsert(key_row(key, depth, parent, 'new'))
            else:
                path = parent + rest[:cut + len(self.delimiter)]
                self.upsert(folder_row(path, 1, True, depth, parent))
            return True
        row = self.folder(parent)
        if row is not None:
            number = row['count'].rstrip('+').replace(',', '')
            more = '+' if row['count'].endswith('+') else ''
            self.upsert({**row, 'count': f'{int(number or 0) + 1:,}{more}'})
            return True
        return False
