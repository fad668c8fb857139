"""`/cicd`: fixtures (save a prefix, load it into any prefix, export/import files, delete) and generated test data,
with live progress for every load and generation."""

from __future__ import annotations

import json
import re
import time

from nicegui import ui
from nicegui.events import UploadEventArguments
from pydantic import ValidationError

from components.confirm import confirm
from components.job_slots import PROGRESS_SLOT, STATUS_SLOT
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent
from services.features import cicd
from services.features.cicd import FIXTURE_TYPES, CicdJob, Fixture, FixtureFile, Generation

from ..context import PageContext, notify
from ..shell import page

FIXTURE_COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'description', 'label': 'Description', 'field': 'description', 'align': 'left'},
    {'name': 'type', 'label': 'Type', 'field': 'type', 'align': 'left'},
    {'name': 'records', 'label': 'Records', 'field': 'records', 'align': 'right'},
    {'name': 'size', 'label': 'Size', 'field': 'size', 'align': 'right'},
    {'name': 'prefix', 'label': 'Prefix', 'field': 'prefix', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'id', 'align': 'right'},
]
FIXTURE_ACTIONS = r'''
<q-td :props="props">
  <q-btn flat dense icon="input" title="Load into a prefix" :disable="props.row.importing"
         @click="$parent.$emit('load', props.row.id)" />
  <q-btn flat dense icon="download" title="Export as a file" @click="$parent.$emit('export', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('delete', props.row.id)" />
</q-td>
'''
JOB_COLUMNS = [
    {'name': 'kind', 'label': 'Job', 'field': 'kind', 'align': 'left'},
    {'name': 'target', 'label': 'Into', 'field': 'target', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'records', 'label': 'Records', 'field': 'records', 'align': 'right'},
    {'name': 'progress', 'label': 'Progress', 'field': 'progress', 'align': 'left'},
    {'name': 'elapsed', 'label': 'Elapsed', 'field': 'elapsed', 'align': 'right'},
    {'name': 'started', 'label': 'Started', 'field': 'started', 'align': 'left'},
]
JOB_SLOTS = {
    'body-cell-status': STATUS_SLOT,
    'body-cell-progress': PROGRESS_SLOT,
}
COLORS = {'running': 'info', 'completed': 'positive', 'failed': 'negative', 'cancelled': 'warning'}
PLACEHOLDERS = '{n} the record number · {name} a person · {email} · {uuid} · {rand} a number (same n, same data)'


def when(ns: int | None) -> str:
    return time.strftime('%d/%m/%y %H:%M', time.localtime(ns / 1e9)) if ns else '—'


def fixture_row(fixture: Fixture) -> dict:
    importing = fixture.status == 'importing'
    return {'id': fixture.id, 'name': fixture.name + (' (importing…)' if importing else ''),
            'description': fixture.description, 'type': FIXTURE_TYPES.get(fixture.type, fixture.type),
            'records': f'{fixture.records:,}', 'size': fixture.size, 'prefix': fixture.prefix or '(all keys)',
            'created': when(fixture.created_at), 'importing': importing}


def job_row(job: CicdJob) -> dict:
    kind = f'Load {job.fixture_name}' if job.kind == 'load' else 'Generate'
    records = f'{job.done:,} / {job.total:,}' + (f' ({job.deleted:,} deleted first)' if job.deleted else '')
    return {'id': job.id, 'kind': kind, 'target': f'{job.target or "(no prefix)"} [{job.cf}]',
            'status': job.status.capitalize(), 'color': COLORS.get(job.status, 'grey'), 'error': job.error or '',
            'records': records, 'fraction': job.progress, 'progress': f'{job.progress * 100:.0f} %',
            'elapsed': f'{job.elapsed_ms:,} ms', 'started': when(job.started_at)}


def file_name(name: str) -> str:
    return (re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-') or 'fixture') + '.fixture.json'


def read_fixture_file(data: bytes) -> tuple[FixtureFile | None, str | None]:
    """A fixture file, or why it is not one (in words for the page)."""
    try:
        return FixtureFile.model_validate_json(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ())) or 'file'
        return None, f'Not a fixture file ({where}: {first.get("msg")})'


@page('/cicd', 'CI/CD')
async def cicd_page(ctx: PageContext) -> None:
    fixtures: dict[str, Fixture] = {}
    jobs: dict[str, CicdJob] = {}
    watching: set[str] = set()  # generation jobs started here: their result is said under the form

    header = PageHeader('CI/CD fixtures and test data management')
    with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-2 gap-4') as forms:
        with ui.card().classes('w-full'):
            ui.label('Create Fixture').classes('font-semibold')
            ui.label('Saves the keys under a prefix (with their values) as a named fixture.') \
                .classes('text-xs text-gray-500')
            name_input = ui.input('Name', placeholder='test-users-100').classes('w-full').mark('fixture-name')
            description_input = ui.input('Description').classes('w-full').mark('fixture-description')
            with ui.row().classes('w-full gap-2'):
                type_select = ui.select(FIXTURE_TYPES, value='data', label='Type').classes('w-40').mark('fixture-type')
                prefix_input = ui.input('Source prefix', placeholder='users:').classes('grow font-mono') \
                    .mark('fixture-prefix')
                fixture_cf = ui.select(['default'], value='default', label='Column family').classes('w-40')
            save_button = ui.button('Save Fixture', icon='save').mark('fixture-save')
        with ui.card().classes('w-full'):
            ui.label('Generate Test Data').classes('font-semibold')
            with ui.row().classes('w-full gap-2'):
                key_template = ui.input('Key template', value='user:{n}').classes('grow font-mono') \
                    .mark('generate-key')
                count_input = ui.number('Record Count', value=1000, min=1, max=1_000_000, precision=0, format='%d') \
                    .classes('w-36').mark('generate-count')
                start_input = ui.number('First n', value=1, min=0, precision=0, format='%d').classes('w-24')
                generate_cf = ui.select(['default'], value='default', label='Column family').classes('w-40')
            value_template = ui.textarea('Value template', value='{"id": {n}, "name": "{name}"}') \
                .classes('w-full font-mono').props('autogrow').mark('generate-value')
            ui.label(PLACEHOLDERS).classes('text-xs text-gray-500')
            with ui.row().classes('gap-2'):
                preview_button = ui.button('Preview', icon='visibility').props('flat').mark('generate-preview')
                generate_button = ui.button('Generate', icon='auto_awesome').mark('generate-start')
            sample_label = ui.label('').classes('text-xs font-mono whitespace-pre-wrap').mark('generate-sample')
            generate_progress = ui.linear_progress(value=0, show_value=False, size='12px').props('rounded') \
                .mark('generate-progress')
            generate_progress.set_visibility(False)
            generate_result = ui.label('').mark('generate-result')
    with ui.card().classes('w-full'):
        with ui.row().classes('w-full items-center justify-between'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Fixtures').classes('font-semibold')
                count_badge = ui.badge('0').mark('fixture-count')
            upload = ui.upload(label='Import fixture file (.json)', auto_upload=True, max_file_size=64 * 1024 * 1024) \
                .props('accept=".json" flat dense').classes('w-72').mark('fixture-upload')
        state = StatePanel('fixture-state')
        table = ui.table(columns=FIXTURE_COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
            .mark('fixture-table')
        table.add_slot('body-cell-actions', FIXTURE_ACTIONS)
    with ui.card().classes('w-full') as jobs_card:
        ui.label('Loads and generations').classes('font-semibold')
        jobs_table = ui.table(columns=JOB_COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
            .mark('job-table')
        for slot, template in JOB_SLOTS.items():
            jobs_table.add_slot(slot, template)
    offered_parts = (forms, upload, table, jobs_card)

    def draw() -> None:
        rows = [fixture_row(f) for f in sorted(fixtures.values(), key=lambda f: f.created_at, reverse=True)]
        if table.rows != rows:
            table.rows = rows
        count_badge.text = str(len(rows))
        state.settle(bool(rows), 'No fixtures yet: save a prefix or import a file.')
        job_rows = [job_row(j) for j in sorted(jobs.values(), key=lambda j: j.started_at, reverse=True)[:20]]
        if jobs_table.rows != job_rows:
            jobs_table.rows = job_rows
        jobs_card.set_visibility(bool(job_rows))
        for job_id in list(watching):
            if (job := jobs.get(job_id)) is not None:
                show_generation(job)

    refresher = ctx.refresher(draw)

    async def reload() -> None:
        with ctx.errors(state=state, feature='CI/CD fixtures') as outcome:
            loaded = await cicd.fixtures(ctx.api)
            loaded_jobs = await cicd.jobs(ctx.api)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                for part in offered_parts:
                    part.set_visibility(False)
            return
        fixtures.clear()
        fixtures.update({f.id: f for f in loaded})
        jobs.clear()
        jobs.update({j.id: j for j in loaded_jobs})
        header.stamp()
        refresher.flush_now()

    # -- fixtures ----------------------------------------------------------------------------------
    async def save() -> None:
        name = (name_input.value or '').strip()
        if not name:
            notify('Enter a name for the fixture', 'warning')
            return
        save_button.props('loading')
        try:
            with ctx.errors() as outcome:
                fixture = await cicd.save_fixture(ctx.api, name, description_input.value or '', type_select.value,
                                                  prefix_input.value or '', fixture_cf.value or 'default')
        finally:
            save_button.props(remove='loading')
        if outcome.failed:
            return
        skipped = f' ({fixture.skipped:,} binary values skipped)' if fixture.skipped else ''
        notify(f'Fixture "{fixture.name}" saved with {fixture.records:,} records{skipped}', 'success')
        fixtures[fixture.id] = fixture
        name_input.value = description_input.value = ''
        refresher.mark()

    async def load_dialog(fixture_id: str) -> None:
        fixture = fixtures.get(fixture_id)
        if fixture is None:
            return
        with ui.dialog() as dialog, ui.card().classes('min-w-[28rem]'):
            ui.label(f'Load "{fixture.name}"').classes('text-lg font-semibold')
            ui.label(f'{fixture.records:,} records saved from prefix {fixture.prefix or "(none)"}: each key keeps '
                     'what follows that prefix, under the target prefix.').classes('text-sm text-gray-500')
            target = ui.input('Target prefix', value=fixture.prefix).classes('w-full font-mono').mark('load-prefix')
            target_cf = ui.select(fixture_cf.options, value=fixture.cf if fixture.cf in fixture_cf.options
                                  else 'default', label='Column family').classes('w-full')
            replace = ui.checkbox('Delete the keys under the target prefix first').mark('load-replace')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('flat')
                ui.button('Load', icon='input', on_click=lambda: dialog.submit(True)).mark('load-start')
            target.on('keydown.enter', lambda: dialog.submit(True))
        go = await dialog
        prefix, cf, wipe = target.value or '', target_cf.value or 'default', bool(replace.value)
        dialog.delete()
        if not go:
            return
        if wipe and not await confirm('Replace keys', f'Delete every key under {prefix or "(empty prefix)"} in {cf} '
                                      f'before loading "{fixture.name}"? This cannot be undone.', action='Replace',
                                      typed=prefix or None):
            return
        with ctx.errors(success=f'Loading "{fixture.name}" into {prefix or "(no prefix)"}') as outcome:
            job = await cicd.load_fixture(ctx.api, fixture.id, prefix, cf, wipe)
        if not outcome.failed:
            jobs.setdefault(job.id, job)
            refresher.mark()

    async def export(fixture_id: str) -> None:
        fixture = fixtures.get(fixture_id)
        if fixture is None:
            return
        with ctx.errors() as outcome:
            content = await cicd.export_fixture(ctx.api, fixture_id)
        if not outcome.failed:
            data = json.dumps(content.model_dump(), ensure_ascii=False, indent=1).encode()
            ui.download(data, file_name(fixture.name), 'application/json')

    async def delete(fixture_id: str) -> None:
        fixture = fixtures.get(fixture_id)
        if fixture is None or not await confirm(
                'Delete fixture', f'Delete the fixture "{fixture.name}" ({fixture.records:,} records)? The keys it '
                'was saved from and any loaded copies stay in the store.'):
            return
        with ctx.errors(success=f'Fixture "{fixture.name}" deleted') as outcome:
            await cicd.delete_fixture(ctx.api, fixture_id)
        if not outcome.failed:
            fixtures.pop(fixture_id, None)
            refresher.mark()

    async def on_upload(event: UploadEventArguments) -> None:
        content, problem = read_fixture_file(await event.file.read())
        upload.reset()
        if content is None:
            notify(f'{event.file.name}: {problem}', 'error')
            return
        with ctx.errors() as outcome:
            fixture = await cicd.import_fixture(ctx.api, content)
        if not outcome.failed:
            notify(f'Fixture "{fixture.name}" imported with {fixture.records:,} records', 'success')
            fixtures[fixture.id] = fixture
            refresher.mark()

    # -- generation --------------------------------------------------------------------------------
    def generation() -> Generation | None:
        try:
            return Generation(count=int(count_input.value or 0), key_template=key_template.value or '',
                              value_template=value_template.value or '', start=int(start_input.value or 0),
                              cf=generate_cf.value or 'default')
        except (ValidationError, ValueError):
            say('Record Count must be between 1 and 1,000,000', bad=True)
            return None

    def say(text: str, bad: bool = False) -> None:
        generate_result.text = text
        generate_result.classes(replace='text-negative' if bad else 'text-positive')

    async def preview() -> None:
        if (wanted := generation()) is None:
            return
        with ctx.errors() as outcome:
            sample = await cicd.preview_generation(ctx.api, wanted)
        if outcome.failed:
            say(outcome.error.message if outcome.error else 'Preview failed', bad=True)
            return
        say('')
        sample_label.text = '\n'.join(f'{r.key} → {r.value}' for r in sample)

    async def generate() -> None:
        if (wanted := generation()) is None:
            return
        generate_button.disable()
        with ctx.errors() as outcome:
            job = await cicd.generate(ctx.api, wanted)
        if outcome.failed:
            generate_button.enable()
            say(f'Generation failed: {outcome.error.message if outcome.error else ""}', bad=True)
            return
        jobs.setdefault(job.id, job)
        watching.add(job.id)
        refresher.mark()

    def show_generation(job: CicdJob) -> None:
        generate_progress.set_visibility(True)
        generate_progress.value = job.progress
        if job.status == 'running':
            say(f'Generating… {job.done:,} of {job.total:,} records')
            return
        watching.discard(job.id)
        generate_button.enable()
        if job.status == 'completed':
            say(f'Generated {job.records_generated:,} records in {job.elapsed_ms:,}ms')
            notify(f'Generated {job.records_generated:,} records', 'success')
        else:
            say(f'Generation failed after {job.done:,} records: {job.error}', bad=True)
            notify('Generation failed', 'error')

    # -- live --------------------------------------------------------------------------------------
    async def on_feature(event: FeatureEvent) -> None:
        if event.feature != 'cicd':
            return
        if event.name == 'fixture_saved':
            fixture = Fixture.model_validate(event.data)
            fixtures[fixture.id] = fixture
        elif event.name == 'fixture_deleted':
            fixtures.pop(str(event.data.get('id')), None)
        else:
            job = CicdJob.model_validate(event.data)
            jobs[job.id] = job
            if job.kind == 'load' and event.name == 'completed':
                notify(f'Loaded {job.done:,} records of "{job.fixture_name}" into {job.target or "(no prefix)"}',
                       'success')
            elif job.kind == 'load' and event.name == 'failed':
                notify(f'Loading "{job.fixture_name}" failed: {job.error}', 'error')
        refresher.mark()

    save_button.on_click(save)
    for field in (name_input, description_input, prefix_input):
        field.on('keydown.enter', save)
    preview_button.on_click(preview)
    generate_button.on_click(generate)
    key_template.on('keydown.enter', generate)
    upload.on_upload(on_upload)
    upload.on_rejected(lambda: notify('The file is larger than 64 MB: a fixture holds at most 64 MiB of records',
                                      'warning'))
    table.on('load', lambda e: load_dialog(e.args))
    table.on('export', lambda e: export(e.args))
    table.on('delete', lambda e: delete(e.args))
    header.button.on_click(reload)
    ctx.on(FeatureEvent, on_feature)
    ctx.on_resync(reload)
    state.loading()
    await ctx.offer_families(fixture_cf, generate_cf)
    await reload()
