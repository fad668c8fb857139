"""`/data-scrubber`: delete every key matching a pattern (preview, typed confirmation, live progress), verify the
store's checksums, and the idempotency keys the Angular page lists where the server keeps them."""

from __future__ import annotations

import time

from nicegui import ui

from components.confirm import confirm
from components.job_slots import PROGRESS_SLOT, STATUS_SLOT
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent
from services.features import scrubber
from services.features.scrubber import Preview, ScrubJob, VerifyRun

from ..context import PageContext, notify
from ..shell import page

JOB_COLUMNS = [
    {'name': 'pattern', 'label': 'Pattern', 'field': 'pattern', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'cf', 'label': 'Column family', 'field': 'cf', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'scrubbed', 'label': 'Scrubbed', 'field': 'scrubbed', 'align': 'right'},
    {'name': 'progress', 'label': 'Progress', 'field': 'progress', 'align': 'left'},
    {'name': 'started', 'label': 'Started', 'field': 'started', 'align': 'left'},
    {'name': 'finished', 'label': 'Finished', 'field': 'finished', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'id', 'align': 'right'},
]
JOB_SLOTS = {
    'body-cell-status': STATUS_SLOT,
    'body-cell-progress': PROGRESS_SLOT,
    'body-cell-actions': r'''<q-td :props="props"><q-btn flat dense icon="delete" color="negative"
      :title="props.row.status === 'Running' ? 'Stop and delete' : 'Delete'"
      @click="$parent.$emit('delete', props.row.id)" /></q-td>''',
}
RUN_COLUMNS = [
    {'name': 'started', 'label': 'Started', 'field': 'started', 'align': 'left'},
    {'name': 'status', 'label': 'Result', 'field': 'status', 'align': 'left'},
    {'name': 'keys', 'label': 'Keys read', 'field': 'keys', 'align': 'right'},
    {'name': 'files', 'label': 'SST files', 'field': 'files', 'align': 'right'},
    {'name': 'bytes', 'label': 'Bytes checked', 'field': 'bytes', 'align': 'right'},
    {'name': 'families', 'label': 'Column families', 'field': 'families', 'align': 'left'},
    {'name': 'duration', 'label': 'Duration', 'field': 'duration', 'align': 'right'},
    {'name': 'problems', 'label': 'Problems', 'field': 'problems', 'align': 'left'},
]
RUN_SLOTS = {
    'body-cell-status': r'''<q-td :props="props">
      <q-badge :color="props.row.color">{{ props.value }}</q-badge></q-td>''',
    'body-cell-problems': r'''<q-td :props="props" class="whitespace-pre-wrap text-negative text-xs font-mono"
      style="max-width: 32rem">{{ props.value }}</q-td>''',
}
IDEMPOTENCY_COLUMNS = [
    {'name': 'key', 'label': 'Key', 'field': 'key', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'expires', 'label': 'Expires', 'field': 'expires', 'align': 'left'},
    {'name': 'ttl', 'label': 'TTL', 'field': 'ttl', 'align': 'right'},
    {'name': 'used', 'label': 'Used', 'field': 'used', 'align': 'left'},
]
STATUS_COLORS = {'running': 'info', 'scheduled': 'grey', 'completed': 'positive', 'ok': 'positive',
                 'failed': 'negative', 'cancelled': 'warning'}


def when(ns: int | None) -> str:
    return time.strftime('%d/%m/%y %H:%M:%S', time.localtime(ns / 1e9)) if ns else '—'


def keys_text(count: int) -> str:
    return f'{count:,} key' if count == 1 else f'{count:,} keys'


def percent(fraction: float) -> str:
    return f'{fraction * 100:.0f} %'


def job_row(job: ScrubJob) -> dict:
    return {'id': job.id, 'pattern': job.pattern, 'cf': job.cf, 'status': job.status.capitalize(),
            'color': STATUS_COLORS.get(job.status, 'grey'), 'error': job.error or '',
            'scrubbed': f'{job.records_scrubbed:,} / {job.records_total:,}', 'fraction': job.progress,
            'progress': percent(job.progress), 'started': when(job.started_at), 'finished': when(job.finished_at)}


def run_row(run: VerifyRun) -> dict:
    status = {'ok': 'OK', 'failed': 'Failed', 'running': f'Running {percent(run.progress)}'}[run.status]
    return {'id': run.id, 'started': when(run.started_at), 'status': status, 'color': STATUS_COLORS[run.status],
            'keys': f'{run.keys_read:,}', 'files': f'{run.files_checked:,}', 'bytes': f'{run.bytes_checked:,}',
            'families': ', '.join(c.cf for c in run.column_families),
            'duration': f'{run.duration_ms:,} ms' if run.finished_at else '—', 'problems': '\n'.join(run.problems)}


@page('/data-scrubber', 'Data Scrubber')
async def data_scrubber(ctx: PageContext) -> None:
    jobs: dict[str, ScrubJob] = {}
    runs: dict[str, VerifyRun] = {}
    previewed: dict[str, Preview] = {}  # the preview the Scrub button acts on, by 'cf\x00pattern'

    header = PageHeader('Data scrubbing: delete keys by pattern, verify checksums, idempotency keys')
    with ui.tabs().classes('w-full') as tabs:
        jobs_tab = ui.tab('Scrubber Jobs', icon='cleaning_services').mark('tab-jobs')
        verify_tab = ui.tab('Checksum Verification', icon='verified').mark('tab-verify')
        idem_tab = ui.tab('Idempotency Keys', icon='key').mark('tab-idempotency')
    with ui.tab_panels(tabs, value=jobs_tab).classes('w-full bg-transparent'):
        with ui.tab_panel(jobs_tab).classes('p-0 gap-4'):
            with ui.card().classes('w-full') as create_card:
                ui.label('Create Scrubber Job').classes('font-semibold')
                with ui.row().classes('w-full items-end gap-2'):
                    pattern_input = ui.input('Key Pattern (glob)', placeholder='temp:*').classes('grow font-mono') \
                        .props('clearable').mark('scrub-pattern')
                    cf_select = ui.select(['default'], value='default', label='Column family').classes('w-48') \
                        .mark('scrub-cf')
                    preview_button = ui.button('Preview', icon='search').mark('scrub-preview')
                ui.label('* any characters, ? one character, [abc] one of a set; case-sensitive, whole key. Keys '
                         'cannot be chosen by age: this store keeps no write time per key (use TTLs for retention).') \
                    .classes('text-xs text-gray-500')
                preview_label = ui.label('').classes('font-medium').mark('scrub-preview-text')
                sample_label = ui.label('').classes('text-xs text-gray-500 font-mono whitespace-pre-wrap') \
                    .mark('scrub-sample')
                scrub_button = ui.button('Scrub', icon='delete_sweep', color='negative').mark('scrub-start')
                scrub_button.set_visibility(False)
                with ui.column().classes('w-full gap-1') as progress_box:
                    progress_bar = ui.linear_progress(value=0, show_value=False, size='12px').props('rounded') \
                        .mark('scrub-progress')
                    progress_text = ui.label('').classes('text-sm').mark('scrub-progress-text')
                progress_box.set_visibility(False)
            with ui.card().classes('w-full'):
                with ui.row().classes('items-center gap-2'):
                    ui.label('Scrubber Jobs').classes('font-semibold')
                    jobs_badge = ui.badge('0').mark('scrub-count')
                jobs_state = StatePanel('scrub-state')
                jobs_table = ui.table(columns=JOB_COLUMNS, rows=[], row_key='id').classes('w-full') \
                    .props('flat dense').mark('scrub-table')
                for name, template in JOB_SLOTS.items():
                    jobs_table.add_slot(name, template)
        with ui.tab_panel(verify_tab).classes('p-0 gap-4'):
            with ui.card().classes('w-full') as verify_card:
                with ui.row().classes('w-full items-center justify-between'):
                    ui.label('Checksum verification').classes('font-semibold')
                    verify_button = ui.button('Verify checksums', icon='verified').mark('verify-start')
                ui.label('Reads every key of every column family with RocksDB block checksum verification on, and '
                         'checks that every live SST file exists with the size RocksDB recorded. Flushes and '
                         'compactions wait while it runs.').classes('text-sm text-gray-500')
                verify_progress = ui.linear_progress(value=0, show_value=False, size='12px').props('rounded') \
                    .mark('verify-progress')
                verify_progress.set_visibility(False)
            with ui.card().classes('w-full'):
                ui.label('Results').classes('font-semibold')
                runs_state = StatePanel('verify-state')
                runs_table = ui.table(columns=RUN_COLUMNS, rows=[], row_key='id').classes('w-full') \
                    .props('flat dense').mark('verify-table')
                for name, template in RUN_SLOTS.items():
                    runs_table.add_slot(name, template)
        with ui.tab_panel(idem_tab).classes('p-0'):
            with ui.card().classes('w-full'):
                ui.label('Idempotency Keys').classes('font-semibold')
                idem_state = StatePanel('idempotency-state')
                idem_table = ui.table(columns=IDEMPOTENCY_COLUMNS, rows=[], row_key='key').classes('w-full') \
                    .props('flat dense').mark('idempotency-table')
                idem_table.set_visibility(False)

    # -- rendering (from the page's model; events patch the model) --------------------------------
    def draw() -> None:
        ordered = sorted(jobs.values(), key=lambda j: j.started_at, reverse=True)
        rows = [job_row(job) for job in ordered]
        if jobs_table.rows != rows:
            jobs_table.rows = rows
        jobs_badge.text = str(len(rows))
        jobs_state.settle(bool(rows), 'No scrubber jobs yet.')
        if ordered:
            latest = ordered[0]
            progress_box.set_visibility(True)
            progress_bar.value = latest.progress
            verb = 'Deleting' if latest.status in ('running', 'scheduled') else latest.status.capitalize()
            progress_text.text = (f'{verb}: {latest.records_scrubbed:,} of {latest.records_total:,} keys matching '
                                  f'{latest.pattern} ({percent(latest.progress)})')
        run_rows = [run_row(r) for r in sorted(runs.values(), key=lambda r: r.started_at, reverse=True)]
        if runs_table.rows != run_rows:
            runs_table.rows = run_rows
        runs_state.settle(bool(run_rows), 'No verification yet: run one to check the store.')
        running = next((r for r in runs.values() if r.status == 'running'), None)
        verify_progress.set_visibility(running is not None)
        verify_progress.value = running.progress if running else 0
        verify_button.set_enabled(running is None)

    refresher = ctx.refresher(draw)

    async def reload() -> None:
        with ctx.errors(state=jobs_state, feature='The data scrubber') as outcome:
            loaded_jobs = await scrubber.jobs(ctx.api)
            loaded_runs = await scrubber.verify_runs(ctx.api)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                for element in (create_card, jobs_table, verify_card, runs_table):
                    element.set_visibility(False)
                runs_state.not_offered('Checksum verification')
            return
        jobs.clear()
        jobs.update({j.id: j for j in loaded_jobs})
        runs.clear()
        runs.update({r.id: r for r in loaded_runs})
        header.stamp()
        refresher.flush_now()

    # -- scrub -------------------------------------------------------------------------------------
    def current() -> tuple[str, str]:
        return (pattern_input.value or '').strip(), cf_select.value or 'default'

    def forget_preview() -> None:
        previewed.clear()
        scrub_button.set_visibility(False)
        preview_label.text = sample_label.text = ''

    async def run_preview() -> None:
        pattern, cf = current()
        if not pattern:
            notify('Enter a key pattern, e.g. temp:*', 'warning')
            return
        preview_button.props('loading')
        try:
            with ctx.errors() as outcome:
                result = await scrubber.preview(ctx.api, pattern, cf)
        finally:
            preview_button.props(remove='loading')
        if outcome.failed:
            return
        previewed.clear()
        previewed[f'{cf}\x00{pattern}'] = result
        verb = 'matches' if result.matches == 1 else 'match'
        preview_label.text = (f'{keys_text(result.matches)} {verb} {pattern} in {cf} (as of '
                              f'{time.strftime("%H:%M:%S")})')
        more = result.matches - len(result.sample)
        sample_label.text = '\n'.join(result.sample) + (f'\n… and {more:,} more' if more > 0 else '')
        scrub_button.text = f'Scrub {keys_text(result.matches)}'
        scrub_button.set_visibility(result.matches > 0)

    async def run_scrub() -> None:
        pattern, cf = current()
        result = previewed.get(f'{cf}\x00{pattern}')
        if result is None:
            forget_preview()
            notify('Preview the pattern first', 'warning')
            return
        message = (f'Delete every key matching {pattern} in column family {cf}?\n{keys_text(result.matches)} matched '
                   'at the preview; matching keys written meanwhile are deleted too. This cannot be undone.')
        if not await confirm('Scrub keys', message, action='Scrub', typed=pattern):
            return
        with ctx.errors(success=f'Scrubbing keys matching {pattern}') as outcome:
            job = await scrubber.start_job(ctx.api, pattern, cf)
        if outcome.failed:
            return
        jobs.setdefault(job.id, job)
        forget_preview()
        refresher.mark()

    async def delete_job(job_id: str) -> None:
        job = jobs.get(job_id)
        if job is None:
            return
        running = job.status in ('running', 'scheduled')
        if not await confirm('Delete scrubber job', f'Remove the job for {job.pattern} from the list?' + (
                ' It is still running: it stops now; keys already deleted stay deleted.' if running else ''),
                action='Stop and delete' if running else 'Delete'):
            return
        with ctx.errors(success='Scrubber job deleted') as outcome:
            await scrubber.delete_job(ctx.api, job_id)
        if not outcome.failed:
            jobs.pop(job_id, None)
            refresher.mark()

    # -- verify ------------------------------------------------------------------------------------
    async def run_verify() -> None:
        verify_button.disable()
        with ctx.errors(success='Checksum verification started') as outcome:
            run = await scrubber.start_verify(ctx.api)
        if outcome.failed:
            verify_button.enable()
            return
        runs.setdefault(run.id, run)
        refresher.mark()

    # -- idempotency keys --------------------------------------------------------------------------
    async def load_idempotency() -> None:
        idem_state.loading()
        with ctx.errors(state=idem_state, feature='Idempotency keys') as outcome:
            keys = await scrubber.idempotency_keys(ctx.api)
        if outcome.failed:
            idem_table.set_visibility(False)
            return
        idem_table.rows = [{'key': k.key, 'created': when(k.created_at), 'expires': when(k.expires_at),
                            'ttl': f'{k.ttl_sec}s', 'used': 'Yes' if k.used else 'No'} for k in keys]
        idem_table.set_visibility(bool(keys))
        idem_state.settle(bool(keys), 'No idempotency keys.')

    # -- live --------------------------------------------------------------------------------------
    def on_feature(event: FeatureEvent) -> None:
        if event.feature != 'scrubber':
            return
        if event.name == 'deleted':
            jobs.pop(str(event.data.get('id')), None)
        elif event.name in ('verify_progress', 'verified'):
            run = VerifyRun.model_validate(event.data)
            runs[run.id] = run
            if event.name == 'verified':
                notify('Checksums verified: OK' if run.status == 'ok' else
                       f'Checksum verification found {len(run.problems)} problem(s)',
                       'success' if run.status == 'ok' else 'error')
        else:
            job = ScrubJob.model_validate(event.data)
            jobs[job.id] = job
            if event.name == 'completed':
                notify(f'Scrubbed {keys_text(job.records_scrubbed)} matching {job.pattern}', 'success')
            elif event.name == 'failed':
                notify(f'Scrub of {job.pattern} failed: {job.error}', 'error')
        refresher.mark()

    preview_button.on_click(run_preview)
    pattern_input.on('keydown.enter', run_preview)
    pattern_input.on_value_change(lambda _: forget_preview())
    cf_select.on_value_change(lambda _: forget_preview())
    scrub_button.on_click(run_scrub)
    jobs_table.on('delete', lambda e: delete_job(e.args))
    verify_button.on_click(run_verify)
    tabs.on_value_change(lambda e: load_idempotency() if on_idempotency_tab() else None)

    def on_idempotency_tab() -> bool:
        return tabs.value in (idem_tab, idem_tab.props.get('name'))

    async def refresh() -> None:
        await reload()
        if on_idempotency_tab():
            await load_idempotency()

    header.button.on_click(refresh)
    ctx.on(FeatureEvent, on_feature)
    ctx.on_resync(reload)
    jobs_state.loading()
    await ctx.offer_families(cf_select)
    await reload()
