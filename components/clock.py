"""Times and numbers as the browser's user reads them: their timezone and locale, not the server's.

The browser tells its timezone and language once, in a cookie set by a tiny script on every page
(`BROWSER_CLOCK_SCRIPT`, added by main.py); everything here formats for the client being built or
updated (NiceGUI's context). Without the cookie (the very first page a browser opens) the server's
timezone and English are used. Dates are unambiguous (ISO order plus the zone), ages read "3 minutes ago".
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_timedelta
from babel.numbers import format_decimal
from nicegui import context

TZ_COOKIE = 'console_tz'
LOCALE_COOKIE = 'console_locale'
BROWSER_CLOCK_SCRIPT = f'''<script>
(() => {{
  const set = (name, value) => {{
    document.cookie = name + "=" + encodeURIComponent(value) + ";path=/;max-age=31536000;SameSite=Lax";
  }};
  try {{ set("{TZ_COOKIE}", Intl.DateTimeFormat().resolvedOptions().timeZone || ""); }} catch (e) {{}}
  set("{LOCALE_COOKIE}", navigator.language || "en");
}})();
</script>'''


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo | None:
    if name not in _zones():
        return None  # never trust a cookie: only IANA names the system knows
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace('-', '_'))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale('en')


def _cookie(name: str) -> str:
    try:
        request = context.client.request
    except RuntimeError:  # outside any page (a background job): the server's defaults
        return ''
    return (request.cookies.get(name, '') if request is not None else '')[:64]


def browser_zone() -> dt.tzinfo:
    return _zone_or_servers(_cookie(TZ_COOKIE))


def _zone_or_servers(name: str) -> dt.tzinfo:
    """The named zone if the system knows it, else the server's own (a first visit, a forged cookie)."""
    return _zone(name) or dt.datetime.now().astimezone().tzinfo or dt.UTC


def browser_locale() -> Locale:
    return _locale(_cookie(LOCALE_COOKIE) or 'en')


def _local(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, browser_zone())


def clock_time(at: float | None = None) -> str:
    """`14:05:09`: for feeds and logs of the last minutes (the date is today).

    Every live row and feed item is stamped, in every open tab: the text is made once per second and zone.
    """
    return _clock_text(int(time.time() if at is None else at), _cookie(TZ_COOKIE))


@functools.lru_cache(maxsize=256)
def _clock_text(second: int, zone_name: str) -> str:
    return dt.datetime.fromtimestamp(second, _zone_or_servers(zone_name)).strftime('%H:%M:%S')


def date_time(at: float) -> str:
    """`2026-11-27 14:05:09 CET`: unambiguous in every locale."""
    return _local(at).strftime('%Y-%m-%d %H:%M:%S %Z').strip()


def ago(at: float, now: float | None = None) -> str:
    """`3 minutes ago` / `in 2 hours`, in the browser's language."""
    delta = dt.timedelta(seconds=at - (time.time() if now is None else now))
    if abs(delta.total_seconds()) < 5:
        return 'just now'
    return format_timedelta(delta, add_direction=True, locale=browser_locale())


def when(at: float, now: float | None = None) -> str:
    """`2026-11-27 14:05:09 CET (3 minutes ago)`."""
    return f'{date_time(at)} ({ago(at, now)})'


def number(value: float | int, digits: int | None = None) -> str:
    """`12,345` / `12.345` / `12 345` as the browser's locale writes it."""
    pattern = None if digits is None else '#,##0.' + '0' * digits if digits else '#,##0'
    return format_decimal(value, format=pattern, locale=browser_locale())
