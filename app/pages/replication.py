"""`/replication`: the topology as the server reports it — on the embedded backend one primary, no replicas.

The write position (RocksDB sequence number, WAL, event stream seq) moves with every write, so the page
follows key changes. Promote / Remove / Add replica are shown disabled with the server's reason.
"""

from __future__ import annotations

import time

from nicegui import ui

from components.page_header import PageHeader
from components.sizes import kb_text
from components.states import StatePanel
from services.events.models import KeyChangeEvent, SnapshotEvent
from services.features.replication import ReplicaNode, Topology, topology

from ..context import PageContext
from ..shell import page

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'role', 'label': 'Role', 'field': 'role', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'lag', 'label': 'Lag', 'field': 'lag', 'align': 'right'},
    {'name': 'address', 'label': 'Address', 'field': 'address', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'heartbeat', 'label': 'Last Heartbeat', 'field': 'heartbeat', 'align': 'left'},
]
BADGE_SLOT = r'''
<q-td :props="props">
  <q-badge :color="{primary: 'primary', secondary: 'info', observer: 'purple', online: 'positive',
                    syncing: 'warning'}[props.value] || 'negative'" :label="props.value" />
</q-td>
'''
STATUS_COLORS = {'healthy': 'positive', 'degraded': 'warning', 'critical': 'negative'}
ACTION_LABELS = {'promote': ('Promote', 'upgrade'), 'remove': ('Remove', 'delete'),
                 'add_replica': ('Add replica', 'add')}


def node_row(node: ReplicaNode) -> dict:
    heartbeat = time.strftime('%H:%M:%S', time.localtime(node.last_heartbeat / 1e9)) if node.last_heartbeat else '—'
    name = f'{node.name} (this server)' if node.this_node and 'this server' not in node.name else node.name
    return {'id': node.id, 'name': name, 'role': node.role, 'status': node.status,
            'lag': '—' if node.lag_ms is None else f'{node.lag_ms:g} ms', 'address': node.address,
            'heartbeat': heartbeat}


def bytes_text(size: int) -> str:
    return f'{size:,} B' if size < 1024 else kb_text(size // 1024)


def stat(label: str, marker: str) -> ui.label:
    with ui.column().classes('gap-0 min-w-40'):
        ui.label(label).classes('text-xs uppercase text-gray-500')
        return ui.label('—').classes('text-lg font-semibold font-mono').mark(marker)


@page('/replication', 'Replication')
async def replication_page(ctx: PageContext) -> None:
    header = PageHeader('Replication topology and status monitoring')
    state = StatePanel('replication-state')
    with ui.column().classes('w-full gap-4') as content:
        with ui.card().classes('w-full'):
            with ui.row().classes('w-full items-center gap-8'):
                with ui.column().classes('gap-0 min-w-40'):
                    ui.label('Status').classes('text-xs uppercase text-gray-500')
                    status_badge = ui.badge('—').classes('text-base').mark('replication-status')
                mode_label = stat('Mode', 'replication-mode')
                connected_label = stat('Connected replicas', 'replication-connected')
                lag_label = stat('Avg Lag', 'replication-lag')
            mode_note = ui.label('').classes('text-sm text-gray-500').mark('replication-note')
        with ui.card().classes('w-full'):
            ui.label('Write position').classes('font-semibold')
            ui.label('Where a replica would have to catch up to: it moves with every write.') \
                .classes('text-sm text-gray-500')
            with ui.row().classes('w-full gap-8'):
                sequence_label = stat('RocksDB sequence number', 'replication-seq')
                wal_label = stat('WAL on disk', 'replication-wal')
                event_label = stat('Event stream seq', 'replication-event-seq')
                epoch_label = stat('Event epoch', 'replication-epoch')
        with ui.card().classes('w-full'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Cluster Nodes').classes('font-semibold')
                count_badge = ui.badge('0').mark('replication-count')
            table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
                .mark('replication-nodes')
            table.add_slot('body-cell-role', BADGE_SLOT)
            table.add_slot('body-cell-status', BADGE_SLOT)
            ui.label('Actions').classes('font-semibold mt-2')
            actions_box = ui.column().classes('w-full gap-1')
    content.set_visibility(False)
    action_buttons: dict[str, tuple[ui.button, ui.label]] = {}

    def show_actions(data: Topology) -> None:
        for name, action in data.actions.items():
            if name not in action_buttons:
                label, icon = ACTION_LABELS.get(name, (name.replace('_', ' ').capitalize(), 'bolt'))
                with actions_box, ui.row().classes('items-center gap-3 flex-nowrap'):
                    button = ui.button(label, icon=icon).props('flat dense no-caps').mark(f'replication-{name}')
                    reason = ui.label('').classes('text-sm text-gray-500').mark(f'replication-reason-{name}')
                if action.reason:
                    button.tooltip(action.reason)
                action_buttons[name] = (button, reason)
            button, reason = action_buttons[name]
            button.set_enabled(action.enabled)  # never enabled here: the server offers none of them
            reason.text = action.reason or ''

    def show(data: Topology) -> None:
        summary = data.summary
        status = summary.status if summary else 'unknown'
        status_badge.text = status.upper()
        status_badge.props(f'color={STATUS_COLORS.get(status, "grey")}')
        mode_label.text = 'single node' if data.mode == 'single-node' else (data.mode or 'cluster')
        connected_label.text = f'{summary.connected}/{summary.total}' if summary else '—'
        lag_label.text = '—' if summary is None or summary.avg_lag_ms is None else f'{summary.avg_lag_ms:g} ms'
        replicas = sum(1 for node in data.nodes if node.role != 'primary')
        mode_note.text = ('This server runs alone: it is the primary and has no replicas, so there is no lag to '
                          'measure and no replica to promote or remove.' if replicas == 0 else '')
        wal = data.wal
        sequence_label.text = f'{wal.latest_sequence_number:,}' if wal and wal.latest_sequence_number is not None \
            else '—'
        wal_label.text = f'{bytes_text(wal.wal_bytes)} in {wal.wal_files} file(s)' if wal else '—'
        event_label.text = f'{wal.event_seq:,}' if wal and wal.event_seq is not None else '—'
        epoch_label.text = wal.event_epoch or '—' if wal else '—'
        rows = [node_row(node) for node in data.nodes]
        if [(r['id'], r['role'], r['status'], r['lag']) for r in rows] != \
                [(r['id'], r['role'], r['status'], r['lag']) for r in table.rows]:
            table.rows = rows
        count_badge.text = str(len(rows))
        show_actions(data)

    async def load() -> None:
        with ctx.errors(state=state, feature='Replication') as outcome:
            data = await topology(ctx.api)
        if outcome.failed:
            content.set_visibility(False)
            return
        state.hide()
        content.set_visibility(True)
        show(data)
        header.stamp()

    refresher = ctx.refresher(load, frame=1.0, burst_frame=2.0)  # a REST refetch: at most once a second
    header.button.on_click(refresher.flush_now)
    ctx.on(KeyChangeEvent, lambda _event: refresher.mark())
    ctx.on(SnapshotEvent, lambda _event: refresher.mark())  # a restore starts a new event epoch

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
