"""Webhooks and their circuit breakers (Angular `/webhooks` and `/resilience`), all Admin only.

On every matching store change (key prefix, event types) the backend POSTs the event as JSON to the
webhook's URL, signed with `X-Apex-Signature: sha256=<HMAC-SHA256(secret, body)>`, with retries and
exponential backoff, behind a per-webhook circuit breaker (see `_webhook_delivery.py`). Answers use
the legacy envelope `{success, message, data}` the Angular client reads; errors carry both `message`
and `error`. Any http(s) URL is allowed, loopback included (tests need it): a production deployment
would restrict targets (see docs/extensions/webhooks.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import ApiError, backend_of, legacy, read_body, require
from ..tokens import Permission
from ._webhook_delivery import WebhookService
from ._webhook_model import EVENT_TYPES, Webhook, WebhookSettings

FEATURE = 'webhooks'
LIMITS: dict[str, tuple[float, float]] = {  # field -> (min, max)
    'max_attempts': (1, 10), 'backoff_ms': (10, 60_000), 'failure_threshold': (1, 100),
    'open_secs': (1, 3600), 'timeout_secs': (0.5, 60),
}
MAX_URL = 2048
MAX_NAME = 100
MAX_PREFIX = 1024


class WebhookBody(BaseModel):
    """Create (`url` and `events` required, as the Angular page sends them) or edit (any subset)."""
    model_config = ConfigDict(extra='forbid')
    name: StrictStr | None = None
    url: StrictStr | None = None
    events: list[StrictStr] | None = None
    prefix: StrictStr | None = None
    active: StrictBool | None = None
    max_attempts: StrictInt | None = None
    backoff_ms: StrictInt | None = None
    failure_threshold: StrictInt | None = None
    open_secs: StrictInt | StrictFloat | None = None
    timeout_secs: StrictInt | StrictFloat | None = None
    rotate_secret: StrictBool = False


def bad(status: int, message: str) -> ApiError:
    """Both readers find the reason: the Angular page reads `message`, plain clients `error`."""
    return ApiError(status, {'success': False, 'message': message, 'error': message})


def service(request: Request) -> WebhookService:
    return backend_of(request).feature_state(FEATURE, lambda: WebhookService(backend_of(request)))


def check_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise bad(400, 'url: enter the URL to POST events to')
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad(400, f'url: must be one http(s) URL without spaces, at most {MAX_URL} characters')
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise bad(400, 'url: not a valid URL') from None
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise bad(400, 'url: must start with http:// or https:// and name a host')
    if parts.username is not None or parts.password is not None:
        raise bad(400, 'url: must not contain credentials (user:password@); receivers check X-Apex-Signature')
    return url


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise bad(400, 'events: choose at least one event type')
    for name in events:
        if name == 'key.get':
            raise bad(400, 'events: key.get is not supported: reads are not events on this server')
        if name not in EVENT_TYPES:
            raise bad(400, f'events: unknown event type {name!r} (supported: {", ".join(EVENT_TYPES)})')
    return list(dict.fromkeys(events))


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise bad(400, 'name: must not be empty')
    if len(name) > MAX_NAME:
        raise bad(400, f'name: at most {MAX_NAME} characters')
    return name


def changes_of(body: WebhookBody) -> dict[str, Any]:
    """The validated fields the body sets, with clear reasons for anything wrong."""
    changes: dict[str, Any] = {}
    if body.url is not None:
        changes['url'] = check_url(body.url)
    if body.events is not None:
        changes['events'] = check_events(body.events)
    if body.name is not None:
        changes['name'] = check_name(body.name)
    if body.prefix is not None:
        if len(body.prefix) > MAX_PREFIX:
            raise bad(400, f'prefix: at most {MAX_PREFIX} characters')
        changes['prefix'] = body.prefix
    if body.active is not None:
        changes['active'] = body.active
    for name, (low, high) in LIMITS.items():
        value = getattr(body, name)
        if value is not None:
            if not low <= value <= high:
                raise bad(400, f'{name}: must be between {low:g} and {high:g}')
            changes[name] = value
    return changes


def hook_of(request: Request) -> Webhook:
    hook = service(request).hooks.get(request.path_params['webhook_id'])
    if hook is None:
        raise bad(404, 'webhook not found')
    return hook


async def read_changes(request: Request) -> tuple[WebhookBody, dict[str, Any]]:
    body = await read_body(request, WebhookBody, backend_of(request).config.max_body_bytes)
    return body, changes_of(body)


# -- webhooks --------------------------------------------------------------------------------------
async def list_webhooks(request: Request):
    require(request, Permission.Admin)
    svc = service(request)
    hooks = sorted(svc.hooks.values(), key=lambda h: h.created_at)
    return legacy(f'{len(hooks)} webhooks', {'webhooks': [svc.view(h) for h in hooks],
                                             'event_types': list(EVENT_TYPES)})


async def create_webhook(request: Request):
    require(request, Permission.Admin)
    body, changes = await read_changes(request)
    if body.url is None:
        raise bad(400, 'url: enter the URL to POST events to')
    if body.events is None:
        raise bad(400, 'events: choose at least one event type')
    changes.setdefault('name', urlsplit(changes['url']).hostname or 'webhook')  # the Angular page sends no name
    svc = service(request)
    hook, secret = svc.create(WebhookSettings(**changes))
    return legacy('Webhook created; copy the signing secret now, it is not shown again',
                  {**svc.view(hook), 'secret': secret})


async def get_webhook(request: Request):
    require(request, Permission.Admin)
    return legacy('Webhook found', service(request).view(hook_of(request)))


async def update_webhook(request: Request):
    require(request, Permission.Admin)
    hook = hook_of(request)
    body, changes = await read_changes(request)
    svc = service(request)
    secret = svc.update(hook, changes, body.rotate_secret)
    data = svc.view(hook)
    if secret is not None:
        data['secret'] = secret
    return legacy('Webhook updated' + ('; copy the new signing secret now' if secret else ''), data)


async def delete_webhook(request: Request):
    require(request, Permission.Admin)
    service(request).delete(hook_of(request))
    return legacy('Webhook deleted')


async def test_webhook(request: Request):
    """One real POST now; 200 either way, `data.delivered` says whether the receiver took it."""
    require(request, Permission.Admin)
    hook = hook_of(request)
    svc = service(request)
    if svc.client is None:
        raise bad(503, 'the webhook worker is not running')
    delivery, result = await svc.test(hook)
    message = f'Test webhook delivered (HTTP {result.http_status})' if result.ok \
        else f'Test delivery failed: {result.error}'
    return legacy(message, {'delivered': result.ok, 'delivery_id': delivery.id, 'http_status': result.http_status,
                            'error': result.error, 'duration_ms': round(result.duration_ms, 1),
                            'webhook': svc.view(hook)})


async def list_deliveries(request: Request):
    require(request, Permission.Admin)
    hook = hook_of(request)
    found = service(request).deliveries(hook.id)
    return legacy(f'{len(found)} recent attempts', {'deliveries': found})


# -- circuit breakers ------------------------------------------------------------------------------
async def list_breakers(request: Request):
    require(request, Permission.Admin)
    hooks = sorted(service(request).hooks.values(), key=lambda h: h.created_at)
    return legacy(f'{len(hooks)} circuit breakers', {'circuit_breakers': [h.breaker_view() for h in hooks]})


async def reset_breaker(request: Request):
    require(request, Permission.Admin)
    hook = service(request).hooks.get(request.path_params['breaker_id'])
    if hook is None:
        raise bad(404, 'circuit breaker not found')
    service(request).reset(hook)
    return legacy('Circuit breaker reset', hook.breaker_view())


def install(backend) -> None:
    svc = backend.feature_state(FEATURE, lambda: WebhookService(backend))
    backend.feature_tasks.append(svc.run)
    backend.write_guards.append(svc.note_guard)


routes = [
    Route('/admin/webhooks', list_webhooks, methods=['GET']),
    Route('/admin/webhooks', create_webhook, methods=['POST']),
    Route('/admin/webhooks/{webhook_id}', get_webhook, methods=['GET']),
    Route('/admin/webhooks/{webhook_id}', update_webhook, methods=['PUT']),
    Route('/admin/webhooks/{webhook_id}', delete_webhook, methods=['DELETE']),
    Route('/admin/webhooks/{webhook_id}/test', test_webhook, methods=['POST']),
    Route('/admin/webhooks/{webhook_id}/deliveries', list_deliveries, methods=['GET']),
    Route('/admin/circuit_breakers', list_breakers, methods=['GET']),
    Route('/admin/circuit_breakers/{breaker_id}/reset', reset_breaker, methods=['POST']),
]
