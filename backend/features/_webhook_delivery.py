"""Webhook state and delivery for `webhooks.py`: definitions, senders, retries and circuit breakers.

Definitions (with their signing secrets) live in `<data-dir>/webhooks.json` (mode 0600), outside the
RocksDB store on purpose: they are configuration, so a snapshot restore must not roll them back.
Every webhook has its own bounded queue and sender task, so one slow or dead receiver delays nobody
else, and its own circuit breaker, so a dead receiver is not hammered: after `failure_threshold`
failed attempts in a row the breaker opens, queued events wait (up to QUEUE_LIMIT, then the oldest
are dropped and counted), and after `open_secs` one trial attempt (half-open) decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..events import Event, EventFilter, Subscriber
from ..storage import DEFAULT_CF, now_ns
from ._webhook_model import (
    NOTE_PREFIX,
    Attempt,
    Delivery,
    Webhook,
    WebhookSettings,
    body_of,
    event_data,
    event_names,
    new_secret,
    post,
)

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # events waiting per webhook (while its receiver is slow or its breaker open)
LOG_LIMIT = 50  # recent attempts kept per webhook (memory only)
MAX_BACKOFF_SECS = 60.0
SAVE_DELAY_SECS = 1.0  # delivery counters reach the file at most once a second
NOTE_TRACK_LIMIT = 4096


@dataclass
class Lane:
    """A webhook's runtime: its queue, its sender, its breaker timer and its recent attempts."""
    queue: deque[Delivery] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    task: asyncio.Task | None = None
    timer: asyncio.TimerHandle | None = None


class WebhookService:
    """All webhooks of one backend: the feature state of `webhooks.py` (see the module docstring)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.path: Path = backend.config.data_dir / 'webhooks.json'
        self.hooks: dict[str, Webhook] = self._load()
        self.lanes: dict[str, Lane] = {}
        self.client: httpx.AsyncClient | None = None
        self.lagged = 0  # bus events this worker lost (it was too slow); counted, logged
        self._running = False
        self._wanted: asyncio.Event | None = None
        self._sub: Subscriber | None = None
        self._save_handle: asyncio.TimerHandle | None = None
        self._note_writes: dict[str, list[tuple[int, bool]]] = {}  # key -> (bus seq before, created)

    # -- persistence -------------------------------------------------------------------------------
    def _load(self) -> dict[str, Webhook]:
        if not self.path.exists():
            return {}
        try:
            items = json.loads(self.path.read_text())['webhooks']
            return {item['id']: Webhook.model_validate(item) for item in items}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning('webhooks: cannot read %s (%s); starting with none', self.path, exc)
            return {}

    def save(self) -> None:
        """Write every definition atomically, readable by the owner only (it holds the secrets)."""
        self._save_handle = None
        if not self.hooks and not self.path.exists():
            return  # nothing ever configured: leave no file behind
        tmp = self.path.with_suffix('.tmp')
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as handle:
                json.dump({'version': 1, 'webhooks': [h.model_dump() for h in self.hooks.values()]}, handle)
            os.replace(tmp, self.path)
        except OSError as exc:  # a full or vanished disk must not stop deliveries; the next save retries
            log.warning('webhooks: cannot write %s: %s', self.path, exc)

    def _save_soon(self) -> None:
        if self._save_handle is None:
            self._save_handle = asyncio.get_running_loop().call_later(SAVE_DELAY_SECS, self.save)

    # -- definitions -------------------------------------------------------------------------------
    def pending(self, hook_id: str) -> int:
        lane = self.lanes.get(hook_id)
        return len(lane.queue) if lane else 0

    def view(self, hook: Webhook) -> dict[str, Any]:
        return hook.public(self.pending(hook.id))

    def create(self, settings: WebhookSettings) -> tuple[Webhook, str]:
        now = now_ns()
        hook = Webhook(**settings.model_dump(), id=uuid.uuid4().hex[:16], secret=new_secret(), created_at=now,
                       updated_at=now)
        self.hooks[hook.id] = hook
        self.save()
        self._start_lane(hook.id)
        self._changed(hook, 'created')
        return hook, hook.secret

    def update(self, hook: Webhook, changes: dict[str, Any], rotate_secret: bool = False) -> str | None:
        for name, value in changes.items():
            setattr(hook, name, value)
        if hook.breaker.state == 'closed' and hook.breaker.failure_count >= hook.failure_threshold:
            self._open(hook)  # a lowered threshold applies now
        secret = None
        if rotate_secret:
            hook.secret = secret = new_secret()
        hook.updated_at = now_ns()
        if not hook.active and hook.id in self.lanes:
            self.lanes[hook.id].queue.clear()  # a paused webhook gets nothing, not a backlog later
        self.save()
        self._changed(hook, 'updated')
        return secret

    def delete(self, hook: Webhook) -> None:
        self.hooks.pop(hook.id, None)
        lane = self.lanes.pop(hook.id, None)
        if lane is not None:
            if lane.task is not None:
                lane.task.cancel()
            if lane.timer is not None:
                lane.timer.cancel()
        self.save()
        self._changed(hook, 'deleted')

    def deliveries(self, hook_id: str) -> list[dict[str, Any]]:
        lane = self.lanes.get(hook_id)
        return list(reversed(lane.log)) if lane else []

    def _changed(self, hook: Webhook, action: str) -> None:
        self._sync_subscription()
        self.backend.publish_feature('webhooks', 'changed', {'action': action, 'webhook_id': hook.id,
                                                             'webhook': self.view(hook),
                                                             'breaker': hook.breaker_view()})

    # -- circuit breakers --------------------------------------------------------------------------
    def _open(self, hook: Webhook) -> None:
        now = now_ns()
        breaker = hook.breaker
        breaker.state, breaker.opened_at = 'open', now
        breaker.next_retry_at = now + int(hook.open_secs * 1e9)
        self._arm_timer(hook)
        log.info('webhook %s: circuit breaker opened after %d failures', hook.id, breaker.failure_count)
        self._breaker_changed(hook)

    def _arm_timer(self, hook: Webhook) -> None:
        lane = self.lanes.get(hook.id)
        if lane is None or hook.breaker.next_retry_at is None:
            return
        if lane.timer is not None:
            lane.timer.cancel()
        delay = max(0.0, (hook.breaker.next_retry_at - now_ns()) / 1e9)
        lane.timer = asyncio.get_running_loop().call_later(delay, self._half_open, hook.id)

    def _half_open(self, hook_id: str) -> None:
        hook, lane = self.hooks.get(hook_id), self.lanes.get(hook_id)
        if hook is None or lane is None or hook.breaker.state != 'open':
            return
        lane.timer = None
        hook.breaker.state = 'half_open'
        self._breaker_changed(hook)
        lane.wake.set()

    def _close(self, hook: Webhook) -> None:
        breaker = hook.breaker
        breaker.state, breaker.failure_count, breaker.opened_at, breaker.next_retry_at = 'closed', 0, None, None
        lane = self.lanes.get(hook.id)
        if lane is not None:
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            lane.wake.set()
        self._breaker_changed(hook)

    def reset(self, hook: Webhook) -> None:
        """Close the breaker now (an admin says the receiver is back): queued events flow again."""
        self._close(hook)
        self.save()

    def _breaker_changed(self, hook: Webhook) -> None:
        self._save_soon()
        self.backend.publish_feature('webhooks', 'breaker', {'breaker': hook.breaker_view(),
                                                             'webhook': self.view(hook)})

    # -- events in ---------------------------------------------------------------------------------
    def _wants_events(self) -> bool:
        return any(h.active for h in self.hooks.values())

    def _sync_subscription(self) -> None:
        """Listen to the bus exactly while some webhook is active (subscribed at once: no event slips by)."""
        if not self._running or self._wanted is None:
            return
        if self._wants_events():
            if self._sub is None:
                self._sub = self.backend.bus.subscribe(
                    EventFilter(types=frozenset({'key_change', 'compaction_status'})), limit=QUEUE_LIMIT * 10)
                self._wanted.set()
        elif self._sub is not None:
            self.backend.bus.unsubscribe(self._sub)  # closes it; the run loop drains what is queued
            self._sub = None

    def note_guard(self, cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        """Write guard that only looks: whether a note put creates the note (`note.created`) or not."""
        if cf != DEFAULT_CF or self._sub is None:
            return
        seq, seen = self.backend.bus.seq, set()
        for key, value, _ttl in items:
            if value is None or not key.startswith(NOTE_PREFIX):
                continue
            created = key not in seen and self.backend.store.get(cf, key.encode()) is None
            seen.add(key)
            self._note_writes.setdefault(key, []).append((seq, created))
            if len(self._note_writes) > NOTE_TRACK_LIMIT:  # writes a later guard refused linger: bounded
                self._note_writes.pop(next(iter(self._note_writes)))

    def _note_event(self, event: Event) -> str:
        """Match the put to the guard's record just before it (a refused write's record is skipped)."""
        records = self._note_writes.pop(event.payload['key'], [])
        before = [created for seq, created in records if seq < event.seq]
        rest = [r for r in records if r[0] >= event.seq]
        if rest:
            self._note_writes[event.payload['key']] = rest
        return 'note.created' if before and before[-1] else 'note.updated'

    def dispatch(self, event: Event) -> None:
        note_put = 'note.updated'
        if event.type == 'key_change' and event.payload.get('operation') == 'put' \
                and str(event.payload.get('key', '')).startswith(NOTE_PREFIX):
            note_put = self._note_event(event)  # never written into the payload: other streams share it
        names = event_names(event, note_put)
        if not names:
            return
        data = event_data(event)
        key = data.get('key') if event.type == 'key_change' else None
        for hook in self.hooks.values():
            if not hook.active or (key is not None and not str(key).startswith(hook.prefix)):
                continue
            name = next((n for n in names if n in hook.events), None)
            if name is not None:
                delivery_id = uuid.uuid4().hex
                self._enqueue(hook, Delivery(delivery_id, name, body_of(delivery_id, name, hook.id,
                                                                        event.payload['timestamp'], data)))

    def _enqueue(self, hook: Webhook, delivery: Delivery) -> None:
        lane = self._start_lane(hook.id)
        if lane is None:
            return
        if len(lane.queue) >= QUEUE_LIMIT:
            lane.queue.popleft()
            hook.dropped += 1
            hook.last_error = f'queue full ({QUEUE_LIMIT} waiting): oldest event dropped'
            self._save_soon()
        lane.queue.append(delivery)
        lane.wake.set()

    # -- the feature task --------------------------------------------------------------------------
    async def run(self) -> None:
        """Feed the senders from the bus while any webhook is active; stop cleanly with the backend."""
        self._wanted = asyncio.Event()
        self.client = httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
        self._running = True
        for hook in self.hooks.values():
            self._start_lane(hook.id)
            if hook.breaker.state == 'open':
                self._arm_timer(hook)
        self._sync_subscription()
        try:
            while True:
                await self._wanted.wait()
                if self._sub is None:
                    self._wanted.clear()
                    continue
                sub = self._sub
                await self._consume(sub)
                if self._sub is sub:  # closed from elsewhere (the bus shut down): never spin on it
                    self._sub = None
        finally:
            self._running = False
            if self._sub is not None:
                self.backend.bus.unsubscribe(self._sub)
                self._sub = None
            tasks = [lane.task for lane in self.lanes.values() if lane.task is not None]
            for lane in self.lanes.values():
                if lane.timer is not None:
                    lane.timer.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.client.aclose()
            if self._save_handle is not None:
                self._save_handle.cancel()
            self.save()

    async def _consume(self, sub: Subscriber) -> None:
        while True:
            kind, item = await sub.next()
            if kind == 'closed':
                return
            if kind == 'lag':
                self.lagged += item if isinstance(item, int) else 0
                log.warning('webhooks: fell behind the event bus; %s events were not delivered', item)
            elif kind == 'event' and isinstance(item, Event):
                self.dispatch(item)

    def _start_lane(self, hook_id: str) -> Lane | None:
        if not self._running:
            return None
        lane = self.lanes.get(hook_id)
        if lane is None:
            lane = self.lanes[hook_id] = Lane()
            lane.task = asyncio.create_task(self._sender(hook_id, lane), name=f'webhook:{hook_id}')
        return lane

    # -- delivery ----------------------------------------------------------------------------------
    async def _sender(self, hook_id: str, lane: Lane) -> None:
        while True:
            while not lane.queue:
                lane.wake.clear()
                await lane.wake.wait()
            delivery = lane.queue[0]
            await self._deliver(hook_id, lane, delivery)
            if lane.queue and lane.queue[0] is delivery:
                lane.queue.popleft()

    async def _deliver(self, hook_id: str, lane: Lane, delivery: Delivery) -> None:
        attempt = 0
        while True:
            hook = self.hooks.get(hook_id)
            while hook is not None and hook.breaker.state == 'open':
                lane.wake.clear()
                await lane.wake.wait()  # the half-open timer or a reset wakes it
                hook = self.hooks.get(hook_id)
            if hook is None or not hook.active:
                return
            attempt += 1
            result = await self._post(hook, delivery, attempt)
            final = result.ok or not result.retryable or attempt >= hook.max_attempts
            self.record(hook, delivery, attempt, result, final)
            if final:
                return
            await asyncio.sleep(min(MAX_BACKOFF_SECS, hook.backoff_ms / 1000 * 2 ** (attempt - 1)))

    async def _post(self, hook: Webhook, delivery: Delivery, attempt: int) -> Attempt:
        assert self.client is not None
        return await post(self.client, hook, delivery, attempt)

    def record(self, hook: Webhook, delivery: Delivery, attempt: int, result: Attempt, final: bool) -> None:
        """Count the attempt, move the breaker, remember it, and tell every open page."""
        now, breaker = now_ns(), hook.breaker
        hook.attempts += 1
        hook.last_triggered_at, hook.last_http_status = now, result.http_status
        if result.ok:
            hook.last_status, hook.last_error = 'success', None
            hook.delivered += 1
            breaker.success_count += 1
            breaker.failure_count = 0
            if breaker.state != 'closed':
                self._close(hook)
        else:
            hook.last_error = result.error
            hook.last_status = 'failed' if final else 'retrying'
            hook.failed += 1 if final else 0
            breaker.failure_count += 1
            breaker.last_failure_at = now
            if breaker.state == 'half_open' or (breaker.state == 'closed'
                                                and breaker.failure_count >= hook.failure_threshold):
                self._open(hook)
        outcome = 'delivered' if result.ok else 'failed' if final else 'retrying'
        entry = {'delivery_id': delivery.id, 'event': delivery.event, 'attempt': attempt, 'at': now,
                 'outcome': outcome, 'http_status': result.http_status, 'error': result.error,
                 'duration_ms': round(result.duration_ms, 1)}
        lane = self.lanes.get(hook.id)
        if lane is not None:
            lane.log.append(entry)
            if final and lane.queue and lane.queue[0] is delivery:
                lane.queue.popleft()  # done: no longer counted as waiting in what is published below
        self._save_soon()
        self.backend.publish_feature('webhooks', 'delivery', {**entry, 'webhook_id': hook.id,
                                                              'webhook': self.view(hook),
                                                              'breaker': hook.breaker_view()})

    async def test(self, hook: Webhook) -> tuple[Delivery, Attempt]:
        """One real POST of a `webhook.test` event now, past the queue and the breaker (its result counts)."""
        delivery_id = uuid.uuid4().hex
        data = {'message': 'Test event from ApexStore', 'webhook': hook.name}
        delivery = Delivery(delivery_id, 'webhook.test', body_of(delivery_id, 'webhook.test', hook.id, now_ns(), data))
        result = await self._post(hook, delivery, 1)
        if hook.id in self.hooks:
            self.record(hook, delivery, 1, result, True)
        return delivery, result


