"""`/snapshots` (also `/backup`): create, browse read-only, restore (typed confirmation), delete — live."""

from __future__ import annotations

import time

from nicegui import ui

from components.clock import when
from components.confirm import confirm
from components.sizes import kb_text
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import SnapshotEvent
from services.models import Snapshot

from ..context import PageContext, notify
from ..shell import page

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'size', 'label': 'Size', 'field': 'size', 'align': 'right'},
    {'name': 'files', 'label': 'Files', 'field': 'files', 'align': 'right'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'actions', 'label': 'Actions', 'field': 'id', 'align': 'right'},
]
ACTIONS_SLOT = r'''
<q-td :props="props">
  <q-btn flat dense icon="folder_open" title="Browse" @click="$parent.$emit('browse', props.row.id)" />
  <q-btn flat dense icon="restore" title="Restore" :disable="props.row.status !== 'Completed'"
         @click="$parent.$emit('restore', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('delete', props.row.id)" />
</q-td>
'''
BROWSE_COLUMNS = [{'name': 'key', 'label': 'Key', 'field': 'key', 'align': 'left'},
                  {'name': 'value', 'label': 'Value', 'field': 'value', 'align': 'left'}]


def row(snapshot: Snapshot) -> dict:
    return {'id': snapshot.id, 'name': snapshot.name, 'size': kb_text(snapshot.size_kb),
            'files': snapshot.file_count,
            'created': when(snapshot.created_at / 1e9),
            'status': snapshot.status.capitalize()}


@page('/snapshots', 'Snapshots', '/backup')
async def snapshots(ctx: PageContext) -> None:
    items: dict[str, Snapshot] = {}
    busy: dict[str, str] = {}
    dirty = {'rows': False}  # the table is resent only when a snapshot came or went

    ui.label('Point-in-time snapshots of the whole store (RocksDB checkpoints): create, browse, restore, delete') \
        .classes('text-gray-500')
    with ui.card().classes('w-full'):
        ui.label('Create Snapshot').classes('font-semibold')
        with ui.row().classes('w-full items-center gap-2'):
            name_input = ui.input('Name', placeholder='Leave empty for auto-name').classes('grow') \
                .mark('snapshot-name')
            create_button = ui.button('Create Snapshot', icon='photo_camera').mark('create-snapshot')
        activity = ui.row().classes('items-center gap-2')
        with activity:
            ui.spinner(size='sm')
            activity_text = ui.label('').mark('snapshot-activity')
        activity.set_visibility(False)

    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Snapshots').classes('font-semibold')
            count_badge = ui.badge('0').mark('snapshot-count')
        state = StatePanel('snapshot-state')
        table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
            .mark('snapshot-table')
        table.add_slot('body-cell-actions', ACTIONS_SLOT)

    with ui.card().classes('w-full') as browse_card:
        with ui.row().classes('w-full items-center justify-between'):
            browse_title = ui.label('').classes('font-semibold').mark('browse-title')
            ui.button('Close', on_click=lambda: browse_card.set_visibility(False)).props('flat')
        browse_prefix = ui.input('Prefix').props('dense clearable').classes('w-64')
        browse_table = ui.table(columns=BROWSE_COLUMNS, rows=[], row_key='key').classes('w-full') \
            .props('flat dense').mark('browse-table')
        browse_more = ui.button('Load more', icon='expand_more').props('flat')
    browse_card.set_visibility(False)
    browsing: dict = {'id': None, 'cursor': None}

    def render() -> None:
        """The page's one refresher: the (small) table only when a snapshot changed, the activity line always."""
        if dirty['rows']:
            dirty['rows'] = False
            table.rows = [row(s) for s in sorted(items.values(), key=lambda s: s.created_at, reverse=True)]
            count_badge.text = str(len(items))
            state.settle(bool(items), 'No snapshots yet. Create one to capture the store as it is now.')
        activity.set_visibility(bool(busy))
        activity_text.text = '; '.join(busy.values())

    refresher = ctx.refresher(render)

    def changed() -> None:
        dirty['rows'] = True
        refresher.flush_now()

    async def load() -> None:
        state.loading()
        with ctx.errors(state=state, feature='Snapshots') as outcome:
            found = await ctx.api.snapshots()
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                create_button.disable()
            return
        items.clear()
        items.update({s.id: s for s in found})
        changed()

    async def create() -> None:
        name = (name_input.value or '').strip() or f'snapshot-{int(time.time() * 1000)}'
        create_button.props('loading')
        try:
            with ctx.errors() as outcome:
                snapshot = await ctx.api.create_snapshot(name)
        finally:
            create_button.props(remove='loading')
        if outcome.failed:
            return
        items[snapshot.id] = snapshot
        name_input.value = ''
        changed()
        notify(f'Snapshot "{snapshot.name}" created', 'success')

    async def restore(snapshot_id: str) -> None:
        snapshot = items.get(snapshot_id)
        if snapshot is None:
            return
        if not await confirm('Restore snapshot', f'Restore "{snapshot.name}"? This will overwrite current data: '
                             'every key written since the snapshot is lost.', action='Restore', typed=snapshot.name):
            return
        busy[snapshot_id] = f'Restoring "{snapshot.name}"…'
        refresher.flush_now()
        try:
            with ctx.errors(success=f'Snapshot "{snapshot.name}" restored'):
                await ctx.api.restore_snapshot(snapshot_id)
        finally:
            busy.pop(snapshot_id, None)
            refresher.flush_now()

    async def delete(snapshot_id: str) -> None:
        snapshot = items.get(snapshot_id)
        if snapshot is None or not await confirm('Delete snapshot', f'Delete snapshot "{snapshot.name}"?'):
            return
        with ctx.errors(success=f'Snapshot "{snapshot.name}" deleted') as outcome:
            await ctx.api.delete_snapshot(snapshot_id)
        if not outcome.failed:
            items.pop(snapshot_id, None)
            changed()

    async def browse(snapshot_id: str, append: bool = False) -> None:
        if not append:
            browsing.update(id=snapshot_id, cursor=None)
        with ctx.errors() as outcome:
            page_ = await ctx.api.browse_snapshot(snapshot_id, browse_prefix.value or '', 100,
                                                  browsing['cursor'] if append else None)
        if outcome.failed:
            return
        snapshot = items.get(snapshot_id)
        browse_title.text = f'Contents of "{snapshot.name if snapshot else snapshot_id}" (read-only)'
        rows = [{'key': r.key, 'value': r.value[:200]} for r in page_.records]
        browse_table.rows = browse_table.rows + rows if append else rows
        browsing['cursor'] = page_.cursor
        browse_more.set_visibility(page_.cursor is not None)
        browse_card.set_visibility(True)

    def on_snapshot(event: SnapshotEvent) -> None:
        label = event.name or event.id or 'snapshot'
        if event.status == 'started':
            busy[event.id or label] = f'{"Restoring" if event.action == "restore" else "Creating"} "{label}"…'
        else:
            busy.pop(event.id or label, None)
        if event.status == 'created' and event.snapshot:
            items[event.snapshot['id']] = Snapshot.model_validate(event.snapshot)
            dirty['rows'] = True
        elif event.status == 'deleted' and event.id and items.pop(event.id, None) is not None:
            dirty['rows'] = True
        elif event.status == 'failed':
            notify(f'Snapshot "{label}" failed: {event.error or "unknown error"}', 'error')
        refresher.mark()

    create_button.on_click(create)
    name_input.on('keydown.enter', create)
    table.on('browse', lambda e: browse(e.args))
    table.on('restore', lambda e: restore(e.args))
    table.on('delete', lambda e: delete(e.args))
    browse_prefix.on_value_change(lambda: browse(browsing['id']) if browsing['id'] else None)
    browse_more.on_click(lambda: browse(browsing['id'], append=True))
    ctx.on(SnapshotEvent, on_snapshot)
    ctx.on_resync(load)
    await load()
