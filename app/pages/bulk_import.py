"""`/bulk-import`: import records from a file (JSON, NDJSON, CSV) with progress; export keys as JSON.

Built on the core routes every ApexStore has (`POST /keys/batch`, `GET /keys/search` with a cursor),
so it works against the real server too. Imports go in batches of 1000 (the server's limit).
"""

from __future__ import annotations

import csv
import io
import json

from nicegui import ui
from nicegui.events import UploadEventArguments

from components.cards import card_header
from services.models import Record

from ..context import PageContext, notify
from ..shell import page

BATCH = 1000
EXPORT_PAGE = 1000
PREVIEW = 5


def parse_records(text: str, filename: str) -> tuple[list[Record], str | None]:
    """Records from a JSON array of {key, value}, a JSON object, NDJSON or CSV (key,value); or what is wrong."""
    stripped = text.strip()
    if not stripped:
        return [], 'The file is empty'
    try:
        if filename.lower().endswith('.csv'):
            rows = list(csv.DictReader(io.StringIO(text)))
            if rows and not {'key', 'value'} <= set(rows[0]):
                return [], 'A CSV file needs a header with "key" and "value" columns'
            items: list = rows
        elif stripped.startswith('[') or stripped.startswith('{') and '\n{' not in stripped:
            data = json.loads(stripped)
            if isinstance(data, dict):  # one {"key","value"} record (NDJSON of one line), or a key -> value map
                items = [data] if set(data) == {'key', 'value'} else [{'key': k, 'value': v} for k, v in data.items()]
            else:
                items = data
        else:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except (ValueError, csv.Error) as exc:
        return [], f'Could not read the file: {exc}'
    records = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get('key'), str) or not item['key'] \
                or not isinstance(item.get('value'), str | int | float | bool):
            return [], f'Record {number}: expected a non-empty string "key" and a "value"'
        value = item['value'] if isinstance(item['value'], str) else json.dumps(item['value'])
        records.append(Record(key=item['key'], value=value))
    return records, None


@page('/bulk-import', 'Bulk Import')
async def bulk_import(ctx: PageContext) -> None:
    pending: list[Record] = []
    ui.label('Load many records at once, or take them all out as a file').classes('text-gray-500')
    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-96'):
            card_header('POST', 'Import')
            ui.label('JSON array of {"key","value"}, a JSON object, NDJSON or CSV with key,value columns') \
                .classes('text-sm text-gray-500')
            upload = ui.upload(auto_upload=True, max_file_size=64 * 1024 * 1024) \
                .props('accept=".json,.ndjson,.csv,.txt"').classes('w-full').mark('import-upload')
            summary = ui.label('').mark('import-summary')
            preview = ui.code('', language='json').classes('w-full').mark('import-preview')
            import_button = ui.button('Import', icon='upload').mark('import-button')
            progress = ui.linear_progress(value=0, show_value=False).classes('w-full').mark('import-progress')
        with ui.card().classes('grow basis-80'):
            card_header('GET', 'Export')
            prefix = ui.input('Key prefix (empty: everything)').classes('w-full').mark('export-prefix')
            export_button = ui.button('Export JSON', icon='download').mark('export-button')
            export_status = ui.label('').classes('text-sm text-gray-500').mark('export-status')
    preview.set_visibility(False)
    import_button.set_visibility(False)
    progress.set_visibility(False)

    async def on_upload(event: UploadEventArguments) -> None:
        records, problem = parse_records(await event.file.text(), event.file.name)
        pending[:] = records
        if problem:
            summary.text = problem
            summary.classes(replace='text-negative')
            preview.set_visibility(False)
            import_button.set_visibility(False)
            return
        summary.text = f'{len(records):,} records in {event.file.name}'
        summary.classes(replace='')
        preview.content = json.dumps([r.model_dump() for r in records[:PREVIEW]], indent=2, ensure_ascii=False)
        preview.set_visibility(True)
        import_button.text = f'Import {len(records):,} records'
        import_button.set_visibility(True)

    async def run_import() -> None:
        total = len(pending)
        done = 0
        progress.set_visibility(True)
        import_button.disable()
        try:
            for start in range(0, total, BATCH):
                with ctx.errors() as outcome:
                    done += await ctx.api.batch_put(pending[start:start + BATCH])
                if outcome.failed:
                    summary.text = f'Stopped after {done:,} of {total:,} records'
                    return
                progress.value = done / total
                summary.text = f'Imported {done:,} of {total:,}…'
            notify(f'{done:,} records imported', 'success')
            summary.text = f'Imported {done:,} records'
            pending.clear()
            import_button.set_visibility(False)
        finally:
            import_button.enable()

    async def run_export() -> None:
        records: list[dict] = []
        cursor = None
        export_button.props('loading')
        try:
            with ctx.errors() as outcome:
                while True:
                    page_ = await ctx.api.search(prefix.value or '', limit=EXPORT_PAGE, cursor=cursor)
                    records += [r.model_dump() for r in page_.records]
                    export_status.text = f'{len(records):,} records read…'
                    cursor = page_.cursor
                    if not cursor:
                        break
        finally:
            export_button.props(remove='loading')
        if outcome.failed:
            export_status.text = f'Stopped after {len(records):,} records'
            return
        export_status.text = f'{len(records):,} records exported'
        ui.download(json.dumps(records, ensure_ascii=False, indent=1).encode(), 'apexstore-export.json')

    upload.on_upload(on_upload)
    import_button.on_click(run_import)
    export_button.on_click(run_export)
