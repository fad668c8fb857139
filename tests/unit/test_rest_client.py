"""The REST client against a real backend: error mapping and shared reads."""

from __future__ import annotations

import asyncio

import pytest

from services.api import ApexApi, AuthFailed, NotFound, NotOffered, Unreachable
from tests.conftest import ADMIN_TOKEN


async def test_dashboards_of_one_credential_share_a_stats_request(backend):
    backend.faults(slow_ms=300)
    tabs = [ApexApi(backend.url, ADMIN_TOKEN) for _ in range(10)]
    try:
        results = await asyncio.gather(*(tab.stats() for tab in tabs))
    finally:
        for tab in tabs:
            await tab.close()
    assert len({r.model_dump_json() for r in results}) == 1
    assert backend.call(lambda b: b.requests['/stats']) == 1


async def test_errors_are_typed_and_never_carry_the_token(compat_backend):
    api = ApexApi(compat_backend.url, ADMIN_TOKEN)
    bad = ApexApi(compat_backend.url, 'apx_secret-that-must-not-leak')
    try:
        assert await api.get_key('missing') is None
        with pytest.raises(NotOffered):
            await api.snapshots()  # an extension route the real server lacks
        with pytest.raises(NotFound):
            await api._json('GET', '/keys/missing', 'Read key')
        with pytest.raises(AuthFailed) as refused:
            await bad.stats()
        assert 'apx_secret' not in str(refused.value)
    finally:
        await api.close()
        await bad.close()


async def test_no_request_carries_the_token_while_the_backend_is_not_known_to_be_ours(backend):
    closed = {'reason': 'embedded backend restarting (attempt 2)'}
    api = ApexApi(backend.url, ADMIN_TOKEN, gate=lambda: closed['reason'])
    try:
        with pytest.raises(Unreachable, match='restarting'):
            await api.get_key('k')
        probe = await api.probe('liveness')
        assert not probe.healthy and 'restarting' in probe.message
        assert backend.call(lambda b: b.requests['/keys/k'] + b.requests['/health/liveness']) == 0
        closed['reason'] = None  # the backend proved itself again
        assert await api.get_key('k') is None
        assert backend.call(lambda b: b.requests['/keys/k']) == 1
    finally:
        await api.close()


async def test_a_quota_refusal_reads_as_the_servers_own_words(backend):
    import httpx

    from services.api import ServerError

    admin = httpx.Client(base_url=backend.url, headers={'Authorization': f'Bearer {ADMIN_TOKEN}'})
    created = admin.post('/admin/tokens', json={'name': 'ci', 'permissions': ['Read', 'Write']}).json()['data']
    admin.post('/admin/quotas', json={'tenant': created['id'], 'max_requests_per_min': 1, 'max_storage_bytes': 10})
    admin.close()
    api = ApexApi(backend.url, created['token'])
    try:
        with pytest.raises(ServerError) as over_storage:
            await api.put_key('k', 'far more than ten bytes')
        assert over_storage.value.status == 507 and 'storage' in over_storage.value.message
        assert 'server error' not in over_storage.value.message
        with pytest.raises(ServerError) as over_rate:
            await api.stats()
        assert over_rate.value.status == 429 and "quota exceeded for token 'ci'" in over_rate.value.message
    finally:
        await api.close()
