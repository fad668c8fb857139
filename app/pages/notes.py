"""`/notes`: Markdown notes with links, backlinks and tags — edited here, changed live elsewhere.

A note is written by anyone with a Write token, so its HTML is cleaned on the server (nh3, an allow-list)
before it reaches the browser: no forms, no svg/script/style/iframe, no event handlers, no `javascript:`
URLs, and no images from other sites unless the reader asks for them (an image URL tells its site who
reads the note, and when).
"""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote

import nh3
from nicegui import ui
from pygments.token import STANDARD_TYPES

from components.confirm import confirm
from components.conflict_banner import ConflictBanner
from components.states import StatePanel
from services.events.models import KeyChangeEvent
from services.models import Note

from ..context import OwnWrites, PageContext, notify
from ..shell import page

NOTE_KEY_PREFIX = 'note:'
_FRONT_MATTER = re.compile(r'^---\n.*?\n---\n?', re.S)
_WIKI_LINK = re.compile(r'\[\[([^\[\]|#]+)(?:\|([^\[\]]+))?\]\]')
_LOCAL_URL = re.compile(r'/(?![/\\])\S*|[A-Za-z0-9_.-][^\s:]*')  # same-site: no scheme, no `//host`
ALLOWED_TAGS = {'a', 'b', 'blockquote', 'br', 'code', 'del', 'div', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr',
                'i', 'img', 'kbd', 'li', 'ol', 'p', 'pre', 's', 'span', 'strong', 'sub', 'sup', 'table', 'tbody',
                'td', 'th', 'thead', 'tr', 'ul'}
ALLOWED_ATTRIBUTES = {'a': {'href', 'title'}, 'img': {'src', 'alt', 'title'}, 'td': {'style'}, 'th': {'style'}}
ALLOWED_CLASSES = {'div': {'codehilite'}, 'span': {name for name in STANDARD_TYPES.values() if name}}


def preview_markdown(content: str) -> str:
    """The note as Markdown to render: front matter removed (shown as chips), [[links]] made clickable."""
    body = _FRONT_MATTER.sub('', content, count=1)
    return _WIKI_LINK.sub(lambda m: f'[{(m.group(2) or m.group(1)).strip()}](/notes?open={quote(m.group(1).strip())})',
                          body)


def _keep_attribute(remote_images: bool, tag: str, attribute: str, value: str) -> str | None:
    if tag == 'img' and attribute == 'src' and not remote_images and not _LOCAL_URL.fullmatch(value):
        return None
    return value


def sanitise(html: str, *, remote_images: bool = False) -> str:
    """Note HTML cut down to an allow-list (nh3/ammonia): text formatting, tables, code, links, images."""
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, allowed_classes=ALLOWED_CLASSES,
                     url_schemes={'http', 'https', 'mailto'}, filter_style_properties={'text-align'},
                     attribute_filter=partial(_keep_attribute, remote_images),
                     clean_content_tags={'script', 'style'})


@page('/notes', 'Notes')
async def notes(ctx: PageContext) -> None:
    own = OwnWrites()
    opened: dict[str, Note | None] = {'note': None}
    paths: list[str] = []
    buttons: dict[str, ui.button] = {}  # one per note in the list, patched as notes come and go
    due: dict = {'list': False, 'conflict': None}  # what the refresher still has to do
    shown: dict = {'active': None}  # the highlighted note in the list

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
                    remote_images = ui.switch('Show images from other sites').props('dense') \
                        .classes('text-sm').mark('note-remote-images')
                    preview = ui.markdown('', sanitize=lambda html: sanitise(
                        html, remote_images=bool(remote_images.value))).classes('w-full').mark('note-preview')
                with ui.tab_panel(edit_tab):
                    editor = ui.textarea().classes('w-full font-mono').props('autogrow').mark('note-editor')
                    save_button = ui.button('Save', icon='save').mark('note-save')
    note_card.set_visibility(False)

    # -- the list: buttons added and removed as notes come and go, never rebuilt ---------------------
    def render_list() -> None:
        wanted = set(paths)
        for gone in [path for path in buttons if path not in wanted]:
            buttons.pop(gone).delete()
        children = listing.default_slot.children
        with listing:
            for index, path in enumerate(paths):
                button = buttons.get(path)
                if button is None:
                    button = buttons[path] = ui.button(path, on_click=lambda p=path: open_note(p)) \
                        .props('flat dense no-caps align=left').classes('w-full font-mono')
                if index >= len(children) or children[index] is not button:
                    button.move(target_index=index)
        filter_list()
        mark_active()
        state.settle(bool(paths), 'No notes yet.')

    def filter_list() -> None:
        needle = (filter_input.value or '').lower()
        for path, button in buttons.items():
            button.set_visibility(not needle or needle in path.lower())

    def mark_active() -> None:
        """Highlight the open note's button (a button is resent only when its look changes)."""
        note = opened['note']
        active = note.path if note else None
        if shown['active'] != active and shown['active'] in buttons:
            buttons[shown['active']].classes(remove='text-primary')
        shown['active'] = active
        if active in buttons:
            buttons[active].classes(add='text-primary')

    async def load() -> None:
        with ctx.errors(state=state, feature='Notes') as outcome:
            found = await ctx.api.notes()
        if outcome.failed:
            return
        paths[:] = found
        render_list()

    # -- one refresher: a REST refetch of the list when notes came or went, the conflict notice --------
    async def refresh() -> None:
        """Runs as a task of its own (no slot): errors go to the list's state panel, never a toast."""
        if due['conflict'] is not None:
            conflict.show(due['conflict'], thing='note')
            due['conflict'] = None
        if due['list']:
            due['list'] = False
            await load()

    refresher = ctx.refresher(refresh, frame=0.25, burst_frame=1.0)

    def show(note: Note) -> None:
        opened['note'] = note
        title.text = note.path
        remote_images.value = False  # asked for per note, never carried over to the next one
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
        mark_active()

    async def open_note(path: str) -> None:
        with ctx.errors() as outcome:
            note = await ctx.api.note(path)
        if outcome.failed:
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
        with ctx.errors(success=f'Note "{note.path}" saved') as outcome:  # on failure the editor keeps the text
            await ctx.api.put_note(note.path, content)
        if not outcome.failed:
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
        with ctx.errors() as outcome:
            await ctx.api.put_note(path, content)
        if outcome.failed:
            return
        await load()
        await open_note(path)
        tabs.set_value(edit_tab)

    async def delete() -> None:
        note = opened['note']
        if note is None or not await confirm('Delete note', f'Delete the note "{note.path}"?'):
            return
        own.remember(NOTE_KEY_PREFIX + note.path, None)
        with ctx.errors(success=f'Note "{note.path}" deleted') as outcome:
            await ctx.api.delete_note(note.path)
        if outcome.failed:
            return
        opened['note'] = None
        note_card.set_visibility(False)
        await load()

    # -- live: a note's key changed ------------------------------------------------------------------
    def on_key_change(event: KeyChangeEvent) -> None:
        if not event.key.startswith(NOTE_KEY_PREFIX):
            return
        path = event.key.removeprefix(NOTE_KEY_PREFIX)
        due['list'] = due['list'] or event.operation != 'put' or path not in buttons  # came or went
        note = opened['note']
        if note is not None and event.key == NOTE_KEY_PREFIX + note.path and not own.is_own(event):
            due['conflict'] = 'deleted' if event.operation != 'put' else 'changed'
        refresher.mark()

    def show_remote_images() -> None:
        """Render the preview again (it is cleaned when its content changes)."""
        note = opened['note']
        preview.content = ''
        if note is not None:
            preview.content = preview_markdown(note.content)

    remote_images.on_value_change(show_remote_images)
    save_button.on_click(save)
    delete_button.on_click(delete)
    filter_input.on_value_change(filter_list)
    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(load)
    await load()
    if (wanted := ctx.query('open')) is not None:
        await open_note(wanted)
