"""Key search that reads the store one page per request, so matches are found anywhere in it.

The server's own contains/regex/value searches read only the first 10,000 records and silently ignore
the rest (API notes §2.3, the real ApexStore server included). Here every mode but prefix walks keys
with cursor-paged prefix searches — the listing both the embedded and the real server page correctly —
and filters in the console. One call stops at `limit` matches or `scan_budget` keys read and returns
where the next call resumes, so a page can offer "search further" without ever loading the store.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Literal

import regex
from pydantic import BaseModel

from .api import ApexApi, BadRequest
from .models import Record

SearchMode = Literal['prefix', 'glob', 'contains', 'regex', 'value']
Matcher = Callable[[str, str | None], bool]
SEARCH_MODES: tuple[SearchMode, ...] = ('prefix', 'glob', 'contains', 'regex', 'value')
GLOB_WILDCARDS = '*?['
REGEX_KEY_BUDGET_SECS = 0.05  # per key: beyond this a pattern is backtracking, not searching


class SearchPage(BaseModel):
    """One call's matches and where to resume; `cursor` None means the whole range was walked."""

    mode: SearchMode
    query: str
    records: list[Record]
    cursor: str | None = None
    scanned: int = 0

    @property
    def complete(self) -> bool:
        return self.cursor is None


def glob_prefix(pattern: str) -> str:
    """The literal head of a glob: every match starts with it, so only that key range needs reading."""
    for index, char in enumerate(pattern):
        if char in GLOB_WILDCARDS:
            return pattern[:index]
    return pattern


def compile_regex(query: str) -> regex.Pattern[str]:
    """Compiled once per search; a bad pattern is the user's typo, so it becomes a showable BadRequest.

    `regex` (not `re`) because it can stop a match after a time budget: a pattern like `^(a|a)+$` must
    never freeze the console for everybody (catastrophic backtracking).
    """
    try:
        return regex.compile(query)
    except regex.error as exc:
        raise BadRequest(f'Search: invalid regex: {exc}', 400) from None


def _regex_matcher(pattern: regex.Pattern[str]) -> Matcher:
    def match(key: str, _value: str | None) -> bool:
        try:
            return pattern.search(key, timeout=REGEX_KEY_BUDGET_SECS) is not None
        except TimeoutError:
            raise BadRequest(f'Search: the regex took too long on key {key[:60]!r}; simplify the pattern '
                             '(nested repetition such as (a|a)+ backtracks without end)', 400) from None
    return match


def matcher(mode: SearchMode, query: str) -> Matcher:
    """Whether a (key, value) belongs to a search's result, also for live key changes.

    A value of None (a delete, or a change whose value was too large to travel) never matches by value.
    """
    if mode == 'prefix':
        return lambda key, _value: key.startswith(query)
    if mode == 'glob':
        return lambda key, _value: fnmatchcase(key, query)
    if mode == 'contains':
        return lambda key, _value: query in key
    if mode == 'regex':
        return _regex_matcher(compile_regex(query))
    if mode == 'value':
        return lambda _key, value: value is not None and query in value
    raise BadRequest(f'Search: unknown mode {mode!r} (one of {", ".join(SEARCH_MODES)})', 400)


def _take(records: list[Record], match: Matcher, room: int) -> tuple[list[Record], int]:
    """Matches of one page, at most `room`, and how many records were read to find them."""
    found: list[Record] = []
    for read, record in enumerate(records, 1):
        if match(record.key, record.value):
            found.append(record)
            if len(found) == room:
                return found, read
    return found, len(records)


async def _walk(api: ApexApi, prefix: str, match: Matcher, cursor: str | None, limit: int, page_size: int,
                scan_budget: int) -> tuple[list[Record], str | None, int]:
    """Filter prefix pages from `cursor` on; the cursor returned is the last key read, so nothing is
    skipped or repeated by the next call."""
    found: list[Record] = []
    scanned = 0
    while True:
        page = await api.search(prefix, mode='prefix', limit=min(page_size, scan_budget - scanned), cursor=cursor)
        matches, read = _take(page.records, match, limit - len(found))
        found += matches
        scanned += read
        if read < len(page.records):  # the limit was reached mid-page: resume right after the last match
            return found, page.records[read - 1].key, scanned
        if page.cursor is None or not page.records:  # the server says nothing follows
            return found, None, scanned
        cursor = page.records[-1].key
        if len(found) >= limit or scanned >= scan_budget:
            return found, cursor, scanned


async def search_page(api: ApexApi, mode: SearchMode, query: str, *, cursor: str | None = None, limit: int = 100,
                      page_size: int = 1000, scan_budget: int = 10_000) -> SearchPage:
    """Up to `limit` matches from `cursor` on, reading at most `scan_budget` keys, `page_size` per request.

    prefix is one server-paged request; glob walks only its literal prefix; contains/regex (on keys) and
    value (substring of the value) walk the whole store. Pass the returned cursor back with the same mode
    and query to continue.
    """
    if min(limit, page_size, scan_budget) < 1:
        raise ValueError('limit, page_size and scan_budget must be at least 1')
    match = matcher(mode, query)  # a bad regex fails here, before any request
    if mode == 'prefix':
        page = await api.search(query, mode='prefix', limit=limit, cursor=cursor)
        return SearchPage(mode=mode, query=query, records=page.records, cursor=page.cursor,
                          scanned=len(page.records))
    prefix = glob_prefix(query) if mode == 'glob' else ''
    records, next_cursor, scanned = await _walk(api, prefix, match, cursor, limit, page_size, scan_budget)
    return SearchPage(mode=mode, query=query, records=records, cursor=next_cursor, scanned=scanned)
