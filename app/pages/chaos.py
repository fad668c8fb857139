"""`/chaos`: experiments on the backend's fault hooks — typed confirmation to start, live countdown, auto-off."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from nicegui import ui

from components.confirm import confirm
from components.page_header import PageHeader
from components.states import StatePanel
from services.events.models import FeatureEvent
from services.features.chaos import (
    ChaosState,
    Experiment,
    ExperimentType,
    chaos_state,
    create_experiment,
    delete_experiment,
    toggle_experiment,
)

from ..context import PageContext, notify
from ..shell import page

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'type', 'label': 'Type', 'field': 'type', 'align': 'left'},
    {'name': 'target', 'label': 'Target', 'field': 'target', 'align': 'left'},
    {'name': 'config', 'label': 'Config', 'field': 'config', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'duration', 'label': 'Duration', 'field': 'duration', 'align': 'right'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'remaining', 'label': 'Remaining', 'field': 'remaining', 'align': 'right'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'actions', 'label': 'Actions', 'field': 'id', 'align': 'right'},
]
STATUS_SLOT = r'''
<q-td :props="props">
  <q-badge :color="{running: 'negative', stopped: 'warning', completed: 'positive'}[props.row.status] || 'grey'"
           :label="props.row.status" />
</q-td>
'''
ACTIONS_SLOT = r'''
<q-td :props="props">
  <q-btn dense flat no-caps :icon="props.row.status === 'running' ? 'stop' : 'play_arrow'"
         :label="props.row.status === 'running' ? 'Stop' : 'Start'"
         :color="props.row.status === 'running' ? 'warning' : 'negative'"
         @click="$parent.$emit('toggle', props.row.id)" />
  <q-btn dense flat icon="delete" title="Delete" @click="$parent.$emit('delete', props.row.id)" />
</q-td>
'''
PROBES = ['liveness', 'readiness', 'startup']


def effect(kind: str, config: dict[str, Any]) -> str:
    """What starting an experiment does, said plainly (its consequences for this console included)."""
    if kind == 'latency':
        return f'Every HTTP request to this server (this console\'s too) waits {config.get("delay_ms")} ms.'
    if kind == 'error':
        return f'The health probes {", ".join(config.get("probes", []))} report unhealthy.'
    if kind == 'crash':
        return (f'Every open WebSocket (this console\'s live link too) is cut now and every '
                f'{config.get("interval_ms")} ms; clients must reconnect.')
    if kind == 'partition':
        sse = ' and SSE streams are refused too' if config.get('block_sse') else ''
        return f'Open event streams are cut and new WebSocket upgrades are refused{sse}: clients fall back.'
    return ''


def remaining_text(seconds: float | None) -> str:
    if seconds is None:
        return '—'
    return f'{max(0, math.ceil(seconds))} s'


def row(experiment: Experiment, types: dict[str, ExperimentType]) -> dict:
    label = types[experiment.type].label if experiment.type in types else experiment.type
    return {'id': experiment.id, 'name': experiment.name, 'type': label, 'kind': experiment.type,
            'target': experiment.target or '—', 'config': json.dumps(experiment.config, separators=(', ', ': ')),
            'duration': f'{experiment.duration_s} s' if experiment.duration_s else '—', 'status': experiment.status,
            'remaining': remaining_text(experiment.remaining_s),
            'created': time.strftime('%d/%m/%y %H:%M:%S', time.localtime(experiment.created_at / 1e9))}


@page('/chaos', 'Chaos')
async def chaos_page(ctx: PageContext) -> None:
    known: dict[str, Any] = {'state': ChaosState(), 'fetched': time.monotonic()}
    header = PageHeader('Fault injection and resilience testing')
    state = StatePanel('chaos-state')
    with ui.card().classes('w-full border-l-4 border-warning') as disabled_card:
        with ui.row().classes('items-center gap-2 flex-nowrap'):
            ui.icon('block', size='md').classes('text-warning')
            disabled_text = ui.label('').classes('whitespace-pre-wrap').mark('chaos-disabled')
    disabled_card.set_visibility(False)
    with ui.column().classes('w-full gap-4') as content:
        with ui.card().classes('w-full') as create_card:
            ui.label('Create Experiment').classes('font-semibold')
            with ui.row().classes('w-full items-start gap-4'):
                name_input = ui.input('Name', placeholder='my-chaos-test').classes('w-64').mark('chaos-name')
                type_select = ui.select({'latency': 'Latency Injection'}, value='latency', label='Type') \
                    .classes('w-64').mark('chaos-type')
                duration_input = ui.number('Duration (s)', value=60, min=1, max=3600, step=1, format='%d') \
                    .classes('w-40').mark('chaos-duration')
                config_box = ui.row().classes('items-start gap-4')
            target_label = ui.label('').classes('text-sm text-gray-500').mark('chaos-target')
            preview = ui.label('').classes('text-xs font-mono text-gray-500').mark('chaos-config-preview')
            with ui.row().classes('items-center gap-2'):
                create_button = ui.button('Create Experiment', icon='add').mark('chaos-create')
                ui.label('Experiments start stopped; Start asks you to type the name, and each one switches '
                         'itself off when its duration is up.').classes('text-sm text-gray-500')
        with ui.card().classes('w-full'):
            with ui.row().classes('w-full items-center justify-between'):
                with ui.row().classes('items-center gap-2'):
                    ui.label('Experiments').classes('font-semibold')
                    count_badge = ui.badge('0').mark('chaos-count')
                faults_label = ui.label('').classes('text-sm font-mono').mark('chaos-faults')
            table_state = StatePanel('chaos-table-state')
            table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
                .mark('chaos-table')
            table.add_slot('body-cell-status', STATUS_SLOT)
            table.add_slot('body-cell-actions', ACTIONS_SLOT)
    content.set_visibility(False)
    fields: dict[str, Any] = {}

    def types() -> dict[str, ExperimentType]:
        return {t.type: t for t in known['state'].types}

    def config_of(kind: str) -> dict[str, Any]:
        """The config the typed fields describe (the server validates it again)."""
        values = {name: field.value for name, field in fields.items()}
        if kind == 'latency':
            return {'delay_ms': int(values.get('delay_ms') or 0)}
        if kind == 'error':
            return {'probes': list(values.get('probes') or [])}
        if kind == 'crash':
            return {'interval_ms': int(values.get('interval_ms') or 0)}
        if kind == 'partition':
            return {'block_sse': bool(values.get('block_sse'))}
        return {}

    def update_preview() -> None:
        kind = type_select.value or ''
        spec = types().get(kind)
        if spec is not None and spec.unsupported:
            target_label.text = f'Not available: {spec.unsupported}'
            preview.text = ''
        else:
            target_label.text = f'Affects: {spec.target} (fault hook {spec.hook}). {effect(kind, config_of(kind))}' \
                if spec else ''
            preview.text = f'config: {json.dumps(config_of(kind))}'
        ready = known['state'].enabled and bool((name_input.value or '').strip()) and spec is not None \
            and not spec.unsupported
        create_button.set_enabled(ready)

    def build_config_fields() -> None:
        config_box.clear()
        fields.clear()
        kind = type_select.value
        defaults = types()[kind].config if kind in types() else {}
        with config_box:
            if kind == 'latency':
                fields['delay_ms'] = ui.number('Delay (ms)', value=defaults.get('delay_ms', 200), min=1, max=10_000,
                                               step=50, format='%d').classes('w-40').mark('chaos-delay')
            elif kind == 'error':
                fields['probes'] = ui.select(PROBES, multiple=True, value=defaults.get('probes', ['readiness']),
                                             label='Failing probes').classes('w-72').mark('chaos-probes')
            elif kind == 'crash':
                fields['interval_ms'] = ui.number('Drop every (ms)', value=defaults.get('interval_ms', 5000),
                                                  min=500, max=600_000, step=500, format='%d').classes('w-40') \
                    .mark('chaos-interval')
            elif kind == 'partition':
                fields['block_sse'] = ui.switch('Refuse SSE too (clients fall back to polling)',
                                                value=bool(defaults.get('block_sse'))).mark('chaos-block-sse')
        for field in fields.values():
            field.on_value_change(update_preview)
        update_preview()

    def show(data: ChaosState) -> None:
        first = not known['state'].types
        known['state'], known['fetched'] = data, time.monotonic()
        content.set_visibility(True)
        disabled_card.set_visibility(not data.enabled)
        disabled_text.text = f'Chaos experiments are off on this server.\n{data.reason or ""}'
        create_card.set_visibility(data.enabled)
        options = {t.type: t.label + (' (not available)' if t.unsupported else '') for t in data.types}
        if type_select.options != options:
            type_select.set_options(options, value=type_select.value if type_select.value in options else 'latency')
        if first:
            build_config_fields()
        rows = [row(experiment, types()) for experiment in data.experiments]
        if table.rows != rows:
            table.rows = rows
        count_badge.text = str(len(rows))
        active = {name: value for name, value in data.faults.items() if value not in (False, 0, [], None)}
        faults_label.text = 'Active hooks: ' + (', '.join(f'{k}={v}' for k, v in active.items()) or 'none')
        if not data.enabled:
            table_state.empty('No experiments: the fault hooks are off.')
        else:
            table_state.settle(bool(rows), 'No experiments yet. Create one above.')
        countdown.active = any(e.status == 'running' for e in data.experiments)
        update_preview()

    async def load() -> None:
        with ctx.errors(state=state, feature='Chaos experiments') as outcome:
            data = await chaos_state(ctx.api)
        if outcome.failed:
            content.set_visibility(False)
            return
        state.hide()
        show(data)
        header.stamp()

    def tick() -> None:
        """The countdown, from the server's remaining time and the time since it said so (no request)."""
        elapsed = time.monotonic() - known['fetched']
        remaining = {e.id: e.remaining_s for e in known['state'].experiments if e.status == 'running'}
        changed = False
        for item in table.rows:
            if item['id'] in remaining and remaining[item['id']] is not None:
                text = remaining_text(remaining[item['id']] - elapsed)
                if item['remaining'] != text:
                    item['remaining'], changed = text, True
        if changed:
            table.update()

    countdown = ui.timer(1.0, tick, active=False)
    refresher = ctx.refresher(load, frame=0.3, burst_frame=1.0)

    async def create() -> None:
        if not create_button.enabled:
            return
        kind = type_select.value
        duration = int(duration_input.value or 0)
        with ctx.errors() as outcome:
            experiment = await create_experiment(ctx.api, name_input.value.strip(), kind, config_of(kind), duration)
        if outcome.failed:
            return
        notify(f'Experiment "{experiment.name}" created (stopped)', 'success')
        name_input.value = ''
        refresher.flush_now()

    def find(experiment_id: str) -> Experiment | None:
        return next((e for e in known['state'].experiments if e.id == experiment_id), None)

    async def toggle(experiment_id: str) -> None:
        experiment = find(experiment_id)
        if experiment is None:
            return
        if experiment.status != 'running' and not await confirm(
                'Start chaos experiment', f'{effect(experiment.type, experiment.config)}\n\nIt runs for '
                f'{experiment.duration_s} s, then switches itself off (Stop ends it sooner).',
                action='Start', typed=experiment.name):
            return
        with ctx.errors() as outcome:
            updated = await toggle_experiment(ctx.api, experiment_id)
        if not outcome.failed:
            notify(f'Experiment "{updated.name}" {updated.status}', 'warning' if updated.status == 'running'
                   else 'success')
        refresher.flush_now()

    async def delete(experiment_id: str) -> None:
        experiment = find(experiment_id)
        if experiment is None or not await confirm(
                'Delete experiment', f'Delete "{experiment.name}"?' + (' It is running and stops now.'
                                                                         if experiment.status == 'running' else '')):
            return
        with ctx.errors(success=f'Experiment "{experiment.name}" deleted'):
            await delete_experiment(ctx.api, experiment_id)
        refresher.flush_now()

    def on_feature(event: FeatureEvent) -> None:
        if event.feature == 'chaos' and event.name != 'dropped':
            refresher.mark()

    type_select.on_value_change(build_config_fields)
    name_input.on_value_change(update_preview)
    name_input.on('keydown.enter', create)
    create_button.on_click(create)
    table.on('toggle', lambda e: toggle(e.args))
    table.on('delete', lambda e: delete(e.args))
    header.button.on_click(refresher.flush_now)
    ctx.on(FeatureEvent, on_feature)

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
