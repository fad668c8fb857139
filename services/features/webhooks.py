"""Client of the embedded backend's webhook and circuit-breaker routes (`/admin/webhooks`, `/admin/circuit_breakers`).

A real ApexStore has neither: every call raises `NotOffered` there. The signing secret comes back only
from create and from an edit that rotates it, never from a list.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from services.api import ApexApi, segment

EVENT_TYPES = ['key.set', 'key.delete', 'note.created', 'note.updated', 'note.deleted', 'flush', 'compact']
DEFAULT_EVENTS = ['key.set', 'key.delete']  # the Angular page's default selection
FEATURE = 'webhooks'
BreakerState = Literal['closed', 'open', 'half_open']


class Webhook(BaseModel):
    model_config = ConfigDict(extra='ignore')
    id: str
    name: str = ''
    url: str
    events: list[str] = []
    prefix: str = ''
    active: bool = True
    created_at: int | None = None
    updated_at: int | None = None
    last_triggered_at: int | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_http_status: int | None = None
    delivered: int = 0
    failed: int = 0
    attempts: int = 0
    dropped: int = 0
    pending: int = 0
    breaker_state: BreakerState = 'closed'
    max_attempts: int = 3
    backoff_ms: int = 500
    failure_threshold: int = 5
    open_secs: float = 30.0
    timeout_secs: float = 5.0


class SavedWebhook(Webhook):
    """What create (and an edit that rotates the secret) answers: the secret, this once."""
    secret: str | None = None


class WebhookList(BaseModel):
    webhooks: list[Webhook] = []
    event_types: list[str] = EVENT_TYPES


class WebhookSpec(BaseModel):
    """A create or edit form; None leaves a field as it is (edit) or to the server's default (create)."""
    name: str | None = None
    url: str | None = None
    events: list[str] | None = None
    prefix: str | None = None
    active: bool | None = None
    max_attempts: int | None = None
    backoff_ms: int | None = None
    failure_threshold: int | None = None
    open_secs: float | None = None
    timeout_secs: float | None = None


class TestResult(BaseModel):
    delivered: bool
    delivery_id: str | None = None
    http_status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    webhook: Webhook | None = None

    @property
    def message(self) -> str:
        if self.delivered:
            return f'Test webhook delivered (HTTP {self.http_status})'
        return f'Test delivery failed: {self.error or "no answer"}'


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(extra='ignore')
    delivery_id: str
    event: str
    attempt: int
    at: int
    outcome: Literal['delivered', 'retrying', 'failed']
    http_status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0


class CircuitBreaker(BaseModel):
    """The Angular `CircuitBreaker` shape, plus what the embedded backend adds (id, target, next retry)."""
    model_config = ConfigDict(extra='ignore')
    id: str | None = None
    name: str
    state: BreakerState = 'closed'
    failure_count: int = 0
    success_count: int = 0
    threshold: int = 0
    last_failure_at: int | None = None
    opened_at: int | None = None
    next_retry_at: int | None = None
    kind: str | None = None
    target: str | None = None
    last_error: str | None = None


def spec_problems(spec: WebhookSpec, creating: bool) -> dict[str, str]:
    """What is wrong with a form before it is sent, per field (the server checks the same again)."""
    problems: dict[str, str] = {}
    if creating or spec.name is not None:
        if not (spec.name or '').strip():
            problems['name'] = 'Enter a name for the webhook'
    if creating or spec.url is not None:
        problems.update({'url': problem} if (problem := url_problem((spec.url or '').strip())) else {})
    if (creating or spec.events is not None) and not spec.events:
        problems['events'] = 'Choose at least one event type'
    return problems


def url_problem(url: str) -> str | None:
    if not url:
        return 'Enter the URL to POST events to'
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return 'Enter a valid URL'
    if any(c.isspace() for c in url) or parts.scheme not in ('http', 'https') or not parts.hostname:
        return 'Enter a URL starting with http:// or https:// and a host name'
    return None


def _body(spec: WebhookSpec) -> dict[str, Any]:
    return spec.model_dump(exclude_none=True)


async def list_webhooks(api: ApexApi) -> WebhookList:
    return WebhookList.model_validate(await api.call('GET', '/admin/webhooks', 'List webhooks'))


async def create_webhook(api: ApexApi, spec: WebhookSpec) -> SavedWebhook:
    return SavedWebhook.model_validate(await api.call('POST', '/admin/webhooks', 'Create webhook', body=_body(spec)))


async def update_webhook(api: ApexApi, webhook_id: str, spec: WebhookSpec, rotate_secret: bool = False) -> SavedWebhook:
    body = {**_body(spec), **({'rotate_secret': True} if rotate_secret else {})}
    return SavedWebhook.model_validate(await api.call('PUT', f'/admin/webhooks/{segment(webhook_id)}',
                                                      'Update webhook', body=body))


async def delete_webhook(api: ApexApi, webhook_id: str) -> None:
    await api.call('DELETE', f'/admin/webhooks/{segment(webhook_id)}', 'Delete webhook')


async def test_webhook(api: ApexApi, webhook_id: str) -> TestResult:
    return TestResult.model_validate(await api.call('POST', f'/admin/webhooks/{segment(webhook_id)}/test',
                                                    'Test webhook', body={}))


async def deliveries(api: ApexApi, webhook_id: str) -> list[DeliveryAttempt]:
    data = await api.call('GET', f'/admin/webhooks/{segment(webhook_id)}/deliveries', 'Recent deliveries')
    return [DeliveryAttempt.model_validate(item) for item in data.get('deliveries', [])]


async def circuit_breakers(api: ApexApi) -> list[CircuitBreaker]:
    data = await api.call('GET', '/admin/circuit_breakers', 'List circuit breakers')
    return [CircuitBreaker.model_validate(item) for item in data.get('circuit_breakers', [])]


async def reset_breaker(api: ApexApi, breaker_id: str) -> CircuitBreaker:
    return CircuitBreaker.model_validate(await api.call(
        'POST', f'/admin/circuit_breakers/{segment(breaker_id)}/reset', 'Reset circuit breaker', body={}))


def webhook_of(data: dict[str, Any]) -> Webhook | None:
    """The webhook a `webhooks` feature event carries (delivery, breaker, changed), if any."""
    raw = data.get('webhook')
    return Webhook.model_validate(raw) if isinstance(raw, dict) else None


def breaker_of(data: dict[str, Any]) -> CircuitBreaker | None:
    raw = data.get('breaker')
    return CircuitBreaker.model_validate(raw) if isinstance(raw, dict) else None
