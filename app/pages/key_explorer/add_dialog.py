"""The "+ Key" dialog: one key (typed, or a value from a file, with an optional TTL), or a JSON batch.

What is written is what the user sees: a value too large for the socket is refused, not swapped for the
last one that arrived (see `ValueInput`); larger values come from a file, over HTTP, up to the server's
2 MiB request limit.
"""

from __future__ import annotations

from nicegui import ui
from nicegui.events import UploadEventArguments

from components.key_grid import make_row, ttl_text
from components.value_viewer import ValueInput
from services.api import MAX_REQUEST_BYTES

from ...context import notify
from .base import ExplorerBase
from .model import BOX, parse_batch, read_text_file


class AddDialog(ExplorerBase):
    insert_key: ui.input
    insert_value: ValueInput
    insert_file: ui.upload
    file_row: ui.row
    file_note: ui.label
    insert_ttl: ui.number
    insert_error: ui.label
    insert_button: ui.button
    batch_text: ValueInput
    batch_error: ui.label

    def build_add_dialog(self, insert_draft: dict, batch_draft: dict) -> None:
        with ui.dialog() as self.add_dialog, ui.card().style('width: 36rem; max-width: 100%'):
            with ui.tabs().props('dense align=left').mark('add-tabs') as add_tabs:
                ui.tab('Key')
                ui.tab('Batch')
            with ui.tab_panels(add_tabs, value='Key').classes('w-full'):
                with ui.tab_panel('Key'):
                    self.insert_key = ui.input('Key', placeholder='user:1').classes('w-full').mark('insert-key') \
                        .bind_value(insert_draft, 'key')
                    self.insert_value = ValueInput('Value').classes('w-full').props(f'autogrow {BOX}') \
                        .mark('insert-value').bind_value(insert_draft, 'value')
                    self.insert_file = ui.upload(label='…or a value from a file (max 2 MiB)', auto_upload=True,
                                                 max_files=1, max_file_size=MAX_REQUEST_BYTES) \
                        .props('flat bordered').classes('w-full').style('max-height: 4.5rem').mark('insert-file')
                    with ui.row().classes('items-center gap-1') as self.file_row:
                        self.file_note = ui.label('').classes('text-sm').mark('insert-file-note')
                        ui.button(icon='close', on_click=self.clear_file).props('flat round dense') \
                            .tooltip('Use the text box instead')
                    self.insert_ttl = ui.number('TTL (seconds, optional)', min=0, precision=0).classes('w-full')
                    self.insert_error = ui.label('').classes('text-negative text-sm').mark('insert-error')
                    self.insert_button = ui.button('Insert', icon='add', on_click=self.insert).mark('insert-button')
                with ui.tab_panel('Batch'):
                    self.batch_text = ValueInput('JSON array', placeholder='[{"key":"k1","value":"v1"}]') \
                        .classes('w-full').props(f'autogrow {BOX}').mark('batch-text').bind_value(batch_draft, 'text')
                    self.batch_error = ui.label('').classes('text-negative text-sm').mark('batch-error')
                    ui.button('Insert Batch', icon='playlist_add', on_click=self.batch).mark('batch-button')
            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=self.add_dialog.close).props('flat')
        self.file_row.set_visibility(False)
        self.insert_button.bind_enabled_from(self.insert_key, 'value', backward=lambda v: bool((v or '').strip()))
        self.insert_file.on_upload(self.value_from_file)
        self.insert_file.on_rejected(self.file_rejected)

    def refuse_insert(self, problem: str) -> None:
        self.insert_error.text = problem
        notify(problem, 'error')

    async def insert(self) -> None:
        key = self.insert_key.value or ''
        if not key.strip():
            notify('Enter a key.', 'warning')
            return
        if self.from_file.text is None and (problem := self.insert_value.too_large_message('The value in the box')):
            self.refuse_insert(problem)  # the box keeps it; what the server last received is not what the user sees
            return
        value = self.from_file.text if self.from_file.text is not None else self.insert_value.value or ''
        ttl = int(self.insert_ttl.value) if self.insert_ttl.value else None
        self.own.remember(key, value)
        self.insert_error.text = ''
        self.insert_button.props('loading')
        try:
            with self.ctx.errors() as outcome:  # on failure the form keeps what was typed
                await self.source.put_key(key, value, ttl)
        finally:
            self.insert_button.props(remove='loading')
        if outcome.error is not None:
            self.insert_error.text = outcome.error.message
            return
        self.show_row(key, value, ttl_text(ttl))
        notify(f'Key "{key}" inserted!', 'success')
        self.insert_key.value = self.insert_value.value = ''
        self.insert_ttl.value = None
        self.clear_file()
        self.add_dialog.close()

    async def value_from_file(self, event: UploadEventArguments) -> None:
        text, problem = await read_text_file(event.file)
        self.insert_file.reset()
        if text is None:
            self.clear_file()
            self.refuse_insert(problem or 'The file cannot be a value')
            return
        self.from_file.name, self.from_file.text = event.file.name, text
        self.file_note.text = f'Insert writes "{self.from_file.name}" ({len(text.encode()):,} bytes), not the text box'
        self.file_row.set_visibility(True)
        self.insert_error.text = ''

    def clear_file(self) -> None:
        self.from_file.name, self.from_file.text = '', None
        self.file_row.set_visibility(False)

    def file_rejected(self) -> None:
        self.refuse_insert('That file is larger than 2 MiB, the most the server takes in one request. '
                           'Nothing was written.')

    async def batch(self) -> None:
        if too_large := self.batch_text.too_large_message('The batch', 'import it as a file on the Bulk Import page'):
            self.batch_error.text = too_large
            notify(too_large, 'error')
            return
        records, problem = parse_batch(self.batch_text.value or '')
        self.batch_error.text = problem or ''
        if records is None:
            notify(problem or 'Invalid batch', 'error')
            return
        for r in records:
            self.own.remember(r.key, r.value)
        with self.ctx.errors() as outcome:
            count = await self.source.batch_put(records)
        if outcome.error is not None:
            self.batch_error.text = outcome.error.message
            return
        for r in records:
            self.grid.upsert(make_row(r.key, r.value, 'changed' if r.key in self.grid.rows else 'new', ttl='∞'))
            self.tree_put(r.key)
        self.settle_state()
        self.refresher.flush_now()
        notify(f'{count} keys inserted', 'success')
        self.batch_text.value = ''
