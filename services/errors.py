"""The REST client's errors: one mapping from HTTP answers (either envelope) to typed, showable errors.

`message` is always safe to show: it never carries the credential.
"""

from __future__ import annotations

import httpx


class ApiError(Exception):
    """Anything the user should be told; `message` is safe to show."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Unreachable(ApiError):
    pass


class AuthFailed(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class NotOffered(ApiError):
    """The route does not exist on this server (e.g. extensions on a real ApexStore)."""


class BadRequest(ApiError):
    pass


class TooLarge(BadRequest):
    """The request body is over the server's limit: refused before sending, so the server wrote nothing."""


class NotFound(ApiError):
    """The route exists but the thing does not (e.g. `{"error":"key not found"}`)."""


class ServerError(ApiError):
    pass


def _body_message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or None
    if isinstance(body, dict):
        return body.get('message') or body.get('error') or None
    return None


def raise_for(response: httpx.Response, what: str) -> None:
    """The single mapping from statuses and both envelopes to typed errors."""
    status = response.status_code
    if status < 400:
        return
    detail = _body_message(response)
    if status == 401:
        raise AuthFailed(f'{what}: the API token was refused ({detail or "missing or invalid"})', status)
    if status == 403:
        raise PermissionDenied(f'{what}: this token lacks the permission ({detail or "forbidden"})', status)
    if status == 404:
        if detail in (None, 'not found'):
            raise NotOffered(f'{what}: not offered by this server', status)
        raise NotFound(f'{what}: {detail}', status)
    if status == 413:
        raise BadRequest(f'{what}: the value is too large for the server (max 2 MiB per request)', status)
    if status == 415:
        raise BadRequest(f'{what}: the server wants JSON ({detail})', status)
    if status == 429:
        retry = response.headers.get('retry-after')
        raise ServerError(f'{what}: {detail}' if detail else f'{what}: rate limited by the server; try again '
                          + (f'in {retry} s' if retry and retry.isdigit() else 'in a minute'), status)
    if status in (503, 507) and detail:  # backpressure, storage quota: the server says what to do
        raise ServerError(f'{what}: {detail}', status)
    if status >= 500:
        raise ServerError(f'{what}: server error {status} ({detail or "no details"})', status)
    raise BadRequest(f'{what}: {detail or f"HTTP {status}"}', status)
