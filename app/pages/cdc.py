"""`/cdc`: a live tail of the change stream — every event as it happens, filterable, pausable."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from components.live_feed import LiveFeed
from services.events.models import DOMAIN_EVENTS, CompactionEvent, HealthEvent, KeyChangeEvent, SnapshotEvent, SyncEvent

from ..context import PageContext
from ..shell import page

LIMIT = 500
KINDS = {'key_change': 'Key changes', 'compaction_status': 'Compaction', 'health_change': 'Health',
         'snapshot_event': 'Snapshots', 'sync_event': 'Sync'}
BADGES = {'compaction_status': 'compaction', 'health_change': 'health', 'snapshot_event': 'snapshot',
          'sync_event': 'sync'}


@dataclass(frozen=True)
class Entry:
    """One received event as the tail shows it (kept for re-filtering: the feed holds only what is shown)."""
    at: float
    type: str
    badge: str
    subject: str
    detail: str


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
    return Entry(event.received_at, event.type, badge, subject, detail)


@page('/cdc', 'CDC')
async def cdc(ctx: PageContext) -> None:
    entries: deque[Entry] = deque(maxlen=LIMIT)  # newest first, every type, for re-filtering
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
    with ui.card().classes('w-full'):
        feed = LiveFeed(LIMIT, 'No events yet.').classes('max-h-[40rem] overflow-y-auto').mark('cdc-feed')

    def visible(item: Entry) -> bool:
        needle = prefix.value or ''
        return item.type in (kinds.value or []) and (not needle or (item.type == 'key_change'
                                                                     and item.subject.startswith(needle)))

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

    clear.on_click(clear_entries)
    pause.on_click(toggle_pause)
    kinds.on_value_change(refilter)
    prefix.on_value_change(refilter)
    for kind in DOMAIN_EVENTS:
        ctx.on(kind, on_event)
    render()
