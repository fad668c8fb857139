"""Key search over the whole store, one page per request, against real embedded backends (no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import regex

from backend.server import BackendThread
from services.api import ApexApi, BadRequest
from services.key_search import SearchMode, SearchPage, glob_prefix, matcher, search_page
from services.models import RecordPage
from tests.conftest import ADMIN_TOKEN


# -- helpers -----------------------------------------------------------------------------------------
@dataclass
class Request:
    query: str
    mode: str
    limit: int
    cursor: str | None
    returned: int


class RecordingApi(ApexApi):
    """The real client, remembering every search request it sends and how many records came back."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, ADMIN_TOKEN)
        self.requests: list[Request] = []

    async def search(self, query: str, mode: str = 'prefix', limit: int = 100,
                     cursor: str | None = None) -> RecordPage:
        page = await super().search(query, mode=mode, limit=limit, cursor=cursor)
        self.requests.append(Request(query, mode, limit, cursor, len(page.records)))
        return page


@asynccontextmanager
async def console(server: BackendThread) -> AsyncIterator[RecordingApi]:
    client = RecordingApi(server.url)
    try:
        yield client
    finally:
        await client.close()


def seed(client: httpx.Client, store: dict[str, str]) -> None:
    """Write through the public batch route, 1000 records per request (its maximum)."""
    items = [{'key': k, 'value': v} for k, v in store.items()]
    for start in range(0, len(items), 1000):
        client.post('/keys/batch', json={'records': items[start:start + 1000]}).raise_for_status()


def numbered(count: int) -> dict[str, str]:
    return {f'k:{i:05d}': f'v{i}' for i in range(count)}


def mixed_store() -> dict[str, str]:
    """3,000 keys of three shapes, so every mode has matches spread over many pages."""
    store = {f'user:{i}:profile': f'{{"name":"u{i}"}}' for i in range(600)}
    store |= {f'user:{i}:settings': '{"theme":"dark"}' for i in range(600)}
    store |= {f'order:{i:04d}': 'paid' if i % 7 == 0 else 'open' for i in range(1000)}
    store |= {f'session:{i * 7919 % 100_000:05x}': f'ip=10.0.{i % 256}.1' for i in range(800)}
    return store


async def search_all(client: ApexApi, mode: SearchMode, query: str, **options: int) -> list[SearchPage]:
    """Every page of a search, following the cursor the way a "search further" button does."""
    pages = [await search_page(client, mode, query, **options)]
    while pages[-1].cursor is not None:
        pages.append(await search_page(client, mode, query, cursor=pages[-1].cursor, **options))
    return pages


def keys_of(pages: list[SearchPage]) -> list[str]:
    return [r.key for page in pages for r in page.records]


def expected(store: dict[str, str], keep: Callable[[str, str], bool]) -> list[str]:
    return sorted(k for k, v in store.items() if keep(k, v))


CASES: list[tuple[SearchMode, str, Callable[[str, str], bool]]] = [
    ('prefix', 'user:1', lambda k, v: k.startswith('user:1')),
    ('glob', 'user:*5:profile', lambda k, v: k.startswith('user:') and k.endswith('5:profile')),
    ('contains', ':1', lambda k, v: ':1' in k),
    ('regex', r'^order:\d*3$', lambda k, v: k.startswith('order:') and k.endswith('3')),
    ('value', 'paid', lambda k, v: 'paid' in v),
]


# -- stories -----------------------------------------------------------------------------------------
async def test_contains_search_finds_a_key_after_the_first_25000(backend, api):
    store = numbered(30_000) | {'k:27000:needle': 'found me'}
    seed(api, store)
    async with console(backend) as client:
        server_only = await client.search('needle', mode='contains')
        pages = await search_all(client, 'contains', 'needle')

    assert server_only.records == []  # the server's own contains search stops at 10,000 records
    assert keys_of(pages) == ['k:27000:needle']
    assert [p.scanned for p in pages] == [10_000, 10_000, 10_000, 1]  # the default budget, then the rest
    assert all(r.mode == 'prefix' and r.query == '' and r.limit <= 1000 and r.returned <= 1000
               for r in client.requests[1:])


async def test_no_request_reads_more_than_one_page_and_a_call_respects_its_budget(backend, api):
    seed(api, mixed_store())
    async with console(backend) as client:
        pages = await search_all(client, 'value', 'ip=10.0.', page_size=250, scan_budget=1000)

    assert all(r.limit <= 250 and r.returned <= 250 for r in client.requests)
    assert all(p.scanned <= 1000 for p in pages)
    assert sum(p.scanned for p in pages) == 3000  # every key read exactly once overall
    assert len(keys_of(pages)) == 800
    assert backend.call(lambda b: b.requests['/keys/value-search']) == 0  # never the capped server route
    assert backend.call(lambda b: b.requests['/keys/search']) == len(client.requests)


@pytest.mark.parametrize(('mode', 'query', 'keep'), CASES, ids=[c[0] for c in CASES])
async def test_resuming_with_the_cursor_neither_skips_nor_repeats_a_match(backend, api, mode, query, keep):
    store = mixed_store()
    seed(api, store)
    async with console(backend) as client:
        pages = await search_all(client, mode, query, limit=7, page_size=50, scan_budget=300)

    assert keys_of(pages) == expected(store, keep)  # same order, no gaps, no duplicates
    assert all(len(p.records) <= 7 for p in pages)
    assert all(r.value == store[r.key] for p in pages for r in p.records)
    assert pages[-1].complete


async def test_a_search_that_ends_on_the_last_key_reports_the_store_walked(backend, api):
    seed(api, numbered(120))
    async with console(backend) as client:
        page = await search_page(client, 'contains', 'k:0011', limit=10, page_size=500)

    assert [r.key for r in page.records] == [f'k:{i:05d}' for i in range(110, 120)]
    assert page.cursor is None and page.scanned == 120


async def test_glob_walks_only_its_literal_prefix(backend, api):
    store = mixed_store()
    seed(api, store)
    async with console(backend) as client:
        pages = await search_all(client, 'glob', 'user:*:profile', limit=1000, page_size=500)

    assert keys_of(pages) == expected(store, lambda k, v: k.startswith('user:') and k.endswith(':profile'))
    assert {r.query for r in client.requests} == {'user:'}
    assert sum(p.scanned for p in pages) == 1200  # the user: keys only, never orders or sessions


def test_glob_prefix_is_the_part_before_the_first_wildcard():
    assert glob_prefix('user:*:profile') == 'user:'
    assert glob_prefix('log:202?-01') == 'log:202'
    assert glob_prefix('cfg:[ab]x') == 'cfg:'
    assert glob_prefix('*:profile') == ''
    assert glob_prefix('exact:key') == 'exact:key'


async def test_value_search_finds_a_value_beyond_the_first_10000_records(backend, api):
    store = numbered(30_000) | {'k:29999': 'ERROR disk full'}
    seed(api, store)
    async with console(backend) as client:
        server_only = await client._json('GET', '/keys/value-search', 'Value search', params={'q': 'ERROR'})
        page = await search_page(client, 'value', 'ERROR', scan_budget=40_000)

    assert server_only['records'] == []
    assert [(r.key, r.value) for r in page.records] == [('k:29999', 'ERROR disk full')]
    assert page.cursor is None and page.scanned == 30_000


async def test_an_invalid_regex_is_explained_before_any_request(backend):
    with pytest.raises(regex.error) as compile_error:
        regex.compile('user:(')
    async with console(backend) as client:
        with pytest.raises(BadRequest) as refused:
            await search_page(client, 'regex', 'user:(')

    assert refused.value.message == f'Search: invalid regex: {compile_error.value}'
    assert client.requests == []


async def test_a_backtracking_regex_is_stopped_with_a_reason_instead_of_freezing_the_console(backend, api):
    seed(api, {'a' * 27 + '!': 'evil key', 'b': 'plain'})
    async with console(backend) as client:
        with pytest.raises(BadRequest, match='took too long'):
            await search_page(client, 'regex', '^(a|a)+$')


async def test_a_compat_backend_gives_the_same_answers(backend, api, compat_backend, compat_api):
    store = mixed_store()
    seed(api, store)
    seed(compat_api, store)
    async with console(backend) as ours, console(compat_backend) as real_like:
        for mode, query, _ in CASES:
            options = {'limit': 25, 'page_size': 200, 'scan_budget': 600}
            assert await search_all(ours, mode, query, **options) == await search_all(real_like, mode, query,
                                                                                       **options)


def test_a_matcher_tells_whether_a_live_change_belongs_to_the_result():
    assert matcher('glob', 'user:*:profile')('user:42:profile', None)
    assert not matcher('glob', 'user:*:profile')('user:42:settings', None)
    assert matcher('regex', r'\d{3}$')('order:123', 'open')
    assert matcher('contains', 'ord')('order:1', None)
    assert matcher('prefix', 'user:')('user:1', None)
    assert matcher('value', 'paid')('order:7', 'paid')
    assert not matcher('value', 'paid')('order:7', None)  # a delete, or a value too large to travel
    with pytest.raises(BadRequest, match='invalid regex'):
        matcher('regex', '[')
