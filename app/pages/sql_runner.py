"""`/sql-runner`: read-only SQL over the store's keys and JSON values (`POST /query`), with history and export.

Each query runs on the server against a table `kv(key, value, cf, size)` filled from a bounded scan
(a column family, an optional key prefix, at most N keys); the page says how many keys were scanned
and when the scan did not cover everything. Results are text in a table, never HTML.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nicegui import ui

from components.states import StatePanel
from services.api import ApiError, AuthFailed, NotOffered
from services.events.models import KeyChangeEvent
from services.features.sql import (
    DEFAULT_SCAN,
    EXAMPLES,
    MAX_SCAN,
    QueryOptions,
    QueryResult,
    cell_text,
    export_csv,
    export_json,
    remember,
    run_query,
)

from ..context import PageContext, notify
from ..shell import page

CELL_CHARS = 300  # a cell shows this much; the export has the whole value
SCHEMA_HINT = ('Each query reads a table kv(key, value, cf, size), also named keys, holding the keys scanned for it: '
               'one column family, the keys under the prefix, at most the number of keys below. Use json_extract'
               "(value, '$.field') on JSON values. Only SELECT and WITH run; nothing is ever changed.")


@dataclass
class Shown:
    """The result on screen, for export and for telling when the store changed under it."""
    result: QueryResult | None = None
    query: str = ''
    running: bool = False


def table_columns(result: QueryResult) -> list[dict]:
    return [{'name': f'c{i}', 'label': name, 'field': f'c{i}', 'align': 'left'}
            for i, name in enumerate(result.columns)]


def table_rows(result: QueryResult) -> list[dict]:
    rows = []
    for n, row in enumerate(result.rows):
        cells = {f'c{i}': cell_text(row.get(name)) for i, name in enumerate(result.columns)}
        rows.append({'_row': n, **{k: v if len(v) <= CELL_CHARS else v[:CELL_CHARS] + '…' for k, v in cells.items()}})
    return rows


def scan_notes(result: QueryResult) -> list[str]:
    notes = []
    if not result.scan_complete:
        notes.append(f'The scan stopped at {result.scanned:,} keys: rows from later keys are missing. Narrow it with a '
                     'key prefix or raise the number of keys scanned.')
    if result.truncated:
        notes.append(f'Only the first {result.row_count:,} rows are shown (at most {result.max_rows:,} per query).')
    return notes


@page('/sql-runner', 'SQL Runner')
async def sql_runner(ctx: PageContext) -> None:
    draft = ctx.draft('query')
    draft.setdefault('query', '')
    history_store = ctx.draft('history')
    history_store.setdefault('items', [])
    shown = Shown()
    ui.label('Execute SQL queries against the ApexStore backend').classes('text-gray-500')
    offered = StatePanel('sql-offered')
    with ui.row().classes('w-full gap-4 items-start') as workspace:
        with ui.column().classes('grow basis-[40rem] gap-4'):
            with ui.card().classes('w-full'):
                query_box = ui.textarea('Query', placeholder='SELECT * FROM keys LIMIT 10;') \
                    .classes('w-full font-mono').props('autogrow outlined').mark('sql-query').bind_value(draft, 'query')
                with ui.row().classes('w-full items-center gap-2'):
                    cf_select = ui.select(['default'], value='default', label='Column family') \
                        .classes('w-44').mark('sql-cf')
                    prefix_input = ui.input('Key prefix', placeholder='all keys').classes('w-44').mark('sql-prefix')
                    scan_input = ui.number('Keys scanned at most', value=DEFAULT_SCAN, min=1, max=MAX_SCAN, step=1000,
                                           format='%d').classes('w-48').mark('sql-max-scan')
                ui.label(SCHEMA_HINT).classes('text-xs text-gray-500')
                with ui.row().classes('w-full items-center gap-2'):
                    run_button = ui.button('Execute', icon='play_arrow').mark('sql-run')
                    ui.button('Clear', icon='clear', on_click=lambda: clear()).props('flat').mark('sql-clear')
                    with ui.button('Examples', icon='lightbulb').props('flat').mark('sql-examples'):
                        with ui.menu():
                            for title, example in EXAMPLES:
                                ui.menu_item(title, on_click=lambda e=example: use_example(e)) \
                                    .mark(f'sql-example-{title.lower().replace(" ", "-")}')
                    ui.space()
                    ui.label('Ctrl+Enter to execute').classes('text-xs text-gray-500')
            with ui.card().classes('w-full border border-red-500') as error_box:
                with ui.row().classes('items-center gap-2'):
                    ui.icon('error_outline').classes('text-negative')
                    ui.label('Query Error').classes('font-semibold text-negative')
                error_text = ui.label('').classes('whitespace-pre-wrap font-mono text-sm').mark('sql-error')
            error_box.set_visibility(False)
            with ui.card().classes('w-full') as results_card:
                with ui.row().classes('w-full items-center gap-2'):
                    ui.label('Results').classes('font-semibold')
                    rows_badge = ui.badge('0 rows').mark('sql-row-count')
                    elapsed_badge = ui.badge('0ms', color='grey').mark('sql-elapsed')
                    scanned_badge = ui.badge('', color='grey').mark('sql-scanned')
                    ui.space()
                    ui.button('CSV', icon='download', on_click=lambda: export('csv')).props('flat dense') \
                        .mark('sql-export-csv')
                    ui.button('JSON', icon='download', on_click=lambda: export('json')).props('flat dense') \
                        .mark('sql-export-json')
                notes = ui.column().classes('w-full gap-1').mark('sql-notes')
                with ui.row().classes('w-full items-center gap-2') as stale:
                    ui.icon('update').classes('text-warning')
                    ui.label('Keys changed since this query ran.').classes('text-warning text-sm').mark('sql-stale')
                    ui.button('Re-run', on_click=lambda: execute(shown.query)).props('flat dense').mark('sql-rerun')
                stale.set_visibility(False)
                state = StatePanel('sql-state')
                table = ui.table(columns=[], rows=[], row_key='_row', pagination=50).classes('w-full') \
                    .props('flat dense wrap-cells').mark('sql-table')
            results_card.set_visibility(False)
        with ui.card().classes('w-80 shrink-0'):
            with ui.row().classes('w-full items-center'):
                ui.label('History').classes('font-semibold')
                ui.space()
                ui.button(icon='delete_sweep', on_click=lambda: clear_history()).props('flat round dense') \
                    .tooltip('Clear history').mark('sql-history-clear')
            history_list = ui.column().classes('w-full gap-1').mark('sql-history')

    def render_history() -> None:
        history_list.clear()
        with history_list:
            if not history_store['items']:
                ui.label('No queries yet.').classes('text-sm text-gray-500')
            for item in history_store['items']:
                short = ' '.join(item.split())
                short = short if len(short) <= 80 else short[:80] + '…'
                ui.button(short, on_click=lambda q=item: rerun(q)).props('flat dense no-caps align=left') \
                    .classes('w-full font-mono text-xs text-left').tooltip(item[:500]).mark('sql-history-item')

    def show_error(message: str) -> None:
        """The error replaces the last result: rows under an error would look like this query's answer."""
        error_text.text = message
        error_box.set_visibility(True)
        results_card.set_visibility(False)
        shown.result = None

    def show(result: QueryResult, query: str) -> None:
        shown.result, shown.query = result, query
        error_box.set_visibility(False)
        stale.set_visibility(False)
        results_card.set_visibility(True)
        rows_badge.text = f'{result.row_count:,} rows'
        elapsed_badge.text = f'{result.elapsed_ms}ms'
        prefix = f' under "{result.prefix}"' if result.prefix else ''
        scanned_badge.text = f'scanned {result.scanned:,} keys{prefix} in {result.cf}'
        notes.clear()
        with notes:
            for note in scan_notes(result):
                ui.label(note).classes('text-sm text-warning').mark('sql-note')
        table.columns = table_columns(result)
        table.rows = table_rows(result)
        table.set_visibility(bool(result.rows))
        state.settle(bool(result.rows), 'Query executed successfully but returned no rows.')

    def options() -> QueryOptions:
        return QueryOptions(cf=cf_select.value or 'default', prefix=prefix_input.value or '',
                            max_scan=int(min(max(scan_input.value or DEFAULT_SCAN, 1), MAX_SCAN)))

    async def execute(text: str | None = None) -> None:
        query = (text if text is not None else query_box.value or '').strip()
        if shown.running:
            return
        if not query:
            show_error('Enter a query, e.g. SELECT * FROM keys LIMIT 10;')
            return
        shown.running = True
        run_button.props('loading')
        run_button.text = 'Running...'
        failure: str | None = None
        result: QueryResult | None = None
        try:
            with ctx.errors(state=offered, feature='SQL Runner') as outcome:  # sign-in and "not offered"
                try:
                    result = await run_query(ctx.api, query, options())
                except (AuthFailed, NotOffered):
                    raise
                except ApiError as exc:  # SQLite's message, a refused statement, the time budget: inline
                    failure = exc.message
        finally:
            shown.running = False
            run_button.props(remove='loading')
            run_button.text = 'Execute'
        history_store['items'] = remember(history_store['items'], query)
        render_history()
        if outcome.failed:
            workspace.set_visibility(False)
            return
        if failure is not None or result is None:
            show_error(failure or 'the query failed')
            return
        show(result, query)
        notify(f'Query returned {result.row_count} rows in {result.elapsed_ms}ms', 'success')

    async def rerun(query: str) -> None:
        query_box.value = query
        await execute(query)

    def use_example(example: str) -> None:
        query_box.value = example

    def clear() -> None:
        shown.result = None
        error_box.set_visibility(False)
        results_card.set_visibility(False)

    def clear_history() -> None:
        history_store['items'] = []
        render_history()

    def export(fmt: str) -> None:
        if shown.result is None or not shown.result.rows:
            notify('Nothing to export: the query returned no rows', 'warning')
            return
        content = export_csv(shown.result) if fmt == 'csv' else export_json(shown.result)
        ui.download.content(content, f'query-{time.strftime("%Y%m%d-%H%M%S")}.{fmt}')

    def on_key_change(event: KeyChangeEvent) -> None:
        """A write under the scanned range makes the shown result stale: say so, re-running is one click."""
        result = shown.result
        if result is None or event.cf != result.cf:
            return
        wiped = event.operation == 'delete_prefix' and result.prefix.startswith(event.key)  # a range over ours
        if event.key.startswith(result.prefix) or wiped:
            stale.set_visibility(True)

    async def load_families() -> None:
        try:
            families = await ctx.api.family_names()
        except Exception:  # noqa: BLE001 - without the listing, 'default' is still right
            return
        cf_select.options = families or ['default']
        cf_select.update()

    run_button.on_click(lambda: execute())
    query_box.on('keydown.ctrl.enter', lambda: execute())
    query_box.on('keydown.meta.enter', lambda: execute())
    prefix_input.on('keydown.enter', lambda: execute())
    ctx.on(KeyChangeEvent, on_key_change)
    render_history()
    offered.loading('Checking that this server runs SQL…')
    with ctx.errors(state=offered, feature='SQL Runner') as probe:
        await run_query(ctx.api, 'SELECT 1', QueryOptions(max_scan=1))  # one key read: is /query there?
    if probe.failed:
        workspace.set_visibility(not isinstance(probe.error, NotOffered))
        return
    offered.hide()
    await load_families()
