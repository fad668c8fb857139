"""REST polling for servers without streams: sweep every watched prefix with the cursor, diff, repeat.

One read of the first page used to be all there was, so keys past the first 500 of a prefix never changed on
screen. Now each prefix is swept page by page (`/keys/search` pages are ordered and carry a cursor), at most
`poll_pages_per_cycle` pages per cycle, and a sweep that does not fit continues in the next cycle. Each page
is diffed against what the same key range held last time. Only an 8-byte digest of each value is kept, and
at most `poll_max_keys` keys per credential: past that the sweep starts over and `notice()` names what is
not watched, instead of pretending.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable

import httpx

from .models import KeyChangeEvent
from .policy import Timing

Record = tuple[str, str]


def value_digest(value: str) -> bytes:
    return hashlib.blake2b(value.encode(), digest_size=8).digest()


def covering_prefixes(prefixes: Iterable[str]) -> list[str]:
    """The watched prefixes minus those inside another one ('' covers all): no key is diffed twice."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return kept


class PrefixSweep:
    """What one prefix held at the last sweep (sorted keys, value digests) and where the current sweep is."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.keys: list[str] = []
        self.digests: dict[str, bytes] = {}
        self.cursor: str | None = None  # the running sweep continues after this key; None: at the start
        self.baseline = True  # the first sweep only learns: there is no "before" to diff against
        self.cut = False  # the last complete sweep hit the key cap
        self._cut_now = False

    def apply_page(self, records: list[Record], next_cursor: str | None, room: int) -> list[KeyChangeEvent]:
        """Diff one page against the same key range last time, remember it and advance the cursor.

        `room` is how many more keys may be remembered. A page that does not fit is cut there, the keys
        after the cut are forgotten (not reported deleted) and the sweep starts over.
        """
        lo = 0 if self.cursor is None else bisect_right(self.keys, self.cursor)
        hi = len(self.keys) if next_cursor is None else bisect_right(self.keys, next_cursor)
        fits = room + (hi - lo)  # the keys this page replaces give their room back
        if len(records) > fits:
            records = records[:max(fits, 0)]
            before = self.keys[lo:bisect_right(self.keys, records[-1][0]) if records else lo]
            hi, next_cursor, self._cut_now = len(self.keys), None, True
        else:
            before = self.keys[lo:hi]
        events = [] if self.baseline else self._diff(before, records)
        self._remember(lo, hi, records)
        self.cursor = next_cursor
        if next_cursor is None:  # the sweep is complete
            self.baseline = False
            self.cut, self._cut_now = self._cut_now, False
        return events

    def _diff(self, before: list[str], records: list[Record]) -> list[KeyChangeEvent]:
        digests = self.digests
        events = [KeyChangeEvent(operation='put', key=key, value=value, value_size=len(value.encode()))
                  for key, value in records if digests.get(key) != value_digest(value)]
        seen = {key for key, _ in records}
        events += [KeyChangeEvent(operation='delete', key=key) for key in before if key not in seen]
        return events

    def _remember(self, lo: int, hi: int, records: list[Record]) -> None:
        for key in self.keys[lo:hi]:
            self.digests.pop(key, None)
        for key, value in records:
            self.digests[key] = value_digest(value)
        self.keys[lo:hi] = [key for key, _ in records]  # the server sends each page in key order

    def notice(self) -> str | None:
        if not self.cut:
            return None
        if not self.keys:
            return f"polling cannot watch keys under '{self.prefix}': the key limit (EVENTS_POLL_MAX_KEYS) is used up"
        return (f"polling watches only the first {len(self.keys):,} keys under '{self.prefix}' "
                f"(EVENTS_POLL_MAX_KEYS); changes after '{self.keys[-1]}' are not shown")


class Poller:
    """All prefix sweeps of one credential, bounded per cycle and in memory."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.sweeps: dict[str, PrefixSweep] = {}

    def sync(self, prefixes: Iterable[str]) -> None:
        """Follow what pages watch now: new prefixes start with a baseline sweep, dropped ones are forgotten."""
        wanted = covering_prefixes(prefixes)
        self.sweeps = {prefix: self.sweeps.get(prefix) or PrefixSweep(prefix) for prefix in wanted}

    @property
    def remembered(self) -> int:
        return sum(len(sweep.keys) for sweep in self.sweeps.values())

    async def cycle(self, client: httpx.AsyncClient) -> list[KeyChangeEvent]:
        """Up to `poll_pages_per_cycle` pages, shared between the prefixes; each sweep goes on where it was."""
        if not self.sweeps:
            return []
        events: list[KeyChangeEvent] = []
        pages = max(1, self.timing.poll_pages_per_cycle // len(self.sweeps))
        for sweep in list(self.sweeps.values()):
            for _ in range(pages):
                records, next_cursor = await read_page(client, sweep.prefix, sweep.cursor, self.timing.poll_page_size)
                room = self.timing.poll_max_keys - self.remembered
                events += sweep.apply_page(records, next_cursor, room)
                if sweep.cursor is None:
                    break  # the sweep is complete: the next one starts next cycle
        return events

    def notice(self) -> str | None:
        notes = [note for sweep in self.sweeps.values() if (note := sweep.notice())]
        return '; '.join(notes) or None


async def read_page(client: httpx.AsyncClient, prefix: str, cursor: str | None, limit: int) -> tuple[list[Record],
                                                                                                     str | None]:
    """One `/keys/search` page (prefix mode): its records in key order and the cursor of the next page."""
    params = {'q': prefix, 'limit': str(limit)}
    if cursor is not None:
        params['cursor'] = cursor
    response = await client.get('/keys/search', params=params)
    response.raise_for_status()  # the caller classifies the status (401/403: credential refused)
    body = response.json()
    data = body.get('data') or body
    records = [(str(r['key']), str(r['value'])) for r in data.get('records', [])]
    next_cursor = data.get('cursor')
    return records, (str(next_cursor) if next_cursor and records else None)
