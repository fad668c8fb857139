"""Secondary indexes and transactions, answered exactly as the real ApexStore server answers them (§2.3, §2.5).

The current real server has these routes; the embedded backend gains them here so the Workbench page
works against both. Documented in docs/extensions/workbench.md.

Indexes: a field registered with `POST /keys/{key}/index/{field}` indexes every later write to the
default column family whose value is a JSON object with a string in that field (not retroactive, like
the real server). Entries live in the `__system` column family (they never show in `/keys`, unlike
the real server's `__idx:` keys). They are added by a write guard just before each write, and a lookup
reads each candidate's current value: an entry left behind by an overwrite, a delete or a refused
write never answers a query, and is pruned when a lookup meets it.

Transactions: in memory, ids from 1, lost on restart. Operations are buffered and applied on commit
through the backend's write path, one atomic write per column family (so, unlike the real server,
committed writes do announce their key changes). At most MAX_OPEN transactions are kept (the oldest is
dropped) and MAX_OPS operations per transaction.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from pydantic import BaseModel, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import (
    ApiError,
    backend_of,
    envelope,
    int_param,
    key_problem,
    plain,
    plain_error,
    read_body,
    require,
    text,
)
from ..storage import DEFAULT_CF
from ..tokens import Permission

log = logging.getLogger(__name__)

SCHEMA_PREFIX = b'__idx:__schema:index:'
ENTRY_PREFIX = b'__idx:index:'
SEP = b'\x00'  # between field, value and key of an entry: none of them can be split wrongly
MAX_INDEX_LIMIT = 1000
MAX_OPEN = 1000
MAX_OPS = 10_000


# -- secondary indexes -----------------------------------------------------------------------------
def _entry_prefix(field_name: str, value: str) -> bytes:
    return ENTRY_PREFIX + field_name.encode() + SEP + value.encode() + SEP


def index_fields(backend) -> list[str]:
    """The registered fields, cached per open database (a snapshot restore brings its own)."""
    cache = backend.feature_state('workbench.fields', dict)
    db = backend.store.db
    if cache.get('db') is not db:
        cache['db'] = db
        cache['fields'] = sorted(text(k[len(SCHEMA_PREFIX):]) for k, _ in backend.store.system_items(SCHEMA_PREFIX))
    return cache['fields']


def _string_fields(value: str | None, fields: list[str]) -> dict[str, str]:
    """The indexed fields a value carries: it must be a JSON object, the field a string."""
    if value is None or not value.lstrip().startswith('{'):
        return {}
    try:
        doc = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {f: doc[f] for f in fields if isinstance(doc.get(f), str)}


def index_guard(backend):
    def guard(cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        if cf != DEFAULT_CF:
            return
        fields = index_fields(backend)
        if not fields:
            return
        for key, value, _ttl in items:
            for name, found in _string_fields(value, fields).items():
                backend.store.system_put(_entry_prefix(name, found) + key.encode(), b'')
    return guard


def _candidates(backend, field_name: str, value: str) -> list[str]:
    prefix = _entry_prefix(field_name, value)
    return [text(k[len(prefix):]) for k, _ in backend.store.system_items(prefix)]


def lookup(backend, pairs: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """Keys whose current value has every `field == value`, in key order (AND of the pairs)."""
    keys: set[str] | None = None
    for field_name, value in pairs:
        found = set(_candidates(backend, field_name, value))
        keys = found if keys is None else keys & found
    out: list[tuple[str, str]] = []
    for key in sorted(keys or ()):
        raw = backend.store.get(DEFAULT_CF, key.encode())
        current = _string_fields(None if raw is None else text(raw), [f for f, _ in pairs])
        stale = [(f, v) for f, v in pairs if current.get(f) != v]
        for f, v in stale:  # overwritten or deleted since it was indexed
            backend.store.system_delete(_entry_prefix(f, v) + key.encode())
        if not stale:
            out.append((key, text(raw or b'')))
            if len(out) >= limit:
                break
    return out


async def register_index(request: Request):
    """`POST /keys/{key}/index/{field}`: `{key}` is only echoed back (the real server's route shape)."""
    require(request, Permission.Write)
    backend = backend_of(request)
    key, field_name = request.path_params['key'], request.path_params['field']
    backend.store.system_put(SCHEMA_PREFIX + field_name.encode(), b'1')
    backend.feature_state('workbench.fields', dict).clear()
    return plain({'status': 'ok', 'key': key, 'field': field_name})


async def list_indexes(request: Request):
    require(request, Permission.Read)
    return plain({'indexes': index_fields(backend_of(request))})


async def by_index(request: Request):
    require(request, Permission.Read)
    params = request.query_params
    index, eq = params.get('index') or '', params.get('eq')
    if not index:
        raise plain_error(400, 'index parameter is required')
    if eq is None or eq == '':
        raise plain_error(400, 'eq parameter is required')
    limit = int_param(request, 'limit', 100, MAX_INDEX_LIMIT)
    fields, values = index.split(','), eq.split(',')
    if len(fields) != len(values):  # the real server fails the same way
        raise plain_error(500, 'internal server error')
    rows = lookup(backend_of(request), list(zip(fields, values, strict=True)), limit)
    return envelope({'records': [{'key': k, 'value': v} for k, v in rows]})


# -- transactions ----------------------------------------------------------------------------------
class TxnPut(BaseModel):
    key: StrictStr
    value: StrictStr
    cf: StrictStr = DEFAULT_CF


class TxnDelete(BaseModel):
    key: StrictStr
    cf: StrictStr = DEFAULT_CF


@dataclass
class Transactions:
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    open: OrderedDict[int, list[tuple[str, str, str | None]]] = field(default_factory=OrderedDict)

    def begin(self) -> int:
        txn_id = next(self.ids)
        self.open[txn_id] = []
        while len(self.open) > MAX_OPEN:
            dropped, _ = self.open.popitem(last=False)
            log.info('transaction %d dropped: more than %d open', dropped, MAX_OPEN)
        return txn_id

    def ops(self, request: Request) -> tuple[int, list[tuple[str, str, str | None]]]:
        raw = request.path_params['txn_id']
        txn_id = int(raw) if raw.isdigit() else -1
        if txn_id not in self.open:
            raise plain_error(404, 'transaction not found')
        return txn_id, self.open[txn_id]


def _transactions(request: Request) -> Transactions:
    return backend_of(request).feature_state('workbench.txn', Transactions)


async def begin(request: Request):
    require(request, Permission.Write)
    return plain({'txn_id': _transactions(request).begin()})


def _buffer(ops: list, cf: str, key: str, value: str | None) -> None:
    if problem := key_problem(key):
        raise plain_error(400, problem)
    if len(ops) >= MAX_OPS:
        raise plain_error(400, f'a transaction holds at most {MAX_OPS} operations')
    ops.append((cf, key, value))


async def txn_put(request: Request):
    require(request, Permission.Write)
    _, ops = _transactions(request).ops(request)
    body = await read_body(request, TxnPut, backend_of(request).config.max_body_bytes)
    _buffer(ops, body.cf, body.key, body.value)
    return plain({'status': 'ok'})


async def txn_delete(request: Request):
    require(request, Permission.Delete)
    _, ops = _transactions(request).ops(request)
    body = await read_body(request, TxnDelete, backend_of(request).config.max_body_bytes)
    _buffer(ops, body.cf, body.key, None)
    return plain({'status': 'ok'})


async def commit(request: Request):
    require(request, Permission.Write)
    transactions = _transactions(request)
    txn_id, ops = transactions.ops(request)
    del transactions.open[txn_id]  # gone after commit, whatever happens: a second commit is 404
    backend = backend_of(request)
    groups: dict[str, list[tuple[str, str | None, int | None]]] = {}
    for cf, key, value in ops:
        groups.setdefault(cf, []).append((key, value, None))
    if any(not backend.store.has_cf(cf) for cf in groups):
        raise plain_error(500, 'commit failed')
    try:
        for cf, items in groups.items():
            backend.write(items, cf)
    except ApiError:
        raise
    except Exception:  # noqa: BLE001 - the real server says only this
        log.exception('transaction %d failed to commit', txn_id)
        raise plain_error(500, 'commit failed') from None
    return plain({'status': 'ok', 'txn_id': txn_id})


async def rollback(request: Request):
    require(request, Permission.Write)
    transactions = _transactions(request)
    txn_id, _ = transactions.ops(request)
    del transactions.open[txn_id]
    return plain({'status': 'ok', 'txn_id': txn_id})


def install(backend) -> None:
    backend.write_guards.append(index_guard(backend))


routes = [
    Route('/keys/by-index', by_index, methods=['GET']),
    Route('/keys/{key}/index/{field}', register_index, methods=['POST']),
    Route('/keys/indexes', list_indexes, methods=['GET']),
    Route('/txn', begin, methods=['POST']),
    Route('/txn/{txn_id}/put', txn_put, methods=['POST']),
    Route('/txn/{txn_id}/delete', txn_delete, methods=['POST']),
    Route('/txn/{txn_id}/commit', commit, methods=['POST']),
    Route('/txn/{txn_id}/rollback', rollback, methods=['POST']),
]
