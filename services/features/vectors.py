"""Vector Search client: indexes, vectors and exact k-NN search (`/vector/indexes*`).

The server has no embedding model: vectors and queries are numbers the caller supplies.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel

from ..api import ApexApi, segment

Metric = Literal['cosine', 'euclidean', 'dot']
METRICS: dict[str, str] = {'cosine': 'Cosine', 'euclidean': 'Euclidean', 'dot': 'Dot Product'}
SCORE_MEANING: dict[str, str] = {'cosine': 'similarity (higher is closer)', 'dot': 'dot product (higher is closer)',
                                 'euclidean': 'distance (lower is closer)'}
MAX_DIMENSION = 4096
_SEPARATORS = re.compile(r'[\s,;]+')


class VectorIndex(BaseModel):
    name: str
    dimension: int
    metric: Metric
    size: int = 0
    status: str = 'active'
    created_at: int = 0


class SearchHit(BaseModel):
    key: str
    score: float
    metadata: dict[str, Any] | None = None


class SearchAnswer(BaseModel):
    results: list[SearchHit] = []
    metric: Metric = 'cosine'
    searched: int = 0


class StoredVector(BaseModel):
    key: str
    vector: list[float]  # the first 8 numbers in a listing
    metadata: dict[str, Any] | None = None


class VectorPage(BaseModel):
    vectors: list[StoredVector] = []
    dimension: int = 0
    cursor: str | None = None


class Upserted(BaseModel):
    upserted: int
    added: int
    size: int


def index_path(name: str, *rest: str) -> str:
    return '/'.join(['/vector/indexes', segment(name), *rest])


async def list_indexes(api: ApexApi) -> list[VectorIndex]:
    data = await api.call('GET', '/vector/indexes', 'List vector indexes')
    return [VectorIndex.model_validate(i) for i in data.get('indexes', [])]


async def create_index(api: ApexApi, name: str, dimension: int, metric: Metric) -> VectorIndex:
    data = await api.call('POST', '/vector/indexes', 'Create vector index',
                          body={'name': name, 'dimension': dimension, 'metric': metric})
    return VectorIndex.model_validate(data)


async def delete_index(api: ApexApi, name: str) -> None:
    await api.call('DELETE', index_path(name), 'Delete vector index')


async def upsert(api: ApexApi, index: str, vectors: list[dict[str, Any]]) -> Upserted:
    """`vectors`: `[{key, vector, metadata?}]`, written all together or not at all."""
    data = await api.call('POST', index_path(index, 'vectors'), 'Upsert vectors', body={'vectors': vectors})
    return Upserted.model_validate(data)


async def list_vectors(api: ApexApi, index: str, limit: int = 100, cursor: str | None = None) -> VectorPage:
    data = await api.call('GET', index_path(index, 'vectors'), 'List vectors',
                          params={'limit': str(limit), 'cursor': cursor})
    return VectorPage.model_validate(data)


async def delete_vector(api: ApexApi, index: str, key: str) -> None:
    await api.call('DELETE', index_path(index, 'vectors', segment(key)), 'Delete vector')


async def search(api: ApexApi, index: str, vector: list[float], k: int = 10) -> SearchAnswer:
    data = await api.call('POST', index_path(index, 'search'), 'Vector search', body={'vector': vector, 'k': k})
    return SearchAnswer.model_validate(data)


# -- input parsing (the page's text boxes) -----------------------------------------------------------
def parse_vector(text: str) -> list[float]:
    """Numbers from `[0.1, 0.2]` or `0.1, 0.2` or `0.1 0.2`; ValueError with a reason a user can act on."""
    text = (text or '').strip()
    if not text:
        raise ValueError('enter the vector as numbers, e.g. [0.1, 0.2, 0.3]')
    try:
        numbers = json.loads(text) if text.startswith('[') else [float(p) for p in _SEPARATORS.split(text) if p]
    except ValueError:
        raise ValueError('a vector is numbers only, e.g. [0.1, 0.2, 0.3]. Text cannot be searched: this server '
                         'has no embedding model, so supply the vector yourself') from None
    if not isinstance(numbers, list) or not numbers or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
        raise ValueError('a vector is a non-empty list of numbers, e.g. [0.1, 0.2, 0.3]')
    values = [float(x) for x in numbers]
    if not all(math.isfinite(x) for x in values):
        raise ValueError('a vector cannot hold NaN or infinity')
    return values


def parse_metadata(text: str) -> dict[str, Any] | None:
    text = (text or '').strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f'metadata is not valid JSON: {exc}') from None
    if not isinstance(value, dict):
        raise ValueError('metadata must be a JSON object, e.g. {"title": "…"}')
    return value


def parse_bulk(text: str) -> list[dict[str, Any]]:
    """A JSON array of `{key, vector, metadata?}` objects (the upsert body's `vectors`)."""
    try:
        items = json.loads(text or '')
    except ValueError as exc:
        raise ValueError(f'not valid JSON: {exc}') from None
    if not isinstance(items, list) or not items:
        raise ValueError('expected a non-empty JSON array of {"key": …, "vector": […], "metadata": {…}}')
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get('key'), str) or not isinstance(item.get('vector'),
                                                                                                 list):
            raise ValueError(f'item {n} needs a "key" (text) and a "vector" (list of numbers)')
    return items


def vector_text(vector: list[float], dimension: int) -> str:
    shown = ', '.join(f'{x:.4g}' for x in vector[:8])
    return f'[{shown}{", …" if dimension > len(vector[:8]) else ""}]'
