"""The key explorer's results table: rows change in place, flash, and are marked when deleted.

Cells are Vue text interpolations (`{{ }}`), so keys and values can never become HTML.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from nicegui import ui

from .clock import clock_time

COLUMNS: list[dict[str, Any]] = [
    {'name': 'key', 'label': 'Key', 'field': 'key', 'align': 'left', 'sortable': True},
    {'name': 'value', 'label': 'Value', 'field': 'preview', 'align': 'left'},
    {'name': 'time', 'label': 'Time', 'field': 'time', 'align': 'left'},
    {'name': 'actions', 'label': 'Actions', 'field': 'key', 'align': 'right'},
]
ROW_SLOT = r'''
<q-tr :props="props" :class="{'row-flash': props.row.state === 'changed', 'row-new': props.row.state === 'new',
                              'row-deleted': props.row.state === 'deleted'}">
  <q-td key="key" :props="props" class="font-mono">{{ props.row.key }}</q-td>
  <q-td key="value" :props="props" class="font-mono text-gray-500 max-w-[28rem] truncate">{{ props.row.preview }}</q-td>
  <q-td key="time" :props="props" class="font-mono">{{ props.row.time }}</q-td>
  <q-td key="actions" :props="props">
    <q-btn flat dense icon="visibility" @click="$parent.$emit('open', props.row.key)" title="Open" />
    <q-btn flat dense icon="refresh" @click="$parent.$emit('refetch', props.row.key)" title="Refetch" />
    <q-btn flat dense icon="delete" color="negative" :disable="props.row.state === 'deleted'"
           @click="$parent.$emit('delete', props.row.key)" title="Delete" />
  </q-td>
</q-tr>
'''
PREVIEW_CHARS = 120


class KeyTable:
    def __init__(self, on_open: Callable[[str], Any], on_refetch: Callable[[str], Any],
                 on_delete: Callable[[str], Any]) -> None:
        self.rows: dict[str, dict] = {}
        self.filter_text = ''
        self.table = ui.table(columns=COLUMNS, rows=[], row_key='key').classes('w-full').mark('key-table')
        self.table.props('flat dense :rows-per-page-options="[0]" hide-pagination')
        self.table.add_slot('body', ROW_SLOT)
        self.table.on('open', lambda e: on_open(e.args))
        self.table.on('refetch', lambda e: on_refetch(e.args))
        self.table.on('delete', lambda e: on_delete(e.args))

    @staticmethod
    def _row(key: str, value: str | None, state: str = '') -> dict:
        preview = '—' if value is None else (value[:PREVIEW_CHARS] + ('…' if len(value) > PREVIEW_CHARS else ''))
        return {'key': key, 'preview': preview, 'time': clock_time(), 'state': state,
                'since': time.monotonic()}

    def replace(self, records: Sequence[tuple[str, str | None]]) -> None:
        self.rows = {k: self._row(k, v) for k, v in records}

    def extend(self, records: Sequence[tuple[str, str | None]]) -> None:
        for key, value in records:
            self.rows.setdefault(key, self._row(key, value))

    def upsert(self, key: str, value: str | None, state: str = 'changed') -> None:
        self.rows[key] = self._row(key, value, state if key in self.rows else 'new')

    def mark_deleted(self, key: str) -> bool:
        row = self.rows.get(key)
        if row is None:
            return False
        row.update(state='deleted', since=time.monotonic())
        return True

    def remove(self, key: str) -> None:
        self.rows.pop(key, None)

    def settle(self, flash_secs: float = 1.5, deleted_secs: float = 2.5) -> bool:
        """Let flashes fade and deleted rows go; True when something changed (render again)."""
        now = time.monotonic()
        changed = False
        for key, row in list(self.rows.items()):
            if row['state'] == 'deleted' and now - row['since'] >= deleted_secs:
                del self.rows[key]
                changed = True
            elif row['state'] in ('changed', 'new') and now - row['since'] >= flash_secs:
                row['state'] = ''
                changed = True
        return changed

    def visible(self) -> list[dict]:
        needle = self.filter_text.lower()
        rows = sorted(self.rows.values(), key=lambda r: r['key'])
        if needle:
            rows = [r for r in rows if needle in r['key'].lower() or needle in r['preview'].lower()]
        return [{k: v for k, v in r.items() if k != 'since'} for r in rows]

    def render(self) -> None:
        self.table.rows = self.visible()
        self.table.update()
