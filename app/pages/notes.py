"""`/notes`: Markdown notes with links, backlinks and tags — edited here, changed live elsewhere."""

from __future__ import annotations

import re
from urllib.parse import quote

from nicegui import ui

from components.confirm import confirm
from components.conflict_banner import ConflictBanner
from components.states import StatePanel
from services.api import ApiError
from services.events.models import KeyChangeEvent
from services.models import Note

from ..context import Coalescer, OwnWrites, PageContext, fetch_shown, notify
from ..shell import page

NOTE_KEY_PREFIX = 'note:'
_FRONT_MATTER = re.compile(r'^---\n.*?\n---\n?', re.S)
_WIKI_LINK = re.compile(r'\[\[([^\[\]|#]+)(?:\|([^\[\]]+))?\]\]')


def preview_markdown(content: str) -> str:
    """The note as Markdown to render: front matter removed (shown as chips), [[links]] made clickable."""
    body = _FRONT_MATTER.sub('', content, count=1)
    return _WIKI_LINK.sub(lambda m: f'[{(m.group(2) or m.group(1)).strip()}](/notes?open={quote(m.group(1).strip())})',
                          body)


@page('/notes', 'Notes')
async def notes(ctx: PageContext) -> None:
    own = OwnWrites()
    opened: dict[str, Note | None] = {'note': None}
    paths: list[str] = []

    ui.label('Markdown notes linked with [[wiki links]] and #tags').classes('text-gray-500')
    with ui.row().classes('w-full gap-4 items-start no-wrap'):
        with ui.card().classes('w-72 shrink-0'):
            with ui.row().classes('w-full items-center gap-2'):
                filter_input = ui.input(placeholder='Filter by path').props('dense clearable').classes('grow')
                ui.button(icon='add', on_click=lambda: new_note()).props('flat round dense').tooltip('New note') \
                    .mark('new-note')
            state = StatePanel('notes-state')
            listing = ui.column().classes('w-full gap-0').mark('note-list')
        with ui.card().classes('grow') as note_card:
            with ui.row().classes('w-full items-center justify-between'):
                title = ui.label('').classes('text-lg font-semibold font-mono break-all').mark('note-title')
                delete_button = ui.button('Delete', icon='delete', color='negative').props('flat dense')
            conflict = ConflictBanner(on_reload=lambda: open_note(title.text))
            chips = ui.row().classes('gap-1').mark('note-meta')
            with ui.tabs().props('dense align=left') as tabs:
                preview_tab = ui.tab('Preview')
                edit_tab = ui.tab('Edit')
            with ui.tab_panels(tabs, value=preview_tab).classes('w-full'):
                with ui.tab_panel(preview_tab):
                    preview = ui.markdown('').classes('w-full').mark('note-preview')  # sanitised HTML
                with ui.tab_panel(edit_tab):
                    editor = ui.textarea().classes('w-full font-mono').props('autogrow').mark('note-editor')
                    save_button = ui.button('Save', icon='save').mark('note-save')
    note_card.set_visibility(False)

    def render_list() -> None:
        needle = (filter_input.value or '').lower()
        listing.clear()
        with listing:
            for path in paths:
                if needle and needle not in path.lower():
                    continue
                active = 'text-primary' if opened['note'] and opened['note'].path == path else ''
                ui.button(path, on_click=lambda p=path: open_note(p)).props('flat dense no-caps align=left') \
                    .classes(f'w-full font-mono {active}')
        state.settle(bool(paths), 'No notes yet.')

    async def load() -> None:
        found = await fetch_shown(ctx.api.notes(), state, 'Notes')
        if found is None:
            return
        paths[:] = found
        render_list()

    def show(note: Note) -> None:
        opened['note'] = note
        title.text = note.path
        preview.content = preview_markdown(note.content)
        editor.value = note.content
        conflict.hide()
        chips.clear()
        with chips:
            for key, value in note.frontmatter.items():
                ui.chip(f'{key}: {value}', color='grey').props('dense outline')
            for tag in note.tags:
                ui.chip(f'#{tag}', color='primary').props('dense outline')
            for link in note.links:
                ui.chip(f'→ {link}', on_click=lambda p=link: open_note(p)).props('dense clickable')
            for back in note.backlinks:
                ui.chip(f'← {back}', on_click=lambda p=back: open_note(p)).props('dense clickable')
        note_card.set_visibility(True)
        render_list()

    async def open_note(path: str) -> None:
        try:
            note = await ctx.api.note(path)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        if note is None:
            notify(f'Note "{path}" not found', 'warning')
            return
        show(note)

    async def save() -> None:
        note = opened['note']
        if note is None:
            return
        content = editor.value or ''
        own.remember(NOTE_KEY_PREFIX + note.path, content)
        try:
            await ctx.api.put_note(note.path, content)
        except ApiError as exc:
            notify(exc.message, 'error')  # the editor keeps the text
            return
        notify(f'Note "{note.path}" saved', 'success')
        await open_note(note.path)

    async def new_note() -> None:
        with ui.dialog() as dialog, ui.card():
            ui.label('New note').classes('font-semibold')
            path_input = ui.input('Path', placeholder='projects/apex').props('autofocus').mark('new-note-path')
            path_input.on('keydown.enter', lambda: dialog.submit(path_input.value))
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: dialog.submit(None)).props('flat')
                ui.button('Create', on_click=lambda: dialog.submit(path_input.value)).mark('new-note-create')
        path = ((await dialog) or '').strip()
        dialog.delete()
        if not path:
            return
        content = f'# {path}\n'
        own.remember(NOTE_KEY_PREFIX + path, content)
        try:
            await ctx.api.put_note(path, content)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        await load()
        await open_note(path)
        tabs.set_value(edit_tab)

    async def delete() -> None:
        note = opened['note']
        if note is None or not await confirm('Delete note', f'Delete the note "{note.path}"?'):
            return
        own.remember(NOTE_KEY_PREFIX + note.path, None)
        try:
            await ctx.api.delete_note(note.path)
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        opened['note'] = None
        note_card.set_visibility(False)
        notify(f'Note "{note.path}" deleted', 'success')
        await load()

    reload_list = Coalescer(load, rate=4)

    def on_key_change(event: KeyChangeEvent) -> None:
        if not event.key.startswith(NOTE_KEY_PREFIX):
            return
        reload_list.mark()
        note = opened['note']
        if note is not None and event.key == NOTE_KEY_PREFIX + note.path and not own.is_own(event):
            conflict.show('deleted' if event.operation != 'put' else 'changed', thing='note')

    save_button.on_click(save)
    delete_button.on_click(delete)
    filter_input.on_value_change(render_list)
    ctx.on('on_key_changes', on_key_change)
    ctx.on_resync(load)
    await load()
    if (wanted := ctx.query('open')) is not None:
        await open_note(wanted)
