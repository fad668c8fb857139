"""`POST /query`: read-only SQL (SQLite) over a bounded scan of one column family's keys and values.

Each query gets a fresh in-memory SQLite database with one table, `kv(key, value, cf, size)` (also
readable as the view `keys`), filled in batches from a RocksDB scan of the keys under `prefix`. The
scan is bounded (`max_scan` keys, at most `MAX_SCAN` and `MAX_SCAN_BYTES`) so a query never pulls a
whole store into memory; the answer says how many keys were scanned and whether the scan covered the
whole prefix. Only SELECT/WITH runs: a keyword check gives the clear message, an authorizer refuses
anything but reading (whatever the syntax), and `query_only` backs it up. A progress handler stops a
query past its time budget, rows past `max_rows` are not fetched, and it all runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import sqlite3
import time
from typing import Any, TypeVar

from pydantic import BaseModel, Field, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import ApiError, backend_of, legacy, read_body, require
from ..storage import DEFAULT_CF, prefix_end
from ..tokens import Permission

log = logging.getLogger(__name__)
M = TypeVar('M', bound=BaseModel)

MAX_ROWS = 1000  # rows in one answer, whatever LIMIT the query asks for
DEFAULT_SCAN = 10_000  # keys loaded into `kv` when the request does not say
MAX_SCAN = 100_000  # keys loaded at most
MAX_SCAN_BYTES = 32 * 1024 * 1024  # key+value bytes loaded at most (the scan stops after the batch passing it)
MAX_RESULT_BYTES = 4 * 1024 * 1024  # text in one answer at most (rows after it are cut)
DEFAULT_BUDGET_SECS = 3.0
MAX_BUDGET_SECS = 10.0
MAX_VALUE_LENGTH = 64 * 1024 * 1024  # SQLite's limit on one string/blob (a query cannot build a 1 GB string)
BATCH = 1000
CONCURRENT_QUERIES = 2
PROGRESS_STEPS = 10_000  # SQLite VM steps between two time checks
ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
DENIED_FUNCTIONS = {'load_extension', 'readfile', 'writefile', 'edit', 'fts3_tokenizer'}
SCHEMA = '''
CREATE TABLE kv (key TEXT NOT NULL, value TEXT, cf TEXT NOT NULL, size INTEGER NOT NULL);
CREATE VIEW keys AS SELECT key, value, cf, size FROM kv;
'''
_COMMENTS = re.compile(r'\s+|--[^\n]*(\n|$)|/\*.*?(\*/|$)', re.S)
_FIRST_WORD = re.compile(r'[A-Za-z]+')
_ACTIONS = ('CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW '
            'CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE '
            'DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA TRANSACTION UPDATE ATTACH '
            'DETACH ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE SAVEPOINT')
_ACTION_NAMES = {getattr(sqlite3, f'SQLITE_{n}'): n.replace('_', ' ') for n in _ACTIONS.split()}
WARM_UP = "SELECT 1 FROM json_each('[]'), json_tree('[]')"  # made once before the authorizer: their set-up writes


class QueryBody(BaseModel):
    query: StrictStr = Field(min_length=1, max_length=100_000)
    cf: StrictStr = DEFAULT_CF
    prefix: StrictStr = ''
    max_scan: int = Field(default=DEFAULT_SCAN, ge=1, le=MAX_SCAN)
    max_rows: int = Field(default=MAX_ROWS, ge=1, le=MAX_ROWS)
    timeout_secs: float = Field(default=DEFAULT_BUDGET_SECS, gt=0, le=MAX_BUDGET_SECS)


class QueryRefused(Exception):
    """The query cannot run or failed: a message for the user, with SQLite's own words where it has them."""


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


def first_keyword(query: str) -> str:
    """The statement's first word, after whitespace and comments ('' when there is none)."""
    position = 0
    while match := _COMMENTS.match(query, position):
        if match.end() == position:
            break
        position = match.end()
    word = _FIRST_WORD.match(query, position)
    return word.group(0).upper() if word else ''


def check_statement(query: str) -> None:
    keyword = first_keyword(query)
    if keyword not in ('SELECT', 'WITH'):
        article = 'an' if keyword[:1] in tuple('AEIOU') else 'a'
        what = f'{article} {keyword} statement' if keyword else 'not a statement'
        raise QueryRefused(f'only SELECT (or WITH … SELECT) queries are allowed; this is {what}. '
                           'The SQL runner reads the store and never changes it')


class Scan(BaseModel):
    scanned: int = 0
    complete: bool = True
    bytes: int = 0


def load_keys(conn: sqlite3.Connection, store, cf: str, prefix: str, max_scan: int) -> Scan:
    """Fill `kv` from the store in batches of BATCH keys, stopping at `max_scan` keys or MAX_SCAN_BYTES."""
    lower = prefix.encode()
    upper = prefix_end(lower) if lower else None
    scan = Scan()
    after: bytes | None = None
    while True:
        want = min(BATCH, max_scan - scan.scanned)
        if want <= 0 or scan.bytes >= MAX_SCAN_BYTES:
            scan.complete = not store.scan(cf, lower, upper, 1, after=after)
            return scan
        rows = store.scan(cf, lower, upper, want, after=after)
        conn.executemany('INSERT INTO kv VALUES (?, ?, ?, ?)', [
            (k.decode(errors='replace'), v.decode(errors='replace'), cf, len(v)) for k, v in rows])
        scan.scanned += len(rows)
        scan.bytes += sum(len(k) + len(v) for k, v in rows)
        if len(rows) < want:
            return scan
        after = rows[-1][0]


def cell(value: Any) -> Any:
    """A result value as JSON: numbers and text as they are, blobs as hex, infinities as text."""
    if isinstance(value, bytes):
        return '0x' + value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def column_names(description) -> list[str]:
    """Result column names, made unique (`a`, `a:2`) so each row can be an object keyed by them."""
    names: list[str] = []
    for entry in description or ():
        name, n = str(entry[0]), 1
        while (name if n == 1 else f'{name}:{n}') in names:
            n += 1
        names.append(name if n == 1 else f'{name}:{n}')
    return names


def _authorizer(denied: list[str]):
    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or '').lower() in DENIED_FUNCTIONS:
            denied.append(f'the function {arg2}()')
            return sqlite3.SQLITE_DENY
        if action in ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 == 'sqlite_master':  # the set-up of a table-valued function
            denied.append('a table-valued function (only json_each and json_tree are allowed)')
            return sqlite3.SQLITE_DENY
        target = ' '.join(a for a in (arg1, arg2) if a)
        denied.append(f'{_ACTION_NAMES.get(action, "an operation")}{f" ({target})" if target else ""}')
        return sqlite3.SQLITE_DENY
    return authorize


def run_query(store, body: QueryBody) -> dict[str, Any]:
    """Load the bounded scan, run the query read-only under the time budget, fetch at most max_rows rows."""
    started = time.monotonic()
    conn = sqlite3.connect(':memory:', check_same_thread=False)
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.executescript(SCHEMA)
        scan = load_keys(conn, store, body.cf, body.prefix, body.max_scan)
        conn.commit()
        conn.execute(WARM_UP).fetchall()
        conn.execute('PRAGMA query_only = ON')
        denied: list[str] = []
        conn.set_authorizer(_authorizer(denied))
        deadline = time.monotonic() + body.timeout_secs
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
        try:
            cursor = conn.execute(body.query)
            rows, truncated = fetch(cursor, body.max_rows)
        except sqlite3.Error as exc:
            raise QueryRefused(explain(exc, denied, body.timeout_secs)) from None
        columns = column_names(cursor.description)
    finally:
        conn.close()
    return {'columns': columns, 'rows': [dict(zip(columns, row, strict=False)) for row in rows],
            'row_count': len(rows), 'elapsed_ms': int((time.monotonic() - started) * 1000),
            'scanned': scan.scanned, 'scan_complete': scan.complete, 'truncated': truncated,
            'max_rows': body.max_rows, 'cf': body.cf, 'prefix': body.prefix}


def fetch(cursor: sqlite3.Cursor, max_rows: int) -> tuple[list[list[Any]], bool]:
    """At most `max_rows` rows and MAX_RESULT_BYTES of text; True when more rows were left unread."""
    rows: list[list[Any]] = []
    size = 0
    while len(rows) < max_rows:
        row = cursor.fetchone()
        if row is None:
            return rows, False
        converted = [cell(v) for v in row]
        size += sum(len(str(v)) for v in converted)
        if size > MAX_RESULT_BYTES and rows:
            return rows, True
        rows.append(converted)
    return rows, cursor.fetchone() is not None


def explain(exc: sqlite3.Error, denied: list[str], budget: float) -> str:
    message = str(exc)
    if message == 'interrupted':
        return (f'the query ran past its time budget of {budget:g} s and was stopped (SQLite: interrupted). '
                'Narrow it down, e.g. with a WHERE clause or a smaller recursion')
    if denied:
        return f'only reading is allowed; the query tried {denied[0]} (SQLite: {message})'
    if isinstance(exc, sqlite3.ProgrammingError) and 'one statement' in message:
        return f'run one statement at a time (SQLite: {message})'
    if message == 'malformed JSON':
        return ("SQLite: malformed JSON. Some values are not JSON: put json_valid(value) AND … first in the "
                'WHERE clause to skip them')
    return f'SQLite: {message}'


async def execute(request: Request):
    """`POST /query` (Read): `{query, cf?, prefix?, max_scan?, max_rows?, timeout_secs?}`."""
    require(request, Permission.Read)
    backend = backend_of(request)
    body = await parsed_body(request, QueryBody)
    if not backend.store.has_cf(body.cf):
        raise refusal(404, f'column family {body.cf!r} not found')
    try:
        check_statement(body.query)
    except QueryRefused as exc:
        raise refusal(400, str(exc)) from None
    gate = backend.feature_state('sql', lambda: asyncio.Semaphore(CONCURRENT_QUERIES))
    async with gate:  # a few queries at a time: each holds its scan in memory
        try:
            data = await asyncio.to_thread(run_query, backend.store, body)
        except QueryRefused as exc:
            raise refusal(400, str(exc)) from None
        except (RuntimeError, KeyError) as exc:  # the store closed or the family vanished mid-scan
            log.warning('query failed on the store: %s', exc)
            raise refusal(503, f'the store is not available right now ({exc})') from None
    more = '' if data['scan_complete'] else f'; the scan stopped at {data["scanned"]:,} keys'
    return legacy(f'Query returned {data["row_count"]} rows in {data["elapsed_ms"]}ms '
                  f'(scanned {data["scanned"]:,} keys{more})', data)


routes = [Route('/query', execute, methods=['POST'])]
