"""CDC configuration, the routes the Angular CDC page calls (`/admin/cdc…`); the real server has none.

A tracked "table" is a column family. While CDC is enabled, every change to a tracked column family
whose kind is in the table's `events` is captured into that table's change log:
`insert` (a put of a key that did not exist), `update` (a put of an existing key), `delete` (a delete,
TTL expiry included) and `truncate` (a delete by prefix). Each captured change gets an LSN (a
time-based, strictly increasing integer, sent as a string). The log is kept in memory, for
`retention_hours` and at most MAX_CHANGES per table, and read in pages of `batch_size`.

Configuration and tables are stored in the `__system` column family; captured changes are not (they
start over when the backend restarts). Answers use the legacy envelope the Angular page reads.
Documented in docs/extensions/cdc_config.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..events import EventFilter
from ..http import backend_of, int_param, legacy, legacy_error, read_body, require
from ..tokens import Permission

log = logging.getLogger(__name__)

CONFIG_KEY = b'cdc:config'
TABLE_PREFIX = b'cdc:table:'
EVENT_KINDS = ('insert', 'update', 'delete', 'truncate')
MAX_CHANGES = 50_000  # per table, whatever the retention says
MAX_NOTES = 100_000  # keys written but not yet classified (insert or update)
SUBSCRIBER_LIMIT = 10_000
_TABLE_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
EventKind = Literal['insert', 'update', 'delete', 'truncate']


class CdcConfig(BaseModel):
    enabled: StrictBool = True
    retention_hours: int = Field(default=24, ge=1, le=8760)
    batch_size: int = Field(default=1000, ge=100, le=100_000)


class TableBody(BaseModel):
    table: StrictStr
    events: list[EventKind] = Field(min_length=1)


@dataclass
class Change:
    lsn: int
    op: str
    key: str
    timestamp: int  # ns

    def public(self) -> dict:
        return {'lsn': str(self.lsn), 'op': self.op, 'key': self.key, 'timestamp': self.timestamp}


@dataclass
class Table:
    table: str
    events: list[str]
    created_at: int
    start_lsn: int
    changes: deque[Change] = field(default_factory=lambda: deque(maxlen=MAX_CHANGES))
    last_event_at: int | None = None

    def stored(self) -> bytes:
        return json.dumps({'table': self.table, 'events': self.events, 'created_at': self.created_at,
                           'start_lsn': self.start_lsn}).encode()

    def public(self, enabled: bool) -> dict:
        return {'table': self.table, 'events': self.events, 'status': 'active' if enabled else 'paused',
                'since_lsn': str(self.changes[0].lsn if self.changes else self.start_lsn),
                'last_event_at': self.last_event_at, 'captured': len(self.changes), 'created_at': self.created_at}


@dataclass
class Cdc:
    """The feature's state: configuration, tracked tables with their logs, and the LSN clock."""
    backend: object
    config: CdcConfig = field(default_factory=CdcConfig)
    tables: dict[str, Table] = field(default_factory=dict)
    notes: OrderedDict[tuple[str, str], bool] = field(default_factory=OrderedDict)  # existed before the put
    last_lsn: int = 0
    missed: int = 0  # changes the capture lost because it fell behind

    def load(self) -> None:
        """Configuration and tables from the store (captured changes of tables still tracked are kept)."""
        kept = self.tables
        store = self.backend.store  # type: ignore[attr-defined]
        raw = store.system_get(CONFIG_KEY)
        self.config = CdcConfig.model_validate_json(raw) if raw else CdcConfig()
        self.tables = {}
        for _, value in store.system_items(TABLE_PREFIX):
            data = json.loads(value)
            table = Table(data['table'], data['events'], data['created_at'], data['start_lsn'])
            if data['table'] in kept:
                table.changes, table.last_event_at = kept[data['table']].changes, kept[data['table']].last_event_at
            self.tables[data['table']] = table

    def next_lsn(self) -> int:
        self.last_lsn = max(self.last_lsn + 1, time.time_ns())
        return self.last_lsn

    def retain(self, table: Table, now: int) -> None:
        oldest = now - self.config.retention_hours * 3600 * 1_000_000_000
        while table.changes and table.changes[0].timestamp < oldest:
            table.changes.popleft()

    def guard(self, cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        """Before a write: note whether each put key exists, so its change is an insert or an update."""
        if not self.config.enabled or cf not in self.tables:
            return
        store = self.backend.store  # type: ignore[attr-defined]
        for key, value, _ in items:
            if value is not None:
                self.notes[(cf, key)] = store.get(cf, key.encode()) is not None
                self.notes.move_to_end((cf, key))
        while len(self.notes) > MAX_NOTES:
            self.notes.popitem(last=False)

    def capture(self, payload: dict) -> None:
        cf, key, operation = payload.get('cf', 'default'), payload.get('key', ''), payload.get('operation')
        table = self.tables.get(cf)
        if table is None or not self.config.enabled:
            return
        if operation == 'put':
            kind = 'update' if self.notes.pop((cf, key), False) else 'insert'
        else:
            kind = {'delete': 'delete', 'delete_prefix': 'truncate'}.get(str(operation), '')
        if kind not in table.events:
            return
        at = int(payload.get('timestamp') or time.time_ns())
        table.changes.append(Change(self.next_lsn(), kind, key, at))
        table.last_event_at = at
        self.retain(table, at)

    async def run(self) -> None:
        """Capture from the backend's own event bus (after each write: only what really happened)."""
        bus = self.backend.bus  # type: ignore[attr-defined]
        subscriber = bus.subscribe(EventFilter(types=frozenset({'key_change', 'snapshot_event'})), SUBSCRIBER_LIMIT,
                                   internal=True)
        try:
            while True:
                kind, item = await subscriber.next()
                if kind == 'closed':
                    return
                if kind == 'lag':
                    self.missed += int(item or 0)  # type: ignore[arg-type]
                    log.warning('CDC capture fell behind; %s changes were not captured', item)
                elif kind == 'event' and item.type == 'snapshot_event':  # type: ignore[union-attr]
                    if item.payload.get('status') == 'restored':  # type: ignore[union-attr]
                        self.load()  # the restored store brings its own configuration and tables
                elif kind == 'event':
                    self.capture(item.payload)  # type: ignore[union-attr]
        finally:
            bus.unsubscribe(subscriber)


def _cdc(request: Request) -> Cdc:
    return backend_of(request).feature_state('cdc', lambda: Cdc(backend_of(request)))


def _answer(cdc: Cdc) -> dict:
    return {'config': cdc.config.model_dump(),
            'tables': [t.public(cdc.config.enabled) for _, t in sorted(cdc.tables.items())],
            'missed': cdc.missed}


async def get_config(request: Request):
    require(request, Permission.Admin)
    cdc = _cdc(request)
    now = time.time_ns()
    for table in cdc.tables.values():
        cdc.retain(table, now)
    return legacy('CDC configuration', _answer(cdc))


async def put_config(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, CdcConfig, backend.config.max_body_bytes)
    cdc = _cdc(request)
    cdc.config = body
    backend.store.system_put(CONFIG_KEY, body.model_dump_json().encode())
    backend.publish_feature('cdc', 'config_changed', body.model_dump())
    return legacy('CDC configuration saved', body.model_dump())


async def add_table(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, TableBody, backend.config.max_body_bytes)
    name = body.table.strip()
    if not _TABLE_NAME.match(name) or name.startswith('__'):
        raise legacy_error(400, 'invalid table name: use the name of a column family')
    if not backend.store.has_cf(name):
        raise legacy_error(400, f"column family '{name}' does not exist")
    cdc = _cdc(request)
    events: list[str] = [kind for kind in EVENT_KINDS if kind in body.events]
    existing = cdc.tables.get(name)
    if existing is not None:
        existing.events = events
        table = existing
    else:
        table = cdc.tables[name] = Table(name, events, time.time_ns(), cdc.next_lsn())
    backend.store.system_put(TABLE_PREFIX + name.encode(), table.stored())
    backend.publish_feature('cdc', 'table_added', {'table': name, 'events': events})
    return legacy(f"CDC table '{name}' {'updated' if existing else 'added'}", table.public(cdc.config.enabled))


def _table(request: Request) -> Table:
    table = _cdc(request).tables.get(request.path_params['table'])
    if table is None:
        raise legacy_error(404, 'CDC table not found')
    return table


async def remove_table(request: Request):
    require(request, Permission.Admin)
    table = _table(request)
    backend = backend_of(request)
    del _cdc(request).tables[table.table]
    backend.store.system_delete(TABLE_PREFIX + table.table.encode())
    backend.publish_feature('cdc', 'table_removed', {'table': table.table})
    return legacy(f"CDC table '{table.table}' removed")


async def table_changes(request: Request):
    """One page of a table's captured changes after `after` (an LSN), oldest first."""
    require(request, Permission.Admin)
    cdc, table = _cdc(request), _table(request)
    cdc.retain(table, time.time_ns())
    raw_after = request.query_params.get('after') or '0'
    if not raw_after.isdigit():
        raise legacy_error(400, 'after must be an LSN (digits)')
    after = int(raw_after)
    limit = int_param(request, 'limit', cdc.config.batch_size, cdc.config.batch_size)
    page = [c for c in table.changes if c.lsn > after][:limit + 1]
    more = len(page) > limit
    page = page[:limit]
    return legacy(f'{len(page)} changes', {'table': table.table, 'changes': [c.public() for c in page],
                                          'next': str(page[-1].lsn) if more and page else None})


def install(backend) -> None:
    cdc = backend.feature_state('cdc', lambda: Cdc(backend))
    cdc.load()
    backend.write_guards.append(cdc.guard)

    async def capture() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await cdc.run()

    backend.feature_tasks.append(capture)


routes = [
    Route('/admin/cdc', get_config, methods=['GET']),
    Route('/admin/cdc', put_config, methods=['PUT']),
    Route('/admin/cdc/tables', add_table, methods=['POST']),
    Route('/admin/cdc/tables/{table}/changes', table_changes, methods=['GET']),
    Route('/admin/cdc/tables/{table}', remove_table, methods=['DELETE']),
]
