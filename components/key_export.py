"""Export keys as JSON, NDJSON or CSV (values as stored text), and show an edit as a text diff."""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterable

FORMATS: dict[str, str] = {'json': 'JSON', 'ndjson': 'NDJSON', 'csv': 'CSV'}


def export_bytes(records: Iterable[tuple[str, str]], fmt: str) -> bytes:
    """`[(key, value), …]` as a file: a JSON array of {key, value}, one such object per line, or CSV."""
    pairs = list(records)
    if fmt == 'json':
        return json.dumps([{'key': k, 'value': v} for k, v in pairs], ensure_ascii=False, indent=1).encode()
    if fmt == 'ndjson':
        return ''.join(json.dumps({'key': k, 'value': v}, ensure_ascii=False) + '\n' for k, v in pairs).encode()
    if fmt == 'csv':
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(['key', 'value'])
        writer.writerows(pairs)
        return out.getvalue().encode()
    raise ValueError(f'unknown export format {fmt!r}')


def text_diff(old: str, new: str, limit: int = 400) -> str:
    """A unified diff of two values (at most `limit` lines), as text."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), 'stored', 'yours', lineterm='', n=2))
    if not lines:
        return '(the value is unchanged)'
    if len(lines) > limit:
        lines = lines[:limit] + [f'… {len(lines) - limit:,} more diff lines']
    return '\n'.join(lines)
