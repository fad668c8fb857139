"""Statistics with history: the last hour as live charts, sampled once per credential for every tab."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from services import metrics_history as mh
from services.events.channel import credential_id
from services.models import Stats
from tests.conftest import ADMIN_TOKEN, admin_client
from tests.pages.conftest import element, eventually, sign_in


@pytest.fixture
def fast_history(monkeypatch: pytest.MonkeyPatch) -> mh.MetricsHistory:
    """This credential's sampler, sampling every 0.3 s instead of 5 s (the test would wait minutes)."""
    history = mh.MetricsHistory(interval=0.3)
    monkeypatch.setitem(mh._histories, credential_id(ADMIN_TOKEN), history)
    return history


def chart(user: User, marker: str):
    return element(user, marker)


def series(user: User, marker: str, name: str) -> list[list]:
    return next(s['data'] for s in chart(user, marker).options['series'] if s['name'] == name)


async def test_writes_show_up_as_ops_per_second_and_sizes_over_time(console_backend, fast_history, user: User):
    await sign_in(user, next_page='/stats')
    await eventually(lambda: fast_history.samples >= 2, message='the sampler should run while the page is open')
    with admin_client(console_backend) as other:
        for i in range(5):
            other.post('/keys/batch', json={'records': [{'key': f'h{i}:{j}', 'value': 'v'} for j in range(20)]})
    await eventually(lambda: any(v for _, v in series(user, 'ops-chart', 'sets/s')), timeout=10,
                     message='the operations chart should show the writes as sets per second')
    await eventually(lambda: any(v for _, v in series(user, 'size-chart', 'memtable KiB')), timeout=10,
                     message='the size chart should show the memtable growing')
    rows = {r['name']: r['value'] for r in element(user, 'current-rates').rows}
    assert set(rows) >= {'sets/s', 'gets/s', 'set latency (avg)', 'cache hit ratio', 'errors/s'}
    assert rows['cache hit ratio'] == '—'  # the embedded backend counts no cache lookups
    assert 'samples · last' in element(user, 'history-status').text
    labels = {e.props.get('label') for e in user.client.elements.values()}
    assert 'Refresh' not in labels  # charts that move by themselves, no Refresh button


async def test_every_tab_shares_one_sampler_that_stops_when_the_last_tab_leaves(console_backend, fast_history,
                                                                                 user: User):
    await sign_in(user, next_page='/stats')
    first_tab = user.client
    await eventually(lambda: fast_history.samples >= 2)
    loop_task = fast_history._task
    await user.open('/stats')
    second_tab = user.client
    assert fast_history.subscribers == 2 and fast_history._task is loop_task  # one loop, never one per tab
    seen = len(fast_history.points)
    await eventually(lambda: len(series(user, 'ops-chart', 'sets/s')) > seen,
                     message='the second tab should show the hour so far and keep up')
    first_tab.delete()
    assert fast_history.subscribers == 1 and fast_history.running
    second_tab.delete()
    assert fast_history.subscribers == 0 and not fast_history.running
    kept = len(fast_history.points)
    assert kept >= 2  # the history is kept for the next tab


async def test_the_hour_is_a_ring_of_720_points_and_a_restart_is_no_negative_rate():
    history = mh.MetricsHistory()
    assert history.points.maxlen == 720 and history.interval == 5.0

    def raw(at: float, **counters: float) -> mh.Raw:
        return mh.Raw(at, {f'apexstore_{k}_total': v for k, v in counters.items()}, Stats(mem_kb=4))

    before = raw(100, gets=10, get_latency_us=1000, cache_hits=5, cache_misses=5, errors=0)
    after = raw(105, gets=60, get_latency_us=6000, cache_hits=35, cache_misses=15, errors=1)
    point = mh.derive(before, after)
    assert point.ops['get'] == 10.0 and point.latency_us['get'] == 100.0  # 5000 µs over 50 gets
    assert point.cache_hit_ratio == 0.75 and point.errors_per_sec == 0.2 and point.mem_kb == 4
    restarted = mh.derive(after, raw(110, gets=3, get_latency_us=50))
    assert restarted.ops['get'] is None and restarted.latency_us['get'] is None
    after_a_pause = mh.derive(before, raw(200, gets=70))
    assert after_a_pause.ops['get'] is None  # not differenced across a gap
