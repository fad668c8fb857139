"""`/features`: feature flags — toggle at runtime, add new ones (legacy `/features` routes)."""

from __future__ import annotations

from nicegui import ui

from components.states import StatePanel
from services.api import NotOffered
from services.models import FeatureFlag

from ..context import PageContext
from ..shell import page


@page('/features', 'Feature Flags')
async def features(ctx: PageContext) -> None:
    flags: dict[str, FeatureFlag] = {}
    ui.label('Turn features on and off at runtime, without a restart').classes('text-gray-500')
    with ui.card().classes('w-full'):
        ui.label('New flag').classes('font-semibold')
        with ui.row().classes('w-full items-end gap-2'):
            name = ui.input('Name', placeholder='dark-launch').classes('w-56').mark('flag-name')
            description = ui.input('Description').classes('grow').mark('flag-description')
            enabled = ui.switch('Enabled', value=False)
            add = ui.button('Save', icon='add').mark('flag-save')
    add.bind_enabled_from(name, 'value', backward=lambda v: bool((v or '').strip()))
    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Flags').classes('font-semibold')
            count = ui.badge('0')
        state = StatePanel('flags-state')
        listing = ui.column().classes('w-full gap-1').mark('flag-list')

    def render() -> None:
        listing.clear()
        count.text = str(len(flags))
        state.settle(bool(flags), 'No feature flags yet.')
        with listing:
            for flag in sorted(flags.values(), key=lambda f: f.name):
                with ui.row().classes('w-full items-center gap-3'):
                    ui.switch(value=flag.enabled, on_change=lambda e, f=flag: toggle(f, e.value)) \
                        .mark(f'flag-{flag.name}')
                    ui.label(flag.name).classes('font-mono')
                    ui.label(flag.description).classes('text-gray-500')

    async def load() -> None:
        with ctx.errors(state=state, feature='Feature flags') as outcome:
            found = await ctx.api.features()
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                add.disable()
            return
        flags.clear()
        flags.update({f.name: f for f in found})
        render()

    async def toggle(flag: FeatureFlag, value: bool) -> None:
        with ctx.errors(success=f"Feature '{flag.name}' {'enabled' if value else 'disabled'}") as outcome:
            await ctx.api.set_feature(flag.name, value, flag.description)
        if outcome.failed:
            await load()  # the switch goes back to what the server has
            return
        flag.enabled = value

    async def save() -> None:
        flag_name = (name.value or '').strip()
        with ctx.errors(success=f"Feature '{flag_name}' updated") as outcome:
            await ctx.api.set_feature(flag_name, bool(enabled.value), description.value or '')
        if outcome.failed:
            return
        name.value = description.value = ''
        await load()

    add.on_click(save)
    ctx.on_resync(load)
    await load()
