"""`/column-families`: every column family with its size and key count, live; create and drop where offered."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import ui

from components.clock import number
from components.confirm import confirm
from components.sizes import kb_text
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import CompactionEvent, KeyChangeEvent, SnapshotEvent
from services.models import ColumnFamily

from ..context import PageContext, notify
from ..shell import page

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'keys', 'label': 'Keys (estimate)', 'field': 'keys', 'align': 'right'},
    {'name': 'size', 'label': 'On disk', 'field': 'size', 'align': 'right'},
    {'name': 'sst_files', 'label': 'SST files', 'field': 'sst_files', 'align': 'right'},
    {'name': 'mem_records', 'label': 'Memtable records', 'field': 'mem_records', 'align': 'right'},
    {'name': 'actions', 'label': 'Actions', 'field': 'name', 'align': 'right'},
]
ACTIONS_SLOT = r'''
<q-td :props="props">
  <a :href="props.row.browse" class="text-primary no-underline mr-2">Browse keys</a>
  <q-btn flat dense icon="delete" color="negative" title="Drop" :disable="props.row.name === 'default'"
         @click="$parent.$emit('drop', props.row.name)" />
</q-td>
'''
CHANGES = (KeyChangeEvent, CompactionEvent, SnapshotEvent)  # writes, flushes/compactions, restores


def row(cf: ColumnFamily) -> dict:
    return {'name': cf.name, 'keys': f'{number(cf.keys)}', 'size': kb_text(cf.size_kb), 'sst_files': cf.sst_files,
            'mem_records': f'{number(cf.mem_records)}', 'browse': f'/keys?cf={quote(cf.name, safe="")}'}


@page('/column-families', 'Column Families')
async def column_families(ctx: PageContext) -> None:
    ui.label('Column families of the store: sizes and key counts, live; create and drop them where the server '
             'allows').classes('text-gray-500')
    with ui.card().classes('w-full') as create_card:
        ui.label('Create column family').classes('font-semibold')
        with ui.row().classes('w-full items-center gap-2'):
            name_input = ui.input('Name', placeholder='letters, digits, _ . - (up to 64)').classes('grow') \
                .mark('cf-name')
            create_button = ui.button('Create', icon='add').mark('cf-create')
    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Column families').classes('font-semibold')
            count_badge = ui.badge('0').mark('cf-count')
        state = StatePanel('cf-state')
        table = ui.table(columns=COLUMNS, rows=[], row_key='name').classes('w-full').props('flat dense') \
            .mark('cf-table')
        table.add_slot('body-cell-actions', ACTIONS_SLOT)

    async def load() -> None:
        """The list from REST (also the refresher's render: throttled while the store is busy)."""
        with ctx.errors(state=state, feature='Column families') as outcome:
            families = await ctx.api.column_families()
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                create_card.set_visibility(False)
            table.set_visibility(False)
            return
        table.set_visibility(True)
        rows = [row(cf) for cf in sorted(families, key=lambda cf: (cf.name != 'default', cf.name))]
        if table.rows != rows:
            table.rows = rows
        count_badge.text = str(len(rows))
        state.settle(bool(rows), 'No column families.')

    refresher = ctx.refresher(load, frame=1.0, burst_frame=2.0)  # a REST refetch: at most once a second

    async def create() -> None:
        name = (name_input.value or '').strip()
        if not name:
            notify('Enter a name for the column family', 'warning')
            return
        with ctx.errors(success=f'Column family "{name}" created') as outcome:
            await ctx.api.create_column_family(name)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                create_card.set_visibility(False)
            return
        name_input.value = ''
        refresher.flush_now()

    async def drop(name: str) -> None:
        if name == 'default' or not await confirm(
                'Drop column family', f'Drop "{name}"? Every key in it is deleted; this cannot be undone.',
                action='Drop', typed=name):
            return
        with ctx.errors(success=f'Column family "{name}" dropped'):
            await ctx.api.drop_column_family(name)
        refresher.flush_now()

    create_button.on_click(create)
    name_input.on('keydown.enter', create)
    table.on('drop', lambda e: drop(e.args))
    for kind in CHANGES:
        ctx.on(kind, lambda _event: refresher.mark())

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
