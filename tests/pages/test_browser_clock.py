"""Times and numbers as the user's browser reads them: its timezone and language, never the server's."""

from __future__ import annotations

import time

from nicegui.testing import User

from components import clock
from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


async def test_a_tokyo_browser_sees_token_dates_in_its_own_zone_with_how_long_ago(console_backend, user: User):
    with admin_client(console_backend) as api:
        api.post('/admin/tokens', json={'name': 'ci-reader', 'permissions': ['Read']})
    user.http_client.cookies.set(clock.TZ_COOKIE, 'Asia/Tokyo')
    user.http_client.cookies.set(clock.LOCALE_COOKIE, 'de-DE')
    await sign_in(user, next_page='/admin')

    def created() -> str:
        rows = [r for r in element(user, 'token-table').rows if r['name'] == 'ci-reader']
        return rows[0]['created'] if rows else ''

    await eventually(lambda: 'JST' in created(), message='dates should be in the browser\'s timezone')
    assert created()[:4].isdigit() and created()[4] == '-', 'dates read year-month-day in every locale'


def test_a_forged_timezone_cookie_falls_back_to_the_servers_zone():
    assert clock._zone('../../etc/passwd') is None
    assert clock._zone('Europe/Berlin') is not None
    assert clock._locale('not a locale!').language == 'en'


def test_numbers_and_ages_follow_the_locale():
    assert clock.format_decimal(1234567, locale=clock._locale('de-DE')) == '1.234.567'
    assert clock.format_decimal(1234567, locale=clock._locale('en-US')) == '1,234,567'
    assert clock.ago(time.time() - 180) == '3 minutes ago'  # outside a page: English
