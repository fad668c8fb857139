"""`/graph`: the notes around one note, drawn as a force-directed graph; click a node to open it."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import events, ui

from components.states import StatePanel
from services.events.models import KeyChangeEvent
from services.models import NoteGraph

from ..context import PageContext
from ..shell import page

NOTE_KEY_PREFIX = 'note:'
REDRAW_EVERY_SECS = 1.0  # a redraw restarts the force layout: at most once a second


def graph_options(graph: NoteGraph) -> dict:
    return {
        'tooltip': {},
        'series': [{
            'type': 'graph', 'layout': 'force', 'roam': True, 'draggable': True,
            'force': {'repulsion': 600, 'edgeLength': 150}, 'zoom': 1.6,
            'label': {'show': True, 'color': '#94a3b8', 'fontSize': 13, 'position': 'right'},
            'edgeSymbol': ['none', 'arrow'],
            'data': [{'name': n.id, 'symbolSize': 26 if n.id == graph.root else 16,
                      'itemStyle': {'color': '#f97316' if n.id == graph.root else
                                    ('#3b82f6' if n.type == 'note' else '#64748b')}} for n in graph.nodes],
            'links': [{'source': e.source, 'target': e.target} for e in graph.edges],
        }],
    }


@page('/graph', 'Graph View')
async def graph_view(ctx: PageContext) -> None:
    ui.label('How notes link to each other (orange: the chosen note; grey: linked but not written yet)') \
        .classes('text-gray-500')
    with ui.row().classes('w-full items-end gap-3'):
        root = ui.select([], label='Note', with_input=True).classes('w-72').mark('graph-root')
        depth = ui.select([1, 2, 3, 4, 5], value=2, label='Depth').classes('w-24')
    with ui.card().classes('w-full'):
        state = StatePanel('graph-state')
        chart = ui.echart({'series': []}).classes('w-full h-[32rem]').mark('graph-chart')

    async def load_notes() -> None:
        with ctx.errors(state=state, feature='Notes') as outcome:
            paths = await ctx.api.notes()
        if outcome.failed:
            return
        root.set_options(paths)
        if paths and root.value not in paths:
            root.value = ctx.query('root') if ctx.query('root') in paths else paths[0]
        elif not paths:
            state.empty('No notes yet: the graph appears once notes link to each other.')

    async def draw() -> None:
        """A REST refetch; the chart is resent only when the graph changed (a redraw restarts its layout).

        Errors go to the state panel: as the refresher's render this runs without a slot (no toasts).
        """
        if not root.value:
            return
        with ctx.errors(state=state, feature='The note graph') as outcome:
            graph = await ctx.api.note_graph(root.value, int(depth.value or 1))
        if outcome.failed:
            return
        if state.container.visible:
            state.hide()
        options = graph_options(graph)
        if options != chart.options:
            chart.options.clear()
            chart.options.update(options)

    def open_note(event: events.GenericEventArguments) -> None:
        name = event.args.get('name') if isinstance(event.args, dict) else None
        if name:
            ui.navigate.to(f'/notes?open={quote(name)}')

    refresher = ctx.refresher(draw, frame=REDRAW_EVERY_SECS, burst_frame=REDRAW_EVERY_SECS)

    def on_key_change(event: KeyChangeEvent) -> None:
        if event.key.startswith(NOTE_KEY_PREFIX):
            refresher.mark()

    async def resync() -> None:
        await load_notes()
        refresher.mark()

    chart.on('chart:click', open_note)
    root.on_value_change(draw)
    depth.on_value_change(draw)
    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(resync)
    await load_notes()
    await draw()
