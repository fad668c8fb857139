"""The selected key on the right: its value (text/tree/JSON/hex), size, encoding and live TTL; edit with
validation and a diff before saving, set the TTL, refetch, copy, download, delete.

Saving an opened key keeps its TTL unless the user changes it; a change by another client to the key
being viewed or edited is announced, never silently applied over the user's edit.
"""

from __future__ import annotations

from nicegui import ui

from components.confirm import confirm
from components.conflict_banner import ConflictBanner
from components.key_export import text_diff
from components.key_grid import size_text, ttl_text
from components.value_viewer import TextBlock, ValueInput, ValueViewer, encoding_of, parse_json
from services.api import ApiError

from ...context import notify
from .base import ExplorerBase
from .model import TALL_BOX


class ValuePane(ExplorerBase):
    viewer_title: ui.label
    size_label: ui.label
    encoding_label: ui.label
    ttl_label: ui.label
    editor_ttl: ui.number
    edit_button: ui.button
    viewer: ValueViewer
    edit_section: ui.column
    editor: ValueInput
    json_error: ui.label

    def build_pane(self, editor_draft: dict) -> None:
        with ui.card().style('flex: 2 1 24rem; min-width: 0').props('data-testid=value-pane') \
                .mark('value-pane') as self.viewer_card:
            with ui.row().classes('w-full items-center gap-1').style('flex-wrap: nowrap'):
                self.viewer_title = ui.label('').classes('font-semibold font-mono break-all grow') \
                    .style('min-width: 0').mark('viewer-title')
                ui.button(icon='content_copy', on_click=self.copy_key).props('flat round dense') \
                    .tooltip('Copy key').mark('copy-key')
                ui.button(icon='file_copy', on_click=self.copy_value).props('flat round dense') \
                    .tooltip('Copy value').mark('copy-value')
                ui.button(icon='download', on_click=lambda: self.viewer.download()).props('flat round dense') \
                    .tooltip('Download value').mark('download-value')
                ui.button(icon='close', on_click=self.close_value).props('flat round dense') \
                    .tooltip('Close (Esc)').mark('close-value')
            with ui.row().classes('w-full items-center gap-3 text-sm text-gray-500'):
                self.size_label = ui.label('').props('data-testid=value-size').mark('value-size')
                self.encoding_label = ui.label('').mark('value-encoding')
                self.ttl_label = ui.label('').props('data-testid=value-ttl').mark('value-ttl viewer-ttl')
            with ui.row().classes('w-full items-center gap-2'):
                self.editor_ttl = ui.number('TTL (s; empty: never)', min=0, precision=0).props('dense') \
                    .style('width: 11rem').mark('editor-ttl')
                ui.button('Set TTL', on_click=self.set_ttl).props('flat dense').mark('ttl-set')
                ui.space()
                self.edit_button = ui.button('Edit', icon='edit', on_click=self.start_edit) \
                    .props('flat dense data-testid=value-edit').mark('value-edit')
                ui.button(icon='refresh', on_click=lambda: self.refetch(self.opened.key or '')) \
                    .props('flat round dense').tooltip('Refetch').mark('refetch')
                ui.button('Delete', icon='delete', color='negative',
                          on_click=lambda: self.delete(self.opened.key or '')).props('flat dense').mark('delete-key')
            self.conflict = ConflictBanner(
                on_reload=self.reload_opened,
                on_keep=lambda: notify('Kept your version; Save will overwrite the other change.', 'info'))
            self.viewer = ValueViewer()
            with ui.column().classes('w-full gap-1') as self.edit_section:
                self.editor = ValueInput('Edit value').classes('w-full font-mono') \
                    .props(f'autogrow data-testid=value-editor {TALL_BOX}').mark('value-editor editor') \
                    .bind_value(editor_draft, 'value')
                self.json_error = ui.label('').classes('text-negative text-sm').mark('value-json-error')
                with ui.row().classes('gap-2'):
                    ui.button('Save', icon='save', on_click=self.save).props('data-testid=value-save') \
                        .mark('value-save save-button')
                    ui.button('Cancel', on_click=self.stop_edit).props('flat').mark('value-cancel')
        self.viewer_card.set_visibility(False)
        self.edit_section.set_visibility(False)

    def show_ttl(self) -> None:
        """The opened key's TTL, counting down while the viewer is open (sent only when its text changes)."""
        self.ttl_label.text = self.opened.ttl_text()
        if self.opened.expires_at is not None and self.viewer_card.visible:
            self.refresher.again_in(1.0)

    # -- reading ---------------------------------------------------------------------------------------
    async def refetch(self, key: str) -> None:
        if key:
            await self.fetch_key(key, show=False, found_toast=f'"{key}" refreshed')

    async def open_key(self, key: str) -> None:
        if self.opening == key:
            return
        self.opening = key
        try:
            await self.fetch_key(key, show=True)
        finally:
            self.opening = None

    async def fetch_key(self, key: str, *, show: bool, found_toast: str | None = None) -> None:
        """Read one key; update its row (or mark it gone) and optionally open it in the viewer."""
        with self.ctx.errors() as outcome:
            found = await self.source.get_key(key)
        if outcome.failed:
            return
        if found is None:
            notify(f'Key "{key}" not found', 'warning')
            self.gone(key)
            self.refresher.flush_now()
            return
        if show:
            await self.read_ttl(key)
        self.show_row(key, found.value, ttl_text(self.opened.ttl_shown) if show and self.opened.ttl_problem is None
                      else (self.grid.rows.get(key) or {}).get('ttl', ''))
        if show:
            self.show_value(key, found.value)
        if found_toast:
            notify(found_toast, 'success' if show else 'info')

    async def read_ttl(self, key: str) -> None:
        """The opened key's TTL, so Save can keep it; a server without the TTL route leaves it unknown."""
        try:
            self.opened.set_ttl(await self.source.key_ttl(key))
        except ApiError as exc:
            self.opened.set_ttl(None)
            self.opened.ttl_problem = exc.message
        self.editor_ttl.value = self.opened.ttl_shown
        self.refresher.flush_now()

    def show_value(self, key: str, value: str) -> None:
        same = self.opened.key == key
        self.opened.key, self.opened.value = key, value
        self.viewer_title.text = key
        self.size_label.text = size_text(len(value.encode()))
        self.encoding_label.text = encoding_of(value)
        self.viewer.show(key, value, pick_tab=not same)
        self.editor.value = value
        self.json_error.text = ''
        self.conflict.hide()
        self.viewer_card.set_visibility(True)
        self.refresher.flush_now()
        self.sync_url()

    def close_value(self) -> None:
        self.viewer_card.set_visibility(False)
        self.stop_edit()
        self.sync_url()

    def start_edit(self) -> None:
        self.edit_section.set_visibility(True)
        self.edit_button.set_visibility(False)

    def stop_edit(self) -> None:
        self.edit_section.set_visibility(False)
        self.edit_button.set_visibility(True)

    def copy_key(self) -> None:
        if self.opened.key is not None:
            ui.clipboard.write(self.opened.key)
            notify('Key copied', 'info')

    def copy_value(self) -> None:
        if self.opened.value is not None:
            ui.clipboard.write(self.opened.value)
            notify('Value copied', 'info')

    async def reload_opened(self) -> None:
        if self.opened.key is not None:
            await self.open_key(self.opened.key)

    # -- writing ---------------------------------------------------------------------------------------
    async def delete(self, key: str) -> None:
        if not key or not await confirm('Delete key', f'Delete "{key}"? This cannot be undone.'):
            return
        self.own.remember(key, None)
        with self.ctx.errors() as outcome:
            await self.source.delete_key(key)
        if outcome.failed:
            return
        self.gone(key)
        self.refresher.flush_now()
        if self.opened.key == key:
            self.close_value()
        notify(f'Key "{key}" deleted', 'success')

    def ttl_to_save(self) -> int | None:
        """The TTL as the user left it: the time still remaining, or what they typed instead."""
        typed = self.editor_ttl.value
        if (typed if typed is None else int(typed)) != self.opened.ttl_shown:
            return int(typed) if typed else None
        return self.opened.remaining()

    async def write_opened(self, value: str, what: str) -> None:
        key = self.opened.key
        if key is None:
            return
        self.own.remember(key, value)
        ttl = self.ttl_to_save()
        with self.ctx.errors() as outcome:
            await self.source.put_key(key, value, ttl)
        if outcome.failed:
            return
        self.opened.value = value
        self.viewer.show(key, value, pick_tab=False)
        self.size_label.text = size_text(len(value.encode()))
        self.encoding_label.text = encoding_of(value)
        self.conflict.hide()
        await self.read_ttl(key)
        self.show_row(key, value, ttl_text(self.opened.ttl_shown))
        notify(f'Key "{key}" {what}', 'success')

    async def set_ttl(self) -> None:
        """Change only the TTL: the stored value is written back as it is, with the new TTL."""
        if self.opened.value is not None:
            await self.write_opened(self.opened.value, 'TTL updated')

    async def save(self) -> None:
        if self.opened.key is None or self.opened.value is None:
            return
        if problem := self.editor.too_large_message('Your edit'):
            notify(problem, 'error')
            return
        value = self.editor.value or ''
        if parse_json(self.opened.value)[0] is not None and (problem := parse_json(value)[1]) is not None:
            self.json_error.text = f'Not valid JSON ({problem}); the stored value is JSON. Fix it before saving.'
            notify('Not valid JSON: nothing was saved', 'error')
            return
        self.json_error.text = ''
        with ui.dialog() as diff_dialog, ui.card().style('width: 48rem; max-width: 100%'):
            ui.label(f'Save "{self.opened.key}"?').classes('text-lg font-semibold break-all')
            TextBlock(text_diff(self.opened.value, value)).classes('max-h-96 overflow-auto').mark('value-diff')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: diff_dialog.submit(False)).props('flat')
                ui.button('Save', icon='save', on_click=lambda: diff_dialog.submit(True)) \
                    .props('data-testid=diff-save').mark('diff-save')
        diff_dialog.open()
        go = await diff_dialog
        diff_dialog.delete()
        if go:
            await self.write_opened(value, 'saved')
