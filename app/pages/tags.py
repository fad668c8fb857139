"""`/tags`: every tag with its note count; pick one to see its notes."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import ui

from components.states import StatePanel
from services.events.models import KeyChangeEvent
from services.models import TagCount

from ..context import PageContext
from ..shell import page

NOTE_KEY_PREFIX = 'note:'


@page('/tags', 'Tags')
async def tags(ctx: PageContext) -> None:
    chips: dict[str, ui.chip] = {}  # one per tag, patched as counts change and tags come and go

    ui.label('Tags used in notes').classes('text-gray-500')
    with ui.card().classes('w-full'):
        state = StatePanel('tags-state')
        cloud = ui.row().classes('w-full gap-2').mark('tag-cloud')
    with ui.card().classes('w-full') as notes_card:
        heading = ui.label('').classes('font-semibold').mark('tag-heading')
        listing = ui.column().classes('gap-1').mark('tag-notes')
    notes_card.set_visibility(False)

    def render(found: list[TagCount]) -> None:
        """Patch the cloud: a chip's text is resent only when its count changed."""
        wanted = {item.tag for item in found}
        for gone in [tag for tag in chips if tag not in wanted]:
            chips.pop(gone).delete()
        children = cloud.default_slot.children
        with cloud:
            for index, item in enumerate(found):
                text = f'#{item.tag} · {item.count}'
                chip = chips.get(item.tag)
                if chip is None:
                    chip = chips[item.tag] = ui.chip(text, on_click=lambda t=item.tag: show_tag(t)) \
                        .props('clickable outline color=primary')
                chip.text = text
                if index >= len(children) or children[index] is not chip:
                    chip.move(target_index=index)
        state.settle(bool(found), 'No tags yet. Write #tag in a note.')

    async def load() -> None:
        """A REST refetch; errors go to the state panel (a refresher's render runs without a slot)."""
        with ctx.errors(state=state, feature='Tags') as outcome:
            found = await ctx.api.tags()
        if not outcome.failed:
            render(found)

    async def show_tag(tag: str) -> None:
        with ctx.errors() as outcome:
            paths = await ctx.api.tag_notes(tag)
        if outcome.failed:
            return
        heading.text = f'Notes tagged #{tag}'
        listing.clear()
        with listing:
            for path in paths:
                ui.link(path, f'/notes?open={quote(path)}').classes('font-mono')
        notes_card.set_visibility(True)

    refresher = ctx.refresher(load, frame=0.5, burst_frame=1.0)  # a REST refetch: at most twice a second

    def on_key_change(event: KeyChangeEvent) -> None:
        if event.key.startswith(NOTE_KEY_PREFIX):
            refresher.mark()

    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(load)
    await load()
