"""`POST|GET /graphql`: the real server's schema (reference §2.8), executed by graphql-core.

Query { get(key), scan(limit), keys, stats } and Mutation { set(key, value), delete(key) }, with
camelCase stats fields as async-graphql renders them. Like the real server it checks no permission
beyond the Bearer middleware; mutations go through the same write path, so they emit events.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    graphql,
)
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..http import backend_of
from ..storage import DEFAULT_CF
from .admin import engine_stats

_KEY_VALUE = GraphQLObjectType('KeyValue', {'key': GraphQLField(GraphQLNonNull(GraphQLString)),
                                            'value': GraphQLField(GraphQLNonNull(GraphQLString))})
_STATS = GraphQLObjectType('LsmStatsJson', {
    camel: GraphQLField(GraphQLNonNull(GraphQLInt), resolve=lambda stats, _info, name=snake: stats[name])
    for camel, snake in [('sstFiles', 'sst_files'), ('sstKb', 'sst_kb'), ('memRecords', 'mem_records'),
                         ('memKb', 'mem_kb'), ('walKb', 'wal_kb'), ('totalRecords', 'total_records'),
                         ('maxLevelsReached', 'max_levels_reached')]})


def _backend(info) -> Any:
    return info.context['backend']


def _get(_root, info, key: str) -> str | None:
    value = _backend(info).store.get(DEFAULT_CF, key.encode())
    return None if value is None else value.decode(errors='replace')


def _scan(_root, info, limit: int | None = None) -> list[dict]:
    rows = _backend(info).store.scan(DEFAULT_CF, b'', None, limit=min(limit or 100, 10_000))
    return [{'key': k.decode(errors='replace'), 'value': v.decode(errors='replace')} for k, v in rows]


def _keys(_root, info) -> list[str]:
    return [k.decode(errors='replace') for k, _ in _backend(info).store.scan(DEFAULT_CF, b'', None, limit=10_000)]


def _set(_root, info, key: str, value: str) -> bool:
    if not key or len(key.encode()) > 4096:
        raise ValueError('key must not be empty' if not key else 'key too long')
    _backend(info).write([(key, value, None)])
    return True


def _delete(_root, info, key: str) -> bool:
    _backend(info).write([(key, None, None)])
    return True


SCHEMA = GraphQLSchema(
    query=GraphQLObjectType('Query', {
        'get': GraphQLField(GraphQLString, args={'key': GraphQLArgument(GraphQLNonNull(GraphQLString))},
                            resolve=_get),
        'scan': GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(_KEY_VALUE))),
                             args={'limit': GraphQLArgument(GraphQLInt)}, resolve=_scan),
        'keys': GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLString))), resolve=_keys),
        'stats': GraphQLField(_STATS, resolve=lambda _root, info: engine_stats(_backend(info))),
    }),
    mutation=GraphQLObjectType('Mutation', {
        'set': GraphQLField(GraphQLNonNull(GraphQLBoolean), resolve=_set, args={
            'key': GraphQLArgument(GraphQLNonNull(GraphQLString)),
            'value': GraphQLArgument(GraphQLNonNull(GraphQLString))}),
        'delete': GraphQLField(GraphQLNonNull(GraphQLBoolean), resolve=_delete,
                               args={'key': GraphQLArgument(GraphQLNonNull(GraphQLString))}),
    }),
)


async def _execute(request: Request, query: Any, variables: Any, operation: Any) -> JSONResponse:
    if not isinstance(query, str) or not query.strip():
        return JSONResponse({'data': None, 'errors': [{'message': 'query is required'}]}, status_code=400)
    result = await graphql(SCHEMA, query, variable_values=variables if isinstance(variables, dict) else None,
                           operation_name=operation if isinstance(operation, str) else None,
                           context_value={'backend': backend_of(request)})
    body: dict[str, Any] = {'data': result.data}
    if result.errors:
        body['errors'] = [{'message': e.message} for e in result.errors]
    return JSONResponse(body)


async def post_graphql(request: Request) -> JSONResponse:
    try:
        payload = json.loads(await request.body() or b'{}')
    except json.JSONDecodeError as exc:
        return JSONResponse({'data': None, 'errors': [{'message': f'invalid JSON: {exc}'}]}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({'data': None, 'errors': [{'message': 'expected a JSON object'}]}, status_code=400)
    return await _execute(request, payload.get('query'), payload.get('variables'), payload.get('operationName'))


async def get_graphql(request: Request) -> JSONResponse:
    variables = request.query_params.get('variables')
    try:
        parsed = json.loads(variables) if variables else None
    except json.JSONDecodeError:
        parsed = None
    return await _execute(request, request.query_params.get('query'), parsed, request.query_params.get('operationName'))


routes = [Route('/graphql', post_graphql, methods=['POST']), Route('/graphql', get_graphql, methods=['GET'])]
