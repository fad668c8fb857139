"""`/rate-limits`: the server's rate limits and who is using them (`/admin/rate_limits`)."""

from __future__ import annotations

from nicegui import ui

from components.page_header import PageHeader
from components.states import StatePanel

from ..context import PageContext
from ..shell import page

COLUMNS = [
    {'name': 'ip', 'label': 'Client IP', 'field': 'ip', 'align': 'left'},
    {'name': 'requests', 'label': 'Requests this minute', 'field': 'requests', 'align': 'right'},
    {'name': 'busiest', 'label': 'Busiest endpoint', 'field': 'busiest', 'align': 'left'},
]


def busiest(counts: dict[str, int]) -> str:
    return max(counts.items(), key=lambda item: item[1])[0] if counts else '—'


@page('/rate-limits', 'Rate Limits')
async def rate_limits(ctx: PageContext) -> None:
    header = PageHeader('Current rate limit state for API endpoints')
    state = StatePanel('limits-state')
    with ui.row().classes('w-full gap-4') as cards:
        pass
    with ui.card().classes('w-full'):
        ui.label('Tracked clients').classes('font-semibold')
        table = ui.table(columns=COLUMNS, rows=[], row_key='ip').classes('w-full').props('flat dense') \
            .mark('limits-table')

    async def load() -> None:
        with ctx.errors(state=state, feature='Rate limits') as outcome:
            data = await ctx.api.rate_limits()
        if outcome.failed:
            return
        state.hide()
        cards.clear()
        with cards:
            limits = {'All other endpoints': data.global_limit, **data.endpoint_limits}
            for name, limit in limits.items():
                with ui.card().classes('grow basis-56').mark(f'limit-{name}'):
                    ui.label(name).classes('font-mono font-semibold')
                    ui.label('unlimited' if limit == 0 else f'{limit} requests per minute per client')
        table.rows = [{'ip': c.ip, 'requests': c.request_count, 'busiest': busiest(c.endpoint_counts)}
                      for c in data.tracked_ips]
        header.stamp()

    header.button.on_click(load)
    ctx.on_resync(load)
    await load()
