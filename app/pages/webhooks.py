"""`/webhooks`: webhook endpoints: create, edit, test, delete; delivery status and counts, live.

Each row patches itself from the backend's `webhooks` feature events (one per delivery attempt and per
breaker change), so an open page shows every delivery as it happens without refetching.
"""

from __future__ import annotations

import time

from nicegui import ui

from components.confirm import confirm
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import BadRequest, NotOffered
from services.events.models import FeatureEvent
from services.features import webhooks as wh
from services.features.webhooks import EVENT_TYPES, Webhook, WebhookSpec

from ..context import PageContext, notify
from ..shell import page

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'url', 'label': 'URL', 'field': 'url', 'align': 'left'},
    {'name': 'events', 'label': 'Events', 'field': 'events', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'counts', 'label': 'Deliveries', 'field': 'counts', 'align': 'left'},
    {'name': 'last', 'label': 'Last Trigger', 'field': 'last', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'id', 'align': 'right'},
]
EVENTS_SLOT = r'''
<q-td :props="props">
  <q-badge v-for="e in props.row.events" :key="e" color="primary" outline class="q-mr-xs">{{ e }}</q-badge>
  <div v-if="props.row.prefix" class="text-xs text-grey-7">keys starting with "{{ props.row.prefix }}"</div>
</q-td>
'''
STATUS_SLOT = r'''
<q-td :props="props">
  <q-badge :color="props.row.active ? 'positive' : 'grey'">{{ props.row.active ? 'Active' : 'Inactive' }}</q-badge>
  <q-badge v-if="props.row.breaker !== 'closed'" :color="props.row.breaker === 'open' ? 'negative' : 'orange'"
           class="q-ml-xs">{{ props.row.breaker === 'open' ? 'Circuit open' : 'Half-open' }}</q-badge>
</q-td>
'''
LAST_SLOT = r'''
<q-td :props="props">
  <span v-if="props.row.last">{{ props.row.last }}
    <q-badge :color="props.row.last_status === 'success' ? 'positive' : 'negative'" class="q-ml-xs">
      {{ props.row.last_status }}{{ props.row.last_http ? ' ' + props.row.last_http : '' }}</q-badge>
  </span>
  <span v-else class="text-grey-7">Never</span>
  <div v-if="props.row.last_error" class="text-xs text-negative" style="max-width: 22rem">
    {{ props.row.last_error }}</div>
</q-td>
'''
ACTIONS_SLOT = r'''
<q-td :props="props" class="whitespace-nowrap">
  <q-btn flat dense icon="send" color="primary" title="Send a test event" :loading="props.row.testing"
         @click="$parent.$emit('test', props.row.id)" />
  <q-btn flat dense icon="history" title="Recent deliveries" @click="$parent.$emit('log', props.row.id)" />
  <q-btn flat dense icon="edit" title="Edit" @click="$parent.$emit('edit', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('delete', props.row.id)" />
</q-td>
'''
LOG_COLUMNS = [{'name': n, 'label': label, 'field': n, 'align': 'left'} for n, label in (
    ('at', 'Time'), ('event', 'Event'), ('attempt', 'Attempt'), ('outcome', 'Outcome'), ('http', 'HTTP'),
    ('ms', 'ms'), ('error', 'Error'))]
SIGNATURE_HINT = 'Receivers verify X-Apex-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with this secret>.'


def when(ns: int | None) -> str:
    return time.strftime('%d/%m %H:%M:%S', time.localtime(ns / 1e9)) if ns else ''


def row(hook: Webhook, testing: bool) -> dict:
    counts = f'{hook.delivered} delivered · {hook.failed} failed'
    if hook.pending:
        counts += f' · {hook.pending} waiting'
    if hook.dropped:
        counts += f' · {hook.dropped} dropped'
    return {'id': hook.id, 'name': hook.name, 'url': hook.url, 'events': hook.events, 'prefix': hook.prefix,
            'active': hook.active, 'breaker': hook.breaker_state, 'counts': counts,
            'last': when(hook.last_triggered_at), 'last_status': hook.last_status or '',
            'last_http': hook.last_http_status, 'last_error': hook.last_error or '', 'testing': testing}


class WebhookForm:
    """The fields of a webhook (create card and edit dialog), with an inline message under each."""

    def __init__(self, marker: str, on_submit, hook: Webhook | None = None) -> None:
        self.marker = marker
        self.selected: list[str] = list(hook.events if hook else wh.DEFAULT_EVENTS)
        with ui.row().classes('w-full items-start gap-3'):
            with ui.column().classes('gap-0 w-56'):
                self.name = ui.input('Name', value=hook.name if hook else '', placeholder='orders feed') \
                    .classes('w-full').mark(f'{marker}-name')
                self.name_error = self._error('name')
            with ui.column().classes('gap-0 grow'):
                self.url = ui.input('URL', value=hook.url if hook else '',
                                    placeholder='https://hooks.example.com/events').classes('w-full') \
                    .mark(f'{marker}-url')
                self.url_error = self._error('url')
            self.prefix = ui.input('Key prefix (optional)', value=hook.prefix if hook else '',
                                   placeholder='orders:').classes('w-48').mark(f'{marker}-prefix')
        ui.label('Events').classes('text-sm text-gray-500')
        with ui.row().classes('gap-1'):
            self.chips = {name: ui.chip(name, on_click=lambda _e, n=name: self.toggle(n)).mark(f'{marker}-event-{name}')
                          for name in EVENT_TYPES}
        self.events_error = self._error('events')
        with ui.expansion('Delivery and circuit breaker', icon='tune').classes('w-full text-sm'):
            with ui.row().classes('gap-3'):
                self.max_attempts = self._number('Attempts per event', hook.max_attempts if hook else 3, 1, 10)
                self.backoff_ms = self._number('First retry after (ms, doubles)', hook.backoff_ms if hook else 500,
                                               10, 60_000)
                self.timeout = self._number('Timeout (s)', hook.timeout_secs if hook else 5, 0.5, 60, precision=1)
                self.threshold = self._number('Open breaker after failures', hook.failure_threshold if hook else 5,
                                              1, 100)
                self.open_secs = self._number('Keep open (s)', hook.open_secs if hook else 30, 1, 3600)
        self.active = ui.switch('Active', value=hook.active if hook else True).mark(f'{marker}-active')
        self.server_error = ui.label('').classes('text-sm text-negative').mark(f'{marker}-server-error')
        for field in (self.name, self.url, self.prefix):
            field.on('keydown.enter', on_submit)
        self._paint()

    def _error(self, field: str) -> ui.label:
        return ui.label('').classes('text-xs text-negative').mark(f'{self.marker}-{field}-error')

    @staticmethod
    def _number(label: str, value: float, low: float, high: float, precision: int = 0) -> ui.number:
        return ui.number(label, value=value, min=low, max=high, precision=precision).classes('w-44')

    def toggle(self, name: str) -> None:
        self.selected = [n for n in self.selected if n != name] if name in self.selected else [*self.selected, name]
        self.events_error.text = ''
        self._paint()

    def _paint(self) -> None:
        for name, chip in self.chips.items():
            on = name in self.selected
            chip.props(f'color={"primary" if on else "grey-4"} text-color={"white" if on else "black"} '
                       f'icon={"check" if on else "add"} clickable')

    def spec(self) -> WebhookSpec:
        def number(field: ui.number) -> float | None:
            return float(field.value) if field.value not in (None, '') else None

        attempts, backoff, threshold = number(self.max_attempts), number(self.backoff_ms), number(self.threshold)
        return WebhookSpec(name=(self.name.value or '').strip(), url=(self.url.value or '').strip(),
                           events=[n for n in EVENT_TYPES if n in self.selected], prefix=self.prefix.value or '',
                           active=bool(self.active.value), max_attempts=int(attempts) if attempts else None,
                           backoff_ms=int(backoff) if backoff else None,
                           failure_threshold=int(threshold) if threshold else None,
                           open_secs=number(self.open_secs), timeout_secs=number(self.timeout))

    def check(self, creating: bool) -> WebhookSpec | None:
        """The form's spec, or None after saying under each field what is wrong."""
        spec = self.spec()
        problems = wh.spec_problems(spec, creating)
        self.name_error.text = problems.get('name', '')
        self.url_error.text = problems.get('url', '')
        self.events_error.text = problems.get('events', '')
        self.server_error.text = ''
        return None if problems else spec

    def clear(self) -> None:
        self.name.value = self.url.value = self.prefix.value = ''
        self.selected = list(wh.DEFAULT_EVENTS)
        self._paint()


def secret_box(marker: str) -> tuple[ui.element, ui.label]:
    """Where a new signing secret is shown, once, with a copy button and how receivers check it."""
    with ui.column().classes('w-full gap-1 p-2 rounded bg-green-500/10') as box:
        with ui.row().classes('w-full items-center gap-2'):
            ui.label('Signing secret (copy it now; it is shown only once):').classes('text-sm')
            secret = ui.label('').classes('font-mono break-all').mark(marker)
            ui.button(icon='content_copy', on_click=lambda: ui.clipboard.write(secret.text)).props('flat dense')
        ui.label(SIGNATURE_HINT).classes('text-xs text-gray-500')
    box.set_visibility(False)
    return box, secret


@page('/webhooks', 'Webhooks')
async def webhooks(ctx: PageContext) -> None:
    items: dict[str, Webhook] = {}
    testing: set[str] = set()
    header = PageHeader('Manage webhook endpoints for event notifications')
    with ui.card().classes('w-full') as create_card:
        ui.label('Create Webhook').classes('font-semibold')
        form = WebhookForm('new-webhook', lambda: create())
        create_button = ui.button('Create Webhook', icon='add').mark('webhook-create')
        shown, secret = secret_box('webhook-secret')
    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Webhooks').classes('font-semibold')
            count = ui.badge('0').mark('webhook-count')
        state = StatePanel('webhooks-state')
        table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense wrap-cells') \
            .mark('webhook-table')
        for name, slot in (('events', EVENTS_SLOT), ('status', STATUS_SLOT), ('last', LAST_SLOT),
                           ('actions', ACTIONS_SLOT)):
            table.add_slot(f'body-cell-{name}', slot)

    def render() -> None:
        table.rows = [row(h, h.id in testing) for h in sorted(items.values(), key=lambda h: h.created_at or 0)]
        table.update()
        count.text = str(len(items))
        state.settle(bool(items), 'No webhooks yet. Create one above to receive store events over HTTP.')
        header.stamp()

    refresher = ctx.refresher(render)

    async def load() -> None:
        with ctx.errors(state=state, feature='Webhooks') as outcome:
            found = await wh.list_webhooks(ctx.api)
        if outcome.failed:
            table.set_visibility(False)
            if isinstance(outcome.error, NotOffered):
                create_card.set_visibility(False)
            return
        table.set_visibility(True)
        items.clear()
        items.update({h.id: h for h in found.webhooks})
        refresher.flush_now()

    async def create() -> None:
        spec = form.check(creating=True)
        if spec is None:
            return
        with ctx.errors() as outcome:
            try:
                saved = await wh.create_webhook(ctx.api, spec)
            except BadRequest as exc:  # the server's reason, at the form
                form.server_error.text = exc.message
                return
        if outcome.failed:
            return
        notify(f'Webhook "{saved.name}" created', 'success')
        secret.text = saved.secret or ''
        shown.set_visibility(bool(saved.secret))
        form.clear()
        items[saved.id] = Webhook.model_validate(saved.model_dump(exclude={'secret'}))
        refresher.flush_now()

    async def test(hook_id: str) -> None:
        if hook_id not in items or hook_id in testing:
            return
        testing.add(hook_id)
        refresher.flush_now()
        try:
            with ctx.errors() as outcome:
                result = await wh.test_webhook(ctx.api, hook_id)
        finally:
            testing.discard(hook_id)
        if not outcome.failed:
            notify(result.message, 'success' if result.delivered else 'error')
            if result.webhook is not None:
                items[hook_id] = result.webhook
        refresher.flush_now()

    async def delete(hook_id: str) -> None:
        hook = items.get(hook_id)
        if hook is None or not await confirm(
                'Delete webhook', f'Delete "{hook.name}" ({hook.url})? No more events are sent to it; events '
                'waiting for it are dropped.', action='Delete'):
            return
        with ctx.errors(success=f'Webhook "{hook.name}" deleted') as outcome:
            await wh.delete_webhook(ctx.api, hook_id)
        if not outcome.failed:
            items.pop(hook_id, None)
            refresher.flush_now()

    async def edit(hook_id: str) -> None:
        hook = items.get(hook_id)
        if hook is None:
            return
        with ui.dialog() as dialog, ui.card().classes('w-[48rem] max-w-full').mark('edit-dialog'):
            ui.label(f'Edit webhook "{hook.name}"').classes('text-lg font-semibold')
            edit_form = WebhookForm('edit-webhook', lambda: save(), hook)
            rotated, rotated_secret = secret_box('rotated-secret')
            with ui.row().classes('w-full justify-between'):
                ui.button('Rotate signing secret', icon='key', on_click=lambda: rotate()).props('flat') \
                    .mark('webhook-rotate')
                with ui.row():
                    ui.button('Cancel', on_click=dialog.close).props('flat')
                    ui.button('Save', icon='save', on_click=lambda: save()).mark('webhook-save')

        async def save() -> None:
            spec = edit_form.check(creating=False)
            if spec is None:
                return
            with ctx.errors() as outcome:
                try:
                    saved = await wh.update_webhook(ctx.api, hook_id, spec)
                except BadRequest as exc:
                    edit_form.server_error.text = exc.message
                    return
            if outcome.failed:
                return
            items[hook_id] = Webhook.model_validate(saved.model_dump(exclude={'secret'}))
            refresher.flush_now()
            notify(f'Webhook "{saved.name}" saved', 'success')
            dialog.close()

        async def rotate() -> None:
            if not await confirm('Rotate signing secret', 'Make a new signing secret? Receivers reject events '
                                 'until they use the new one.', action='Rotate'):
                return
            with ctx.errors(success='New signing secret made') as outcome:
                saved = await wh.update_webhook(ctx.api, hook_id, WebhookSpec(), rotate_secret=True)
            if not outcome.failed:
                rotated_secret.text = saved.secret or ''
                rotated.set_visibility(True)

        dialog.on('hide', dialog.delete)
        dialog.open()

    async def show_log(hook_id: str) -> None:
        hook = items.get(hook_id)
        if hook is None:
            return
        with ctx.errors() as outcome:
            attempts = await wh.deliveries(ctx.api, hook_id)
        if outcome.failed:
            return
        rows = [{'id': i, 'at': when(a.at), 'event': a.event, 'attempt': a.attempt, 'outcome': a.outcome,
                 'http': a.http_status or '', 'ms': a.duration_ms, 'error': a.error or ''}
                for i, a in enumerate(attempts)]
        with ui.dialog() as dialog, ui.card().classes('w-[48rem] max-w-full').mark('log-dialog'):
            ui.label(f'Recent deliveries of "{hook.name}" (last 50 attempts, newest first)') \
                .classes('text-lg font-semibold')
            if rows:
                ui.table(columns=LOG_COLUMNS, rows=rows, row_key='id').classes('w-full').props('flat dense') \
                    .mark('log-table')
            else:
                ui.label('No delivery attempts since the server started.').classes('text-gray-500')
            ui.button('Close', on_click=dialog.close).props('flat')
        dialog.on('hide', dialog.delete)
        dialog.open()

    def on_feature(event: FeatureEvent) -> None:
        if event.feature != wh.FEATURE:
            return
        hook = wh.webhook_of(event.data)
        if event.name == 'changed' and event.data.get('action') == 'deleted':
            items.pop(str(event.data.get('webhook_id')), None)
        elif hook is not None:
            items[hook.id] = hook
        refresher.mark()

    create_button.on_click(create)
    header.button.on_click(load)
    table.on('test', lambda e: test(e.args))
    table.on('delete', lambda e: delete(e.args))
    table.on('edit', lambda e: edit(e.args))
    table.on('log', lambda e: show_log(e.args))
    ctx.on(FeatureEvent, on_feature)
    ctx.on_resync(load)
    state.loading()
    await load()
