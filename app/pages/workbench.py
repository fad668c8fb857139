"""`/workbench`: one query box over what ApexStore servers answer — value search, key ranges, secondary
indexes and transactions — with results as a text table, a history to re-run, and Ctrl+Enter.

Each mode checks its input before anything is sent (a transaction's JSON list above all); a server
without a mode's routes gets that mode's "not offered" state. Results follow the store: a key in the
table that another client changes or deletes is marked so.
"""

from __future__ import annotations

from typing import Any

from nicegui import app, ui

from components.confirm import confirm
from components.states import StatePanel
from services import workbench as wb
from services.api import ApiError, NotOffered
from services.events.models import KeyChangeEvent

from ..context import PageContext, notify
from ..shell import page

HISTORY_KEY = 'workbench:history'
HISTORY_SIZE = 20
FEATURES = {'value': 'Value search', 'range': 'Key range', 'index': 'Index lookup', 'txn': 'Transactions'}
HINTS = {
    'value': 'Records whose value contains the text (servers read at most their first 10,000 records; '
             'at most 100 results).',
    'range': 'Records with lower ≤ key < upper, in key order (either bound may be empty).',
    'index': 'Records whose JSON value has every field=value. Only writes made after a field was '
             'registered are indexed.',
    'txn': 'A JSON list of operations, applied together on commit: {"op": "put", "key", "value", "cf"?} or '
           '{"op": "delete", "key", "cf"?}. Any failure rolls back, so nothing is written.',
}


def history() -> list[wb.Query]:
    """This browser's recent queries, newest first (kept across reloads and sign-ins)."""
    stored = app.storage.user.get(HISTORY_KEY, [])
    queries = []
    for item in stored if isinstance(stored, list) else []:
        try:
            queries.append(wb.Query.model_validate(item))
        except ValueError:
            continue
    return queries


def remember(query: wb.Query) -> None:
    kept = [q for q in history() if q != query]
    app.storage.user[HISTORY_KEY] = [q.model_dump() for q in [query, *kept][:HISTORY_SIZE]]


def columns_of(table: wb.ResultTable) -> list[dict[str, Any]]:
    cols = [{'name': c, 'label': c.capitalize(), 'field': c, 'align': 'left',
             'classes': 'font-mono break-all' if c in ('key', 'value') else ''} for c in table.columns]
    if table.columns == ['key', 'value']:
        cols.append({'name': 'live', 'label': '', 'field': 'live', 'align': 'left'})
    return cols


@page('/workbench', 'Workbench')
async def workbench(ctx: PageContext) -> None:
    offered: dict[str, bool | None] = dict.fromkeys(wb.MODES)
    shown: dict[str, Any] = {'query': None, 'cursor': None}

    ui.label('Queries over what ApexStore servers answer: value search, key ranges, secondary indexes and '
             'transactions').classes('text-gray-500')
    with ui.element('div').classes('w-full flex gap-4 items-start').style('flex-wrap: wrap'):
        with ui.column().classes('gap-4').style('flex: 3 1 36rem; min-width: 0'):
            with ui.card().classes('w-full'):
                mode = ui.toggle(wb.MODES, value='value').props('no-caps dense').mark('wb-mode')
                hint = ui.label('').classes('text-sm text-gray-500').mark('wb-hint')
                with ui.row().classes('w-full items-center gap-2') as value_box:
                    value_text = ui.input('Value contains', placeholder='Ada').classes('grow').mark('wb-text')
                with ui.row().classes('w-full items-center gap-2') as range_box:
                    lower = ui.input('From key (inclusive)', placeholder='user:000').classes('grow').mark('wb-lower')
                    upper = ui.input('To key (exclusive)', placeholder='user:100').classes('grow').mark('wb-upper')
                with ui.column().classes('w-full gap-1') as index_box:
                    conditions = ui.input('Conditions', placeholder='city=Paris, role=admin').classes('w-full') \
                        .mark('wb-conditions')
                    with ui.row().classes('w-full items-center gap-2'):
                        ui.label('Indexed fields:').classes('text-sm text-gray-500')
                        index_chips = ui.row().classes('gap-1').mark('wb-indexes')
                        ui.space()
                        index_field = ui.input(placeholder='field to index').props('dense').classes('w-40') \
                            .mark('wb-index-field')
                        index_add = ui.button('Register', icon='add').props('flat dense').mark('wb-index-add')
                with ui.column().classes('w-full gap-1') as txn_box:
                    ops_text = ui.textarea('Operations (JSON list)', placeholder=wb.TXN_EXAMPLE) \
                        .classes('w-full font-mono').props('autogrow input-style="max-height: 20rem"') \
                        .mark('wb-ops')
                with ui.row().classes('w-full items-center gap-2'):
                    limit = ui.number('Limit', value=100, min=1, max=wb.MAX_LIMIT, precision=0).props('dense') \
                        .classes('w-24').mark('wb-limit')
                    ui.label('Ctrl+Enter runs').classes('text-xs text-gray-500')
                    ui.space()
                    ui.button('Clear', on_click=lambda: clear()).props('flat').mark('wb-clear')
                    run_button = ui.button('Run', icon='play_arrow').mark('wb-run')
                error = ui.label('').classes('text-negative text-sm whitespace-pre-wrap').mark('wb-error')
            with ui.card().classes('w-full'):
                with ui.row().classes('w-full items-center gap-2'):
                    ui.label('Results').classes('font-semibold')
                    summary = ui.label('').classes('text-sm text-gray-500').mark('wb-summary')
                    ui.space()
                    next_button = ui.button('Next page', icon='navigate_next').props('flat dense').mark('wb-next')
                state = StatePanel('wb-state')
                results = ui.table(columns=[], rows=[], row_key='key').classes('w-full').props('flat dense') \
                    .mark('wb-results')
        with ui.card().style('flex: 1 1 16rem; min-width: 0'):
            with ui.row().classes('w-full items-center'):
                ui.label('History').classes('font-semibold')
                ui.space()
                ui.button(icon='delete_sweep', on_click=lambda: clear_history()).props('flat round dense') \
                    .tooltip('Clear history').mark('wb-history-clear')
            history_list = ui.column().classes('w-full gap-0').mark('wb-history')
    boxes = {'value': value_box, 'range': range_box, 'index': index_box, 'txn': txn_box}
    results.set_visibility(False)
    next_button.set_visibility(False)

    # -- modes ---------------------------------------------------------------------------------------
    def show_mode() -> None:
        current = mode.value or 'value'
        for name, box in boxes.items():
            box.set_visibility(name == current)
        limit.set_visibility(current != 'txn')
        hint.text = HINTS[current]
        error.text = ''
        if offered[current] is False:
            state.not_offered(FEATURES[current])
            results.set_visibility(False)
        elif shown['query'] is None or shown['query'].mode != current:
            state.empty('Run a query to see its results here.')
            results.set_visibility(False)
            summary.text = ''
            next_button.set_visibility(False)
        else:
            state.hide()
            results.set_visibility(True)
        run_button.set_enabled(offered[current] is not False)

    def query_now() -> wb.Query:
        current = mode.value or 'value'
        text = {'value': value_text.value, 'index': conditions.value, 'txn': ops_text.value}.get(current, '')
        return wb.Query(mode=current, text=(text or '').strip() if current != 'txn' else text or '',
                        lower=lower.value or '', upper=upper.value or '',
                        limit=max(1, min(wb.MAX_LIMIT, int(limit.value or 100))))

    # -- running -------------------------------------------------------------------------------------
    async def run(query: wb.Query | None = None, *, page_on: bool = False, record: bool = True) -> None:
        query = query or query_now()
        if offered[query.mode] is False:
            show_mode()
            return
        if problem := wb.check(query):
            error.text = problem
            return
        error.text = ''
        if record and not page_on:
            remember(query)
            show_history()
        run_button.props('loading')
        try:
            with ctx.errors() as outcome:
                table = await wb.run(ctx.api, query, shown['cursor'] if page_on else None)
        finally:
            run_button.props(remove='loading')
        if outcome.error is not None:
            if isinstance(outcome.error, NotOffered):
                offered[query.mode] = False
                show_mode()
            else:
                error.text = outcome.error.message
            return
        offered[query.mode] = True
        show_table(query, table, page_on)
        if query.mode == 'txn':
            notify(table.summary, 'success')

    def show_table(query: wb.Query, table: wb.ResultTable, append: bool) -> None:
        shown['query'], shown['cursor'] = query, table.cursor
        results.columns = columns_of(table)
        results.row_key = 'key' if 'key' in table.columns and query.mode != 'txn' else '#'
        rows = [{**row, 'live': ''} for row in table.rows]
        results.rows = [*results.rows, *rows] if append else rows
        summary.text = f'{len(results.rows):,} records · last page: {table.summary}' if append else table.summary
        next_button.set_visibility(table.cursor is not None)
        results.set_visibility(bool(results.rows))
        state.settle(bool(results.rows), 'Nothing matched.' if query.mode != 'txn' else 'No operations.')

    async def rerun(query: wb.Query) -> None:
        """Put a past query back in the box and run it (a transaction writes again: ask first)."""
        mode.value = query.mode
        value_text.value, conditions.value, ops_text.value = (
            query.text if query.mode == 'value' else value_text.value,
            query.text if query.mode == 'index' else conditions.value,
            query.text if query.mode == 'txn' else ops_text.value)
        lower.value, upper.value, limit.value = query.lower, query.upper, query.limit
        if query.mode == 'txn' and not await confirm(
                'Run the transaction again', 'This applies its operations to the store again.', action='Run'):
            return
        await run(query)

    def clear() -> None:
        """Empty the current mode's input and the results."""
        inputs: dict[str, list[ui.input | ui.textarea]] = {
            'value': [value_text], 'range': [lower, upper], 'index': [conditions], 'txn': [ops_text]}
        for box in inputs[mode.value or 'value']:
            box.value = ''
        error.text = ''
        shown['query'] = None
        results.rows = []
        show_mode()

    # -- history -------------------------------------------------------------------------------------
    def show_history() -> None:
        history_list.clear()
        past = history()
        with history_list:
            if not past:
                ui.label('Past queries appear here; click one to run it again.').classes('text-sm text-gray-500')
            for index, query in enumerate(past):
                with ui.item(on_click=lambda q=query: rerun(q)).props('dense clickable').classes('w-full') \
                        .mark(f'wb-history-item wb-history-{index}'):
                    ui.label(query.label()).classes('text-sm font-mono break-all')

    def clear_history() -> None:
        app.storage.user[HISTORY_KEY] = []
        show_history()

    # -- indexes -------------------------------------------------------------------------------------
    async def load_indexes() -> None:
        try:
            fields = await wb.indexes(ctx.api)
        except NotOffered:
            offered['index'] = False
            show_mode()
            return
        except ApiError:
            fields = []
        offered['index'] = True
        index_chips.clear()
        with index_chips:
            if not fields:
                ui.label('none yet').classes('text-sm text-gray-500')
            for name in fields:
                ui.chip(name, on_click=lambda n=name: add_condition(n)).props('dense clickable outline') \
                    .mark('wb-index-chip')

    def add_condition(name: str) -> None:
        current = (conditions.value or '').strip()
        conditions.value = f'{current}, {name}=' if current else f'{name}='
        conditions.run_method('focus')

    async def register() -> None:
        name = (index_field.value or '').strip()
        with ctx.errors(success=f'Field "{name}" is indexed from now on') as outcome:
            await wb.register_index(ctx.api, name)
        if outcome.failed:
            return
        index_field.value = ''
        await load_indexes()

    # -- live: keys in the table that change or vanish are marked ------------------------------------
    def render() -> None:
        results.update()

    refresher = ctx.refresher(render)

    def on_key_change(event: KeyChangeEvent) -> None:
        query = shown['query']
        if query is None or query.mode == 'txn' or event.cf != 'default':
            return
        touched = False
        for row in results.rows:
            if row['key'] == event.key or (event.operation == 'delete_prefix' and row['key'].startswith(event.key)):
                if event.operation == 'put':
                    row['value'] = wb.preview(event.value if event.value is not None else
                                              f'({event.value_size or 0:,} bytes)')
                    row['live'] = 'changed'
                else:
                    row['live'] = 'deleted'
                touched = True
        if touched:
            refresher.mark()

    # -- wiring --------------------------------------------------------------------------------------
    mode.on_value_change(show_mode)
    run_button.on_click(lambda: run())
    next_button.on_click(lambda: run(shown['query'], page_on=True))
    index_add.on_click(register)
    index_field.on('keydown.enter', register)
    for box in (value_text, lower, upper, conditions, limit):
        box.on('keydown.enter', lambda: run())
    for box in (value_text, lower, upper, conditions, limit, ops_text):
        box.on('keydown.ctrl.enter', lambda: run())
        box.on('keydown.meta.enter', lambda: run())
    ctx.on(KeyChangeEvent, on_key_change)
    async def resync() -> None:
        """After a gap in the live stream: the indexes and the results in view are read again."""
        await load_indexes()
        query = shown['query']
        if query is not None and query.mode != 'txn':
            await run(query, record=False)

    ctx.on_resync(resync)
    show_mode()
    show_history()
    await load_indexes()
