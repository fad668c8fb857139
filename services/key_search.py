"""Key search that reads the store one page per request, so matches are found anywhere in it.

The server's own contains/regex/value searches read only the first 10,000 records and silently ignore
the rest (API notes §2.3, the real ApexStore server included). Here every mode but prefix walks keys
with cursor-paged prefix searches — the listing both the embedded and the real server page correctly —
and filters in the console. One call stops at `limit` matches or `scan_budget` keys read and returns
where the next call resumes, so a page can offer "search further" without ever loading the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol

import regex
from pydantic import BaseModel

from .api import ApexApi, ApiError, BadRequest, NotFound, NotOffered, segment
from .models import KeyPage, KeyTtl, Record, RecordPage

SearchMode = Literal['prefix', 'glob', 'contains', 'regex', 'value']
Matcher = Callable[[str, str | None], bool]
SEARCH_MODES: tuple[SearchMode, ...] = ('prefix', 'glob', 'contains', 'regex', 'value')
GLOB_WILDCARDS = '*?['
REGEX_KEY_BUDGET_SECS = 0.05  # per key: beyond this a pattern is backtracking, not searching
DEFAULT_CF = 'default'
TTL_BATCH = 500  # keys per batched TTL request (the embedded backend takes up to 1000)
TTL_PARALLEL = 8  # single-key TTL requests at once where the server has no batch route


class Searchable(Protocol):
    async def search(self, query: str, mode: str = 'prefix', limit: int = 100,
                     cursor: str | None = None) -> RecordPage: ...


class KeySource:
    """The key routes of one column family, with the API's method names.

    `default` is addressed by the routes every ApexStore server has (`/keys…`); any other family by the
    embedded backend's `/cf/{cf}/keys…` extension, same bodies and answers (`NotOffered` on a server
    without it: real servers address only `default`). TTLs of many keys come from one batched request
    where the server offers it, else from single-key requests, a few at a time.
    """

    def __init__(self, api: ApexApi, cf: str = DEFAULT_CF) -> None:
        self.api = api
        self.cf = cf
        self._base = '' if cf == DEFAULT_CF else f'/cf/{segment(cf)}'
        self._batch_ttl: bool | None = None  # does the server take `POST …/keys/batch/ttl`? (None: not asked)

    @property
    def is_default(self) -> bool:
        return self.cf == DEFAULT_CF

    async def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        return await self.api.call(method, self._base + path, what if self.is_default else f'{what} ({self.cf})',
                                   **kwargs)

    async def _found(self, path: str, what: str) -> Any | None:
        """A GET of one key's route; None when the key does not exist (not when the column family does not)."""
        try:
            return await self._call('GET', path, what)
        except NotFound as exc:
            if 'column family not found' in exc.message:
                raise
            return None

    async def get_key(self, key: str) -> Record | None:
        found = await self._found('/keys/' + segment(key), 'Read key')
        return None if found is None else Record.model_validate(found)

    async def put_key(self, key: str, value: str, ttl_secs: int | None = None) -> None:
        """Without `ttl_secs` the key never expires; `POST /keys` carries the key in the body (keys with `/`)."""
        body: dict[str, Any] = {'key': key, 'value': value}
        if ttl_secs:
            body['ttl_secs'] = ttl_secs
        await self._call('POST', '/keys', 'Write key', body=body)

    async def key_ttl(self, key: str) -> KeyTtl | None:
        found = await self._found('/keys/' + segment(key) + '/ttl', 'Read TTL')
        return None if found is None else KeyTtl.model_validate(found)

    async def delete_key(self, key: str) -> None:
        await self._call('DELETE', '/keys/' + segment(key), 'Delete key')

    async def list_keys(self, prefix: str = '', limit: int = 100, cursor: str | None = None) -> KeyPage:
        params = {'prefix': prefix, 'limit': str(limit), 'cursor': cursor}
        return KeyPage.model_validate(await self._call('GET', '/keys', 'List keys', params=params))

    async def search(self, query: str, mode: str = 'prefix', limit: int = 100,
                     cursor: str | None = None) -> RecordPage:
        params = {'q': query, 'mode': mode, 'limit': str(limit), 'cursor': cursor}
        return RecordPage.model_validate(await self._call('GET', '/keys/search', 'Search', params=params))

    async def batch_put(self, records: list[Record]) -> int:
        body = {'records': [r.model_dump() for r in records]}
        data = await self._call('POST', '/keys/batch', 'Batch insert', body=body)
        return int(data.get('count', len(records)))

    async def batch_delete(self, keys: list[str]) -> int:
        data = await self._call('POST', '/keys/batch/delete', 'Batch delete', body={'keys': keys})
        return int(data.get('deleted_count', 0))

    async def delete_prefix(self, prefix: str) -> None:
        await self._call('DELETE', '/keys', 'Delete by prefix', params={'prefix': prefix})

    async def total(self) -> int | None:
        """Keys in the column family (an estimate); None when the server cannot say."""
        try:
            if self.is_default:
                return (await self.api.stats()).total_records
            families = await self.api.column_families()
        except ApiError:
            return None
        return next((cf.keys for cf in families if cf.name == self.cf), None)

    async def key_ttls(self, keys: list[str]) -> dict[str, KeyTtl | None]:
        """The TTL of each key (None: the key is gone): batched requests of TTL_BATCH keys where offered."""
        found: dict[str, KeyTtl | None] = {}
        for start in range(0, len(keys), TTL_BATCH):
            chunk = keys[start:start + TTL_BATCH]
            found.update(await self._batch_ttls(chunk) if self._batch_ttl is not False else
                         await self._single_ttls(chunk))
        return found

    async def _batch_ttls(self, keys: list[str]) -> dict[str, KeyTtl | None]:
        try:
            data = await self._call('POST', '/keys/batch/ttl', 'Read TTLs', body={'keys': keys})
        except NotOffered:
            self._batch_ttl = False
            return await self._single_ttls(keys)
        self._batch_ttl = True
        found: dict[str, KeyTtl | None] = dict.fromkeys(data.get('missing', []))
        found.update((t.key, t) for t in (KeyTtl.model_validate(item) for item in data.get('ttls', [])))
        return found

    async def _single_ttls(self, keys: list[str]) -> dict[str, KeyTtl | None]:
        gate = asyncio.Semaphore(TTL_PARALLEL)

        async def one(key: str) -> tuple[str, KeyTtl | None]:
            async with gate:
                return key, await self.key_ttl(key)

        return dict(await asyncio.gather(*(one(key) for key in keys)))


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


async def _walk(api: Searchable, prefix: str, match: Matcher, cursor: str | None, limit: int, page_size: int,
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


async def search_page(api: Searchable, mode: SearchMode, query: str, *, cursor: str | None = None, limit: int = 100,
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
