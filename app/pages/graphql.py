"""`/graphql`: a GraphQL playground over the server's `/graphql` (query, variables, result)."""

from __future__ import annotations

import json

from nicegui import ui

from components.states import StatePanel

from ..context import PageContext
from ..shell import page

EXAMPLE = '''{
  stats { memRecords sstFiles totalRecords }
  scan(limit: 10) { key value }
}'''


@page('/graphql', 'GraphQL Playground')
async def graphql_playground(ctx: PageContext) -> None:
    draft = ctx.draft('query')
    draft.setdefault('query', EXAMPLE)
    ui.label('Run GraphQL queries and mutations against the server (Ctrl+Enter runs)').classes('text-gray-500')
    with ui.row().classes('w-full gap-4 items-stretch'):
        with ui.card().classes('grow basis-96'):
            query = ui.textarea('Query').classes('w-full font-mono').props('autogrow').mark('graphql-query') \
                .bind_value(draft, 'query')
            variables = ui.textarea('Variables (JSON, optional)').classes('w-full font-mono').props('autogrow') \
                .mark('graphql-variables').bind_value(draft, 'variables')
            run = ui.button('Run', icon='play_arrow').mark('graphql-run')
        with ui.card().classes('grow basis-96'):
            ui.label('Result').classes('font-semibold')
            state = StatePanel('graphql-state')
            errors = ui.label('').classes('text-negative whitespace-pre-wrap').mark('graphql-errors')
            result = ui.code('', language='json').classes('w-full').mark('graphql-result')

    async def execute() -> None:
        try:
            parsed = json.loads(variables.value) if (variables.value or '').strip() else None
        except ValueError as exc:
            errors.text = f'Variables are not valid JSON: {exc}'
            return
        if parsed is not None and not isinstance(parsed, dict):
            errors.text = 'Variables must be a JSON object.'
            return
        run.props('loading')
        try:
            with ctx.errors(state=state, feature='GraphQL') as outcome:  # said in the result card
                answer = await ctx.api.graphql(query.value or '', parsed)
        finally:
            run.props(remove='loading')
        if outcome.failed:
            errors.text = ''
            result.content = ''
            return
        if state.container.visible:
            state.hide()
        errors.text = '\n'.join(e.get('message', str(e)) for e in answer.get('errors') or [])
        result.content = json.dumps(answer.get('data'), indent=2, ensure_ascii=False)

    run.on_click(execute)
    query.on('keydown.ctrl.enter', execute)
    variables.on('keydown.ctrl.enter', execute)
