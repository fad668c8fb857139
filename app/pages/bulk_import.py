"""`/bulk-import`: import records from a file (JSON, NDJSON, CSV) with progress; export keys as JSON.

Built on the core routes every ApexStore has (`POST /keys/batch`, `GET /keys/search` with a cursor),
so it works against the real server too. Nothing is lost on the way:
- the whole file is checked before anything is written; every bad record is listed, and nothing is
  written unless the user chooses to skip the bad ones;
- batches are cut by count (the server takes 1000 records) and by size (1 MiB, half the server's 2 MiB
  body limit), so large records never make a batch the server refuses;
- the summary says exactly how many records the server wrote, and where an import stopped.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from nicegui import ui
from nicegui.events import UploadEventArguments

from components.cards import card_header
from components.value_viewer import TextBlock
from services.api import MAX_REQUEST_BYTES, json_body
from services.models import Record

from ..context import PageContext, notify
from ..shell import page

BATCH = 1000  # records per request: the server's limit
BATCH_BYTES = 1024 * 1024  # bytes per request: half the server's limit, so a batch is never refused for size
ENVELOPE_BYTES = len(json_body({'records': []}))
MAX_KEY_BYTES = 4096
EXPORT_PAGE = 1000
PREVIEW = 5
ERRORS_SHOWN = 20


@dataclass
class ParsedFile:
    """What a file holds: the good records, a line per bad record, or why the file cannot be read at all."""
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def total(self) -> int:
        return len(self.records) + len(self.errors)


@dataclass
class _Bad:
    """An NDJSON line that is not JSON: it becomes that record's error."""
    reason: str


def decode(data: bytes, filename: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, why): an import file is UTF-8 text, never binary."""
    if b'\0' in data[:65536]:
        return None, f'"{filename}" is a binary file (it contains NUL bytes): import JSON, NDJSON or CSV text'
    try:
        return data.decode('utf-8-sig'), None
    except UnicodeDecodeError as exc:
        return None, f'"{filename}" is not UTF-8 text (undecodable byte at offset {exc.start:,})'


def record_bytes(record: Record) -> int:
    """What one record adds to a batch request body (its JSON and a comma)."""
    return len(json_body(record.model_dump())) + 1


def to_record(label: str, item: Any) -> tuple[Record | None, str | None]:
    """A record from one parsed item; a value that is not a string is stored as its JSON text."""
    if not isinstance(item, dict):
        return None, f'{label}: expected an object with "key" and "value"'
    key, value = item.get('key'), item.get('value')
    if not isinstance(key, str) or not key:
        return None, f'{label}: expected a non-empty string "key"'
    if len(key.encode()) > MAX_KEY_BYTES:
        return None, f'{label}: the key is {len(key.encode()):,} bytes (the server takes at most {MAX_KEY_BYTES:,})'
    if value is None:
        return None, f'{label}: "value" is missing or null'
    try:
        record = Record(key=key, value=value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    except RecursionError:
        return None, f'{label}: the value is nested too deeply'
    if ENVELOPE_BYTES + record_bytes(record) > MAX_REQUEST_BYTES:
        return None, f'{label}: {record_bytes(record):,} bytes, more than the server takes in one request (2 MiB)'
    return record, None


def _items(text: str, filename: str) -> list[tuple[str, Any]]:
    """(label, item) pairs; raises ValueError/csv.Error/RecursionError when the file as a whole is unreadable."""
    name = filename.lower()
    stripped = text.strip()
    if name.endswith('.csv'):
        rows = list(csv.DictReader(io.StringIO(text)))
        if rows and not {'key', 'value'} <= set(rows[0]):
            raise ValueError('A CSV file needs a header with "key" and "value" columns')
        return [(f'Record {n}', row) for n, row in enumerate(rows, 1)]
    if not name.endswith(('.ndjson', '.jsonl')) and stripped[:1] in '[{':
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if not (stripped.startswith('{') and exc.msg == 'Extra data'):
                raise
        else:
            return _json_items(data)
    return _ndjson_items(stripped)


def _json_items(data: Any) -> list[tuple[str, Any]]:
    if isinstance(data, dict):  # one {"key","value"} record, or a key -> value map
        items = [data] if set(data) == {'key', 'value'} else [{'key': k, 'value': v} for k, v in data.items()]
    elif isinstance(data, list):
        items = data
    else:
        raise ValueError('expected a JSON array of {"key","value"} records or a JSON object')
    return [(f'Record {n}', item) for n, item in enumerate(items, 1)]


def _ndjson_items(text: str) -> list[tuple[str, Any]]:
    """One record per line; a line that is not JSON is that record's error, not the file's."""
    items: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label = f'Record {len(items) + 1} (line {number})'
        try:
            items.append((label, json.loads(line)))
        except ValueError as exc:
            items.append((label, _Bad(f'not JSON ({exc})')))
        except RecursionError:
            items.append((label, _Bad('nested too deeply')))
    return items


def parse_records(text: str, filename: str) -> ParsedFile:
    """Every record of a JSON array / JSON object / NDJSON / CSV file, checked before anything is written."""
    if not text.strip():
        return ParsedFile(problem='The file is empty')
    try:
        items = _items(text, filename)
    except RecursionError:
        return ParsedFile(problem='Could not read the file: it is nested too deeply (over ~1,000 levels)')
    except (ValueError, csv.Error) as exc:
        message = str(exc)
        return ParsedFile(problem=message if message.startswith('A CSV') else f'Could not read the file: {message}')
    parsed = ParsedFile()
    for label, item in items:
        record, error = (None, f'{label}: {item.reason}') if isinstance(item, _Bad) else to_record(label, item)
        if record is not None:
            parsed.records.append(record)
        else:
            parsed.errors.append(error or f'{label}: invalid')
    return parsed


def parse_file(data: bytes, filename: str) -> ParsedFile:
    text, problem = decode(data, filename)
    return ParsedFile(problem=problem) if text is None else parse_records(text, filename)


def plan_batches(records: list[Record], max_count: int = BATCH, max_bytes: int = BATCH_BYTES) -> list[list[Record]]:
    """Consecutive batches of at most `max_count` records and `max_bytes` of body (a bigger record goes alone)."""
    batches: list[list[Record]] = []
    current: list[Record] = []
    size = ENVELOPE_BYTES
    for record in records:
        grows = record_bytes(record)
        if current and (len(current) >= max_count or size + grows > max_bytes):
            batches.append(current)
            current, size = [], ENVELOPE_BYTES
        current.append(record)
        size += grows
    if current:
        batches.append(current)
    return batches


def error_list(errors: list[str]) -> str:
    more = len(errors) - ERRORS_SHOWN
    return '\n'.join(errors[:ERRORS_SHOWN]) + (f'\n… and {more:,} more' if more > 0 else '')


@page('/bulk-import', 'Bulk Import')
async def bulk_import(ctx: PageContext) -> None:
    pending: list[Record] = []
    ui.label('Load many records at once, or take them all out as a file').classes('text-gray-500')
    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-96'):
            card_header('POST', 'Import')
            ui.label('JSON array of {"key","value"}, a JSON object, NDJSON or CSV with key,value columns; '
                     'values that are not strings are stored as their JSON text') \
                .classes('text-sm text-gray-500')
            upload = ui.upload(auto_upload=True, max_file_size=64 * 1024 * 1024) \
                .props('accept=".json,.ndjson,.jsonl,.csv,.txt"').classes('w-full').mark('import-upload')
            summary = ui.label('').mark('import-summary')
            errors = TextBlock().classes('max-h-64 overflow-auto text-negative').mark('import-errors')
            preview = TextBlock().classes('max-h-64 overflow-auto').mark('import-preview')
            with ui.row().classes('gap-2'):
                import_button = ui.button('Import', icon='upload').mark('import-button')
                skip_button = ui.button('Skip the invalid records', icon='playlist_remove') \
                    .props('flat color=warning').mark('import-skip-button')
            progress = ui.linear_progress(value=0, show_value=False).classes('w-full').mark('import-progress')
        with ui.card().classes('grow basis-80'):
            card_header('GET', 'Export')
            prefix = ui.input('Key prefix (empty: everything)').classes('w-full').mark('export-prefix')
            export_button = ui.button('Export JSON', icon='download').mark('export-button')
            export_status = ui.label('').classes('text-sm text-gray-500').mark('export-status')
    for hidden in (errors, preview, import_button, skip_button, progress):
        hidden.set_visibility(False)

    def say(text: str, *, bad: bool = False) -> None:
        summary.text = text
        summary.classes(replace='text-negative' if bad else '')

    def show_parsed(parsed: ParsedFile, filename: str) -> None:
        pending[:] = parsed.records
        errors.content = error_list(parsed.errors)
        errors.set_visibility(bool(parsed.errors))
        preview.content = json.dumps([r.model_dump() for r in parsed.records[:PREVIEW]], indent=2, ensure_ascii=False)
        preview.set_visibility(bool(parsed.records))
        import_button.set_visibility(bool(parsed.records) and not parsed.errors)
        import_button.text = f'Import {len(parsed.records):,} records'
        skip_button.set_visibility(bool(parsed.records and parsed.errors))
        skip_button.text = f'Skip {len(parsed.errors):,} invalid, import {len(parsed.records):,}'
        progress.set_visibility(False)
        if parsed.problem:
            say(parsed.problem, bad=True)
        elif parsed.errors:
            say(f'{len(parsed.errors):,} of {parsed.total:,} records in {filename} are invalid: nothing is written '
                'unless you skip them', bad=True)
        else:
            say(f'{len(parsed.records):,} records in {filename}')

    async def on_upload(event: UploadEventArguments) -> None:
        data = await event.file.read()
        parsed = await asyncio.to_thread(parse_file, data, event.file.name)  # a big file: the page stays live
        show_parsed(parsed, event.file.name)

    async def run_import() -> None:
        records = list(pending)
        batches = plan_batches(records)
        written = 0
        progress.set_visibility(True)
        for button in (import_button, skip_button, upload):
            button.disable()
        try:
            for number, batch in enumerate(batches, 1):
                with ctx.errors() as outcome:
                    written += await ctx.api.batch_put(batch)
                if outcome.error is not None:
                    stopped(written, len(records), number, len(batches), outcome.error.message)
                    return
                progress.value = written / len(records)
                say(f'Imported {written:,} of {len(records):,}…')
            finished(written, len(records))
        finally:
            for button in (import_button, skip_button, upload):
                button.enable()

    def stopped(written: int, total: int, number: int, batches: int, message: str) -> None:
        say(f'Stopped: the server wrote {written:,} of {total:,} records; batch {number} of {batches} failed '
            f'({message}); the batches after it were not sent', bad=True)

    def finished(written: int, total: int) -> None:
        pending.clear()
        import_button.set_visibility(False)
        skip_button.set_visibility(False)
        if written == total:
            say(f'Imported {written:,} records')
            notify(f'{written:,} records imported', 'success')
        else:
            say(f'The server wrote {written:,} of the {total:,} records sent', bad=True)
            notify(f'Only {written:,} of {total:,} records were written', 'warning')

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
    skip_button.on_click(run_import)
    export_button.on_click(run_export)
