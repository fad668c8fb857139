"""`/graph`: the notes around one note, drawn as a force-directed graph; click a node to open it."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import ui

from components.states import StatePanel
from services.api import ApiError
from services.models import NoteGraph

from ..context import Coalescer, PageContext, fetch_shown, notify
from ..shell import page


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
        paths = await fetch_shown(ctx.api.notes(), state, 'Notes')
        if paths is None:
            return
        root.options = paths
        root.update()
        if paths and root.value not in paths:
            root.value = ctx.query('root') if ctx.query('root') in paths else paths[0]
        elif not paths:
            state.empty('No notes yet: the graph appears once notes link to each other.')

    async def draw() -> None:
        if not root.value:
            return
        try:
            graph = await ctx.api.note_graph(root.value, int(depth.value or 1))
        except ApiError as exc:
            notify(exc.message, 'error')
            return
        state.hide()
        chart.options.clear()
        chart.options.update(graph_options(graph))
        chart.update()

    def open_note(event) -> None:
        name = (event.args or {}).get('name') if isinstance(event.args, dict) else None
        if name:
            ui.navigate.to(f'/notes?open={quote(name)}')

    chart.on('chart:click', open_note)
    root.on_value_change(draw)
    depth.on_value_change(draw)
    live = Coalescer(draw, rate=1)
    ctx.on('on_key_changes', lambda event: live.mark() if event.key.startswith('note:') else None)
    ctx.on_resync(load_notes)
    await load_notes()
    await draw()
