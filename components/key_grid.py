"""The key explorer's grid: AG Grid rows patched by transactions, never resent as a whole.

The server holds the rows the grid holds (a bounded window); a change stages a row patch and the
page's refresher sends all staged patches in one `applyTransaction`. AG Grid renders only the rows
in view (virtual scrolling) and draws cell values as text, so keys and values never become HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nicegui import ui

from .clock import clock_time

PREVIEW_CHARS = 100
FIRST_PAINT_ROWS = 20
FIRST_PAINT_CLASSES = ('absolute inset-x-0 top-12 bottom-0 px-4 font-mono text-sm whitespace-pre overflow-hidden '
                       'leading-[2.6rem] bg-white dark:bg-[#1a1e2a] pointer-events-none')
COLUMNS: list[dict[str, Any]] = [
    {'field': 'key', 'headerName': 'Key', 'sort': 'asc', 'flex': 2, 'minWidth': 160, 'cellClass': 'font-mono'},
    {'field': 'preview', 'headerName': 'Value', 'flex': 3, 'minWidth': 160, 'cellClass': 'font-mono text-gray-500',
     'enableCellChangeFlash': True},
    {'field': 'size', 'headerName': 'Size', 'width': 90, 'type': 'rightAligned'},
    {'field': 'ttl', 'headerName': 'TTL', 'width': 90, 'type': 'rightAligned'},
]
# below 480 px (a phone) a row is a card (key, value, size · TTL, Open / Delete) instead of four narrow columns; built
# from DOM nodes with textContent, so keys and values stay text
CARD_COLUMN: dict[str, Any] = {
    'field': 'card', 'headerName': 'Keys', 'hide': True, 'flex': 1, 'autoHeight': True, 'sortable': False,
    'valueGetter': 'data.key',
}
CARD_RENDERER = '''p => {{
  const el = (tag, cls, text) => {{ const e = document.createElement(tag); e.className = cls;
    if (text !== undefined) e.textContent = text; return e; }};
  const card = el('div', 'key-card py-2');
  card.append(el('div', 'font-mono font-semibold break-all leading-snug', p.data.key));
  if (p.data.kind !== 'folder') {{
    card.append(el('div', 'font-mono text-gray-500 break-all leading-snug', p.data.preview || ''));
    card.append(el('div', 'text-xs text-gray-500', [p.data.size, p.data.ttl ? 'TTL ' + p.data.ttl : '']
      .filter(Boolean).join(' · ')));
    const actions = el('div', 'key-card-actions flex gap-2 pt-1');
    const open = el('button', 'q-btn q-btn--flat q-btn--dense q-btn--no-uppercase text-primary px-2', 'Open');
    const del = el('button', 'q-btn q-btn--flat q-btn--dense q-btn--no-uppercase text-negative px-2', 'Delete');
    del.addEventListener('click', ev => {{ ev.stopPropagation(); getElement({id}).$emit('deleteKey', p.data.key); }});
    actions.append(open, del);
    card.append(actions);
  }}
  return card;
}}'''
NARROW_JS = ('e => {{ const narrow = e.clientWidth < 480; const cols = e.api.getColumns().map(c => c.getColId())'
             '.filter(c => c !== "card" && c !== "key"); e.api.setColumnsVisible(cols, !narrow);'
             ' e.api.setColumnsVisible(["key"], !narrow); e.api.setColumnsVisible(["card"], narrow);'
             ' e.api.resetRowHeights(); }}')
# checkbox selection sends the selected keys; arrow keys (cell focus) send the focused key
SELECTION_JS = ('e => getElement({id}).$emit("keysSelected", '
                'e.api.getSelectedRows().filter(r => r.kind !== "folder").map(r => r.key))')
FOCUS_JS = ('e => {{ const n = e.rowIndex == null ? null : e.api.getDisplayedRowAtIndex(e.rowIndex);'
            ' if (n && n.data && e.source !== "api") getElement({id}).$emit("rowFocused", n.data); }}')


def size_text(size: int | None) -> str:
    if size is None:
        return ''
    for unit in ('B', 'KB', 'MB'):
        if size < 1024 or unit == 'MB':
            return f'{size:,} {unit}' if unit == 'B' else f'{size:.1f} {unit}'
        size = size / 1024  # type: ignore[assignment]
    return ''


def ttl_text(secs: int | None) -> str:
    """`None` -> '∞' (never expires), `95` -> '1m 35s'."""
    if secs is None:
        return '∞'
    if secs >= 86400:
        return f'{secs // 86400}d {secs % 86400 // 3600}h'
    if secs >= 3600:
        return f'{secs // 3600}h {secs % 3600 // 60}m'
    if secs >= 60:
        return f'{secs // 60}m {secs % 60}s'
    return f'{secs}s'


def make_row(key: str, value: str | None, state: str = '', size: int | None = None,
             ttl: str = '') -> dict[str, Any]:
    """One grid row: the key, a text preview of the value, its size, its TTL, when it last changed here."""
    preview = '—' if value is None else value[:PREVIEW_CHARS] + ('…' if len(value) > PREVIEW_CHARS else '')
    if size is None and value is not None:
        size = len(value.encode())
    return {'key': key, 'preview': preview, 'size': size_text(size), 'ttl': ttl, 'time': clock_time(),
            'state': state}


class KeyGrid(ui.aggrid):
    """`rows` is what the browser shows; `upsert`/`mark_deleted`/`drop` stage, `flush` sends."""

    def __init__(self, on_open: Callable[[str], Any], *, height: str = 'h-[32rem]',
                 columns: list[dict[str, Any]] | None = None, marker: str = 'key-table',
                 on_select: Callable[[list[str]], Any] | None = None,
                 on_row: Callable[[dict[str, Any]], Any] | None = None,
                 on_delete: Callable[[str], Any] | None = None) -> None:
        super().__init__({
            'columnDefs': [*(columns or COLUMNS), dict(CARD_COLUMN)],
            'rowData': [],
            ':getRowId': 'p => p.data.id ?? p.data.key',
            'rowClassRules': {'row-deleted': 'data.state === "deleted"', 'row-new': 'data.state === "new"',
                              'row-folder': 'data.kind === "folder"'},
            'rowSelection': {'mode': 'multiRow', 'enableClickSelection': False},
            'animateRows': False,
            'suppressAnimationFrame': True,  # draw a patch now, not on the next animation frame (latency)
            'suppressScrollOnNewData': True,
            'overlayNoRowsTemplate': '<span class="text-gray-500">No keys in view</span>',
        }, theme='quartz')
        self.classes(f'w-full {height}').props(f'data-testid={marker}').mark(marker)
        options = self._props['options']
        dict.__setitem__(options, ':onSelectionChanged', SELECTION_JS.format(id=self.id))
        dict.__setitem__(options, ':onCellFocused', FOCUS_JS.format(id=self.id))
        dict.__setitem__(options, ':onGridSizeChanged', NARROW_JS.format())
        dict.__setitem__(options['columnDefs'][-1], ':cellRenderer', CARD_RENDERER.format(id=self.id))
        self.selected: list[str] = []
        self.rows: dict[str, dict[str, Any]] = {}
        self._added: dict[str, dict[str, Any]] = {}
        self._updated: dict[str, dict[str, Any]] = {}
        self._removed: set[str] = set()
        self.transactions = 0  # patches sent (tests: rows are patched, the grid is not rebuilt)
        self.rebuilds = 0
        self.on('cellClicked', lambda e: on_open(e.args['data']['key']) if e.args.get('data') else None)
        self.on('keysSelected', lambda e: self._selected(e.args, on_select))
        if on_delete is not None:
            self.on('deleteKey', lambda e: on_delete(str(e.args)) if e.args else None)
        if on_row is not None:
            self.on('rowFocused', lambda e: on_row(e.args) if isinstance(e.args, dict) else None)

    def _selected(self, keys: Any, on_select: Callable[[list[str]], Any] | None) -> None:
        self.selected = [str(k) for k in keys] if isinstance(keys, list) else []
        if on_select is not None:
            on_select(self.selected)

    # -- whole window (a new load) -----------------------------------------------------------------
    def replace(self, rows: Iterable[dict[str, Any]]) -> None:
        """A new result: the one time the grid gets all its rows at once."""
        self.rows = {row.get('id', row['key']): row for row in rows}
        self._added.clear()
        self._updated.clear()
        self._removed.clear()
        self.rebuilds += 1
        dict.__setitem__(self._props['options'], 'rowData', list(self.rows.values()))  # a page not yet sent
        self.run_grid_method('setGridOption', 'rowData', list(self.rows.values()))  # a page already shown

    def update(self) -> None:
        """A full re-send (NiceGUI calls this when props change): carry the current rows, not stale ones."""
        rows = getattr(self, 'rows', None)
        if rows is not None:  # plain dict write: the observable options would call update() again
            dict.__setitem__(self._props['options'], 'rowData', list(rows.values()))
        super().update()

    # -- patches -----------------------------------------------------------------------------------
    def upsert(self, row: dict[str, Any]) -> None:
        key = row.get('id', row['key'])
        if key in self.rows:
            self.rows[key] = row
            if key in self._added:
                self._added[key] = row
            else:
                self._updated[key] = row
        else:
            self.rows[key] = row
            self._removed.discard(key)
            self._added[key] = row

    def paint_first_rows(self, box: ui.element) -> None:
        """The first rows as plain text in the page's own HTML, until AG Grid has drawn them.

        AG Grid's bundle loads after the page (~200 ms per navigation here, bench/README.md); text in the
        first HTML shows with it. `box` is the grid's positioned parent; the text goes when the grid has drawn.
        """
        rows = list(self.rows.values())[:FIRST_PAINT_ROWS]
        if not rows or self.client.has_socket_connection:
            return
        text = '\n'.join(f"{row['key']}    {row['preview']}" for row in rows)
        with box:
            first = ui.label(text).classes(FIRST_PAINT_CLASSES).props('aria-hidden=true').mark('first-rows')
        # an option, not a listener: the grid draws its first rows while it is created, before listeners exist
        dict.__setitem__(self._props['options'], ':onFirstDataRendered', (
            f'() => {{ const el = document.getElementById("{first.html_id}"); if (el) el.style.display = "none";'
            f' const tell = () => {{ const grid = getElement({self.id});'  # the app may still be mounting
            f' if (grid && window.did_handshake) grid.$emit("firstRowsDrawn"); else setTimeout(tell, 20); }};'
            f' tell(); }}'))
        self.on('firstRowsDrawn', lambda: None if first.is_deleted else first.delete())

    def mark_deleted(self, key: str) -> bool:
        row = self.rows.get(key)
        if row is None or row['state'] == 'deleted':
            return False
        self.upsert({**row, 'state': 'deleted', 'time': clock_time()})
        return True

    def drop(self, key: str) -> None:
        """Take a row out of the grid (not `remove`: that is NiceGUI's, for child elements)."""
        if self.rows.pop(key, None) is None:
            return
        self._updated.pop(key, None)
        if self._added.pop(key, None) is None:
            self._removed.add(key)

    @property
    def dirty(self) -> bool:
        return bool(self._added or self._updated or self._removed)

    def flush(self) -> bool:
        """Send every staged patch as one AG Grid transaction; True when there was something to send."""
        if not self.dirty:
            return False
        transaction: dict[str, list[dict[str, Any]]] = {}
        if self._added:
            transaction['add'] = list(self._added.values())
        if self._updated:
            transaction['update'] = list(self._updated.values())
        if self._removed:
            transaction['remove'] = [{'id': key, 'key': key} for key in self._removed]
        self._added.clear()
        self._updated.clear()
        self._removed.clear()
        self.transactions += 1
        self.run_grid_method('applyTransaction', transaction)
        return True

    def largest(self) -> str | None:
        return max(self.rows) if self.rows else None
