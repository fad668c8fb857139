"""`/cdc`: a live tail of the change stream — every event as it happens, filterable, pausable."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from nicegui import ui

from services.events.models import CompactionEvent, HealthEvent, KeyChangeEvent, SnapshotEvent, SyncEvent

from ..context import Coalescer, PageContext
from ..shell import page

LIMIT = 500
COLUMNS = [
    {'name': 'time', 'label': 'Time', 'field': 'time', 'align': 'left'},
    {'name': 'type', 'label': 'Type', 'field': 'type', 'align': 'left'},
    {'name': 'subject', 'label': 'Key / subject', 'field': 'subject', 'align': 'left'},
    {'name': 'detail', 'label': 'Detail', 'field': 'detail', 'align': 'left'},
    {'name': 'seq', 'label': 'Seq', 'field': 'seq', 'align': 'right'},
]
KINDS = {'key_change': 'Key changes', 'compaction_status': 'Compaction', 'health_change': 'Health',
         'snapshot_event': 'Snapshots', 'sync_event': 'Sync'}


def describe(event: Any) -> tuple[str, str]:
    """(subject, detail) of any event, as text."""
    if isinstance(event, KeyChangeEvent):
        detail = '' if event.value is None else event.value[:120]
        if event.value is None and event.value_size:
            detail = f'({event.value_size:,} bytes)'
        return event.key, f'{event.operation} {detail}'.strip()
    if isinstance(event, CompactionEvent):
        return event.cf, f'{event.kind} {event.status} ({event.trigger})'
    if isinstance(event, HealthEvent):
        return event.probe, f'{event.status} {event.reason or ""}'.strip()
    if isinstance(event, SnapshotEvent):
        return event.name or event.id or '', event.status
    if isinstance(event, SyncEvent):
        return event.status, str(event.details)[:120]
    return '', ''


@page('/cdc', 'CDC')
async def cdc(ctx: PageContext) -> None:
    rows: deque[dict] = deque(maxlen=LIMIT)
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    state = {'paused': False, 'missed': 0}

    ui.label('The live change stream: every event the console receives, newest first').classes('text-gray-500')
    with ui.row().classes('w-full items-center gap-3'):
        kinds = ui.select(KINDS, value=list(KINDS), multiple=True, label='Types').classes('w-96') \
            .props('use-chips dense').mark('cdc-types')
        prefix = ui.input('Key prefix').props('dense clearable').classes('w-56').mark('cdc-prefix')
        pause = ui.button('Pause', icon='pause').props('flat').mark('cdc-pause')
        clear = ui.button('Clear', icon='clear_all').props('flat')
    summary = ui.label('').classes('text-sm text-gray-500').mark('cdc-summary')
    table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
        .mark('cdc-table')

    def visible(row: dict) -> bool:
        wanted = kinds.value or []
        needle = prefix.value or ''
        return row['type'] in wanted and (not needle or (row['type'] == 'key_change'
                                                          and row['subject'].startswith(needle)))

    def render() -> None:
        table.rows = [r for r in rows if visible(r)]
        table.update()
        paused = f' — paused, {state["missed"]} not shown' if state['paused'] else ''
        summary.text = ', '.join(f'{KINDS[k]}: {n}' for k, n in counts.items()) + paused

    live = Coalescer(render, rate=5)

    def on_event(event: Any) -> None:
        counts[event.type] = counts.get(event.type, 0) + 1
        if state['paused']:
            state['missed'] += 1
            live.mark()
            return
        subject, detail = describe(event)
        rows.appendleft({'id': f'{time.monotonic_ns()}', 'time': time.strftime('%H:%M:%S'), 'type': event.type,
                         'subject': subject, 'detail': detail, 'seq': event.seq or ''})
        live.mark()

    def toggle_pause() -> None:
        state['paused'] = not state['paused']
        state['missed'] = 0
        pause.text = 'Resume' if state['paused'] else 'Pause'
        pause.props(f'icon={"play_arrow" if state["paused"] else "pause"}')
        render()

    def clear_rows() -> None:
        rows.clear()
        render()

    clear.on_click(clear_rows)
    pause.on_click(toggle_pause)
    kinds.on_value_change(render)
    prefix.on_value_change(render)
    ctx.on('events', on_event)
    render()
