"""Vector indexes: named sets of fixed-dimension vectors with exact k-NN search (numpy), no embedding model.

Persistence is in the store's internal `__system` column family, so indexes never show through `/keys`
and go with snapshots and restores: `vector-index:{name}` holds the index (JSON), and
`vector:{name}\\0{key}` one vector (little-endian float32 numbers, then the metadata as JSON). A search
loads the index once into a numpy matrix (kept until the index changes or the store is restored) and
compares the query with every vector: cosine and dot rank the highest score first, euclidean the
smallest distance. A query must be numbers: the server has no model to turn text into a vector.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, Field, StrictStr
from rocksdict import WriteBatch
from starlette.requests import Request
from starlette.routing import Route

from ..http import ApiError, backend_of, int_param, key_problem, legacy, read_body, require
from ..storage import SYSTEM_CF, prefix_end
from ..tokens import Permission

log = logging.getLogger(__name__)
M = TypeVar('M', bound=BaseModel)

Metric = Literal['cosine', 'euclidean', 'dot']
INDEX_PREFIX = b'vector-index:'
VECTOR_PREFIX = b'vector:'
MAX_DIMENSION = 4096
MAX_BATCH = 1000  # vectors in one upsert
MAX_FLOATS = 16_000_000  # numbers in one index (64 MiB as float32): what a search may hold in memory
MAX_K = 100
_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
_NUMBER_SPLIT = re.compile(r'[\s,;]+')


def refusal(status: int, message: str) -> ApiError:
    """Both error styles in one body: `message` for the Angular client, `error` like the plain routes."""
    return ApiError(status, {'success': False, 'message': message, 'error': message})


async def parsed_body(request: Request, model: type[M]) -> M:
    """The JSON body as `model`; a bad one is refused in this feature's error style (400/413)."""
    try:
        return await read_body(request, model, backend_of(request).config.max_body_bytes)
    except ApiError as exc:
        message = str(exc.body.get('error', 'bad request'))
        raise refusal(exc.status, message) from None


class IndexBody(BaseModel):
    name: StrictStr
    dimension: int = Field(ge=1, le=MAX_DIMENSION)
    metric: Metric = 'cosine'


class VectorItem(BaseModel):
    key: StrictStr
    vector: list[float]
    metadata: dict[str, Any] | None = None


class UpsertBody(BaseModel):
    vectors: list[VectorItem] = Field(min_length=1, max_length=MAX_BATCH)


class SearchBody(BaseModel):
    vector: list[float] | None = None
    query: StrictStr | None = None  # the Angular page's field: numbers as text (a JSON array or separated)
    k: int = Field(default=10, ge=1, le=MAX_K)


@dataclass
class Loaded:
    """An index in memory: its keys in store order and one row per key."""
    keys: list[str]
    matrix: np.ndarray
    metadata: list[dict[str, Any] | None]
    norms: np.ndarray | None = None


@dataclass
class VectorState:
    epoch: str = ''
    loaded: dict[str, Loaded] = field(default_factory=dict)
    generation: dict[str, int] = field(default_factory=dict)  # bumped by every write: a load in flight is stale
    lock: threading.Lock = field(default_factory=threading.Lock)
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one change at a time: sizes stay exact

    def changed(self, name: str) -> None:
        with self.lock:
            self.generation[name] = self.generation.get(name, 0) + 1
            self.loaded.pop(name, None)


# -- storage ---------------------------------------------------------------------------------------
def index_key(name: str) -> bytes:
    return INDEX_PREFIX + name.encode()


def vector_prefix(name: str) -> bytes:
    return VECTOR_PREFIX + name.encode() + b'\x00'


def encode_vector(vector: list[float], metadata: dict[str, Any] | None) -> bytes:
    raw = np.asarray(vector, dtype='<f4').tobytes()
    return raw + (json.dumps(metadata, ensure_ascii=False).encode() if metadata is not None else b'')


def decode_vector(raw: bytes, dimension: int) -> tuple[np.ndarray, dict[str, Any] | None]:
    size = dimension * 4
    metadata = json.loads(raw[size:]) if len(raw) > size else None
    return np.frombuffer(raw[:size], dtype='<f4'), metadata


def read_index(store, name: str) -> dict[str, Any] | None:
    raw = store.system_get(index_key(name))
    return json.loads(raw) if raw is not None else None


def existing_index(store, name: str) -> dict[str, Any]:
    info = read_index(store, name) if _NAME.match(name) else None
    if info is None:
        raise refusal(404, f'vector index {name!r} not found')
    return info


def state_of(backend) -> VectorState:
    state: VectorState = backend.feature_state('vectors', VectorState)
    if state.epoch != backend.bus.epoch:  # a restore replaced the store: whatever was loaded is stale
        with state.lock:
            state.epoch = backend.bus.epoch
            state.loaded.clear()
    return state


def load(store, state: VectorState, info: dict[str, Any]) -> Loaded:
    """The index as a matrix, from memory or read from the store (blocking: runs in a worker thread)."""
    name = info['name']
    with state.lock:
        if (cached := state.loaded.get(name)) is not None:
            return cached
        generation = state.generation.get(name, 0)
    prefix = vector_prefix(name)
    records = store.scan(SYSTEM_CF, prefix, prefix_end(prefix), limit=None)
    keys, rows, metadata = [], [], []
    for raw_key, raw in records:
        vector, meta = decode_vector(raw, info['dimension'])
        keys.append(raw_key[len(prefix):].decode(errors='replace'))
        rows.append(vector)
        metadata.append(meta)
    matrix = np.vstack(rows) if rows else np.zeros((0, info['dimension']), dtype='<f4')
    loaded = Loaded(keys, matrix, metadata)
    if info['metric'] == 'cosine':
        loaded.norms = np.linalg.norm(matrix, axis=1)
    with state.lock:
        if state.generation.get(name, 0) == generation:
            state.loaded[name] = loaded
    return loaded


def nearest(loaded: Loaded, query: np.ndarray, metric: str, k: int) -> list[dict[str, Any]]:
    """Exact k-NN: every vector compared with the query; ties keep the keys' order."""
    if not loaded.keys:
        return []
    matrix = loaded.matrix.astype(np.float64)
    if metric == 'euclidean':
        scores = np.linalg.norm(matrix - query, axis=1)
        order = np.argsort(scores, kind='stable')[:k]
    else:
        scores = matrix @ query
        if metric == 'cosine':
            assert loaded.norms is not None
            scores = scores / (loaded.norms * np.linalg.norm(query))
        order = np.argsort(-scores, kind='stable')[:k]
    results = []
    for i in order:
        hit: dict[str, Any] = {'key': loaded.keys[i], 'score': float(scores[i])}
        if loaded.metadata[i] is not None:
            hit['metadata'] = loaded.metadata[i]
        results.append(hit)
    return results


# -- validation ------------------------------------------------------------------------------------
def check_vector(vector: list[float], info: dict[str, Any], what: str) -> None:
    if len(vector) != info['dimension']:
        raise refusal(400, f'{what} has {len(vector)} numbers; index {info["name"]!r} has dimension '
                           f'{info["dimension"]}')
    if not all(math.isfinite(x) for x in vector):
        raise refusal(400, f'{what} has a number that is not finite (NaN or infinity)')
    if info['metric'] == 'cosine' and not any(vector):
        raise refusal(400, f'{what} is all zeros: it has no direction, so cosine similarity is undefined')


def query_vector(body: SearchBody, info: dict[str, Any]) -> list[float]:
    """The query as numbers: `vector`, or `query` text holding numbers; a text query cannot be embedded here."""
    if body.vector is not None:
        return body.vector
    text = (body.query or '').strip()
    if not text:
        raise refusal(400, 'give the query as a vector: "vector": [numbers] (or "query": "0.1, 0.2, …")')
    try:
        parsed = json.loads(text) if text.startswith('[') else [float(p) for p in _NUMBER_SPLIT.split(text) if p]
        if not isinstance(parsed, list) or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                                   for x in parsed):
            raise ValueError
        return [float(x) for x in parsed]
    except ValueError:
        raise refusal(400, f'text queries need a vector: this server has no embedding model. Give the query as '
                           f'{info["dimension"]} numbers, e.g. [0.1, 0.2, …]') from None


# -- routes ----------------------------------------------------------------------------------------
async def list_indexes(request: Request):
    """`GET /vector/indexes` (Read)."""
    require(request, Permission.Read)
    store = backend_of(request).store
    indexes = [json.loads(raw) for _, raw in store.system_items(INDEX_PREFIX)]
    return legacy(f'{len(indexes)} vector indexes', {'indexes': indexes})


async def create_index(request: Request):
    """`POST /vector/indexes` (Admin): `{name, dimension, metric}`."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await parsed_body(request, IndexBody)
    if not _NAME.match(body.name):
        raise refusal(400, 'invalid index name: 1 to 64 letters, digits, _ . -')
    state = state_of(backend)
    async with state.writing:
        if read_index(backend.store, body.name) is not None:
            raise refusal(409, f'vector index {body.name!r} already exists')
        info = {'name': body.name, 'dimension': body.dimension, 'metric': body.metric, 'size': 0,
                'status': 'active', 'created_at': backend.now()}
        state.changed(body.name)
        backend.store.system_put(index_key(body.name), json.dumps(info).encode())
    backend.publish_feature('vectors', 'index_created', {'index': body.name})
    return legacy(f"Vector index '{body.name}' created", info)


async def delete_index(request: Request):
    """`DELETE /vector/indexes/{name}` (Admin): the index and all its vectors."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = state_of(backend)
    async with state.writing:
        info = existing_index(backend.store, request.path_params['name'])
        backend.store.system_delete(index_key(info['name']))
        await asyncio.to_thread(backend.store.delete_prefix, SYSTEM_CF, vector_prefix(info['name']))
        state.changed(info['name'])
    backend.publish_feature('vectors', 'index_deleted', {'index': info['name'], 'size': info['size']})
    return legacy(f"Vector index '{info['name']}' deleted ({info['size']} vectors)")


async def upsert_vectors(request: Request):
    """`POST /vector/indexes/{name}/vectors` (Write): `{vectors: [{key, vector, metadata?}]}`, all or nothing."""
    require(request, Permission.Write)
    backend = backend_of(request)
    existing_index(backend.store, request.path_params['name'])  # 404 before reading a large body
    body = await parsed_body(request, UpsertBody)
    state = state_of(backend)
    async with state.writing:
        return _upsert(backend, state, existing_index(backend.store, request.path_params['name']), body)


def _upsert(backend, state: VectorState, info: dict[str, Any], body: UpsertBody):
    items = {item.key: item for item in body.vectors}  # the last one of a repeated key wins
    for item in items.values():
        if problem := key_problem(item.key):
            raise refusal(400, f'vector key {item.key[:80]!r}: {problem}')
        check_vector(item.vector, info, f'the vector for key {item.key[:80]!r}')
    prefix = vector_prefix(info['name'])
    store = backend.store
    added = sum(1 for key in items if store.system_get(prefix + key.encode()) is None)
    if (info['size'] + added) * info['dimension'] > MAX_FLOATS:
        raise refusal(400, f'index {info["name"]!r} is full: it may hold {MAX_FLOATS // info["dimension"]:,} '
                           f'vectors of dimension {info["dimension"]}')
    info['size'] += added
    handle = store.db.get_column_family_handle(SYSTEM_CF)
    batch = WriteBatch(raw_mode=True)
    for key, item in items.items():
        batch.put(prefix + key.encode(), encode_vector(item.vector, item.metadata), handle)
    batch.put(index_key(info['name']), json.dumps(info).encode(), handle)
    store.db.write(batch)  # vectors and the new size together
    state.changed(info['name'])
    backend.publish_feature('vectors', 'vectors_upserted', {'index': info['name'], 'count': len(items),
                                                            'added': added, 'size': info['size']})
    return legacy(f'{len(items)} vectors upserted ({added} new)', {'upserted': len(items), 'added': added,
                                                                   'size': info['size']})


def _vector_json(key: str, raw: bytes, info: dict[str, Any], preview: int | None) -> dict[str, Any]:
    vector, metadata = decode_vector(raw, info['dimension'])
    numbers = [float(x) for x in (vector[:preview] if preview is not None else vector)]
    return {'key': key, 'vector': numbers, 'metadata': metadata}


async def list_vectors(request: Request):
    """`GET /vector/indexes/{name}/vectors?limit=&cursor=` (Read): keys with the first 8 numbers of each."""
    require(request, Permission.Read)
    store = backend_of(request).store
    info = existing_index(store, request.path_params['name'])
    limit = int_param(request, 'limit', 100, 1000)
    prefix = vector_prefix(info['name'])
    cursor = request.query_params.get('cursor')
    rows = store.scan(SYSTEM_CF, prefix, prefix_end(prefix), limit + 1,
                      after=prefix + cursor.encode() if cursor else None)
    more = len(rows) > limit
    rows = rows[:limit]
    vectors = [_vector_json(k[len(prefix):].decode(errors='replace'), v, info, 8) for k, v in rows]
    return legacy(f'{len(vectors)} vectors', {'vectors': vectors, 'dimension': info['dimension'],
                                              'cursor': vectors[-1]['key'] if more and vectors else None})


async def get_vector(request: Request):
    """`GET /vector/indexes/{name}/vectors/{key}` (Read): one vector, all its numbers."""
    require(request, Permission.Read)
    store = backend_of(request).store
    info = existing_index(store, request.path_params['name'])
    key = request.path_params['key']
    raw = store.system_get(vector_prefix(info['name']) + key.encode())
    if raw is None:
        raise refusal(404, f'vector {key[:80]!r} not found in index {info["name"]!r}')
    return legacy('Vector found', _vector_json(key, raw, info, None))


async def delete_vector(request: Request):
    """`DELETE /vector/indexes/{name}/vectors/{key}` (Delete)."""
    require(request, Permission.Delete)
    backend = backend_of(request)
    store = backend.store
    state = state_of(backend)
    async with state.writing:
        info = existing_index(store, request.path_params['name'])
        key = request.path_params['key']
        record = vector_prefix(info['name']) + key.encode()
        if store.system_get(record) is None:
            raise refusal(404, f'vector {key[:80]!r} not found in index {info["name"]!r}')
        info['size'] = max(0, info['size'] - 1)
        handle = store.db.get_column_family_handle(SYSTEM_CF)
        batch = WriteBatch(raw_mode=True)
        batch.delete(record, handle)
        batch.put(index_key(info['name']), json.dumps(info).encode(), handle)
        store.db.write(batch)
        state.changed(info['name'])
    backend.publish_feature('vectors', 'vector_deleted', {'index': info['name'], 'key': key, 'size': info['size']})
    return legacy(f"Vector '{key}' deleted")


async def search(request: Request):
    """`POST /vector/indexes/{name}/search` (Read): `{vector | query, k?}` → the k nearest keys, best first."""
    require(request, Permission.Read)
    backend = backend_of(request)
    info = existing_index(backend.store, request.path_params['name'])
    body = await parsed_body(request, SearchBody)
    vector = query_vector(body, info)
    check_vector(vector, info, 'the query vector')
    state = state_of(backend)

    def run() -> tuple[list[dict[str, Any]], int]:
        loaded = load(backend.store, state, info)
        return nearest(loaded, np.asarray(vector, dtype=np.float64), info['metric'], body.k), len(loaded.keys)

    results, searched = await asyncio.to_thread(run)
    return legacy(f'{len(results)} results', {'results': results, 'metric': info['metric'],
                                              'dimension': info['dimension'], 'searched': searched})


routes = [
    Route('/vector/indexes', list_indexes, methods=['GET']),
    Route('/vector/indexes', create_index, methods=['POST']),
    Route('/vector/indexes/{name}', delete_index, methods=['DELETE']),
    Route('/vector/indexes/{name}/vectors', upsert_vectors, methods=['POST']),
    Route('/vector/indexes/{name}/vectors', list_vectors, methods=['GET']),
    Route('/vector/indexes/{name}/vectors/{key:path}', get_vector, methods=['GET']),
    Route('/vector/indexes/{name}/vectors/{key:path}', delete_vector, methods=['DELETE']),
    Route('/vector/indexes/{name}/search', search, methods=['POST']),
]


def install(backend) -> None:
    backend.feature_readers['vectors'] = Permission.Read  # readers may search, so they may see indexes change
