"""The Workbench's queries over routes real ApexStore servers answer: value search, key ranges, secondary
indexes and transactions (API notes §2.3, §2.5), with validation before anything is sent.

Every query becomes a `ResultTable` (text cells only). A server without a route raises `NotOffered`:
GET `/keys/by-index` and `/keys/indexes` on a server without them fall through to `GET /keys/{key}` and
answer "key not found", which here means the same.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from .api import ApexApi, ApiError, BadRequest, NotFound, NotOffered, segment

Mode = Literal['value', 'range', 'index', 'txn']
MODES: dict[str, str] = {'value': 'Value search', 'range': 'Key range', 'index': 'By index', 'txn': 'Transaction'}
MAX_VALUE_LIMIT = 100  # the servers cap value search at 100
MAX_LIMIT = 1000  # by-index's cap; the range table shows no more either
MAX_OPS = 1000
MAX_KEY_BYTES = 4096
PREVIEW = 200
_CF_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
TXN_EXAMPLE = '[{"op": "put", "key": "user:1", "value": "Ada"}, {"op": "delete", "key": "user:2"}]'


class Query(BaseModel):
    """One query as the user wrote it: what history keeps and re-runs."""
    mode: Mode
    text: str = ''  # value search: the substring; by index: `field=value, …`; transaction: the JSON list
    lower: str = ''
    upper: str = ''
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)

    def label(self) -> str:
        """A one-line summary for the history list."""
        if self.mode == 'range':
            what = f'[{self.lower or "start"} … {self.upper or "end"})'
        else:
            what = ' '.join(self.text.split())
        what = what if len(what) <= 80 else what[:79] + '…'
        return f'{MODES[self.mode]}: {what}'


class ResultTable(BaseModel):
    columns: list[str]
    rows: list[dict[str, str]]
    summary: str
    cursor: str | None = None  # key range: where the next page starts


class TxnOp(BaseModel):
    op: Literal['put', 'delete']
    key: str
    value: str | None = None
    cf: str = 'default'

    @model_validator(mode='after')
    def _check(self) -> TxnOp:
        if not self.key:
            raise ValueError('the key must not be empty')
        if len(self.key.encode()) > MAX_KEY_BYTES:
            raise ValueError(f'the key is longer than {MAX_KEY_BYTES} bytes')
        if self.op == 'put' and self.value is None:
            raise ValueError('a put needs a "value" (a string)')
        if self.op == 'delete' and self.value is not None:
            raise ValueError('a delete takes no "value"')
        if not _CF_NAME.match(self.cf):
            raise ValueError(f'"{self.cf}" is not a column family name')
        return self


def preview(value: str) -> str:
    """A value as the table shows it (long ones cut)."""
    return value if len(value) <= PREVIEW else value[:PREVIEW] + '…'


def _records(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{'key': str(r.get('key', '')), 'value': preview(str(r.get('value', '')))} for r in records]


def parse_ops(text: str) -> tuple[list[TxnOp] | None, str | None]:
    """The transaction's operations, or a message saying what is wrong (nothing is sent then)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f'Invalid JSON: {exc}'
    if not isinstance(data, list) or not data:
        return None, 'Expected a non-empty JSON list of operations, e.g. ' + TXN_EXAMPLE
    if len(data) > MAX_OPS:
        return None, f'At most {MAX_OPS} operations per transaction (got {len(data)})'
    ops = []
    for index, item in enumerate(data, 1):
        if not isinstance(item, dict):
            return None, f'Operation {index}: expected an object like {{"op": "put", "key": "…", "value": "…"}}'
        unknown = set(item) - {'op', 'key', 'value', 'cf'}
        if unknown:
            return None, f'Operation {index}: unknown field(s) {", ".join(sorted(unknown))}'
        try:
            ops.append(TxnOp.model_validate(item, strict=True))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = '.'.join(str(p) for p in error.get('loc', ()))
            message = str(error.get('msg', '')).removeprefix('Value error, ')
            return None, f'Operation {index}: {where + ": " if where else ""}{message}'
    return ops, None


def parse_conditions(text: str) -> tuple[list[tuple[str, str]] | None, str | None]:
    """`city=Paris, role=admin` → pairs (every one must match), or a message saying what is wrong."""
    pairs = []
    for part in (p.strip() for p in text.split(',')):
        if not part:
            continue
        field_name, eq, value = part.partition('=')
        field_name, value = field_name.strip(), value.strip()
        if not eq or not field_name or not value:
            return None, f'"{part}": write each condition as field=value (e.g. city=Paris)'
        pairs.append((field_name, value))
    if not pairs:
        return None, 'Enter at least one condition, e.g. city=Paris'
    return pairs, None


async def _offered_read(api: ApexApi, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
    try:
        return await api.call('GET', path, what, params=params)
    except NotFound as exc:  # `/keys/{key}` answered: this server has no such route
        raise NotOffered(f'{what}: not offered by this server', exc.status) from None


def check(query: Query) -> str | None:
    """What is wrong with a query before anything is sent (None: it can run)."""
    if query.mode == 'value' and not query.text:
        return 'Enter the text the values must contain.'
    if query.mode == 'range' and query.lower and query.upper and query.lower >= query.upper:
        return 'The upper bound must come after the lower bound.'
    if query.mode == 'index':
        return parse_conditions(query.text)[1]
    if query.mode == 'txn':
        return parse_ops(query.text)[1]
    return None


async def value_search(api: ApexApi, text: str, limit: int) -> ResultTable:
    data = await api.call('GET', '/keys/value-search', 'Value search',
                          params={'q': text, 'limit': str(min(limit, MAX_VALUE_LIMIT))})
    rows = _records(data.get('records', []))
    note = ' (the server reads at most its first 10,000 records)' if rows else ''
    return ResultTable(columns=['key', 'value'], rows=rows, summary=f'{len(rows):,} records{note}')


async def key_range(api: ApexApi, lower: str, upper: str, limit: int, cursor: str | None = None) -> ResultTable:
    params = {'lower': lower or None, 'upper': upper or None, 'limit': str(limit), 'cursor': cursor}
    data = await api.call('GET', '/keys/range', 'Key range', params=params)
    rows = _records(data.get('keys', []))
    more = data.get('cursor') if data.get('has_more') else None
    summary = f'{len(rows):,} records' + (' · more follow' if more else '')
    return ResultTable(columns=['key', 'value'], rows=rows, summary=summary, cursor=more)


async def indexes(api: ApexApi) -> list[str]:
    data = await _offered_read(api, '/keys/indexes', 'Indexes')
    return [str(f) for f in data.get('indexes', [])]


async def register_index(api: ApexApi, field_name: str) -> None:
    """Index `field_name` from now on (the servers echo the path's key; it names nothing)."""
    if not field_name or ',' in field_name:
        raise BadRequest('Register index: enter one field name (no commas)', 400)
    await api.call('POST', f'/keys/_/index/{segment(field_name)}', 'Register index')


async def by_index(api: ApexApi, text: str, limit: int) -> ResultTable:
    pairs, problem = parse_conditions(text)
    if pairs is None:
        raise BadRequest(f'By index: {problem}', 400)
    params = {'index': ','.join(f for f, _ in pairs), 'eq': ','.join(v for _, v in pairs), 'limit': str(limit)}
    data = await _offered_read(api, '/keys/by-index', 'By index', params)
    rows = _records(data.get('records', []))
    return ResultTable(columns=['key', 'value'], rows=rows, summary=f'{len(rows):,} records')


def _op_row(number: int, op: TxnOp, result: str) -> dict[str, str]:
    return {'#': str(number), 'op': op.op, 'cf': op.cf, 'key': op.key,
            'value': '' if op.value is None else preview(op.value), 'result': result}


async def transaction(api: ApexApi, text: str) -> ResultTable:
    """Begin, send every operation, commit; any failure rolls back, so nothing of it is written."""
    ops, problem = parse_ops(text)
    if ops is None:
        raise BadRequest(f'Transaction: {problem}', 400)
    txn_id = int((await api.call('POST', '/txn', 'Begin transaction')).get('txn_id', 0))
    for number, op in enumerate(ops, 1):
        body: dict[str, Any] = {'key': op.key, 'cf': op.cf}
        if op.op == 'put':
            body['value'] = op.value
        try:
            await api.call('POST', f'/txn/{txn_id}/{op.op}', f'Operation {number} ({op.op} "{op.key}")', body=body)
        except ApiError as exc:
            await _rollback(api, txn_id)
            raise type(exc)(f'{exc.message}. Transaction {txn_id} rolled back: nothing was written.',
                            exc.status) from None
    await api.call('POST', f'/txn/{txn_id}/commit', f'Commit transaction {txn_id}')
    rows = [_op_row(n, op, 'committed') for n, op in enumerate(ops, 1)]
    return ResultTable(columns=['#', 'op', 'cf', 'key', 'value', 'result'], rows=rows,
                       summary=f'Transaction {txn_id} committed: {len(ops):,} operations')


async def _rollback(api: ApexApi, txn_id: int) -> None:
    try:
        await api.call('POST', f'/txn/{txn_id}/rollback', 'Rollback')
    except ApiError:  # gone already: either way nothing of it was committed
        pass


async def run(api: ApexApi, query: Query, cursor: str | None = None) -> ResultTable:
    """Run one query of any mode (`cursor`: the next page of a key range); BadRequest when `check` objects."""
    if problem := check(query):
        raise BadRequest(f'{MODES[query.mode]}: {problem}', 400)
    if query.mode == 'value':
        return await value_search(api, query.text, query.limit)
    if query.mode == 'range':
        return await key_range(api, query.lower, query.upper, query.limit, cursor)
    if query.mode == 'index':
        return await by_index(api, query.text, query.limit)
    return await transaction(api, query.text)
