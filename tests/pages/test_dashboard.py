"""Dashboard: stats cards, write/read, history — and stats, chart and feed that move by themselves."""

from __future__ import annotations

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


async def test_the_dashboard_shows_the_four_stat_cards_and_goes_live(console_backend, user: User):
    await sign_in(user)
    await user.should_see('MemTable')
    await user.should_see('Disk Usage')
    await user.should_see('No operations yet. Try writing or reading some keys.')
    await eventually(lambda: badge_state(user) == 'connected', message='badge never said Live')
    assert element(user, 'connection-badge').text.startswith('Live')


async def test_writing_and_reading_a_key_records_history(console_backend, user: User):
    await sign_in(user)
    user.find(marker='write-key').type('user:1')
    user.find(marker='write-value').type('John Doe')
    user.find(marker='write-button').click()
    await user.should_see('Key "user:1" written successfully!')
    user.find(marker='read-key').type('user:1')
    user.find(marker='read-button').click()
    await user.should_see('Key found!')
    assert element(user, 'read-result').text == 'John Doe'
    user.find(marker='read-key').clear().type('nope')
    user.find(marker='read-button').click()
    await eventually(lambda: element(user, 'read-result').text == 'Key not found')


async def test_another_clients_writes_move_stats_feed_and_chart(console_backend, user: User):
    await sign_in(user)
    await eventually(lambda: badge_state(user) == 'connected')
    with admin_client(console_backend) as other:
        other.post('/keys/batch', json={'records': [{'key': f'live:{i}', 'value': 'x'} for i in range(25)]})
    await eventually(lambda: element(user, 'card-keys').value == '25', message='Total Keys did not follow the writes')
    feed = element(user, 'change-feed')
    await eventually(lambda: feed.items and feed.items[0].subject == 'live:24', message='feed did not show the writes')
    assert len(feed.items) == 25 and feed.pushes <= 3, 'the feed should get the new items, in few pushes'
    chart = element(user, 'throughput-chart')
    await eventually(lambda: sum(chart.options['series'][0]['data']) == 25, message='chart did not count the puts')


async def test_a_key_named_like_html_is_shown_as_text(console_backend, user: User):
    await sign_in(user)
    await eventually(lambda: badge_state(user) == 'connected')
    evil = '<img src=x onerror=alert(1)>'
    with admin_client(console_backend) as other:
        other.post('/keys', json={'key': evil, 'value': '<b>bold</b>'})
    feed = element(user, 'change-feed')
    await eventually(lambda: feed.items and feed.items[0].subject == evil)  # drawn as text: see tests/browser
