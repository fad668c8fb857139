"""Angular pages not rebuilt yet: each route exists, inside the shell, and says so plainly.

Listed here (one module for all of them) so the navigation is complete; each gets its own module,
named after its route, when it is built.
"""

from __future__ import annotations

from nicegui import ui

from ..context import PageContext
from ..shell import NAV, page

BUILT = {'/dashboard', '/keys', '/health', '/compaction', '/snapshots', '/backup', '/stats', '/features', '/admin',
         '/rate-limits'}
WHAT = {
    '/graphql': 'a GraphQL playground (/graphql)',
    '/time-travel': 'per-note snapshots', '/notes': 'notes (/notes)', '/tags': 'tags (/tags)',
    '/graph': 'a graph of linked notes (/notes/{path}/graph)',
}


def _planned(route: str, title: str) -> None:
    async def build(ctx: PageContext) -> None:
        with ui.card().classes('w-full items-center py-10 gap-2').mark('planned-page'):
            ui.icon('construction', size='xl').classes('text-gray-500')
            ui.label(f'{title} is not part of the console yet.').classes('text-lg')
            ui.label(f'The Angular page showed {WHAT.get(route, "data from routes the current ApexStore server")}'
                     f'{"" if route in WHAT else " does not offer"}. The live pages are Dashboard, '
                     'Key Explorer, Compaction, Health, Snapshots and Statistics.').classes('text-gray-500 text-center')
    build.__name__ = f'planned_{route.strip("/").replace("-", "_")}'
    page(route, title)(build)


for _group, _items in NAV:
    for _label, _route, _icon in _items:
        if _route not in BUILT:
            _planned(_route, _label)
