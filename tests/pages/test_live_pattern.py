"""The live-page pattern: an event costs what it changes, bursts coalesce, nothing is held unbounded,
and a closed tab costs nothing."""

from __future__ import annotations

import asyncio
import re

import httpx
from nicegui.testing import User

from app.pages.key_explorer import MAX_ROWS
from services.events import event_service
from tests.conftest import ADMIN_TOKEN, admin_client
from tests.pages.conftest import badge_state, element, eventually, hidden_or_not, sign_in


async def burst(backend, count: int, prefix: str = 'burst', value: str = 'v') -> None:
    """Another client writes `count` keys as fast as the backend takes them (1000 per request)."""
    async with httpx.AsyncClient(base_url=backend.url, headers={'Authorization': f'Bearer {ADMIN_TOKEN}'}) as other:
        for start in range(0, count, 1000):
            numbers = range(start, min(count, start + 1000))
            records = [{'key': f'{prefix}:{i:05d}', 'value': f'{value}{i}'} for i in numbers]
            assert (await other.post('/keys/batch', json={'records': records})).status_code == 200


async def open_live(user: User, route: str) -> None:
    await sign_in(user, next_page=route)
    await eventually(lambda: badge_state(user) == 'connected', message='never went live')


async def test_a_burst_into_an_empty_store_fills_the_window_and_no_more(console_backend, user: User):
    await open_live(user, '/keys')
    grid = hidden_or_not(user, 'key-table')
    await burst(console_backend, MAX_ROWS + 1000)
    await eventually(lambda: len(grid.rows) == MAX_ROWS, timeout=15, message='the window did not fill')
    assert max(grid.rows) == f'burst:{MAX_ROWS - 1:05d}', 'the window holds the first keys in key order'
    await eventually(lambda: element(user, 'load-more').visible, message='"Load more" should offer the rest')
    assert grid.rebuilds == 1 and grid.transactions < 100, 'the burst was sent as a few patches, not per event'
    user.find(marker='load-more').click()
    await eventually(lambda: f'burst:{MAX_ROWS + 50:05d}' in grid.rows or len(grid.rows) == MAX_ROWS,
                     message='load more did not continue after the window')


async def test_the_last_value_of_a_key_wins_however_fast_it_changes(console_backend, user: User):
    await burst(console_backend, 10, prefix='hot')
    await open_live(user, '/keys')
    grid = element(user, 'key-table')
    await eventually(lambda: 'hot:00003' in grid.rows)
    with admin_client(console_backend) as other:
        for round_ in range(200):
            other.put('/keys/hot:00003', json={'value': f'round {round_}'})
    await eventually(lambda: grid.rows['hot:00003']['preview'] == 'round 199', message='the last write must show')
    assert grid.transactions < 200, 'two hundred writes should not cost two hundred renders'


async def test_the_dashboard_feed_and_chart_share_one_refresher_and_stay_bounded(console_backend, user: User):
    await open_live(user, '/dashboard')
    feed = element(user, 'change-feed')
    await burst(console_backend, 3000, prefix='feed')
    await eventually(lambda: feed.items and feed.items[0].subject == 'feed:02999', timeout=15)
    assert len(feed.items) == feed.limit, 'the feed keeps only its last items'
    assert feed.pushes < 100, 'three thousand events became a few pushes of new items'


async def test_a_closed_tab_renders_nothing_and_lets_go_of_its_subscription(console_backend, user: User):
    hub = event_service()._channel(ADMIN_TOKEN).hub
    await open_live(user, '/keys')
    grid = hidden_or_not(user, 'key-table')
    assert len(hub.subscriptions) >= 1
    transactions = grid.transactions
    user.client.delete()  # the browser tab went away
    await eventually(lambda: not hub.subscriptions, message='the page kept its subscription after closing')
    received = event_service().status(ADMIN_TOKEN).counters.received
    await burst(console_backend, 50, prefix='after')
    await eventually(lambda: event_service().status(ADMIN_TOKEN).counters.received >= received + 50,
                     message='the events should still arrive (the session is signed in)')
    assert grid.transactions == transactions, 'a closed tab must not render'


async def test_a_timed_render_is_skipped_when_a_render_for_events_came_after_its_time(console_backend, user: User):
    """A page asks to be rendered "no later than" a time (the counts, the chart's tick); a render for events
    after that time has done it, so the timer adds no empty render (each one costs the browser a frame)."""
    from app.live import FrameBudget

    await user.open('/login')
    renders: list[int] = []
    with user.client:
        budget = FrameBudget(lambda: renders.append(1))
    budget._later_at = budget._loop.time() - 1.0  # the timer's time has passed ...
    budget.bucket.last = budget._loop.time()  # ... and a render went after it
    budget._wake()
    assert budget._handle is None and not renders, 'the timer must not add a render'

    budget._later_at = budget._loop.time() + 1.0  # the last render went before the timer's time
    budget.bucket.last = budget._later_at - 2.0
    budget._wake()
    await eventually(lambda: renders == [1], message='a timer with nothing rendered since must render')


async def test_a_tab_that_has_not_shown_a_render_gets_the_changes_since_in_one_render(console_backend, user: User):
    """Ten tabs in one browser on two cores fall behind; a tab that has not yet handled a render gets no second
    one queued behind it: what changes meanwhile goes as one render when the tab is ready (or, if it never
    answers, once the wait runs out), so no tab is ever more than one render behind."""
    from nicegui import ui

    from app.live import SHOWN_PROBE, FrameBudget

    await user.open('/login')
    user.javascript_rules = {rule: answer for rule, answer in user.javascript_rules.items()
                             if rule.pattern != re.escape(SHOWN_PROBE)}  # this tab is busy: it does not answer
    model = {'value': 0}
    with user.client:
        label = ui.label('')
        budget = FrameBudget(lambda: label.set_text(f"value {model['value']}"), shown_timeout=1.0)
    budget.mark()
    await eventually(lambda: budget.renders == 1)
    for value in range(1, 10):
        model['value'] = value
        budget.mark()
        await asyncio.sleep(0)
    await eventually(lambda: budget.held >= 1, message='changes while the tab is busy should be held')
    assert budget.renders == 1, 'a tab that has not shown the last render must not get another one'
    await eventually(lambda: label.text == 'value 9', message='the held changes must go once the wait runs out')
    assert budget.renders == 2, 'nine held changes go as one render'
