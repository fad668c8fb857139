"""Angular pages not rebuilt yet: each route exists in the shell and tells the truth about it.

The page asks the connected server for the route the Angular page read. Where the server does not
have it (the current ApexStore lacks most of them) it says "not offered by this server"; where it
does, it shows what the server returns, read-only, until the page is built. One module serves them
all; each gets its own module, named after its route, when it is built.
"""

from __future__ import annotations

import json

from nicegui import ui

from components.states import StatePanel

from ..context import PageContext
from ..shell import NAV, page, registered

PLACEHOLDER = 'placeholder:'
SOURCES = {  # route -> (what the Angular page showed, the GET route it read)
    '/resilience': ('circuit breakers', '/admin/circuit_breakers'),
    '/sql-runner': ('SQL queries', '/query'),
    '/vector-search': ('vector indexes', '/vector/indexes'),
    '/replication': ('the replication topology', '/admin/replication'),
    '/chaos': ('chaos experiments', '/admin/chaos'),
    '/backpressure': ('backpressure settings', '/admin/backpressure'),
    '/data-scrubber': ('scrubber jobs', '/admin/scrubber'),
    '/webhooks': ('webhooks', '/admin/webhooks'),
    '/pubsub': ('pub/sub topics', '/pubsub/topics'),
    '/data-sync': ('sync jobs', '/admin/sync'),
    '/wasm-plugins': ('WASM plugins', '/admin/wasm'),
    '/access-control': ('access policies', '/admin/policies'),
    '/server-config': ('server configuration', '/admin/config'),
    '/telemetry': ('telemetry settings', '/admin/telemetry'),
    '/quotas': ('quotas', '/admin/quotas'),
    '/cicd': ('CI/CD fixtures', '/admin/cicd'),
}


def _planned(route: str, title: str) -> None:
    what, source = SOURCES.get(route, (title.lower(), route))

    async def build(ctx: PageContext) -> None:
        ui.label(f'{title}: {what}').classes('text-gray-500')
        with ui.card().classes('w-full').mark('planned-page'):
            state = StatePanel('planned-state')
            state.loading()
            with ctx.errors(state=state, feature=title) as outcome:
                data = await ctx.api.read_json(source, title)
            if outcome.failed:
                return
            state.hide()
            ui.label(f'The console does not have a {title} page yet. This is what the server answers on '
                     f'GET {source}, read-only:').classes('text-sm text-gray-500')
            ui.code(json.dumps(data, indent=2, ensure_ascii=False)[:100_000], language='json').classes('w-full')

    build.__name__ = f'planned_{route.strip("/").replace("-", "_")}'
    page(route, title, owner=f'{PLACEHOLDER}{route}')(build)  # each placeholder owns its route alone


def claim_unbuilt_routes() -> None:
    """Every navigation route no page module claimed gets the honest placeholder (never the other way)."""
    for _group, items in NAV:
        for label, route, _icon in items:
            if not registered(route):
                _planned(route, label)
