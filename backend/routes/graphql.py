"""`POST|GET /graphql`: the real server's schema (reference §2.8), executed by graphql-core.

Query { get(key), scan(limit), keys, stats } and Mutation { set(key, value), delete(key) }, with
camelCase stats fields as async-graphql renders them; mutations go through the same write path, so they
emit events. Unlike the real server, every field needs the permission of its REST twin (Read for the
queries, Write for `set`, Delete for `delete`): a validation rule checks them before anything runs, so a
document asking for one field the token may not use executes nothing (403, no data).
The body is read with the same size limit as REST bodies; invalid UTF-8 and JSON nested deeper than
`MAX_JSON_DEPTH` answer 400 instead of reaching the parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    ValidationRule,
    execute,
    parse,
    specified_rules,
    validate,
)
from pydantic import BaseModel, Field, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..http import ApiError, allows, backend_of, read_limited
from ..storage import DEFAULT_CF
from ..tokens import Permission
from .admin import engine_stats

MAX_JSON_DEPTH = 100

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


def _needs(permission: Permission) -> dict[str, Any]:
    """Field extensions naming the permission the field's REST twin requires."""
    return {'permission': permission}


SCHEMA = GraphQLSchema(
    query=GraphQLObjectType('Query', {
        'get': GraphQLField(GraphQLString, args={'key': GraphQLArgument(GraphQLNonNull(GraphQLString))},
                            resolve=_get, extensions=_needs(Permission.Read)),
        'scan': GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(_KEY_VALUE))),
                             args={'limit': GraphQLArgument(GraphQLInt)}, resolve=_scan,
                             extensions=_needs(Permission.Read)),
        'keys': GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLString))), resolve=_keys,
                             extensions=_needs(Permission.Read)),
        'stats': GraphQLField(_STATS, resolve=lambda _root, info: engine_stats(_backend(info)),
                              extensions=_needs(Permission.Read)),
    }),
    mutation=GraphQLObjectType('Mutation', {
        'set': GraphQLField(GraphQLNonNull(GraphQLBoolean), resolve=_set, extensions=_needs(Permission.Write), args={
            'key': GraphQLArgument(GraphQLNonNull(GraphQLString)),
            'value': GraphQLArgument(GraphQLNonNull(GraphQLString))}),
        'delete': GraphQLField(GraphQLNonNull(GraphQLBoolean), resolve=_delete, extensions=_needs(Permission.Delete),
                               args={'key': GraphQLArgument(GraphQLNonNull(GraphQLString))}),
    }),
)


def permission_rule(granted: Callable[[Permission], bool]) -> type[ValidationRule]:
    """A validation rule refusing every field (aliases and fragments included) the token may not use."""

    class PermissionRule(ValidationRule):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            field = self.context.get_field_def()
            needed = (field.extensions or {}).get('permission') if field is not None else None
            if needed is not None and not granted(needed):
                self.report_error(GraphQLError(
                    f'Insufficient permissions: field "{node.name.value}" needs the {needed.value} permission',
                    node, extensions={'status': 403, 'required': needed.value}))

    return PermissionRule


class GraphQLRequest(BaseModel):
    """The GraphQL-over-HTTP request body (and GET parameters)."""

    query: StrictStr | None = None
    variables: dict[str, Any] | None = None
    operation_name: StrictStr | None = Field(default=None, alias='operationName')


class BadRequest(Exception):
    """A request the GraphQL layer refuses before parsing the document (answered 400)."""


def _errors(status: int, *messages: str) -> JSONResponse:
    return JSONResponse({'data': None, 'errors': [{'message': m} for m in messages]}, status_code=status)


def _too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON nesting passes `limit` (iterative: the check itself must not recurse)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(raw: bytes | str, what: str) -> Any:
    """Strict UTF-8, valid JSON, at most `MAX_JSON_DEPTH` levels; BadRequest with the reason otherwise."""
    try:
        text = raw.decode('utf-8') if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise BadRequest(f'{what} is not valid UTF-8 (byte {exc.start})') from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadRequest(f'{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels') from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f'invalid JSON in {what}: {exc}') from None
    if _too_deep(value):
        raise BadRequest(f'{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels')
    return value


def _validated(payload: Any) -> GraphQLRequest:
    if not isinstance(payload, dict):
        raise BadRequest('expected a JSON object')
    try:
        return GraphQLRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ())) or 'body'
        raise BadRequest(f'invalid GraphQL request: {where}: {first.get("msg")}') from None


def _document(query: str) -> DocumentNode:
    try:
        return parse(query)
    except RecursionError:
        raise GraphQLError('Document is nested too deeply.') from None


async def _execute(request: Request, body: GraphQLRequest) -> JSONResponse:
    if body.query is None or not body.query.strip():
        return _errors(400, 'query is required')
    try:
        document = _document(body.query)
    except GraphQLError as exc:
        return _answer(ExecutionResult(None, [exc]))
    rule = permission_rule(lambda permission: allows(request, permission))
    problems = validate(SCHEMA, document, [*specified_rules, rule])
    if problems:
        denied = any((e.extensions or {}).get('status') == 403 for e in problems)
        return _answer(ExecutionResult(None, problems), 403 if denied else 200)
    result = execute(SCHEMA, document, variable_values=body.variables, operation_name=body.operation_name,
                     context_value={'backend': backend_of(request)})
    if isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    return _answer(result)


def _answer(result: ExecutionResult, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {'data': result.data}
    if result.errors:
        body['errors'] = [_error_entry(e) for e in result.errors]
    return JSONResponse(body, status_code=status)


def _error_entry(error: GraphQLError) -> dict[str, Any]:
    entry: dict[str, Any] = {'message': error.message}
    if error.extensions:
        entry['extensions'] = error.extensions
    return entry


async def post_graphql(request: Request) -> JSONResponse:
    try:
        raw = await read_limited(request, backend_of(request).config.max_body_bytes)
        body = _validated(parse_json(raw or b'{}', 'request body'))
    except ApiError as exc:  # 413: same limit as REST bodies, answered in GraphQL's shape
        return _errors(exc.status, exc.body.get('error', 'request refused'))
    except BadRequest as exc:
        return _errors(400, str(exc))
    return await _execute(request, body)


async def get_graphql(request: Request) -> JSONResponse:
    params = request.query_params
    try:
        variables = parse_json(params['variables'], 'variables') if params.get('variables') else None
        body = _validated({'query': params.get('query'), 'variables': variables,
                           'operationName': params.get('operationName')})
    except BadRequest as exc:
        return _errors(400, str(exc))
    return await _execute(request, body)


routes = [Route('/graphql', post_graphql, methods=['POST']), Route('/graphql', get_graphql, methods=['GET'])]
