"""`/quotas`: per-token quotas — create, edit, delete (confirmed) — and each token's usage, live.

The backend sends `quotas/usage` feature events about once a second while usage changes; the usage bars
patch themselves from them. Other quota changes (another admin) refetch the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import ui

from components.confirm import confirm
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered, PermissionDenied
from services.events.models import FeatureEvent
from services.features import quotas as qs
from services.features.quotas import Quota, QuotaDraft, QuotaUsage
from services.models import TokenInfo

from ..context import PageContext, notify
from ..shell import page

UNITS = {'bytes': 1, 'KB': 1024, 'MB': 1024**2, 'GB': 1024**3}
LIMITS = [('max_requests_per_min', 'Max Requests/min'), ('max_reads_per_min', 'Max Reads/min'),
          ('max_writes_per_min', 'Max Writes/min'), ('max_budget_per_day', 'Daily Budget')]
COLUMNS = [
    {'name': 'tenant', 'label': 'Tenant', 'field': 'tenant', 'align': 'left'},
    {'name': 'requests', 'label': 'Requests/min', 'field': 'requests', 'align': 'right'},
    {'name': 'reads', 'label': 'Reads/min', 'field': 'reads', 'align': 'right'},
    {'name': 'writes', 'label': 'Writes/min', 'field': 'writes', 'align': 'right'},
    {'name': 'storage', 'label': 'Storage', 'field': 'storage', 'align': 'right'},
    {'name': 'budget', 'label': 'Budget/day', 'field': 'budget', 'align': 'right'},
    {'name': 'used', 'label': 'Used today', 'field': 'used', 'align': 'right'},
    {'name': 'status', 'label': 'Status', 'field': 'active', 'align': 'left'},
    {'name': 'tools', 'label': '', 'field': 'id', 'align': 'right'},
]
STATUS_SLOT = r'''
<q-td :props="props">
  <q-badge :color="props.row.active ? 'positive' : 'grey'">{{ props.row.active ? 'Active' : 'Inactive' }}</q-badge>
</q-td>
'''
TOOLS_SLOT = r'''
<q-td :props="props" class="whitespace-nowrap">
  <q-btn flat dense icon="edit" title="Edit" @click="$parent.$emit('edit', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('delete', props.row.id)" />
</q-td>
'''


def bytes_text(size: int) -> str:
    for unit, factor in (('GB', 1024**3), ('MB', 1024**2), ('KB', 1024)):
        if size >= factor:
            return f'{size / factor:.2f} {unit}'
    return f'{size:,} bytes'


def limit_text(limit: int | None, fmt=lambda v: f'{v:,}') -> str:
    return '∞' if limit is None else fmt(limit)


def whole_or_empty(value: float | None) -> str | None:
    if value is None:
        return None
    return None if value >= 0 and float(value).is_integer() else 'A whole number ≥ 0, or empty for no limit'


def row(quota: Quota, usage: QuotaUsage) -> dict:
    return {'id': quota.id, 'tenant': quota.token_name or f'deleted token …{quota.tenant[-6:]}',
            'requests': limit_text(quota.max_requests_per_min), 'reads': limit_text(quota.max_reads_per_min),
            'writes': limit_text(quota.max_writes_per_min), 'storage': limit_text(quota.max_storage_bytes, bytes_text),
            'budget': limit_text(quota.max_budget_per_day), 'used': f'{usage.budget_used:,}',
            'active': quota.active}


@dataclass
class Meter:
    text: ui.label
    bar: ui.linear_progress

    def show(self, used: int, limit: int | None, fmt=lambda v: f'{v:,}') -> None:
        if limit is None:
            self.text.text = f'{fmt(used)} (no limit)'
            self.bar.set_visibility(False)
            return
        ratio = min(1.0, used / limit) if limit else 1.0
        self.text.text = f'{fmt(used)} / {fmt(limit)}'
        self.bar.set_visibility(True)
        self.bar.value = ratio
        self.bar.props(f'color={"negative" if ratio >= 1 else "warning" if ratio >= 0.8 else "positive"}')


class UsageRow:
    """One token's usage bars, patched in place by usage events."""

    METRICS = [('requests', 'Requests (last minute)'), ('reads', 'Reads (last minute)'),
               ('writes', 'Writes (last minute)'), ('storage', 'Storage used'), ('budget', 'Budget used today')]

    def __init__(self, quota: Quota) -> None:
        self.meters: dict[str, Meter] = {}
        with ui.column().classes('w-full gap-1 py-2 border-b border-gray-700').mark(f'usage-{quota.id}'):
            with ui.row().classes('items-center gap-2'):
                self.title = ui.label('').classes('font-semibold')
                self.rejected = ui.label('').classes('text-sm text-gray-500').mark(f'usage-{quota.id}-rejected')
            with ui.row().classes('w-full gap-4'):
                for key, title in self.METRICS:
                    with ui.column().classes('grow basis-40 gap-0'):
                        ui.label(title).classes('text-xs uppercase text-gray-500')
                        text = ui.label('').classes('font-mono text-sm').mark(f'usage-{quota.id}-{key}')
                        bar = ui.linear_progress(value=0, show_value=False).props('rounded size=8px')
                    self.meters[key] = Meter(text, bar)

    def show(self, quota: Quota, usage: QuotaUsage) -> None:
        self.title.text = (quota.token_name or 'deleted token') + ('' if quota.active else ' (inactive)')
        self.meters['requests'].show(usage.requests_per_min, quota.max_requests_per_min)
        self.meters['reads'].show(usage.reads_per_min, quota.max_reads_per_min)
        self.meters['writes'].show(usage.writes_per_min, quota.max_writes_per_min)
        self.meters['storage'].show(usage.storage_bytes, quota.max_storage_bytes, bytes_text)
        self.meters['budget'].show(usage.budget_used, quota.max_budget_per_day)
        self.rejected.text = f'refused: {usage.rejected_rate:,} over a rate or budget (429), ' \
                             f'{usage.rejected_storage:,} over storage (507)'


@page('/quotas', 'Quotas')
async def quotas(ctx: PageContext) -> None:
    items: dict[str, Quota] = {}
    usage: dict[str, QuotaUsage] = {}
    tokens: dict[str, TokenInfo] = {}
    editing: dict[str, str | None] = {'id': None}
    rows: dict[str, UsageRow] = {}
    dirty = {'list': False}

    header = PageHeader('Tenant quotas and query budget management')
    ui.label('Each quota limits one token: requests, reads and writes per minute (429 past a limit), a daily '
             'request budget, and the bytes its live keys take (507 past the limit; nothing is written). Empty '
             'means no limit.').classes('text-sm text-gray-500')
    with ui.card().classes('w-full') as form_card:
        form_title = ui.label('Create Quota').classes('font-semibold').mark('quota-form-title')
        with ui.row().classes('w-full items-start gap-3'):
            tenant = ui.select({}, label='Tenant (token)', validation=lambda v: None if v else 'Choose a token') \
                .without_auto_validation().classes('w-64').mark('quota-tenant')
            description = ui.input('Description').classes('grow').mark('quota-description')
            active = ui.switch('Active', value=True).mark('quota-active')
        with ui.row().classes('w-full items-start gap-3'):
            limits = {field: ui.number(label, min=0, precision=0, validation=whole_or_empty)
                      .without_auto_validation().classes('w-44').mark(f'quota-{field}') for field, label in LIMITS}
            storage = ui.number('Max Storage', min=0, validation=lambda v: None if v is None or v >= 0
                                else 'A size ≥ 0, or empty for no limit').without_auto_validation() \
                .classes('w-36').mark('quota-storage')
            unit = ui.select(list(UNITS), value='MB', label='Unit').classes('w-24').mark('quota-storage-unit')
        with ui.row().classes('gap-2'):
            save = ui.button('Create Quota', icon='add').mark('quota-save')
            cancel = ui.button('Cancel', icon='close').props('flat').mark('quota-cancel')
        cancel.set_visibility(False)

    with ui.card().classes('w-full') as usage_card:
        ui.label('Live usage').classes('font-semibold')
        usage_box = ui.column().classes('w-full gap-0')

    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Quotas').classes('font-semibold')
            count = ui.badge('0').mark('quota-count')
        state = StatePanel('quota-state')
        table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
            .mark('quota-table')
        table.add_slot('body-cell-status', STATUS_SLOT)
        table.add_slot('body-cell-tools', TOOLS_SLOT)

    def render() -> None:
        """The page's one refresher: the table when a value changed, usage rows when quotas came or went, bars."""
        shown = [row(q, usage.get(q.id, q.usage)) for q in items.values()]
        if table.rows != shown:
            table.rows = shown
        count.text = str(len(items))
        if dirty['list']:
            dirty['list'] = False
            state.settle(bool(items), 'No quotas yet: no token is limited.')
            usage_card.set_visibility(bool(items))
            usage_box.clear()
            rows.clear()
            with usage_box:
                for quota in items.values():
                    rows[quota.id] = UsageRow(quota)
            tenant_options()
        for quota in items.values():
            rows[quota.id].show(quota, usage.get(quota.id, quota.usage))

    refresher = ctx.refresher(render, frame=0.25, burst_frame=1.0)

    def tenant_options() -> None:
        """Tokens without a quota (a token has one at most), plus the token of the quota being edited."""
        taken = {q.tenant for q in items.values() if q.id != editing['id']}
        options = {t.id: t.name for t in tokens.values() if t.id not in taken}
        edited = items.get(editing['id'] or '')
        if edited is not None and edited.tenant not in options:
            options[edited.tenant] = f'deleted token …{edited.tenant[-6:]}'
        tenant.set_options(options, value=tenant.value if tenant.value in options else None)

    def unavailable(error: Exception) -> None:
        for card in (form_card, usage_card):
            card.set_visibility(False)
        table.set_visibility(False)
        if isinstance(error, PermissionDenied):
            state.error('Only tokens with the Admin permission may view or change quotas.')

    async def load() -> None:
        with ctx.errors(state=state, feature='Quotas') as outcome:
            found = await qs.list_quotas(ctx.api)
            known = await ctx.api.tokens()
        if outcome.failed:
            if isinstance(outcome.error, (NotOffered, PermissionDenied)):
                unavailable(outcome.error)
            return
        items.clear()
        items.update({q.id: q for q in found})
        usage.clear()
        tokens.clear()
        tokens.update({t.id: t for t in known})
        if editing['id'] is not None and editing['id'] not in items:
            notify('The quota you were editing was deleted by another admin.', 'warning')
            reset_form()
        dirty['list'] = True
        refresher.flush_now()
        header.stamp()

    def reset_form() -> None:
        editing['id'] = None
        tenant_options()
        form_title.text = 'Create Quota'
        save.text = 'Create Quota'
        tenant.enable()
        cancel.set_visibility(False)
        tenant.value, description.value, active.value, storage.value, unit.value = None, '', True, None, 'MB'
        for element in limits.values():
            element.value = None
        for field in (tenant, storage, *limits.values()):
            field.error = None

    def edit(quota_id: str) -> None:
        quota = items.get(quota_id)
        if quota is None:
            return
        editing['id'] = quota_id
        form_title.text = f'Edit Quota for "{quota.token_name or quota.tenant}"'
        save.text = 'Update Quota'
        cancel.set_visibility(True)
        tenant_options()
        tenant.value = quota.tenant
        tenant.disable()  # a quota stays with its token
        description.value, active.value = quota.description, quota.active
        for field, element in limits.items():
            element.value = getattr(quota, field)
        size = quota.max_storage_bytes
        unit.value = next((u for u in ('GB', 'MB', 'KB') if size and size % UNITS[u] == 0), 'bytes')
        storage.value = None if size is None else size / UNITS[unit.value]

    async def submit() -> None:
        if not all([tenant.validate(), storage.validate(), *[e.validate() for e in limits.values()]]):
            return
        draft = QuotaDraft(tenant=tenant.value, description=(description.value or '').strip(), active=active.value,
                           max_storage_bytes=None if storage.value is None else int(storage.value * UNITS[unit.value]),
                           **{f: None if e.value is None else int(e.value) for f, e in limits.items()})
        quota_id = editing['id']
        who = tokens[draft.tenant].name if draft.tenant in tokens else draft.tenant
        with ctx.errors(success=f'Quota for "{who}" {"updated" if quota_id else "created"}') as outcome:
            if quota_id:
                saved = await qs.update_quota(ctx.api, quota_id, draft)
            else:
                saved = await qs.create_quota(ctx.api, draft)
        if outcome.failed:
            return
        items[saved.id] = saved
        reset_form()
        dirty['list'] = True
        refresher.flush_now()

    async def delete(quota_id: str) -> None:
        quota = items.get(quota_id)
        who = (quota.token_name or quota.tenant) if quota else ''
        if quota is None or not await confirm('Delete quota', f'Delete the quota of "{who}"? The token is no '
                                              'longer limited, and its usage counts are dropped.'):
            return
        with ctx.errors(success=f'Quota for "{who}" deleted') as outcome:
            await qs.delete_quota(ctx.api, quota_id)
        if outcome.failed:
            return
        items.pop(quota_id, None)
        if editing['id'] == quota_id:
            reset_form()
        dirty['list'] = True
        refresher.flush_now()

    async def on_feature(event: FeatureEvent) -> None:
        if event.feature != qs.FEATURE:
            return
        if event.name == 'usage':
            usage.update(qs.usage_from_event(event.data))
            refresher.mark()
        else:
            await load()  # created, updated or deleted (maybe by another admin)

    save.on_click(submit)
    cancel.on_click(reset_form)
    for element in (description, storage, *limits.values()):
        element.on('keydown.enter', submit)
    table.on('edit', lambda e: edit(e.args))
    table.on('delete', lambda e: delete(e.args))
    header.button.on_click(load)
    ctx.on(FeatureEvent, on_feature)
    ctx.on_resync(load)
    usage_card.set_visibility(False)
    state.loading()
    await load()
