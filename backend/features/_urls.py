"""URL checks shared by the features that call other servers (Pub/Sub push endpoints, sync job targets).

A URL that reaches this backend's HTTP client must be plain http(s) to a named host: no credentials in
it (they belong in a token field that is never echoed), no fragment, nothing a header could be split on.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_CHARS = 2048


def url_problem(url: str, *, allow_query: bool = True) -> str | None:
    """Why `url` cannot be called, or None when it is a usable http(s) URL."""
    if not url:
        return 'must not be empty'
    if len(url) > MAX_URL_CHARS:
        return f'is longer than {MAX_URL_CHARS} characters'
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return 'must not contain spaces or control characters'
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        return 'is not a valid URL'
    if parts.scheme not in ('http', 'https'):
        return 'must start with http:// or https://'
    if not parts.hostname:
        return 'must name a host'
    if parts.username is not None or parts.password is not None:
        return 'must not contain credentials (user:password@); use the token field'
    if port == 0:
        return 'has an invalid port'
    if parts.fragment or url.endswith('#'):
        return 'must not contain a #fragment'
    if not allow_query and (parts.query or url.endswith('?')):
        return 'must not contain a ?query'
    return None
