"""Bulk actions: delete the selection (confirmed with its count), delete by pattern (preview how many match,
then type the pattern to confirm), export the selection or every match as JSON / NDJSON / CSV."""

from __future__ import annotations

import time

from nicegui import ui

from components.confirm import confirm
from components.key_export import FORMATS, export_bytes
from services.key_search import SearchMode, matcher, search_page

from ...context import notify
from .base import ExplorerBase
from .model import BATCH_DELETE, EXPORT_MAX, MODES, PREVIEW_BUDGET, SCAN_BUDGET, mode_of


class Bulk(ExplorerBase):
    pattern_mode: ui.select
    pattern_query: ui.input
    pattern_preview_button: ui.button
    pattern_count: ui.label
    pattern_hint: ui.label
    pattern_typed: ui.input
    previewed: tuple[SearchMode, str, int] | None = None  # what the pattern preview counted
    export_scope: ui.radio
    export_mode: ui.select
    export_query: ui.input
    export_format: ui.select
    export_note: ui.label

    def build_bulk_dialogs(self) -> None:
        with ui.dialog() as self.pattern_dialog, ui.card().style('width: 32rem; max-width: 100%'):
            ui.label('Delete by pattern').classes('text-lg font-semibold')
            with ui.row().classes('w-full items-center gap-2').style('flex-wrap: nowrap'):
                self.pattern_mode = ui.select(MODES, value='prefix').props('dense').style('width: 9rem') \
                    .mark('pattern-mode')
                self.pattern_query = ui.input('Pattern').props('dense data-testid=pattern-query').classes('grow') \
                    .mark('pattern-query')
            self.pattern_preview_button = ui.button('Preview', icon='visibility', on_click=self.preview_pattern) \
                .props('flat data-testid=pattern-preview').mark('pattern-preview')
            self.pattern_count = ui.label('').classes('text-sm').props('data-testid=pattern-count') \
                .mark('pattern-count')
            self.pattern_hint = ui.label('').classes('text-sm text-gray-500')
            self.pattern_typed = ui.input(placeholder='type the pattern to confirm').props('dense') \
                .classes('w-full').props('data-testid=pattern-typed').mark('pattern-typed')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=self.pattern_dialog.close).props('flat')
                pattern_go = ui.button('Delete matching keys', color='negative', on_click=self.delete_pattern) \
                    .props('data-testid=pattern-delete').mark('pattern-delete')
        pattern_go.bind_enabled_from(self.pattern_typed, 'value', backward=self.pattern_ready)
        with ui.dialog() as self.export_dialog, ui.card().style('width: 28rem; max-width: 100%'):
            ui.label('Export keys').classes('text-lg font-semibold')
            self.export_scope = ui.radio({'selection': 'Selected keys', 'search': 'Every match of the search below'},
                                         value='search').mark('export-scope')
            with ui.row().classes('w-full items-center gap-2').style('flex-wrap: nowrap'):
                self.export_mode = ui.select(MODES, value='prefix').props('dense').style('width: 9rem') \
                    .mark('export-mode')
                self.export_query = ui.input('Pattern').props('dense').classes('grow').mark('export-query')
            self.export_format = ui.select(FORMATS, value='json', label='Format').props('dense') \
                .style('width: 8rem').mark('export-format')
            self.export_note = ui.label('').classes('text-sm text-gray-500').mark('export-note')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=self.export_dialog.close).props('flat')
                ui.button('Export', icon='download', on_click=self.export).mark('export-go')

    def open_prefilled(self, dialog: ui.dialog) -> None:
        """Both dialogs start from the search in view (and export from the selection, when there is one)."""
        for mode_box, query_box in ((self.pattern_mode, self.pattern_query), (self.export_mode, self.export_query)):
            mode_box.value, query_box.value = self.window.mode, self.window.query
        self.pattern_typed.value = ''
        self.pattern_count.text = self.pattern_hint.text = ''
        self.previewed = None
        self.export_scope.value = 'selection' if self.selection.keys else 'search'
        dialog.open()

    # -- delete ----------------------------------------------------------------------------------------
    async def delete_keys(self, keys: list[str]) -> int:
        deleted = 0
        for start in range(0, len(keys), BATCH_DELETE):
            chunk = keys[start:start + BATCH_DELETE]
            for key in chunk:
                self.own.remember(key, None)
            deleted += await self.source.batch_delete(chunk)
            for key in chunk:
                self.gone(key)
        return deleted

    async def delete_selected(self) -> None:
        keys = list(self.selection.keys)
        if not keys:
            notify('Select keys with the row checkboxes first.', 'info')
            return
        if not await confirm(f'Delete {len(keys):,} keys',
                             f'Delete the {len(keys):,} selected keys? This cannot be undone.'):
            return
        with self.ctx.errors() as outcome:
            deleted = await self.delete_keys(keys)
        if outcome.failed:
            return
        if self.opened.key in keys:
            self.close_value()
        self.select([])
        self.refresher.flush_now()
        notify(f'{deleted:,} keys deleted', 'success')

    def pattern_ready(self, typed: str | None) -> bool:
        query = self.pattern_query.value
        return self.previewed is not None and (typed or '') == query and bool(query)

    async def count_matches(self, mode: SearchMode, query: str) -> tuple[int, bool]:
        """How many keys match (walked by cursor, up to PREVIEW_BUDGET read) and whether that is all."""
        found, scanned, cursor = 0, 0, None
        while True:
            page_ = await search_page(self.source, mode, query, cursor=cursor, limit=1000, scan_budget=SCAN_BUDGET)
            found += len(page_.records)
            scanned += page_.scanned
            cursor = page_.cursor
            if cursor is None:
                return found, True
            if scanned >= PREVIEW_BUDGET:
                return found, False

    async def preview_pattern(self) -> None:
        mode, query = mode_of(self.pattern_mode.value), self.pattern_query.value or ''
        if not query:
            self.pattern_count.text = 'Enter a pattern: an empty one would match every key.'
            return
        self.pattern_preview_button.props('loading')
        try:
            with self.ctx.errors() as outcome:
                count, complete = await self.count_matches(mode, query)
        finally:
            self.pattern_preview_button.props(remove='loading')
        if outcome.failed:
            return
        self.previewed = (mode, query, count)
        self.pattern_count.text = f'{count:,} keys match' if complete else \
            f'At least {count:,} keys match (read {PREVIEW_BUDGET:,} keys; more may)'
        self.pattern_hint.text = f'Type "{query}" to confirm.'
        self.pattern_typed.value = ''

    async def delete_pattern(self) -> None:
        previewed = self.previewed
        mode, query = mode_of(self.pattern_mode.value), self.pattern_query.value or ''
        if previewed is None or previewed[:2] != (mode, query) or self.pattern_typed.value != query:
            notify('Preview the pattern and type it to confirm.', 'warning')
            return
        deleted = 0
        with self.ctx.errors() as outcome:
            if mode == 'prefix':  # one range delete on the server
                keys = [k for k in list(self.grid.rows) if k.startswith(query)]
                await self.source.delete_prefix(query)
                deleted = previewed[2]
                for key in keys:
                    self.gone(key)
                for row_id in [i for i, row in self.tree_rows.items() if row['kind'] == 'key' and
                               row['key'].startswith(query)]:
                    self.gone(row_id[2:])
            else:
                cursor: str | None = None
                while True:
                    page_ = await search_page(self.source, mode, query, cursor=cursor, limit=BATCH_DELETE,
                                              scan_budget=SCAN_BUDGET)
                    deleted += await self.delete_keys([r.key for r in page_.records])
                    cursor = page_.cursor
                    if cursor is None:
                        break
        self.pattern_dialog.close()
        self.refresher.flush_now()
        if outcome.failed:
            return
        if self.opened.key is not None and matcher(mode, query)(self.opened.key, self.opened.value):
            self.close_value()
        notify(f'Deleted every key under "{query}" ({deleted:,} at the preview)' if mode == 'prefix' else
               f'{deleted:,} keys deleted', 'success')

    # -- export ----------------------------------------------------------------------------------------
    async def export_records(self) -> tuple[list[tuple[str, str]], bool]:
        if self.export_scope.value == 'selection':
            pairs = []
            for key in self.selection.keys[:EXPORT_MAX]:
                found = await self.source.get_key(key)
                if found is not None:
                    pairs.append((key, found.value))
            return pairs, len(self.selection.keys) <= EXPORT_MAX
        mode, query = mode_of(self.export_mode.value), self.export_query.value or ''
        pairs, cursor = [], None
        while len(pairs) < EXPORT_MAX:
            page_ = await search_page(self.source, mode, query, cursor=cursor, limit=1000, scan_budget=SCAN_BUDGET)
            pairs += [(r.key, r.value) for r in page_.records]
            cursor = page_.cursor
            if cursor is None:
                return pairs, True
        return pairs[:EXPORT_MAX], False

    async def export(self) -> None:
        fmt = self.export_format.value or 'json'
        self.export_note.text = 'Reading…'
        with self.ctx.errors() as outcome:
            pairs, complete = await self.export_records()
        if outcome.failed:
            self.export_note.text = ''
            return
        suffix = '' if self.source.is_default else f'-{self.source.cf}'
        ui.download(export_bytes(pairs, fmt), filename=f'keys{suffix}-{time.strftime("%Y%m%d-%H%M%S")}.{fmt}')
        self.export_note.text = f'{len(pairs):,} keys exported' + ('' if complete else f' (the first {EXPORT_MAX:,})')
        notify(self.export_note.text, 'success')
