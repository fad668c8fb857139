"""Per-token quotas: requests, reads and writes per minute, a daily request budget, and stored bytes.

Rates are counted in a sliding minute (60 one-second buckets) by a request guard: over a limit the
request gets 429 with `Retry-After`; a refused request does not count. Storage is the bytes (key plus
value) of the live keys a token wrote since its quota exists and the server started: a write guard
counts them before the write and refuses with 507 when a write would go over the limit, so nothing is
written. Overwrites and deletes give bytes back to whoever wrote the key (deletes by prefix, expiry
and restores are followed on the event bus while any quota exists).

The quota routes themselves and the policy routes are never rate limited, so an admin can always
undo a quota. Tokens without a quota cost a dict lookup. Documented in docs/extensions/quotas.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictStr, TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..events import EventFilter
from ..http import backend_of, current_token, legacy, plain_error, read_body, require
from ..storage import now_ns
from ..tokens import ApiToken, Permission

log = logging.getLogger(__name__)
FEATURE = 'quotas'
STORE_KEY = b'quotas'
MUTATING = {'POST', 'PUT', 'PATCH', 'DELETE'}
EXEMPT = ('/admin/quotas', '/admin/policies')  # an admin can always undo a quota
WINDOW_SECS = 60
PUBLISH_SECS = 1.0
LIMIT_MAX = 10**12


class QuotaBody(BaseModel):
    tenant: StrictStr = Field(min_length=1, max_length=200)  # the token's id
    description: StrictStr = Field(default='', max_length=500)
    max_requests_per_min: int | None = Field(default=None, ge=0, le=LIMIT_MAX)
    max_reads_per_min: int | None = Field(default=None, ge=0, le=LIMIT_MAX)
    max_writes_per_min: int | None = Field(default=None, ge=0, le=LIMIT_MAX)
    max_storage_bytes: int | None = Field(default=None, ge=0, le=LIMIT_MAX * 1024)
    max_budget_per_day: int | None = Field(default=None, ge=0, le=LIMIT_MAX)
    active: StrictBool = True


class Quota(QuotaBody):
    id: str
    created_at: int
    updated_at: int


class MinuteCounter:
    """Events in the last minute, in one-second buckets: bounded memory whatever the rate."""

    def __init__(self) -> None:
        self.counts = [0] * WINDOW_SECS
        self.stamps = [-WINDOW_SECS] * WINDOW_SECS

    def total(self, now: int) -> int:
        return sum(c for c, s in zip(self.counts, self.stamps, strict=True) if now - s < WINDOW_SECS)

    def add(self, now: int) -> None:
        slot = now % WINDOW_SECS
        if self.stamps[slot] != now:
            self.stamps[slot], self.counts[slot] = now, 0
        self.counts[slot] += 1

    def retry_after(self, now: int) -> int:
        """Seconds until the oldest counted second leaves the window."""
        live = [s for c, s in zip(self.counts, self.stamps, strict=True) if c and now - s < WINDOW_SECS]
        return max(1, min(live) + WINDOW_SECS - now) if live else 1


@dataclass
class Usage:
    requests: MinuteCounter = field(default_factory=MinuteCounter)
    reads: MinuteCounter = field(default_factory=MinuteCounter)
    writes: MinuteCounter = field(default_factory=MinuteCounter)
    budget_day: int = 0
    budget_used: int = 0
    storage_bytes: int = 0
    rejected_rate: int = 0
    rejected_storage: int = 0

    def today(self, day: int) -> int:
        if self.budget_day != day:
            self.budget_day, self.budget_used = day, 0
        return self.budget_used

    def snapshot(self, now: int, day: int) -> dict[str, int]:
        return {'requests_per_min': self.requests.total(now), 'reads_per_min': self.reads.total(now),
                'writes_per_min': self.writes.total(now), 'budget_used': self.today(day),
                'storage_bytes': self.storage_bytes, 'rejected_rate': self.rejected_rate,
                'rejected_storage': self.rejected_storage}


def utc_day() -> int:
    return int(time.time() // 86_400)


def stored_size(key: str, value: str) -> int:
    return len(key.encode()) + len(value.encode())


class Quotas:
    def __init__(self, backend) -> None:
        self.backend = backend
        self.items: dict[str, Quota] = {}
        self.by_token: dict[str, Quota] = {}  # active quotas by token id (what the guards look at)
        self.usage: dict[str, Usage] = {}
        self.owners: dict[tuple[str, str], tuple[str, int]] = {}  # (cf, key) -> (token id, bytes) of quota'd tokens
        raw = backend.store.system_get(STORE_KEY)
        if raw:
            try:
                self._set(TypeAdapter(list[Quota]).validate_json(raw))
            except ValueError as exc:
                log.error('stored quotas are unreadable (%s); starting with none', exc)

    def _set(self, quotas: list[Quota]) -> None:
        self.items = {q.id: q for q in quotas}
        self.by_token = {q.tenant: q for q in quotas if q.active}
        for owner in {o for o, _ in self.owners.values()} - set(self.by_token):  # no longer counted
            self.forget(owner)

    def replace(self, quotas: list[Quota]) -> None:
        self._set(quotas)
        self.backend.store.system_put(STORE_KEY, json.dumps([q.model_dump(mode='json') for q in quotas]).encode())

    def usage_of(self, token_id: str) -> Usage:
        usage = self.usage.get(token_id)
        if usage is None:
            usage = self.usage[token_id] = Usage()
        return usage

    def forget(self, token_id: str) -> None:
        self.owners = {k: v for k, v in self.owners.items() if v[0] != token_id}
        self.usage_of(token_id).storage_bytes = 0

    def release(self, cf: str, key: str) -> None:
        owned = self.owners.pop((cf, key), None)
        if owned is not None:
            usage = self.usage_of(owned[0])
            usage.storage_bytes = max(0, usage.storage_bytes - owned[1])

    def release_prefix(self, cf: str, prefix: str) -> None:
        for owned_cf, key in [k for k in self.owners if k[0] == cf and k[1].startswith(prefix)]:
            self.release(owned_cf, key)

    def reset_storage(self) -> None:
        self.owners.clear()
        for usage in self.usage.values():
            usage.storage_bytes = 0

    def snapshot(self) -> dict[str, dict[str, int]]:
        now, day = int(time.monotonic()), utc_day()
        return {q.id: self.usage_of(q.tenant).snapshot(now, day) for q in self.items.values()}


def state_of(backend) -> Quotas:
    return backend.feature_state(FEATURE, lambda: Quotas(backend))


def too_many(message: str, retry_after: int) -> JSONResponse:
    return JSONResponse({'error': message, 'status': 429}, status_code=429, headers={'Retry-After': str(retry_after)})


def rate_guard(state: Quotas, scope: dict, token: ApiToken | None) -> Response | None:
    quota = state.by_token.get(token.id) if token is not None else None
    if quota is None or token is None or scope['path'].startswith(EXEMPT):
        return None
    usage = state.usage_of(token.id)
    now = int(time.monotonic())
    is_write = scope['type'] == 'http' and scope.get('method') in MUTATING
    kind, counter, limit = ('writes', usage.writes, quota.max_writes_per_min) if is_write else \
        ('reads', usage.reads, quota.max_reads_per_min)
    for label, window, cap in (('requests', usage.requests, quota.max_requests_per_min), (kind, counter, limit)):
        if cap is not None and window.total(now) >= cap:
            usage.rejected_rate += 1
            retry = window.retry_after(now)
            return too_many(f"quota exceeded for token '{token.name}': {cap} {label} per minute; "
                            f'retry in {retry} s', retry)
    day = utc_day()
    if quota.max_budget_per_day is not None and usage.today(day) >= quota.max_budget_per_day:
        usage.rejected_rate += 1
        retry = int((day + 1) * 86_400 - time.time()) + 1
        return too_many(f"quota exceeded for token '{token.name}': the daily budget of {quota.max_budget_per_day} "
                        'requests is used up; it renews at 00:00 UTC', retry)
    usage.requests.add(now)
    counter.add(now)
    usage.budget_used += 1
    return None


def storage_guard(state: Quotas, cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
    if not state.by_token and not state.owners:
        return
    token = current_token()
    quota = state.by_token.get(token.id) if token is not None else None
    if quota is not None and token is not None and quota.max_storage_bytes is not None:
        usage = state.usage_of(token.id)
        delta = sum(stored_size(k, v) for k, v, _ in items if v is not None)
        delta -= sum(state.owners[(cf, k)][1] for k, _, _ in items
                     if state.owners.get((cf, k), ('', 0))[0] == token.id)
        if delta > 0 and usage.storage_bytes + delta > quota.max_storage_bytes:
            usage.rejected_storage += 1
            left = max(0, quota.max_storage_bytes - usage.storage_bytes)
            raise plain_error(507, f"storage quota exceeded for token '{token.name}': this write needs {delta:,} "
                                   f'more bytes, {left:,} of {quota.max_storage_bytes:,} bytes are left; '
                                   'nothing was written')
    for key, value, _ in items:
        state.release(cf, key)
        if value is not None and quota is not None and token is not None:
            size = stored_size(key, value)
            state.owners[(cf, key)] = (token.id, size)
            state.usage_of(token.id).storage_bytes += size


async def follow_deletions(state: Quotas) -> None:
    """While quotas exist: give back the bytes of keys deleted by prefix, expired, or rewound by a restore."""
    bus = state.backend.bus
    wanted = EventFilter(frozenset({'delete', 'delete_prefix', 'resync_required'}))
    while True:
        while not state.by_token:
            await asyncio.sleep(PUBLISH_SECS)
        sub = bus.subscribe(wanted)
        try:
            while state.by_token:
                try:
                    kind, event = await asyncio.wait_for(sub.next(), PUBLISH_SECS)
                except TimeoutError:
                    continue
                if kind == 'closed':
                    return
                if kind == 'lag':
                    log.warning('quota storage accounting missed deletions (%s events)', event)
                if kind != 'event' or not hasattr(event, 'payload'):
                    continue
                payload = event.payload
                if event.type == 'resync_required':
                    state.reset_storage()
                elif payload.get('operation') == 'delete_prefix':
                    state.release_prefix(payload.get('cf', 'default'), payload.get('key', ''))
                elif payload.get('operation') == 'delete':
                    state.release(payload.get('cf', 'default'), payload.get('key', ''))
        finally:
            bus.unsubscribe(sub)


async def publish_usage(state: Quotas) -> None:
    """A `quotas/usage` event each second while usage changes (rates also fall as the minute slides)."""
    last: dict[str, Any] = {}
    while True:
        await asyncio.sleep(PUBLISH_SECS)
        if not state.items:
            last = {}
            continue
        snapshot = state.snapshot()
        if snapshot != last:
            last = snapshot
            state.backend.publish_feature(FEATURE, 'usage', {'usage': snapshot})


def install(backend) -> None:
    state = state_of(backend)

    def write_guard(cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        storage_guard(state, cf, items)

    async def count_last() -> None:
        """Run after every other write guard (installed later): none of them may refuse a write it counted."""
        backend.write_guards.remove(write_guard)
        backend.write_guards.append(write_guard)

    backend.request_guards.append(lambda scope, token: rate_guard(state, scope, token) if state.by_token else None)
    backend.write_guards.append(write_guard)
    backend.feature_tasks.extend([count_last, lambda: follow_deletions(state), lambda: publish_usage(state)])


# -- routes ----------------------------------------------------------------------------------------
def _public(state: Quotas, quota: Quota) -> dict[str, Any]:
    token = state.backend.tokens.get(quota.tenant)
    usage = state.usage_of(quota.tenant).snapshot(int(time.monotonic()), utc_day())
    return {**quota.model_dump(mode='json'), 'token_name': token.name if token else None,
            'current_budget_used': usage['budget_used'], 'usage': usage}


def _validated(request: Request, body: QuotaBody, own_id: str | None = None) -> QuotaBody:
    state = state_of(backend_of(request))
    tenant = body.tenant.strip()
    if state.backend.tokens.get(tenant) is None:
        raise plain_error(400, f"no token with id '{tenant}': a quota belongs to an existing token")
    if any(q.tenant == tenant and q.id != own_id for q in state.items.values()):
        raise plain_error(409, 'this token already has a quota: edit that one')
    return body.model_copy(update={'tenant': tenant, 'description': body.description.strip()})


def _changed(request: Request, quotas: list[Quota], event: str, quota: Quota) -> None:
    backend = backend_of(request)
    state_of(backend).replace(quotas)
    backend.publish_feature(FEATURE, event, {'id': quota.id, 'tenant': quota.tenant})


async def list_quotas(request: Request):
    require(request, Permission.Admin)
    state = state_of(backend_of(request))
    quotas = sorted(state.items.values(), key=lambda q: q.created_at)
    return legacy('Quotas listed', {'quotas': [_public(state, q) for q in quotas]})


async def create_quota(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = _validated(request, await read_body(request, QuotaBody, backend.config.max_body_bytes))
    now = now_ns()
    quota = Quota(**body.model_dump(), id=str(uuid.uuid4()), created_at=now, updated_at=now)
    state = state_of(backend)
    _changed(request, [*state.items.values(), quota], 'created', quota)
    return legacy('Quota created successfully', _public(state, quota))


def _existing(request: Request) -> Quota:
    quota = state_of(backend_of(request)).items.get(request.path_params['quota_id'])
    if quota is None:
        raise plain_error(404, 'quota not found')
    return quota


async def update_quota(request: Request):
    """The whole quota (the Angular client sends the row back, read-only fields included: they are ignored)."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    old = _existing(request)
    body = _validated(request, await read_body(request, QuotaBody, backend.config.max_body_bytes), old.id)
    if body.tenant != old.tenant:
        raise plain_error(400, 'the token of a quota cannot be changed: delete it and create another')
    quota = Quota(**body.model_dump(), id=old.id, created_at=old.created_at, updated_at=now_ns())
    state = state_of(backend)
    _changed(request, [quota if q.id == old.id else q for q in state.items.values()], 'updated', quota)
    return legacy('Quota updated successfully', _public(state, quota))


async def delete_quota(request: Request):
    require(request, Permission.Admin)
    old = _existing(request)
    state = state_of(backend_of(request))
    _changed(request, [q for q in state.items.values() if q.id != old.id], 'deleted', old)
    state.usage.pop(old.tenant, None)
    return legacy('Quota deleted successfully')


routes = [
    Route('/admin/quotas', list_quotas, methods=['GET']),
    Route('/admin/quotas', create_quota, methods=['POST']),
    Route('/admin/quotas/{quota_id}', update_quota, methods=['PUT']),
    Route('/admin/quotas/{quota_id}', delete_quota, methods=['DELETE']),
]
