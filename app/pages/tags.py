"""`/tags`: every tag with its note count; pick one to see its notes."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import ui

from components.states import StatePanel
from services.api import ApiError
from services.models import TagCount

from ..context import Coalescer, PageContext, fetch_shown, notify
from ..shell import page


@page('/tags', 'Tags')
async def tags(ctx: PageContext) -> None:
    ui.label('Tags used in notes').classes('text-gray-500')
    with ui.card().classes('w-full'):
        state = StatePanel('tags-state')
        cloud = ui.row().classes('w-full gap-2').mark('tag-cloud')
    with ui.card().classes('w-full') as notes_card:
        heading = ui.label('').classes('font-semibold').mark('tag-heading')
        listing = ui.column().classes('gap-1').mark('tag-notes')
    notes_card.set_visibility(False)

    def render(found: list[TagCount]) -> None:
        cloud.clear()
        with cloud:
            for item in found:
                ui.chip(f'#{item.tag} · {item.count}', on_click=lambda t=item.tag: show_tag(t)) \
                    .props('clickable outline color=primary')
        state.settle(bool(found), 'No tags yet. Write #tag in a note.')

    async def load() -> None:
        found = await fetch_shown(ctx.api.tags(), state, 'Tags')
        if found is not None:
            render(found)

    async def show_tag(tag: str) -> None:
        try:
            paths = await ctx.api.tag_notes(tag)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        heading.text = f'Notes tagged #{tag}'
        listing.clear()
        with listing:
            for path in paths:
                ui.link(path, f'/notes?open={quote(path)}').classes('font-mono')
        notes_card.set_visibility(True)

    live = Coalescer(load, rate=2)
    ctx.on('on_key_changes', lambda event: live.mark() if event.key.startswith('note:') else None)
    ctx.on_resync(load)
    await load()
