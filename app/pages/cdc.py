"""`/cdc`: CDC configuration (where the server offers it) and a live tail of the change stream — every event
as it happens, filterable, pausable, exportable.

Configuration (the Angular page's cards): enabled, retention and batch size; tracked tables (column
families) with the kinds of change they capture, their LSN, last event and captured log. A real
ApexStore has no such routes (it is configured by `CDC_ENDPOINT`): that part then says so.

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

from nicegui import background_tasks, ui

from components.clock import date_time
from components.confirm import confirm
from components.live_feed import LiveFeed
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import (
    DOMAIN_EVENTS,
    CompactionEvent,
    FeatureEvent,
    HealthEvent,
    KeyChangeEvent,
    SnapshotEvent,
    SyncEvent,
)
from services.features import cdc_config as cdc_api

from ..context import PageContext, notify
from ..shell import page

LIMIT = 500
KINDS = {'key_change': 'Key changes', 'compaction_status': 'Compaction', 'health_change': 'Health',
         'snapshot_event': 'Snapshots', 'sync_event': 'Sync', 'feature_event': 'Extensions'}
BADGES = {'compaction_status': 'compaction', 'health_change': 'health', 'snapshot_event': 'snapshot',
          'sync_event': 'sync', 'feature_event': 'extension'}
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
    if isinstance(event, FeatureEvent):
        return event.feature, f'{event.name} {event.data}'[:120]
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


def when(ns: int | None) -> str:
    return date_time(ns / 1e9) if ns else '—'


TABLE_COLUMNS = [{'name': n, 'label': label, 'field': n, 'align': 'left'} for n, label in (
    ('table', 'Table'), ('events', 'Events'), ('status', 'Status'), ('since_lsn', 'Since LSN'),
    ('last_event', 'Last Event'), ('captured', 'Captured'), ('actions', ''))]
TABLE_ACTIONS = r'''
<q-td :props="props" class="text-right">
  <q-btn flat dense icon="list" title="Captured changes" @click="$parent.$emit('changes', props.row.table)" />
  <q-btn flat dense icon="delete" color="negative" title="Remove" @click="$parent.$emit('remove', props.row.table)" />
</q-td>
'''
CHANGE_COLUMNS = [{'name': n, 'label': label, 'field': n, 'align': 'left'} for n, label in (
    ('lsn', 'LSN'), ('op', 'Change'), ('key', 'Key'), ('at', 'At'))]


def table_row(table: cdc_api.CdcTable) -> dict:
    return {'table': table.table, 'events': ', '.join(table.events), 'status': table.status.capitalize(),
            'since_lsn': table.since_lsn, 'last_event': when(table.last_event_at), 'captured': f'{table.captured:,}'}


class CdcSettings:
    """The configuration cards and the tracked tables; refetched (at most once a second) when CDC changes."""

    REFETCH_SECS = 1.0

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.offered = True
        self.tracked: set[str] = set()
        self.shown = cdc_api.CdcConfig()  # what the form was last set to (edits in progress are kept)
        self.dirty, self.fetched_at = False, 0.0
        self.state = StatePanel('cdc-config-state')
        with ui.row().classes('w-full items-stretch gap-4') as self.cards:
            with ui.card().classes('grow'):
                ui.label('CDC Configuration').classes('font-semibold')
                self.enabled = ui.switch('Enabled', value=True).mark('cdc-enabled')
                with ui.row().classes('items-center gap-3'):
                    self.retention = ui.number('Retention (hours)', value=24, min=1, max=8760, precision=0) \
                        .classes('w-40').mark('cdc-retention')
                    self.batch = ui.number('Batch size', value=1000, min=100, max=100_000, precision=0) \
                        .classes('w-40').mark('cdc-batch')
                self.config_error = ui.label('').classes('text-negative text-sm').mark('cdc-config-error')
                self.save_button = ui.button('Save Configuration', icon='save', on_click=self.save).mark('cdc-save')
            with ui.card().classes('grow'):
                ui.label('Add Table').classes('font-semibold')
                self.table_name = ui.select([], label='Table (column family)', with_input=True) \
                    .classes('w-64').mark('cdc-table-name')
                self.events = ui.select(list(cdc_api.EVENT_KINDS), value=list(cdc_api.DEFAULT_EVENTS), multiple=True,
                                        label='Events').props('use-chips').classes('w-80').mark('cdc-table-events')
                self.table_error = ui.label('').classes('text-negative text-sm').mark('cdc-table-error')
                self.add_button = ui.button('Add Table', icon='add', on_click=self.add).mark('cdc-table-add')
        with ui.card().classes('w-full') as self.tables_card:
            with ui.row().classes('items-center gap-2'):
                ui.label('Tracked Tables').classes('font-semibold')
                self.count = ui.badge('0').mark('cdc-table-count')
            self.tables = ui.table(columns=TABLE_COLUMNS, rows=[], row_key='table').classes('w-full') \
                .props('flat dense no-data-label="No tables tracked yet: add a column family above."') \
                .mark('cdc-tables')
            self.tables.add_slot('body-cell-actions', TABLE_ACTIONS)
        self.tables.on('remove', lambda e: self.remove(str(e.args)))
        self.tables.on('changes', lambda e: self.show_changes(str(e.args)))
        self.add_button.bind_enabled_from(self.table_name, 'value', backward=lambda v: bool((v or '').strip()))
        for box in (self.retention, self.batch):
            box.on('keydown.enter', self.save)

    def _form(self) -> tuple[cdc_api.CdcConfig | None, str | None]:
        try:
            return cdc_api.CdcConfig(enabled=bool(self.enabled.value), retention_hours=int(self.retention.value),
                                     batch_size=int(self.batch.value)), None
        except (TypeError, ValueError):
            return None, 'Retention must be 1–8,760 hours and the batch size 100–100,000.'

    async def load(self) -> None:
        self.dirty, self.fetched_at = False, time.monotonic()
        with self.ctx.errors(state=self.state, feature='CDC configuration') as outcome:
            current = await cdc_api.state(self.ctx.api)
            families = [cf.name for cf in await self.ctx.api.column_families()]
        if outcome.failed:
            self.offered = not isinstance(outcome.error, NotOffered)
            self.cards.set_visibility(False)
            self.tables_card.set_visibility(False)
            return
        self.state.hide()
        self.cards.set_visibility(True)
        self.tables_card.set_visibility(True)
        if self._form()[0] == self.shown:  # not being edited: follow the server
            self.enabled.value, self.retention.value, self.batch.value = (
                current.config.enabled, current.config.retention_hours, current.config.batch_size)
        self.shown = current.config
        self.tracked = {t.table for t in current.tables}
        self.table_name.set_options(families)
        rows = [table_row(t) for t in current.tables]
        if self.tables.rows != rows:
            self.tables.rows = rows
        self.count.text = str(len(rows))

    def concerns(self, event: Any) -> bool:
        """Whether an event can change what this section shows."""
        if isinstance(event, FeatureEvent):
            return event.feature == 'cdc'
        return self.offered and isinstance(event, KeyChangeEvent) and event.cf in self.tracked

    def render(self, again_in) -> None:  # noqa: ANN001 (the refresher's again_in)
        if not self.dirty:
            return
        wait = self.fetched_at + self.REFETCH_SECS - time.monotonic()
        if wait > 0:
            again_in(wait)
        else:
            self.fetched_at = time.monotonic()
            background_tasks.create(self.load(), name='cdc settings')

    async def save(self) -> None:
        config, problem = self._form()
        self.config_error.text = problem or ''
        if config is None:
            return
        with self.ctx.errors(success='CDC configuration saved') as outcome:
            await cdc_api.save_config(self.ctx.api, config)
        if outcome.error is not None:
            self.config_error.text = outcome.error.message
            return
        self.shown = config
        await self.load()

    async def add(self) -> None:
        name, events = (self.table_name.value or '').strip(), list(self.events.value or [])
        self.table_error.text = '' if events else 'Choose at least one kind of change to capture.'
        if not name or not events:
            return
        with self.ctx.errors(success=f'Table "{name}" is tracked') as outcome:
            await cdc_api.add_table(self.ctx.api, name, events)
        if outcome.error is not None:
            self.table_error.text = outcome.error.message
            return
        self.table_name.value = None
        await self.load()

    async def remove(self, table: str) -> None:
        if not await confirm('Remove CDC table', f'Stop tracking "{table}"? Its captured changes are dropped.',
                             action='Remove'):
            return
        with self.ctx.errors(success=f'Table "{table}" is no longer tracked'):
            await cdc_api.remove_table(self.ctx.api, table)
        await self.load()

    async def show_changes(self, table: str) -> None:
        """The table's captured changes, one batch at a time (the configured batch size)."""
        with ui.dialog() as dialog, ui.card().style('width: 48rem; max-width: 100%'):
            ui.label(f'Captured changes of "{table}"').classes('text-lg font-semibold break-all')
            grid = ui.table(columns=CHANGE_COLUMNS, rows=[], row_key='lsn').classes('w-full max-h-96') \
                .props('flat dense virtual-scroll no-data-label="Nothing captured yet."').mark('cdc-changes')
            with ui.row().classes('w-full justify-end'):
                more = ui.button('Next batch', icon='expand_more').props('flat').mark('cdc-changes-more')
                ui.button('Close', on_click=dialog.close).props('flat')
        cursor: dict[str, str | None] = {'after': None}

        async def next_batch() -> None:
            with self.ctx.errors() as outcome:
                batch = await cdc_api.changes(self.ctx.api, table, cursor['after'])
            if outcome.failed:
                return
            grid.rows = [*grid.rows, *({'lsn': c.lsn, 'op': c.op, 'key': c.key, 'at': when(c.timestamp)}
                                       for c in batch.changes)]
            cursor['after'] = batch.next
            more.set_visibility(batch.next is not None)

        more.on_click(next_batch)
        dialog.on('hide', dialog.delete)
        dialog.open()
        await next_batch()


@page('/cdc', 'CDC')
async def cdc(ctx: PageContext) -> None:
    entries: deque[Entry] = deque(maxlen=LIMIT)  # newest first, every type, for re-filtering
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    state = {'paused': False, 'missed': 0}

    ui.label('Change Data Capture configuration, and the live change stream').classes('text-gray-500')
    settings = CdcSettings(ctx)
    ui.label('Live stream: every event the console receives, newest first').classes('font-semibold')
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
        summary.text = ', '.join(f'{KINDS.get(k, k)}: {n}' for k, n in counts.items()) + paused
        settings.render(refresher.again_in)

    refresher = ctx.refresher(render)

    def refilter() -> None:
        """The filter changed (a user action): the feed starts over from what was received."""
        feed.clear()
        for item in reversed(entries):
            if visible(item):
                show(item)
        refresher.flush_now()

    def on_event(event: Any) -> None:
        if settings.concerns(event):
            settings.dirty = True
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

    async def resync() -> None:
        settings.dirty = True
        refresher.mark()

    ctx.on_resync(resync)
    render()
    settings.state.loading()
    await settings.load()
