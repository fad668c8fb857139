"""SQL Runner client: `POST /query` (read-only SQLite over a bounded scan of the store), plus result export.

The embedded backend loads the keys under `prefix` of one column family (at most `max_scan`) into a
table `kv(key, value, cf, size)` (also the view `keys`) for each query; only SELECT/WITH runs.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import BaseModel, Field

from ..api import ApexApi

DEFAULT_SCAN = 10_000
MAX_SCAN = 100_000
MAX_ROWS = 1000
HISTORY_LIMIT = 20

EXAMPLES: list[tuple[str, str]] = [
    ('First 10 keys', 'SELECT key, value FROM kv ORDER BY key LIMIT 10;'),
    ('Largest values', 'SELECT key, size FROM kv ORDER BY size DESC LIMIT 20;'),
    ('Keys per prefix', "SELECT substr(key, 1, instr(key || ':', ':') - 1) AS prefix, count(*) AS keys,\n"
                        '       sum(size) AS bytes\nFROM kv GROUP BY prefix ORDER BY keys DESC;'),
    ('JSON field filter', "SELECT key, json_extract(value, '$.name') AS name, json_extract(value, '$.age') AS age\n"
                          "FROM kv\nWHERE json_valid(value) AND json_extract(value, '$.age') > 30\n"
                          'ORDER BY age DESC;'),
    ('JSON fields used', "SELECT j.key AS field, count(*) AS keys\nFROM kv, json_each(kv.value) AS j\n"
                         "WHERE json_valid(kv.value) AND json_type(kv.value) = 'object'\n"
                         'GROUP BY field ORDER BY keys DESC;'),
    ('Values that are not JSON', 'SELECT key, value FROM kv WHERE NOT json_valid(value) LIMIT 50;'),
]


class QueryResult(BaseModel):
    """The answer of `POST /query` (the Angular shape plus the scan bound's report)."""
    columns: list[str] = []
    rows: list[dict[str, Any]] = []
    row_count: int = 0
    elapsed_ms: int = 0
    scanned: int = 0
    scan_complete: bool = True
    truncated: bool = False
    max_rows: int = MAX_ROWS
    cf: str = 'default'
    prefix: str = ''


class QueryOptions(BaseModel):
    cf: str = 'default'
    prefix: str = ''
    max_scan: int = Field(default=DEFAULT_SCAN, ge=1, le=MAX_SCAN)


async def run_query(api: ApexApi, query: str, options: QueryOptions | None = None) -> QueryResult:
    """Run one SELECT; BadRequest carries SQLite's message, NotOffered means the server has no `/query`."""
    body: dict[str, Any] = {'query': query, **(options or QueryOptions()).model_dump()}
    return QueryResult.model_validate(await api.call('POST', '/query', 'Query', body=body))


def cell_text(value: Any) -> str:
    """A result value as the table shows it: text, with '—' for NULL."""
    if value is None:
        return '—'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def export_csv(result: QueryResult) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result.columns)
    writer.writerows([['' if row.get(c) is None else row.get(c) for c in result.columns] for row in result.rows])
    return out.getvalue().encode()


def export_json(result: QueryResult) -> bytes:
    return json.dumps(result.rows, ensure_ascii=False, indent=1).encode()


def remember(history: list[str], query: str) -> list[str]:
    """The most recent unique queries, newest first, at most HISTORY_LIMIT."""
    query = query.strip()
    return [query, *[q for q in history if q != query]][:HISTORY_LIMIT]
