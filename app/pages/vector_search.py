"""`/vector-search`: vector indexes (create, delete), vectors (upsert, list, delete) and exact k-NN search.

The server has no embedding model, and the page says so: queries and vectors are numbers the user
supplies. Live: another client's index or vector change (a `vectors` feature event) refreshes the lists.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nicegui import ui

from components.confirm import confirm
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent
from services.features import vectors as vec
from services.features.vectors import METRICS, SCORE_MEANING, VectorIndex

from ..context import PageContext, notify
from ..shell import page

NO_MODEL = ('This server has no embedding model: a query is a vector of numbers you supply (for example [0.1, 0.2, '
            '0.3]), made by your own model. Text cannot be searched until it is turned into a vector elsewhere.')
INDEX_COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'dimension', 'label': 'Dimensions', 'field': 'dimension', 'align': 'right'},
    {'name': 'metric', 'label': 'Metric', 'field': 'metric', 'align': 'left'},
    {'name': 'size', 'label': 'Size', 'field': 'size', 'align': 'right'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'created', 'label': 'Created', 'field': 'created', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'name', 'align': 'right'},
]
VECTOR_COLUMNS = [
    {'name': 'key', 'label': 'Key', 'field': 'key', 'align': 'left'},
    {'name': 'vector', 'label': 'Vector', 'field': 'vector', 'align': 'left'},
    {'name': 'metadata', 'label': 'Metadata', 'field': 'metadata', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'key', 'align': 'right'},
]
RESULT_COLUMNS = [
    {'name': 'rank', 'label': '#', 'field': 'rank', 'align': 'right'},
    {'name': 'key', 'label': 'Key', 'field': 'key', 'align': 'left'},
    {'name': 'score', 'label': 'Score', 'field': 'score', 'align': 'right'},
    {'name': 'metadata', 'label': 'Metadata', 'field': 'metadata', 'align': 'left'},
]
STATUS_SLOT = r'''<q-td :props="props"><q-badge :color="props.value === 'active' ? 'positive'
  : props.value === 'building' ? 'warning' : 'negative'">{{ props.value }}</q-badge></q-td>'''
DELETE_SLOT = r'''<q-td :props="props"><q-btn flat dense icon="delete" color="negative" title="Delete"
  @click="$parent.$emit('remove', props.row.%s)" /></q-td>'''


def index_row(index: VectorIndex) -> dict[str, Any]:
    created = time.strftime('%Y-%m-%d %H:%M', time.localtime(index.created_at / 1e9)) if index.created_at else '—'
    return {'name': index.name, 'dimension': index.dimension, 'metric': METRICS.get(index.metric, index.metric),
            'size': f'{index.size:,} vectors', 'status': index.status, 'created': created}


def metadata_text(metadata: dict[str, Any] | None) -> str:
    return json.dumps(metadata, ensure_ascii=False)[:300] if metadata else ''


@page('/vector-search', 'Vector Search')
async def vector_search(ctx: PageContext) -> None:
    indexes: dict[str, VectorIndex] = {}
    chosen: dict[str, str | None] = {'index': None}
    ui.label('Vector index management and semantic search').classes('text-gray-500')
    with ui.row().classes('w-full items-start gap-2 no-wrap text-sm text-gray-500').mark('vec-no-embedding'):
        ui.icon('info').classes('text-info')
        ui.label(NO_MODEL).classes('grow')
    offered = StatePanel('vec-offered')
    with ui.column().classes('w-full gap-4') as workspace:
        with ui.row().classes('w-full gap-4 items-stretch'):
            with ui.card().classes('grow basis-80'):
                ui.label('Create Index').classes('font-semibold')
                name_input = ui.input('Name', placeholder='my_vectors').classes('w-full').mark('vec-name')
                with ui.row().classes('w-full gap-2'):
                    dimension_input = ui.number('Dimensions', value=128, min=1, max=4096, step=1, format='%d') \
                        .classes('grow').mark('vec-dimension')
                    metric_select = ui.select(METRICS, value='cosine', label='Metric').classes('grow') \
                        .mark('vec-metric')
                create_button = ui.button('Create', icon='add').mark('vec-create')
                create_button.bind_enabled_from(name_input, 'value', backward=lambda v: bool((v or '').strip()))
            with ui.card().classes('grow basis-80'):
                ui.label('Semantic Search').classes('font-semibold')
                index_select = ui.select([], label='Index').classes('w-full').mark('vec-search-index') \
                    .bind_value(chosen, 'index')
                with ui.row().classes('w-full gap-2 items-center no-wrap'):
                    query_input = ui.input('Query vector', placeholder='[0.1, 0.2, 0.3]').classes('grow') \
                        .mark('vec-query')
                    k_input = ui.number('k', value=10, min=1, max=100, step=1, format='%d').classes('w-20') \
                        .mark('vec-k')
                search_button = ui.button('Search', icon='search').mark('vec-search')
                search_button.bind_enabled_from(query_input, 'value', backward=lambda v: bool((v or '').strip()))
        with ui.card().classes('w-full'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Vector Indexes').classes('font-semibold')
                count_badge = ui.badge('0').mark('vec-count')
            state = StatePanel('vec-state')
            index_table = ui.table(columns=INDEX_COLUMNS, rows=[], row_key='name').classes('w-full') \
                .props('flat dense').mark('vec-table')
            index_table.add_slot('body-cell-status', STATUS_SLOT)
            index_table.add_slot('body-cell-actions', DELETE_SLOT % 'name')
        with ui.card().classes('w-full') as results_card:
            with ui.row().classes('items-center gap-2'):
                ui.label('Search Results').classes('font-semibold')
                meaning = ui.label('').classes('text-sm text-gray-500').mark('vec-score-meaning')
            results_table = ui.table(columns=RESULT_COLUMNS, rows=[], row_key='rank').classes('w-full') \
                .props('flat dense').mark('vec-results')
            results_state = StatePanel('vec-results-state')
        results_card.set_visibility(False)
        with ui.card().classes('w-full'):
            vectors_title = ui.label('Vectors').classes('font-semibold').mark('vec-vectors-title')
            with ui.row().classes('w-full gap-2 items-start'):
                key_input = ui.input('Key', placeholder='doc:1').classes('w-48').mark('vec-key')
                vector_input = ui.input('Vector', placeholder='[0.1, 0.2, 0.3]').classes('grow').mark('vec-vector')
                metadata_input = ui.input('Metadata (JSON, optional)', placeholder='{"title": "…"}') \
                    .classes('w-64').mark('vec-metadata')
                ui.button('Upsert', icon='upload', on_click=lambda: upsert_one()).mark('vec-upsert')
            with ui.expansion('Many at once (JSON)').classes('w-full'):
                bulk_input = ui.textarea(placeholder='[{"key": "doc:1", "vector": [0.1, 0.2], "metadata": {}}]') \
                    .classes('w-full font-mono').props('autogrow').mark('vec-bulk')
                ui.button('Upsert all', icon='upload', on_click=lambda: upsert_bulk()).mark('vec-bulk-upsert')
            vectors_state = StatePanel('vec-vectors-state')
            vector_table = ui.table(columns=VECTOR_COLUMNS, rows=[], row_key='key').classes('w-full') \
                .props('flat dense wrap-cells').mark('vec-vectors')
            vector_table.add_slot('body-cell-actions', DELETE_SLOT % 'key')

    def selected() -> VectorIndex | None:
        return indexes.get(chosen['index'] or '')

    async def load() -> None:
        """Indexes, then the chosen index's first vectors (the refresher's render: live changes land here)."""
        with ctx.errors(state=state, feature='Vector search') as outcome:
            found = await vec.list_indexes(ctx.api)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                workspace.set_visibility(False)
                offered.not_offered('Vector search')
            index_table.set_visibility(False)
            return
        indexes.clear()
        indexes.update({i.name: i for i in found})
        rows = [index_row(i) for i in found]
        if index_table.rows != rows:
            index_table.rows = rows
        index_table.set_visibility(bool(rows))
        count_badge.text = str(len(rows))
        state.settle(bool(rows), 'No vector indexes yet: create one above.')
        index_select.set_options(list(indexes))
        if chosen['index'] not in indexes:
            chosen['index'] = next(iter(indexes), None)  # the first index is chosen, like the Angular page
        await load_vectors()

    async def load_vectors() -> None:
        index = selected()
        vectors_title.text = f'Vectors in {index.name} ({index.dimension} dimensions)' if index else 'Vectors'
        if index is None:
            vector_table.rows = []
            vector_table.set_visibility(False)
            vectors_state.empty('Create an index to add vectors.')
            return
        with ctx.errors(state=vectors_state, feature='Vector search') as outcome:
            listing = await vec.list_vectors(ctx.api, index.name)
        if outcome.failed:
            return
        rows = [{'key': v.key, 'vector': vec.vector_text(v.vector, listing.dimension),
                 'metadata': metadata_text(v.metadata)} for v in listing.vectors]
        if vector_table.rows != rows:
            vector_table.rows = rows
        vector_table.set_visibility(bool(rows))
        more = ' (the first 100 are shown)' if listing.cursor else ''
        vectors_state.settle(bool(rows), f'No vectors in {index.name} yet: upsert one above.')
        if more:
            vectors_title.text += more

    refresher = ctx.refresher(load, frame=0.5, burst_frame=1.0)

    async def create() -> None:
        name = (name_input.value or '').strip()
        if not name:
            return
        dimension = int(dimension_input.value or 0)
        with ctx.errors(success=f'Vector index "{name}" created') as outcome:
            await vec.create_index(ctx.api, name, dimension, metric_select.value)
        if outcome.failed:
            return
        name_input.value = ''
        chosen['index'] = name
        refresher.flush_now()

    async def remove_index(name: str) -> None:
        index = indexes.get(name)
        size = index.size if index else 0
        if not await confirm('Delete vector index', f'Delete the index "{name}"? All vectors will be lost '
                             f'({size:,} vectors).', action='Delete', typed=name if size else None):
            return
        with ctx.errors(success=f'Vector index "{name}" deleted'):
            await vec.delete_index(ctx.api, name)
        refresher.flush_now()

    async def write(items: list[dict[str, Any]]) -> bool:
        index = selected()
        if index is None:
            notify('Create or choose an index first', 'warning')
            return False
        with ctx.errors() as outcome:
            done = await vec.upsert(ctx.api, index.name, items)
        if outcome.failed:
            return False
        notify(f'{done.upserted} vectors upserted into "{index.name}" ({done.added} new)', 'success')
        refresher.flush_now()
        return True

    async def upsert_one() -> None:
        key = key_input.value or ''
        if not key:
            notify('Enter a key for the vector', 'warning')
            return
        try:
            item = {'key': key, 'vector': vec.parse_vector(vector_input.value),
                    'metadata': vec.parse_metadata(metadata_input.value)}
        except ValueError as exc:
            notify(str(exc), 'error')
            return
        if await write([item]):
            key_input.value = vector_input.value = metadata_input.value = ''

    async def upsert_bulk() -> None:
        try:
            items = vec.parse_bulk(bulk_input.value)
        except ValueError as exc:
            notify(f'Vectors: {exc}', 'error')
            return
        if await write(items):
            bulk_input.value = ''

    async def remove_vector(key: str) -> None:
        index = selected()
        if index is None or not await confirm('Delete vector', f'Delete the vector "{key}" from "{index.name}"?'):
            return
        with ctx.errors(success=f'Vector "{key}" deleted'):
            await vec.delete_vector(ctx.api, index.name, key)
        refresher.flush_now()

    async def search() -> None:
        index = selected()
        if index is None or not (query_input.value or '').strip():
            notify('Choose an index and enter a query vector', 'warning')
            return
        try:
            vector = vec.parse_vector(query_input.value)
        except ValueError as exc:
            notify(str(exc), 'error')
            return
        search_button.props('loading')
        try:
            with ctx.errors() as outcome:
                answer = await vec.search(ctx.api, index.name, vector, int(k_input.value or 10))
        finally:
            search_button.props(remove='loading')
        if outcome.failed:
            return
        results_card.set_visibility(True)
        meaning.text = f'score = {SCORE_MEANING.get(answer.metric, answer.metric)}, over {answer.searched:,} vectors'
        results_table.rows = [{'rank': n, 'key': hit.key, 'score': f'{hit.score:.4f}',
                               'metadata': metadata_text(hit.metadata)} for n, hit in enumerate(answer.results, 1)]
        results_table.set_visibility(bool(answer.results))
        results_state.settle(bool(answer.results), f'No vectors in "{index.name}" to compare with.')

    create_button.on_click(create)
    name_input.on('keydown.enter', create)
    search_button.on_click(search)
    query_input.on('keydown.enter', search)
    vector_input.on('keydown.enter', upsert_one)
    index_table.on('remove', lambda e: remove_index(e.args))
    vector_table.on('remove', lambda e: remove_vector(e.args))
    index_select.on_value_change(lambda _: refresher.mark())
    ctx.on(FeatureEvent, lambda e: refresher.mark() if e.feature == 'vectors' else None)

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
