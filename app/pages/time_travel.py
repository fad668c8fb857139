"""`/time-travel`: every saved version of a note — view it, compare it with now, restore or delete it.

Versions are named by nanosecond timestamps (19 digits), more than a JavaScript number holds exactly
(2**53), so they travel through the browser (table rows, event arguments) as strings and become ints
only here, on the server. Version text is shown as text (`TextBlock`), never rendered.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from typing import Annotated

from nicegui import ui
from nicegui.events import GenericEventArguments
from pydantic import StringConstraints, TypeAdapter, ValidationError

from components.clock import date_time
from components.confirm import confirm
from components.states import StatePanel
from components.value_viewer import TextBlock
from services.events.models import KeyChangeEvent

from ..context import PageContext, notify
from ..shell import page

NOTE_KEY_PREFIX = 'note:'
COLUMNS = [{'name': 'when', 'label': 'Saved', 'field': 'when', 'align': 'left'},
           {'name': 'actions', 'label': '', 'field': 'ts', 'align': 'right'}]
ACTIONS_SLOT = r'''
<q-td :props="props">
  <q-btn flat dense icon="visibility" title="View" @click="$parent.$emit('view', props.row.ts)" />
  <q-btn flat dense icon="restore" title="Restore" @click="$parent.$emit('restore', props.row.ts)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('remove', props.row.ts)" />
</q-td>
'''


_VERSION = TypeAdapter(Annotated[str, StringConstraints(pattern=r'^[0-9]{1,39}$')])


def version_ts(arg: object) -> int | None:
    """A version's timestamp from the browser: a string of digits (a JS number would have lost digits)."""
    try:
        return int(_VERSION.validate_python(arg))
    except ValidationError:
        return None


def when(ns: int) -> str:
    return date_time(ns / 1e9) + f' (+{ns // 1_000_000 % 1000:03d} ms)'


def diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), 'this version', 'now', lineterm='')
    return '\n'.join(lines) or '(identical to the current note)'


@page('/time-travel', 'Time Travel')
async def time_travel(ctx: PageContext) -> None:
    ui.label('Point-in-time versions of notes: browse, compare, restore').classes('text-gray-500')
    with ui.row().classes('w-full items-end gap-3'):
        note = ui.select([], label='Note', with_input=True).classes('w-72').mark('tt-note')
        snapshot = ui.button('Snapshot now', icon='photo_camera').props('flat').mark('tt-snapshot')
    with ui.row().classes('w-full gap-4 items-start no-wrap'):
        with ui.card().classes('w-96 shrink-0'):
            ui.label('Versions').classes('font-semibold')
            state = StatePanel('tt-state')
            table = ui.table(columns=COLUMNS, rows=[], row_key='ts').classes('w-full').props('flat dense') \
                .mark('tt-versions')
            table.add_slot('body-cell-actions', ACTIONS_SLOT)
        with ui.card().classes('grow') as version_card:
            version_title = ui.label('').classes('font-semibold').mark('tt-title')
            with ui.tabs().props('dense align=left') as tabs:
                content_tab = ui.tab('Content')
                diff_tab = ui.tab('Changes since')
            with ui.tab_panels(tabs, value=content_tab).classes('w-full'):
                with ui.tab_panel(content_tab):
                    content = TextBlock().mark('tt-content')
                with ui.tab_panel(diff_tab):
                    changes = TextBlock().mark('tt-diff')
    version_card.set_visibility(False)

    async def load_notes() -> None:
        with ctx.errors(state=state, feature='Notes') as outcome:
            paths = await ctx.api.notes()
        if outcome.failed:
            return
        note.set_options(paths)
        wanted = ctx.query('note')
        if paths and note.value not in paths:
            note.value = wanted if wanted in paths else paths[0]
        state.settle(bool(paths), 'No notes yet: versions appear as notes are saved.')

    async def load_versions() -> None:
        """A REST refetch; errors go to the state panel (as the refresher's render it runs without a slot)."""
        if not note.value:
            return
        with ctx.errors(state=state, feature='Note history') as outcome:
            versions = await ctx.api.note_history(note.value)
        if outcome.failed:
            return
        rows = [{'ts': str(ts), 'when': when(ts)} for ts in sorted(versions, reverse=True)]
        if rows != table.rows:
            table.rows = rows
        state.settle(bool(versions), 'No saved versions of this note yet.')

    async def view(ts: int) -> None:
        with ctx.errors() as outcome:
            old = await ctx.api.note_version(note.value, ts)
            current = await ctx.api.note(note.value)
        if outcome.failed:
            return
        if old is None:
            notify('That version no longer exists', 'warning')
            await load_versions()
            return
        version_title.text = f'{note.value} as of {when(ts)}'
        content.content = old
        changes.content = diff(old, current.content if current else '')
        version_card.set_visibility(True)

    async def restore(ts: int) -> None:
        if not await confirm('Restore version', f'Make the version of {when(ts)} the current "{note.value}"? '
                             'The current text stays in the history.', action='Restore'):
            return
        with ctx.errors(success=f'"{note.value}" restored to {when(ts)}') as outcome:
            await ctx.api.restore_note_version(note.value, ts)
        if not outcome.failed:
            await load_versions()

    async def remove(ts: int) -> None:
        if not await confirm('Delete version', f'Delete the version of {when(ts)}?'):
            return
        with ctx.errors(success=f'Version of {when(ts)} deleted') as outcome:
            await ctx.api.delete_note_version(note.value, ts)
        if not outcome.failed:
            version_card.set_visibility(False)
        await load_versions()

    async def take_snapshot() -> None:
        if not note.value:
            return
        with ctx.errors(success=f'Snapshot of "{note.value}" taken') as outcome:
            await ctx.api.snapshot_note(note.value)
        if not outcome.failed:
            await load_versions()

    refresher = ctx.refresher(load_versions, frame=0.5, burst_frame=1.0)  # a REST refetch: ≤ 2/s

    def on_key_change(event: KeyChangeEvent) -> None:
        if note.value and event.key == NOTE_KEY_PREFIX + note.value:
            refresher.mark()

    note.on_value_change(load_versions)
    snapshot.on_click(take_snapshot)
    def on_version(action: Callable[[int], Awaitable[None]]) -> Callable[[GenericEventArguments], Awaitable[None]]:
        async def handle(event: GenericEventArguments) -> None:
            ts = version_ts(event.args)
            if ts is None:
                notify('That version could not be identified; nothing was done', 'error')
                return
            await action(ts)
        return handle

    table.on('view', on_version(view))
    table.on('restore', on_version(restore))
    table.on('remove', on_version(remove))
    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(load_versions)
    await load_notes()
    await load_versions()
