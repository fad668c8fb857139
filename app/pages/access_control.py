"""`/access-control`: access policies — create, edit, delete (confirmed), try a request against them; live.

A policy narrows what a token (or a role, or everyone) may do on routes or keys; the backend enforces it
on every request and stream. The list refetches when another admin changes a policy (feature events).
"""

from __future__ import annotations

import time

from nicegui import ui

from components.confirm import confirm
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered, PermissionDenied
from services.events.models import FeatureEvent
from services.features import access_control as acl
from services.features.access_control import ACTIONS, Policy, PolicyDraft, resource_problem
from services.models import TokenInfo

from ..context import PageContext, notify
from ..shell import page

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'subject', 'label': 'Applies to', 'field': 'subject', 'align': 'left'},
    {'name': 'resource', 'label': 'Resource', 'field': 'resource', 'align': 'left', 'classes': 'font-mono'},
    {'name': 'actions', 'label': 'Actions', 'field': 'actions', 'align': 'left'},
    {'name': 'effect', 'label': 'Effect', 'field': 'effect', 'align': 'left'},
    {'name': 'priority', 'label': 'Priority', 'field': 'priority', 'align': 'right'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'tools', 'label': '', 'field': 'id', 'align': 'right'},
]
ACTIONS_SLOT = r'''
<q-td :props="props">
  <q-badge v-for="a in props.row.actions" :key="a" color="info" outline class="q-mr-xs">{{ a }}</q-badge>
</q-td>
'''
EFFECT_SLOT = r'''
<q-td :props="props">
  <q-badge :color="props.row.effect === 'deny' ? 'negative' : 'positive'">
    {{ props.row.effect === 'deny' ? 'Deny' : 'Allow' }}</q-badge>
</q-td>
'''
TOOLS_SLOT = r'''
<q-td :props="props" class="whitespace-nowrap">
  <q-btn flat dense icon="edit" title="Edit" @click="$parent.$emit('edit', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('delete', props.row.id)" />
</q-td>
'''
RULES = ('Policies are tried by priority, highest first (deny first on a tie); the first that matches decides. '
         'When none matches, the token\'s own permissions decide: a policy never grants a permission the token '
         'lacks. Resources: * (everything), a route glob such as /admin/* or /ws/events, or a key glob such as '
         'keys:secret:* (checked on key paths, listing and stream prefixes, and written keys).')


def when(ns: int | None) -> str:
    return '—' if not ns else time.strftime('%d/%m/%y %H:%M', time.localtime(ns / 1e9))


def subject_options(tokens: dict[str, TokenInfo], current: str | None = None) -> dict[str, str]:
    options = {'*': 'Everyone'}
    options.update({f'role:{p}': f'Role: {p}' for p in ACTIONS})
    options.update({f'token:{t.id}': f'Token: {t.name} (…{t.id[-6:]})' for t in tokens.values()})
    if current and current not in options:
        options[current] = subject_text(current, tokens)
    return options


def subject_text(subject: str, tokens: dict[str, TokenInfo]) -> str:
    kind, _, value = subject.partition(':')
    if subject == '*':
        return 'Everyone'
    if kind == 'role':
        return f'Role: {value}'
    token = tokens.get(value)
    return f'Token: {token.name}' if token else f'Token: deleted (…{value[-6:]})'


def row(policy: Policy, tokens: dict[str, TokenInfo]) -> dict:
    return {'id': policy.id, 'name': policy.name, 'subject': subject_text(policy.subject, tokens),
            'resource': policy.resource, 'actions': policy.actions, 'effect': policy.effect,
            'priority': policy.priority, 'created': when(policy.created_at)}


@page('/access-control', 'Access Control')
async def access_control(ctx: PageContext) -> None:
    policies: dict[str, Policy] = {}
    tokens: dict[str, TokenInfo] = {}
    editing: dict[str, str | None] = {'id': None}

    header = PageHeader('Policy management for authorization')
    ui.label(RULES).classes('text-sm text-gray-500')
    with ui.card().classes('w-full') as form_card:
        form_title = ui.label('Create Policy').classes('font-semibold').mark('policy-form-title')
        with ui.row().classes('w-full items-start gap-3'):
            name = ui.input('Name', placeholder='read-only-users',
                            validation=lambda v: None if (v or '').strip() else 'Enter a name') \
                .without_auto_validation().classes('w-56').mark('policy-name')
            subject = ui.select(subject_options(tokens), value='*', label='Applies to').classes('w-64') \
                .mark('policy-subject')
            resource = ui.input('Resource Pattern', placeholder='keys:*', validation=resource_problem) \
                .without_auto_validation().classes('grow font-mono').mark('policy-resource')
            priority = ui.number('Priority', value=100, min=0, max=1_000_000, precision=0,
                                 validation=lambda v: None if v is not None and 0 <= v <= 1_000_000
                                 else 'Priority is a whole number from 0 to 1,000,000') \
                .without_auto_validation().classes('w-32').mark('policy-priority')
        with ui.row().classes('w-full items-center gap-3'):
            effect = ui.toggle({'allow': 'Allow', 'deny': 'Deny'}, value='allow').mark('policy-effect')
            actions = ui.select(ACTIONS, multiple=True, value=['Read'], label='Actions',
                                validation=lambda v: None if v else 'Choose at least one action') \
                .without_auto_validation().props('use-chips').classes('w-72').mark('policy-actions')
            description = ui.input('Description (optional)').classes('grow').mark('policy-description')
        with ui.row().classes('gap-2'):
            save = ui.button('Create Policy', icon='add').mark('policy-save')
            cancel = ui.button('Cancel', icon='close').props('flat').mark('policy-cancel')
        cancel.set_visibility(False)

    with ui.card().classes('w-full') as check_card:
        ui.label('Check access').classes('font-semibold')
        ui.label('Would a request be allowed? Nothing is changed.').classes('text-sm text-gray-500')
        with ui.row().classes('w-full items-center gap-3'):
            check_token = ui.select({}, label='Token').classes('w-64').mark('check-token')
            check_action = ui.select(ACTIONS, value='Read', label='Action').classes('w-32').mark('check-action')
            check_target = ui.input('Route or key', placeholder='/admin/tokens or user:42').classes('grow font-mono') \
                .mark('check-target')
            check_button = ui.button('Check', icon='rule').mark('check-run')
        check_result = ui.label('').classes('font-medium').mark('check-result')

    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Policies').classes('font-semibold')
            count = ui.badge('0').mark('policy-count')
        state = StatePanel('policy-state')
        table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
            .mark('policy-table')
        for slot, template in (('actions', ACTIONS_SLOT), ('effect', EFFECT_SLOT), ('tools', TOOLS_SLOT)):
            table.add_slot(f'body-cell-{slot}', template)

    def render() -> None:
        table.rows = [row(p, tokens) for p in policies.values()]
        table.update()
        count.text = str(len(policies))
        state.settle(bool(policies), 'No policies yet: every token can do what its permissions allow.')
        subject.set_options(subject_options(tokens, subject.value), value=subject.value)
        check_token.set_options({t.id: t.name for t in tokens.values()}, value=check_token.value)

    def unavailable(error: Exception) -> None:
        """Not offered, or not an admin: nothing to edit, so no forms."""
        form_card.set_visibility(False)
        check_card.set_visibility(False)
        table.set_visibility(False)
        if isinstance(error, PermissionDenied):
            state.error('Only tokens with the Admin permission may view or change access policies.')

    async def load() -> None:
        with ctx.errors(state=state, feature='Access control') as outcome:
            found = await acl.list_policies(ctx.api)
            known = await ctx.api.tokens()
        if outcome.failed:
            if isinstance(outcome.error, (NotOffered, PermissionDenied)):
                unavailable(outcome.error)
            return
        policies.clear()
        policies.update({p.id: p for p in found})  # already in the order they are tried
        tokens.clear()
        tokens.update({t.id: t for t in known})
        if editing['id'] is not None and editing['id'] not in policies:
            notify('The policy you were editing was deleted by another admin.', 'warning')
            reset_form()
        render()
        header.stamp()

    refresher = ctx.refresher(load, frame=0.5, burst_frame=2.0)

    def reset_form() -> None:
        editing['id'] = None
        form_title.text = 'Create Policy'
        save.text = 'Create Policy'
        save.props('icon=add')
        cancel.set_visibility(False)
        name.value, resource.value, description.value = '', '', ''
        priority.value, effect.value, actions.value, subject.value = 100, 'allow', ['Read'], '*'
        for field in (name, resource, priority, actions):
            field.error = None

    def edit(policy_id: str) -> None:
        policy = policies.get(policy_id)
        if policy is None:
            return
        editing['id'] = policy_id
        form_title.text = f'Edit Policy "{policy.name}"'
        save.text = 'Update Policy'
        save.props('icon=save')
        cancel.set_visibility(True)
        subject.set_options(subject_options(tokens, policy.subject), value=policy.subject)
        name.value, resource.value, description.value = policy.name, policy.resource, policy.description
        priority.value, effect.value, actions.value = policy.priority, policy.effect, list(policy.actions)

    async def submit() -> None:
        if not all([name.validate(), resource.validate(), priority.validate(), actions.validate()]):
            return
        draft = PolicyDraft(name=name.value.strip(), subject=subject.value or '*', resource=resource.value.strip(),
                            actions=list(actions.value), effect=effect.value, priority=int(priority.value),
                            description=(description.value or '').strip())
        policy_id = editing['id']
        verb = 'updated' if policy_id else 'created'
        with ctx.errors(success=f'Policy "{draft.name}" {verb}') as outcome:
            if policy_id:
                saved = await acl.update_policy(ctx.api, policy_id, draft)
            else:
                saved = await acl.create_policy(ctx.api, draft)
        if outcome.failed:
            return
        policies[saved.id] = saved
        reset_form()
        refresher.flush_now()

    async def delete(policy_id: str) -> None:
        policy = policies.get(policy_id)
        if policy is None or not await confirm(
                'Delete policy', f'Delete policy "{policy.name}"? Requests it decided are decided by the other '
                'policies and the tokens\' permissions from now on.'):
            return
        with ctx.errors(success=f'Policy "{policy.name}" deleted') as outcome:
            await acl.delete_policy(ctx.api, policy_id)
        if outcome.failed:
            return
        policies.pop(policy_id, None)
        if editing['id'] == policy_id:
            reset_form()
        refresher.flush_now()

    async def check() -> None:
        target = (check_target.value or '').strip()
        if not check_token.value or not target:
            check_result.text = 'Choose a token and enter a route (starting with /) or a key.'
            check_result.classes(replace='font-medium text-warning')
            return
        with ctx.errors() as outcome:
            answer = await acl.check_access(ctx.api, check_token.value, check_action.value, target)
        if outcome.failed:
            return
        verdict = 'Allowed' if answer.allowed else 'Denied'
        check_result.text = f'{verdict}: {answer.reason}'
        check_result.classes(replace=f'font-medium {"text-positive" if answer.allowed else "text-negative"}')

    save.on_click(submit)
    cancel.on_click(reset_form)
    for field in (name, resource, description):
        field.on('keydown.enter', submit)
    priority.on('keydown.enter', submit)
    check_button.on_click(check)
    check_target.on('keydown.enter', check)
    table.on('edit', lambda e: edit(e.args))
    table.on('delete', lambda e: delete(e.args))
    header.button.on_click(refresher.flush_now)
    ctx.on(FeatureEvent, lambda e: refresher.mark() if e.feature == acl.FEATURE else None)

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
