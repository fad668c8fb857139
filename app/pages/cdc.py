"""`/cdc`: a live tail of the change stream — every event as it happens, filterable, pausable, exportable.

The console shares one upstream stream per credential between every tab, so this page's filter cannot
change what the server sends: it is applied here, to the shared stream (the embedded backend also
filters server-side with `?types=&prefix=`, see backend/README.md, for clients with their own socket).
"""

from __future__ import annotations

import base64
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nicegui import ui

from components.live_feed import LiveFeed
from services.events.models import DOMAIN_EVENTS, CompactionEvent, HealthEvent, KeyChangeEvent, SnapshotEvent, SyncEvent

from ..context import PageContext, notify
from ..shell import page

LIMIT = 500
KINDS = {'key_change': 'Key changes', 'compaction_status': 'Compaction', 'health_change': 'Health',
         'snapshot_event': 'Snapshots', 'sync_event': 'Sync'}
BADGES = {'compaction_status': 'compaction', 'health_change': 'health', 'snapshot_event': 'snapshot',
          'sync_event': 'sync'}
OPERATIONS = {'put': 'put', 'delete': 'delete', 'delete_prefix': 'delete by prefix'}
LOCAL_FILTER_NOTE = ('Filters apply in this page, to the stream this console shares between all tabs signed in '
                     'with this token (the server still sends every event); export saves the events shown.')


@dataclass(frozen=True)
class Entry:
    """One received event as the tail shows it (kept for re-filtering: the feed holds only what is shown)."""
    at: float
    type: str
    badge: str
    subject: str
    detail: str
    event: Any = field(compare=False, repr=False)  # the event itself, for export
    operation: str | None = None  # key changes: put, delete or delete_prefix


def describe(event: Any) -> tuple[str, str]:
    """(subject, detail) of any event, as text."""
    if isinstance(event, KeyChangeEvent):
        detail = '' if event.value is None else event.value[:120]
        if event.value is None and event.value_size:
            detail = f'({event.value_size:,} bytes)'
        return event.key, detail  # the badge says the operation
    if isinstance(event, CompactionEvent):
        return event.cf, f'{event.kind} {event.status} ({event.trigger})'
    if isinstance(event, HealthEvent):
        return event.probe, f'{event.status} {event.reason or ""}'.strip()
    if isinstance(event, SnapshotEvent):
        return event.name or event.id or '', event.status
    if isinstance(event, SyncEvent):
        return event.status, str(event.details)[:120]
    return '', ''


def entry(event: Any) -> Entry:
    subject, detail = describe(event)
    badge = event.operation if isinstance(event, KeyChangeEvent) else BADGES.get(event.type, event.type)
    if event.seq is not None:
        detail = f'{detail} · #{event.seq}' if detail else f'#{event.seq}'
    operation = event.operation if isinstance(event, KeyChangeEvent) else None
    return Entry(event.received_at, event.type, badge, subject, detail, event, operation)


def ndjson_line(event: Any) -> str:
    """One event as one JSON line: its fields as received (exact value bytes as base64 where the server sent them)."""
    record = event.model_dump(mode='python', exclude_none=True, exclude={'value_bytes'})
    value_bytes = getattr(event, 'value_bytes', None)
    if value_bytes is not None:
        record['value_base64'] = base64.b64encode(value_bytes).decode()
    return json.dumps(record, ensure_ascii=False, default=str)


def ndjson(entries: list[Entry]) -> str:
    """The entries oldest first, one JSON object per line."""
    return ''.join(ndjson_line(item.event) + '\n' for item in reversed(entries))


@page('/cdc', 'CDC')
async def cdc(ctx: PageContext) -> None:
    entries: deque[Entry] = deque(maxlen=LIMIT)  # newest first, every type, for re-filtering
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    state = {'paused': False, 'missed': 0}

    ui.label('The live change stream: every event the console receives, newest first').classes('text-gray-500')
    with ui.row().classes('w-full items-center gap-3'):
        kinds = ui.select(KINDS, value=list(KINDS), multiple=True, label='Types').classes('w-96') \
            .props('use-chips dense').mark('cdc-types')
        operations = ui.select(OPERATIONS, value=list(OPERATIONS), multiple=True, label='Key operations') \
            .classes('w-72').props('use-chips dense').mark('cdc-operations')
        prefix = ui.input('Key prefix').props('dense clearable').classes('w-56').mark('cdc-prefix')
        pause = ui.button('Pause', icon='pause').props('flat').mark('cdc-pause')
        clear = ui.button('Clear', icon='clear_all').props('flat')
        export = ui.button('Export NDJSON', icon='download').props('flat').mark('cdc-export')
    with ui.row().classes('items-center gap-1 text-xs text-gray-500'):
        ui.icon('filter_alt', size='xs')
        ui.label(LOCAL_FILTER_NOTE).mark('cdc-filter-note')
    summary = ui.label('').classes('text-sm text-gray-500').mark('cdc-summary')
    with ui.card().classes('w-full'):
        feed = LiveFeed(LIMIT, 'No events yet.').classes('max-h-[40rem] overflow-y-auto').mark('cdc-feed')

    def visible(item: Entry) -> bool:
        needle = prefix.value or ''
        if item.type not in (kinds.value or []):
            return False
        if item.operation is not None and item.operation not in (operations.value or []):
            return False
        return not needle or (item.type == 'key_change' and item.subject.startswith(needle))

    def show(item: Entry) -> None:
        feed.add(item.badge, item.subject, item.detail, at=item.at)

    def render() -> None:
        """The page's one refresher: new feed items and the counts, at most once per frame."""
        feed.flush()
        paused = f' — paused, {state["missed"]} not shown' if state['paused'] else ''
        summary.text = ', '.join(f'{KINDS[k]}: {n}' for k, n in counts.items()) + paused

    refresher = ctx.refresher(render)

    def refilter() -> None:
        """The filter changed (a user action): the feed starts over from what was received."""
        feed.clear()
        for item in reversed(entries):
            if visible(item):
                show(item)
        refresher.flush_now()

    def on_event(event: Any) -> None:
        counts[event.type] = counts.get(event.type, 0) + 1
        if state['paused']:
            state['missed'] += 1
        else:
            item = entry(event)
            entries.appendleft(item)
            if visible(item):
                show(item)
        refresher.mark()

    def toggle_pause() -> None:
        state['paused'] = not state['paused']
        state['missed'] = 0
        pause.text = 'Resume' if state['paused'] else 'Pause'
        pause.props(f'icon={"play_arrow" if state["paused"] else "pause"}')
        refresher.flush_now()

    def clear_entries() -> None:
        entries.clear()
        feed.clear()
        refresher.flush_now()

    def export_entries() -> None:
        """The received tail as the filter shows it, oldest first, one event per line."""
        shown = [item for item in entries if visible(item)]
        if not shown:
            notify('Nothing to export: no received event matches the filter', 'warning')
            return
        ui.download.content(ndjson(shown).encode(), f'apexstore-cdc-{time.strftime("%Y%m%d-%H%M%S")}.ndjson',
                            'application/x-ndjson')
        notify(f'Exported {len(shown)} events', 'success')

    clear.on_click(clear_entries)
    pause.on_click(toggle_pause)
    export.on_click(export_entries)
    kinds.on_value_change(refilter)
    operations.on_value_change(refilter)
    prefix.on_value_change(refilter)
    for kind in DOMAIN_EVENTS:
        ctx.on(kind, on_event)
    render()
