"""Webhook definitions, event mapping, signing and one delivery attempt (used by `_webhook_delivery.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from ..events import Event
from ..storage import DEFAULT_CF

log = logging.getLogger(__name__)

EVENT_TYPES = ('key.set', 'key.delete', 'note.created', 'note.updated', 'note.deleted', 'flush', 'compact')
NOTE_PREFIX = 'note:'
USER_AGENT = 'ApexStore-Webhooks/1.0'
BreakerState = Literal['closed', 'open', 'half_open']


class WebhookSettings(BaseModel):
    """What an admin sets (validated by the routes)."""
    name: str
    url: str
    events: list[str]
    prefix: str = ''
    active: bool = True
    max_attempts: int = 3
    backoff_ms: int = 500
    failure_threshold: int = 5
    open_secs: float = 30.0
    timeout_secs: float = 5.0


class Breaker(BaseModel):
    state: BreakerState = 'closed'
    failure_count: int = 0  # failed attempts in a row
    success_count: int = 0
    last_failure_at: int | None = None
    opened_at: int | None = None
    next_retry_at: int | None = None


class Webhook(WebhookSettings):
    id: str
    secret: str
    created_at: int
    updated_at: int
    last_triggered_at: int | None = None
    last_status: Literal['success', 'failed', 'retrying'] | None = None
    last_error: str | None = None
    last_http_status: int | None = None
    delivered: int = 0
    failed: int = 0
    attempts: int = 0
    dropped: int = 0
    breaker: Breaker = Field(default_factory=Breaker)

    def public(self, pending: int = 0) -> dict[str, Any]:
        """The webhook as every route shows it: never the secret."""
        return {**self.model_dump(exclude={'secret', 'breaker'}), 'pending': pending,
                'breaker_state': self.breaker.state}

    def breaker_view(self) -> dict[str, Any]:
        """The Angular `CircuitBreaker` shape plus what the Resilience page shows."""
        return {'id': self.id, 'name': f'webhook:{self.name}', 'kind': 'webhook', 'target': self.url,
                'threshold': self.failure_threshold, 'open_secs': self.open_secs, 'last_error': self.last_error,
                **self.breaker.model_dump()}


@dataclass
class Delivery:
    id: str
    event: str
    body: bytes


@dataclass
class Attempt:
    ok: bool
    retryable: bool
    http_status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0


def sign(secret: str, body: bytes) -> str:
    """The `X-Apex-Signature` value: `sha256=` + hex HMAC-SHA256 of the exact body bytes."""
    return 'sha256=' + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_secret() -> str:
    return 'whsec_' + secrets.token_urlsafe(32)


def event_names(event: Event, note_put: str = 'note.updated') -> list[str]:
    """The webhook event types a bus event is, most specific first (`note.created` before `key.set`)."""
    payload = event.payload
    if event.type == 'compaction_status':
        if payload.get('status') not in ('completed', 'failed'):
            return []
        return ['flush'] if payload.get('kind') == 'flush' else ['compact']
    if event.type != 'key_change':
        return []
    is_note = payload.get('cf') == DEFAULT_CF and str(payload.get('key', '')).startswith(NOTE_PREFIX) \
        and payload.get('operation') != 'delete_prefix'
    if payload.get('operation') == 'put':
        return [note_put, 'key.set'] if is_note else ['key.set']
    return ['note.deleted', 'key.delete'] if is_note else ['key.delete']


def event_data(event: Event) -> dict[str, Any]:
    data = {k: v for k, v in event.payload.items() if k != 'timestamp'}
    if event.type == 'key_change' and str(data.get('key', '')).startswith(NOTE_PREFIX):
        data['path'] = data['key'][len(NOTE_PREFIX):]
    return data


def body_of(delivery_id: str, name: str, webhook_id: str, timestamp: int, data: dict[str, Any]) -> bytes:
    return json.dumps({'id': delivery_id, 'event': name, 'webhook_id': webhook_id, 'timestamp': timestamp,
                       'data': data}, ensure_ascii=False, separators=(',', ':')).encode()


async def post(client: httpx.AsyncClient, hook: Webhook, delivery: Delivery, attempt: int) -> Attempt:
    """One POST, bounded in total time; the answer's body is never read beyond a short excerpt."""
    headers = {'Content-Type': 'application/json', 'User-Agent': USER_AGENT, 'X-Apex-Event': delivery.event,
               'X-Apex-Delivery': delivery.id, 'X-Apex-Attempt': str(attempt),
               'X-Apex-Signature': sign(hook.secret, delivery.body)}
    started = time.monotonic()
    try:
        async with asyncio.timeout(hook.timeout_secs):
            async with client.stream('POST', hook.url, content=delivery.body, headers=headers,
                                          timeout=hook.timeout_secs) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return Attempt(True, False, status, None, _ms(started))
                excerpt = await _excerpt(response)
        error = f'HTTP {status}' + (f': {excerpt}' if excerpt else '')
        return Attempt(False, status >= 500 or status in (408, 429), status, error, _ms(started))
    except (TimeoutError, httpx.TimeoutException):
        return Attempt(False, True, None, f'timed out after {hook.timeout_secs:g}s', _ms(started))
    except httpx.ConnectError as exc:
        return Attempt(False, True, None, f'cannot connect: {exc or "connection refused"}', _ms(started))
    except httpx.HTTPError as exc:
        return Attempt(False, True, None, f'{type(exc).__name__}: {exc}'[:300], _ms(started))
    except (httpx.InvalidURL, ValueError) as exc:
        return Attempt(False, False, None, f'invalid URL: {exc}'[:300], _ms(started))
    except Exception as exc:  # noqa: BLE001 - whatever a receiver does, the sender must live on
        log.warning('webhook %s: delivery failed unexpectedly: %r', hook.id, exc)
        return Attempt(False, True, None, f'{type(exc).__name__}: {exc}'[:300], _ms(started))


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


async def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    """At most `limit` bytes of an error answer, as text (a receiver may send anything, of any size)."""
    chunk = b''
    with contextlib.suppress(httpx.HTTPError):
        async for part in response.aiter_raw():
            chunk += part
            if len(chunk) >= limit:
                break
    return chunk[:limit].decode(errors='replace').strip()
