"""The key explorer's state and the helpers that draw nothing: limits, the window of rows, the opened key."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field

from nicegui.elements.upload_files import FileUpload

from services.api import MAX_REQUEST_BYTES, ApiError
from services.key_search import SEARCH_MODES, Matcher, SearchMode
from services.models import KeyTtl, Record

PAGE_SIZES = [50, 100, 250, 500, 1000]
MAX_BATCH = 1000
MAX_ROWS = 2000  # rows one grid holds; beyond it the window ends and "Load more" resumes after it
OWN_WRITE_SECS = 5.0
COUNTS_EVERY_SECS = 0.5
BOX = 'input-style="max-height: 16rem"'  # a pasted 10 MB value scrolls inside its box, the buttons stay
TALL_BOX = 'input-style="max-height: 24rem"'
DELETED_ROW_SECS = 2.5
SCAN_BUDGET = 10_000  # keys one search call reads (in pages of 1000), never the whole store
TREE_BUDGET = 10_000  # keys one folder expansion reads; beyond it counts say "n+"
TTL_COALESCE_SECS = 0.5  # live rows wait this long for their TTL, so a burst of writes costs a few batched reads
PREVIEW_BUDGET = 100_000  # keys a delete-by-pattern preview reads before it says "at least"
EXPORT_MAX = 100_000  # records one export holds
BATCH_DELETE = 1000
DEFAULT_CF = 'default'
VIEWS: dict[str, str] = {'list': 'List', 'tree': 'Tree'}
MODES: dict[str, str] = {'prefix': 'Prefix', 'glob': 'Pattern (glob)', 'contains': 'Contains', 'regex': 'Regex',
                         'value': 'Value contains'}


def parse_batch(text: str) -> tuple[list[Record] | None, str | None]:
    """Client-side validation of the batch textarea: records, or a message saying what is wrong."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None, 'Invalid JSON'
    if not isinstance(data, list) or not data:
        return None, 'Expected a non-empty JSON array'
    if len(data) > MAX_BATCH:
        return None, f'At most {MAX_BATCH} records per batch (got {len(data)})'
    records = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get('key'), str) or not isinstance(item.get('value'), str):
            return None, f'Item {index + 1}: expected {{"key": "…", "value": "…"}} with string key and value'
        if not item['key']:
            return None, f'Item {index + 1}: the key must not be empty'
        records.append(Record(key=item['key'], value=item['value']))
    return records, None


@dataclass
class Window:
    """Which keys the grid holds: the first rows of a result in key order, and where it stops.

    `cursor` is where "Load more" resumes (the last key read); None means the result is complete,
    so every new matching key belongs in view. Live keys past the cursor are not in the window.
    """
    mode: SearchMode = 'prefix'
    query: str = ''
    title: str = 'Entries'
    cursor: str | None = None
    scanned: int = 0
    match: Matcher = field(default=lambda key, value: True)

    def belongs(self, key: str, value: str | None) -> bool:
        if self.cursor is not None and key > self.cursor:
            return False
        try:
            return self.match(key, value)
        except ApiError:  # a regex that backtracks on this key: it is not shown, the page goes on
            return False

    @property
    def scans(self) -> bool:
        return self.mode not in ('prefix',)


def duration(secs: int) -> str:
    """`86150` -> `23 h 55 min 50 s`."""
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f'{hours} h' if hours else '', f'{minutes} min' if minutes else '', f'{seconds} s' if seconds else '']
    return ' '.join(p for p in parts if p) or '0 s'


async def read_text_file(file: FileUpload) -> tuple[str | None, str | None]:
    """(the file as text, None) or (None, why it cannot be a value): values are UTF-8 text, at most 2 MiB."""
    if file.size() > MAX_REQUEST_BYTES:
        return None, (f'"{file.name}" is {file.size():,} bytes: more than the server takes in one request '
                      '(2 MiB). Nothing was written.')
    data = await file.read()
    try:
        return data.decode('utf-8'), None
    except UnicodeDecodeError as exc:
        return None, f'"{file.name}" is not UTF-8 text (byte {exc.start:,}): values are text. Nothing was written.'


@dataclass
class FileValue:
    """A value loaded from a file for Insert: it came over HTTP, never through the socket."""
    name: str = ''
    text: str | None = None


@dataclass
class Opened:
    """The key shown in the value viewer (None: the viewer is closed), and its TTL when it was read."""
    key: str | None = None
    value: str | None = None
    expires_at: float | None = None  # loop time the key expires at (None: it never does, or unknown)
    ttl_problem: str | None = None  # why the TTL is unknown
    ttl_shown: int | None = None  # what the TTL field was set to: Save sends the user's value only if changed

    def remaining(self) -> int | None:
        if self.expires_at is None:
            return None
        return max(1, math.ceil(self.expires_at - asyncio.get_running_loop().time()))

    def set_ttl(self, ttl: KeyTtl | None) -> None:
        secs = ttl.ttl_secs if ttl is not None and not ttl.expired else None
        self.expires_at = None if secs is None else asyncio.get_running_loop().time() + secs
        self.ttl_problem = None
        self.ttl_shown = secs

    def ttl_text(self) -> str:
        if self.key is None:
            return ''
        if self.ttl_problem is not None:
            return f'TTL unknown ({self.ttl_problem}); Save writes no TTL unless you set one'
        remaining = self.remaining()
        if remaining is None:
            return 'No TTL: never expires'
        return f'Expires in {duration(remaining)} ({remaining:,} s)'


@dataclass
class Counted:
    at: float = float('-inf')  # when the counts above the grid were last drawn


@dataclass
class Totals:
    store: int | None = None  # keys in the column family (from the server); None while unknown


@dataclass
class Selection:
    keys: list[str] = field(default_factory=list)


@dataclass
class TtlQueue:
    """Rows waiting for their TTL: filled by loads and live writes, drained in batched requests.

    Rows of a load are read at once, batch after batch. Rows changed by live writes are read at most once
    per `TTL_COALESCE_SECS`: under a steady stream of writes a tab would otherwise read TTLs back to back
    (ten tabs at 200 writes/s made ~390 TTL requests a second, half the console's CPU). `generation`
    moves on with every new load, so reads started for an old window patch nothing.
    """
    keys: dict[str, None] = field(default_factory=dict)  # from loads (insertion-ordered sets)
    live: dict[str, None] = field(default_factory=dict)  # from live writes
    generation: int = 0
    running: bool = False
    live_after: float = 0.0  # (monotonic) live rows are not read before this

    def reset(self) -> None:
        """A new window: nothing queued, and reads still under way for the old one patch nothing."""
        self.clear()
        self.generation += 1

    def add(self, keys: list[str], *, live: bool = False, now: float = 0.0) -> None:
        if live:
            if not self.live:  # the first of a wave waits for its neighbours
                self.live_after = max(self.live_after, now + TTL_COALESCE_SECS)
            self.live.update(dict.fromkeys(keys))
        else:
            self.keys.update(dict.fromkeys(keys))

    def __bool__(self) -> bool:
        return bool(self.keys or self.live)

    def wait(self, now: float) -> float:
        """Seconds until the next batch may be read (rows of a load never wait)."""
        return 0.0 if self.keys or not self.live else max(0.0, self.live_after - now)

    def take(self, count: int, now: float) -> list[str]:
        source = self.keys if self.keys else self.live
        if source is self.live:
            self.live_after = now + TTL_COALESCE_SECS
        taken = list(source)[:count]
        for key in taken:
            del source[key]
        return taken

    def clear(self) -> None:
        self.keys.clear()
        self.live.clear()


def mode_of(value: str | None) -> SearchMode:
    return value if value in SEARCH_MODES else 'prefix'  # type: ignore[return-value]
