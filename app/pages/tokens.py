"""`/admin`: API tokens — list, create (shown once), revoke with confirmation."""

from __future__ import annotations

from nicegui import ui

from components.clock import when as when_text
from components.confirm import confirm
from components.states import StatePanel
from services.api import NotOffered
from services.models import TokenInfo

from ..context import PageContext, notify
from ..shell import page

PERMISSIONS = ['Read', 'Write', 'Delete', 'Admin']
COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'permissions', 'label': 'Permissions', 'field': 'permissions', 'align': 'left'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'expires', 'label': 'Expires', 'field': 'expires', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'id', 'align': 'right'},
]
ACTIONS_SLOT = r'''
<q-td :props="props">
  <q-btn flat dense icon="delete" color="negative" title="Revoke" @click="$parent.$emit('revoke', props.row.id)" />
</q-td>
'''


def when(ns: int | None) -> str:
    return 'never' if ns is None else when_text(ns / 1e9)


@page('/admin', 'Tokens')
async def tokens(ctx: PageContext) -> None:
    items: dict[str, TokenInfo] = {}
    ui.label('API tokens: who may read, write, delete and administer this store').classes('text-gray-500')
    with ui.card().classes('w-full'):
        ui.label('Create token').classes('font-semibold')
        with ui.row().classes('w-full items-end gap-3'):
            name = ui.input('Name', placeholder='ci-reader').classes('w-56').mark('token-name')
            checks = {p: ui.checkbox(p, value=p == 'Read') for p in PERMISSIONS}
            days = ui.number('Expires in days (optional)', min=1, precision=0).classes('w-48')
            create = ui.button('Create Token', icon='add').mark('token-create')
        with ui.row().classes('w-full items-center gap-2 p-2 rounded bg-green-500/10') as shown:
            ui.label('Copy it now; it is shown only once:').classes('text-sm')
            secret = ui.label('').classes('font-mono break-all').mark('new-token')
            ui.button(icon='content_copy', on_click=lambda: ui.clipboard.write(secret.text)).props('flat dense')
        shown.set_visibility(False)
    create.bind_enabled_from(name, 'value', backward=lambda v: bool((v or '').strip()))
    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Active tokens').classes('font-semibold')
            count = ui.badge('0')
        state = StatePanel('tokens-state')
        table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat dense') \
            .mark('token-table')
        table.add_slot('body-cell-actions', ACTIONS_SLOT)

    def render() -> None:
        table.rows = [{'id': t.id, 'name': t.name, 'permissions': ', '.join(t.permissions),
                       'created': when(t.created_at), 'expires': when(t.expires_at)} for t in items.values()]
        table.update()
        count.text = str(len(items))
        state.settle(bool(items), 'No tokens yet.')

    async def load() -> None:
        with ctx.errors(state=state, feature='Token management') as outcome:
            found = await ctx.api.tokens()
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                create.disable()
            return
        items.clear()
        items.update({t.id: t for t in found})
        render()

    async def create_token() -> None:
        permissions = [p for p, box in checks.items() if box.value]
        if not permissions:
            notify('Choose at least one permission.', 'warning')
            return
        with ctx.errors(success='Token created successfully') as outcome:
            created = await ctx.api.create_token((name.value or '').strip(), permissions,
                                                 int(days.value) if days.value else None)
        if outcome.failed:
            return
        secret.text = created.token  # the one time the raw token is shown, to the admin who made it
        shown.set_visibility(True)
        name.value = ''
        await load()

    async def revoke(token_id: str) -> None:
        token = items.get(token_id)
        if token is None or not await confirm('Revoke token', f'Revoke "{token.name}"? Clients using it are '
                                              'refused from now on.', action='Revoke'):
            return
        with ctx.errors(success='Token deleted successfully') as outcome:
            await ctx.api.delete_token(token_id)
        if outcome.failed:
            return
        items.pop(token_id, None)
        render()

    create.on_click(create_token)
    table.on('revoke', lambda e: revoke(e.args))
    ctx.on_resync(load)
    await load()
