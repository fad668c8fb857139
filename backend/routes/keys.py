"""Key routes of the current ApexStore API (reference §2.2–§2.4), default column family.

The same handlers also serve one named column family when mounted under a `{cf}` path parameter
(`backend/features/cf_keys.py`: `/cf/{cf}/keys…`, an extension); the real server's routes have none.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import (
    backend_of,
    envelope,
    envelope_error,
    int_param,
    key_problem,
    plain,
    plain_error,
    read_body,
    require,
    text,
)
from ..regex_search import RegexFailed, RegexTimeout
from ..storage import DEFAULT_CF, prefix_end
from ..tokens import Permission

MAX_SCAN_LIMIT = 10_000
MAX_BATCH = 1000


class PutBody(BaseModel):
    value: StrictStr
    ttl_secs: int | None = Field(default=None, ge=0)


class PostBody(PutBody):
    key: StrictStr


class BatchBody(BaseModel):
    records: list[PostBody]


class BatchDeleteBody(BaseModel):
    keys: list[StrictStr]


class TtlBody(BaseModel):
    ttl_secs: int = Field(ge=0)


def cf_of(request: Request) -> str:
    """The column family a request addresses: `{cf}` where the routes are mounted per family, else default."""
    name = request.path_params.get('cf')
    if name is None:
        return DEFAULT_CF
    if not backend_of(request).store.has_cf(name):
        raise plain_error(404, 'column family not found')
    return name


def _records(pairs) -> list[dict]:
    return [{'key': text(k), 'value': text(v)} for k, v in pairs]


def _page(request: Request, lower: bytes, upper: bytes | None, limit: int, after: str | None):
    """One page plus whether more follows (fetch one extra record to know)."""
    rows = backend_of(request).store.scan(cf_of(request), lower, upper, limit + 1,
                                        after=after.encode() if after else None)
    has_more = len(rows) > limit
    rows = rows[:limit]
    cursor = text(rows[-1][0]) if has_more and rows else None
    return rows, cursor, has_more


async def list_keys(request: Request):
    require(request, Permission.Read)
    limit = int_param(request, 'limit', 100, MAX_SCAN_LIMIT)
    prefix = request.query_params.get('prefix')
    if prefix is None:
        rows, _, _ = _page(request, b'', None, limit, None)
        return plain({'keys': [text(k) for k, _ in rows]})
    raw = prefix.encode()
    rows, cursor, _ = _page(request, raw, prefix_end(raw), limit, request.query_params.get('cursor'))
    return plain({'keys': [text(k) for k, _ in rows], 'cursor': cursor})


async def search_keys(request: Request):
    require(request, Permission.Read)
    params = request.query_params
    query = params.get('q') or params.get('prefix') or ''
    mode = params.get('mode', 'prefix')
    limit = int_param(request, 'limit', 100, MAX_SCAN_LIMIT)
    store = backend_of(request).store
    if mode in ('contains', 'substring'):
        matches = [(k, v) for k, v in store.count_scan(cf_of(request), MAX_SCAN_LIMIT) if query.encode() in k]
        return envelope({'records': _records(matches[:min(limit, 100)])})
    if mode == 'regex':
        return envelope({'records': _records(await _regex_matches(request, query, limit))})
    raw = query.encode()
    rows, cursor, _ = _page(request, raw, prefix_end(raw), limit, params.get('cursor'))
    return envelope({'records': _records(rows), 'cursor': cursor})


async def _regex_matches(request: Request, query: str, limit: int) -> list[tuple[bytes, bytes]]:
    """Keys matching `query`, matched in a worker process so a catastrophic pattern cannot stall the server."""
    try:
        re.compile(query)
    except re.error as exc:
        raise plain_error(400, f'invalid regex: {exc}') from None
    backend = backend_of(request)
    rows = backend.store.count_scan(cf_of(request), MAX_SCAN_LIMIT)
    try:
        found = await backend.regex.search(query, [text(k) for k, _ in rows], limit)
    except RegexTimeout:
        raise plain_error(422, f'regex took too long (over {backend.config.regex_budget_secs:g} s of matching); '
                               'simplify the pattern, e.g. avoid nested or overlapping repetition') from None
    except RegexFailed as exc:
        raise plain_error(400, f'invalid regex: {exc}') from None
    return [rows[i] for i in found][:limit]


async def value_search(request: Request):
    require(request, Permission.Read)
    query = request.query_params.get('q', '')
    if not query:
        raise plain_error(400, 'q parameter is required')
    limit = int_param(request, 'limit', 100, 100)
    rows = backend_of(request).store.count_scan(cf_of(request), MAX_SCAN_LIMIT)
    return envelope({'records': _records([(k, v) for k, v in rows if query.encode() in v][:limit])})


def _range_page(request: Request):
    params = request.query_params
    limit = int_param(request, 'limit', 100, MAX_SCAN_LIMIT)
    lower = (params.get('lower') or '').encode()
    upper = params.get('upper')
    return _page(request, lower, upper.encode() if upper else None, limit, params.get('cursor'))


async def scan(request: Request):
    require(request, Permission.Read)
    rows, cursor, has_more = _range_page(request)
    backend_of(request).count('scans')
    return envelope({'records': _records(rows), 'cursor': cursor, 'has_more': has_more})


async def key_range(request: Request):
    require(request, Permission.Read)
    rows, cursor, has_more = _range_page(request)
    return plain({'keys': _records(rows), 'cursor': cursor, 'has_more': has_more})


async def get_key(request: Request):
    require(request, Permission.Read)
    key = request.path_params['key']
    value = backend_of(request).store.get(cf_of(request), key.encode())
    backend_of(request).count('gets')
    if value is None:
        raise plain_error(404, 'key not found')
    return plain({'key': key, 'value': text(value)})


async def put_key(request: Request):
    require(request, Permission.Write)
    key = request.path_params['key']
    body = await read_body(request, PutBody, backend_of(request).config.max_body_bytes)
    if problem := key_problem(key):
        raise plain_error(400, problem)
    backend_of(request).write([(key, body.value, body.ttl_secs)], cf_of(request))
    return plain({'status': 'ok'})


async def post_key(request: Request):
    require(request, Permission.Write)
    body = await read_body(request, PostBody, backend_of(request).config.max_body_bytes)
    if problem := key_problem(body.key):
        raise envelope_error(400, problem)
    backend_of(request).write([(body.key, body.value, body.ttl_secs)], cf_of(request))
    return envelope({'key': body.key})


async def delete_key(request: Request):
    require(request, Permission.Delete)
    backend_of(request).write([(request.path_params['key'], None, None)], cf_of(request))
    return plain({'status': 'ok'})


async def batch_put(request: Request):
    require(request, Permission.Write)
    body = await read_body(request, BatchBody, backend_of(request).config.max_body_bytes)
    if len(body.records) > MAX_BATCH:
        raise envelope_error(400, f'batch size {len(body.records)} exceeds maximum of {MAX_BATCH}')
    for record in body.records:  # validate everything before writing anything
        size = len(record.key.encode())
        if size == 0:
            raise envelope_error(400, 'key must not be empty')
        if size > 4096:
            raise envelope_error(400, f'key too long: {size} bytes (max 4096)')
    backend_of(request).write([(r.key, r.value, r.ttl_secs) for r in body.records], cf_of(request))
    return envelope({'count': len(body.records)})


async def batch_delete(request: Request):
    require(request, Permission.Delete)
    body = await read_body(request, BatchDeleteBody, backend_of(request).config.max_body_bytes)
    if body.keys:
        backend_of(request).write([(k, None, None) for k in body.keys], cf_of(request))
    return plain({'deleted_count': len(body.keys)})


async def delete_by_prefix(request: Request):
    require(request, Permission.Delete)
    prefix = request.query_params.get('prefix') or ''
    if not prefix:
        raise plain_error(400, 'prefix query parameter is required')
    backend_of(request).delete_prefix(prefix, cf_of(request))
    return plain({'status': 'ok', 'prefix': prefix})


def ttl_answer(backend, cf: str, key: str) -> dict | None:
    """`GET /keys/{key}/ttl`'s answer for one key, or None when the key does not exist."""
    store = backend.store
    deadline = store.expires_at(cf, key.encode())
    if store.get(cf, key.encode()) is None:
        return {'key': key, 'ttl_secs': 0, 'expired': True} if deadline is not None else None
    if deadline is None:
        return {'key': key, 'ttl_secs': None, 'expired': False}
    return {'key': key, 'ttl_secs': max(0, (deadline - backend.now()) // 1_000_000_000), 'expired': False}


async def get_ttl(request: Request):
    require(request, Permission.Read)
    answer = ttl_answer(backend_of(request), cf_of(request), request.path_params['key'])
    if answer is None:
        raise plain_error(404, 'key not found')
    return plain(answer)


async def patch_ttl(request: Request):
    require(request, Permission.Write)
    key = request.path_params['key']
    body = await read_body(request, TtlBody, backend_of(request).config.max_body_bytes)
    value = backend_of(request).store.get(cf_of(request), key.encode())
    if value is None:
        raise plain_error(404, 'key not found')
    backend_of(request).write([(key, text(value), body.ttl_secs or None)], cf_of(request))
    return plain({'status': 'ok', 'key': key, 'ttl_secs': body.ttl_secs})


routes = [
    Route('/keys', list_keys, methods=['GET']),
    Route('/keys/search', search_keys, methods=['GET']),
    Route('/keys/value-search', value_search, methods=['GET']),
    Route('/keys/batch', batch_put, methods=['POST']),
    Route('/keys/batch/delete', batch_delete, methods=['POST']),
    Route('/keys', delete_by_prefix, methods=['DELETE']),
    Route('/keys/range', key_range, methods=['GET']),
    Route('/keys/{key}/ttl', get_ttl, methods=['GET']),
    Route('/keys/{key}/ttl', patch_ttl, methods=['PATCH']),
    Route('/keys/{key}', get_key, methods=['GET']),
    Route('/keys/{key}', put_key, methods=['PUT']),
    Route('/keys/{key}', delete_key, methods=['DELETE']),
    Route('/keys', post_key, methods=['POST']),
    Route('/scan', scan, methods=['GET']),
]
