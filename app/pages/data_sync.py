"""`/data-sync`: the `/ws/sync` hub live (devices, pushes, acks, conflicts) and sync jobs to other servers.

The hub view is read from REST and read again (at most a few times a second) whenever the hub says
something happened (`SyncEvent`, `FeatureEvent('sync_jobs', 'devices')`); new activity is appended to a
bounded feed. Jobs are patched from their `progress` events, so a running copy moves without polling.
A job's target token is typed once and sent to the server; the page only ever shows it masked.
"""

from __future__ import annotations

import time

from nicegui import ui

from components.confirm import confirm
from components.live_feed import LiveFeed
from components.stat_card import StatCard
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent, SyncEvent
from services.features import sync_jobs as api
from services.features.sync_jobs import NewSyncJob, SyncDevice, SyncHub, SyncJob

from ..context import PageContext, notify
from ..shell import page

DEVICE_COLUMNS = [
    {'name': 'device', 'label': 'Device', 'field': 'device', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'connections', 'label': 'Connections', 'field': 'connections', 'align': 'right'},
    {'name': 'since', 'label': 'Connected since', 'field': 'since', 'align': 'left'},
    {'name': 'changes', 'label': 'Changes applied', 'field': 'changes', 'align': 'right'},
    {'name': 'conflicts', 'label': 'Conflicts', 'field': 'conflicts', 'align': 'right'},
    {'name': 'last_push', 'label': 'Last push', 'field': 'last_push', 'align': 'left'},
]
JOB_COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'source', 'label': 'Source', 'field': 'source', 'align': 'left'},
    {'name': 'target', 'label': 'Target', 'field': 'target', 'align': 'left'},
    {'name': 'token', 'label': 'Token', 'field': 'token', 'align': 'left'},
    {'name': 'mode', 'label': 'Mode', 'field': 'mode', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'progress', 'label': 'Progress', 'field': 'percent', 'align': 'left'},
    {'name': 'records', 'label': 'Records', 'field': 'records', 'align': 'right'},
    {'name': 'started', 'label': 'Started', 'field': 'started', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'id', 'align': 'right'},
]
STATUS_COLORS = {'running': 'info', 'completed': 'positive', 'failed': 'negative', 'scheduled': 'grey'}
JOB_STATUS = r'''
<q-td :props="props">
  <q-badge :color="props.row.color">{{ props.row.status }}</q-badge>
  <div v-if="props.row.error" class="text-negative text-xs" style="white-space: normal">{{ props.row.error }}</div>
</q-td>
'''
JOB_PROGRESS = r'''
<q-td :props="props" style="min-width: 9rem">
  <q-linear-progress :value="props.row.percent / 100" size="0.6rem" rounded
                     :color="props.row.status === 'failed' ? 'negative' : 'primary'" />
  <div class="text-xs text-gray-500">{{ props.row.percent }} %</div>
</q-td>
'''
JOB_ACTIONS = r'''
<q-td :props="props">
  <q-btn flat dense icon="sync" title="Sync now" :disable="props.row.running"
         @click="$parent.$emit('trigger', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('remove', props.row.id)" />
</q-td>
'''


def when(ns: int | None) -> str:
    return time.strftime('%d/%m %H:%M:%S', time.localtime(ns / 1e9)) if ns else '—'


def device_row(device: SyncDevice) -> dict:
    return {'device': device.device_id, 'status': 'Connected' if device.connected else 'Disconnected',
            'connections': device.connections, 'since': when(device.connected_at) if device.connected else '—',
            'changes': device.changes, 'conflicts': device.conflicts, 'last_push': when(device.last_push_at)}


def job_row(job: SyncJob) -> dict:
    source = job.source if job.cf == 'default' else f'{job.source} (cf {job.cf})'
    records = f'{job.records_synced:,}'
    if job.status == 'running':
        records += f' / {job.records_total:,}'
    return {'id': job.id, 'name': job.name, 'source': source, 'target': job.target,
            'token': job.target_token_masked or 'none', 'mode': api.MODES.get(job.mode, job.mode),
            'status': job.status, 'color': STATUS_COLORS.get(job.status, 'grey'), 'error': job.error or '',
            'percent': job.percent, 'records': records, 'started': when(job.started_at),
            'running': job.status == 'running'}


class DataSyncPage:
    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.jobs: dict[str, SyncJob] = {}
        self.jobs_dirty = False
        self.hub_dirty = False
        self.last_activity = 0  # ns of the newest activity already in the feed
        self.offered = {'hub': False, 'jobs': False}
        self._build()
        self.refresher = ctx.refresher(self.render, frame=0.2, burst_frame=0.5)  # a hub refetch is REST

    # -- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        ui.label('Multi-model data synchronization management: the /ws/sync hub live, and sync jobs that copy '
                 'a key prefix to another ApexStore server').classes('text-gray-500')
        with ui.card().classes('w-full'):
            ui.label('Live sync (/ws/sync)').classes('font-semibold')
            self.hub_state = StatePanel('hub-state')
            with ui.column().classes('w-full gap-3') as self.hub_view:
                with ui.row().classes('w-full gap-3'):
                    self.devices_card = StatCard('devices', 'Connected devices', 'card-devices')
                    self.pushes_card = StatCard('upload', 'Pushes', 'card-pushes')
                    self.acks_card = StatCard('done_all', 'Acks', 'card-acks')
                    self.conflicts_card = StatCard('call_split', 'Conflicts', 'card-conflicts')
                self.partial = ui.label('The server missed some sync events: counts are lower bounds.') \
                    .classes('text-warning text-sm')
                self.devices_table = ui.table(columns=DEVICE_COLUMNS, rows=[], row_key='device') \
                    .classes('w-full').props('flat dense no-data-label="No device has connected yet."') \
                    .mark('devices-table')
                ui.label('Recent activity').classes('text-sm font-semibold')
                self.feed = LiveFeed(50, 'No sync activity yet.').mark('sync-feed')
        self.hub_view.set_visibility(False)
        with ui.card().classes('w-full') as self.create_card:
            ui.label('Create Sync Job').classes('font-semibold')
            with ui.row().classes('w-full gap-2'):
                self.name_input = ui.input('Job Name', placeholder='sync-users-to-backup').classes('grow') \
                    .mark('job-name')
                self.source_input = ui.input('Source (key prefix)', placeholder='user:').classes('grow') \
                    .mark('job-source')
                self.cf_input = ui.input('Column family', value='default').classes('w-40').mark('job-cf')
                self.mode_select = ui.select(api.MODES, value='incremental', label='Mode').classes('w-40') \
                    .mark('job-mode')
            with ui.row().classes('w-full gap-2'):
                self.target_input = ui.input('Target ApexStore URL', placeholder='https://apexstore.example.com') \
                    .classes('grow').mark('job-target')
                self.token_input = ui.input('Target API token', password=True, password_toggle_button=True) \
                    .classes('grow').props('autocomplete=off hint="Stored on the server; never shown again"') \
                    .mark('job-token')
                self.create_button = ui.button('Create Job', icon='add', on_click=self.create).mark('create-job')
        with ui.card().classes('w-full'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Sync Jobs').classes('font-semibold')
                self.jobs_badge = ui.badge('0').mark('job-count')
            self.jobs_state = StatePanel('jobs-state')
            self.jobs_table = ui.table(columns=JOB_COLUMNS, rows=[], row_key='id').classes('w-full') \
                .props('flat dense').mark('jobs-table')
            self.jobs_table.add_slot('body-cell-status', JOB_STATUS)
            self.jobs_table.add_slot('body-cell-progress', JOB_PROGRESS)
            self.jobs_table.add_slot('body-cell-actions', JOB_ACTIONS)
        self.jobs_table.set_visibility(False)
        for field in (self.name_input, self.source_input, self.target_input, self.token_input, self.cf_input):
            field.on('keydown.enter', self.create)
            field.on_value_change(self._enable_create)
        self.jobs_table.on('trigger', lambda e: self.trigger(e.args))
        self.jobs_table.on('remove', lambda e: self.delete(e.args))
        self._enable_create()

    def _enable_create(self) -> None:
        required = (self.name_input.value, self.source_input.value, self.target_input.value)
        self.create_button.set_enabled(all((v or '').strip() for v in required))

    # -- loading -----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Both sections from REST (first load and after any gap in the event stream)."""
        self.jobs_state.loading()
        with self.ctx.errors(state=self.jobs_state, feature='Sync jobs') as outcome:
            jobs = await api.jobs(self.ctx.api)
        if not outcome.failed:
            self.offered['jobs'] = True
            self.jobs = {job.id: job for job in jobs}
            self.jobs_dirty = True
        elif isinstance(outcome.error, NotOffered):
            self.create_card.set_visibility(False)
        if not self.offered['hub']:
            self.hub_state.loading()
        await self.load_hub()
        self.refresher.flush_now()

    async def load_hub(self) -> None:
        with self.ctx.errors(state=self.hub_state, feature='The live sync view') as outcome:
            hub = await api.hub(self.ctx.api)
        if outcome.failed:
            return
        self.offered['hub'] = True
        self.hub_state.hide()
        self.hub_view.set_visibility(True)
        self._show_hub(hub)

    def _show_hub(self, hub: SyncHub) -> None:
        totals = hub.totals
        self.devices_card.set(str(totals.connected_devices), f'{totals.connections} connections')
        self.pushes_card.set(str(totals.pushes), f'{totals.changes_pushed} changes')
        self.acks_card.set(str(totals.acks), f'{totals.applied} applied')
        self.conflicts_card.set(str(totals.conflicts), 'last writer wins')
        self.partial.set_visibility(not hub.complete)
        rows = [device_row(d) for d in hub.devices]
        if self.devices_table.rows != rows:
            self.devices_table.rows = rows
        for item in reversed(hub.recent):  # oldest first, so the newest ends on top
            if item.at > self.last_activity:
                subject = item.device_id or item.key or ''
                if item.key and item.device_id:
                    subject = f'{item.key} from {item.device_id}'
                self.feed.add(item.kind, subject or item.kind, item.detail, at=item.at / 1e9)
        self.last_activity = max([self.last_activity, *(item.at for item in hub.recent)])
        self.feed.flush()

    def render(self):
        """The page's one refresher: job rows from their events; the hub read again when it changed."""
        if self.jobs_dirty and self.offered['jobs']:
            self.jobs_dirty = False
            rows = [job_row(j) for j in sorted(self.jobs.values(), key=lambda j: j.created_at or 0)]
            self.jobs_table.rows = rows
            self.jobs_table.set_visibility(bool(rows))
            self.jobs_badge.text = str(len(rows))
            self.jobs_state.settle(bool(rows), 'No sync jobs yet. Create one to copy a key prefix to another server.')
        if self.hub_dirty and self.offered['hub']:
            self.hub_dirty = False
            return self.load_hub()
        return None

    # -- live events -------------------------------------------------------------------------------
    def on_feature(self, event: FeatureEvent) -> None:
        if event.feature != api.FEATURE:
            return
        if event.name in ('created', 'progress') and (job := api.job_of(event.data)) is not None:
            self.jobs[job.id] = job
            self.jobs_dirty = True
        elif event.name == 'deleted' and self.jobs.pop(str(event.data.get('id')), None) is not None:
            self.jobs_dirty = True
        elif event.name == 'devices':
            self.hub_dirty = True
        self.refresher.mark()

    def on_sync(self, _event: SyncEvent) -> None:
        self.hub_dirty = True
        self.refresher.mark()

    # -- actions -----------------------------------------------------------------------------------
    async def create(self) -> None:
        name, source, target = (self.name_input.value or '').strip(), self.source_input.value or '', \
            (self.target_input.value or '').strip()
        if not name or not source or not target:
            notify('Enter a job name, a source prefix and a target URL', 'warning')
            return
        job = NewSyncJob(name=name, source=source, target=target, mode=self.mode_select.value,
                         target_token=(self.token_input.value or '').strip() or None,
                         cf=(self.cf_input.value or '').strip() or 'default')
        with self.ctx.errors(success=f'Sync job "{name}" created') as outcome:
            created = await api.create_job(self.ctx.api, job)
        if outcome.failed:
            return
        for field in (self.name_input, self.source_input, self.target_input, self.token_input):
            field.value = ''
        self.jobs[created.id] = created
        self.jobs_dirty = True
        self.refresher.flush_now()

    async def trigger(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.status == 'running':
            return
        with self.ctx.errors(success=f'Sync job "{job.name}" started') as outcome:
            started = await api.trigger(self.ctx.api, job_id)
        known = self.jobs.get(job_id)
        if not outcome.failed and (known is None or (known.started_at or 0) < (started.started_at or 0)):
            self.jobs[job_id] = started  # unless this run's own progress events came first (they are newer)
            self.jobs_dirty = True
            self.refresher.flush_now()

    async def delete(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        running = ' It is running now and will be stopped.' if job.status == 'running' else ''
        if not await confirm('Delete sync job', f'Delete sync job "{job.name}" and its stored target token? Keys '
                             f'already copied to {job.target} stay there.{running}'):
            return
        with self.ctx.errors(success=f'Sync job "{job.name}" deleted') as outcome:
            await api.delete_job(self.ctx.api, job_id)
        if not outcome.failed:
            self.jobs.pop(job_id, None)
            self.jobs_dirty = True
            self.refresher.flush_now()


@page('/data-sync', 'Data Sync')
async def data_sync(ctx: PageContext) -> None:
    view = DataSyncPage(ctx)
    ctx.on(FeatureEvent, view.on_feature)
    ctx.on(SyncEvent, view.on_sync)
    ctx.on_resync(view.load)
    await view.load()
