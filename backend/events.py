"""Event bus: numbered events within an epoch, bounded replay history, bounded subscribers.

Events are stored once in the original request's dialect (`key_change`, `compaction_status`, …) and
serialised lazily per dialect: `ext` (ours, with `seq`) or `cdc` (the real server's CDC frames).
A subscriber that cannot keep up loses its backlog and gets one `lag` marker instead, so memory stays
bounded whatever the reader does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from .storage import now_ns

LIVE_VALUE_LIMIT = 16 * 1024  # values larger than this travel as `value_size` only (ext dialect)


@dataclass(eq=False)
class Event:
    seq: int
    type: str
    payload: dict[str, Any]
    raw_value: bytes | None = None
    _ext: str | None = None
    _cdc: str | None | bool = False

    @property
    def key(self) -> str | None:
        return self.payload.get('key')

    def ext_json(self) -> str:
        if self._ext is None:
            self._ext = orjson.dumps({'type': self.type, **self.payload, 'seq': self.seq}).decode()
        return self._ext

    def cdc_json(self) -> str | None:
        """The real server's CDC frame, or None for events it would never send."""
        if self._cdc is False:
            self._cdc = None
            if self.type == 'key_change' and self.payload['operation'] in ('put', 'delete'):
                frame: dict[str, Any] = {'type': self.payload['operation'], 'cf': self.payload['cf'],
                                         'key': self.payload['key'].encode().hex()}
                if self.payload['operation'] == 'put':
                    frame['value'] = list(self.raw_value or b'')
                frame['timestamp'] = self.payload['timestamp']
                self._cdc = orjson.dumps(frame).decode()
        return self._cdc  # type: ignore[return-value]


@dataclass
class EventFilter:
    types: frozenset[str] | None = None
    prefix: str | None = None
    token: Any = None  # the stream's ApiToken (None: sees everything, e.g. with --no-auth)

    def visible(self, event: Event) -> bool:
        """Feature events name the permission needed to see them (webhook URLs are for admins only)."""
        needed = event.payload.get('permission') if event.type == 'feature_event' else None
        return needed is None or self.token is None or self.token.allows(needed)

    def matches(self, event: Event) -> bool:
        if not self.visible(event):
            return False
        if self.types is not None and event.type not in self.types and event.payload.get('operation') not in self.types:
            return False
        if self.prefix:
            key = event.key
            return key is not None and key.startswith(self.prefix)
        return True


@dataclass(eq=False)
class Subscriber:
    filter: EventFilter
    limit: int
    queue: deque = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    skipped: int = 0
    closed: bool = False
    internal: bool = False  # the backend's own listener (CDC capture), not a client's stream

    def offer(self, event: Event) -> None:
        if not self.filter.matches(event):
            return
        if len(self.queue) >= self.limit:
            self.skipped += len(self.queue) + 1
            self.queue.clear()
            self.queue.append(('lag', None))
        else:
            self.queue.append(('event', event))
        self.wakeup.set()

    async def next(self) -> tuple[str, Event | int | str | bytes | None]:
        """('event', Event), ('lag', skipped), ('raw', frame) or ('closed', None)."""
        while not self.queue:
            if self.closed:
                return 'closed', None
            self.wakeup.clear()
            await self.wakeup.wait()
        kind, event = self.queue.popleft()
        if kind == 'lag':
            skipped, self.skipped = self.skipped, 0
            return 'lag', skipped
        return kind, event

    def take_ready(self, limit: int) -> list:
        """Up to `limit` queued items without waiting (the pump sends them in one write)."""
        out: list[tuple[str, Any]] = []
        while self.queue and len(out) < limit:
            kind, item = self.queue.popleft()
            if kind == 'lag':
                item, self.skipped = self.skipped, 0
            out.append((kind, item))
        return out

    def inject(self, raw: str | bytes) -> None:
        """Queue a raw frame (fault hooks: malformed input for clients to survive)."""
        self.queue.append(('raw', raw))
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    def revoke(self) -> None:
        """Close now, dropping the backlog: a revoked token must not receive one more event."""
        self.queue.clear()
        self.close()


class EventBus:
    def __init__(self, history_size: int = 10_000, subscriber_limit: int = 1024) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self.seq = 0
        self.history: deque[Event] = deque(maxlen=history_size)
        self.subscriber_limit = subscriber_limit
        self.subscribers: set[Subscriber] = set()
        self.published = 0

    def publish(self, type_: str, payload: dict[str, Any], raw_value: bytes | None = None) -> Event:
        self.seq += 1
        payload.setdefault('timestamp', now_ns())
        event = Event(self.seq, type_, payload, raw_value)
        self.history.append(event)
        self.published += 1
        for sub in self.subscribers:
            sub.offer(event)
        return event

    def new_epoch(self) -> None:
        """After a restore the numbering restarts: clients resuming from the old epoch must resync."""
        self.epoch = uuid.uuid4().hex[:12]
        self.seq = 0
        self.history.clear()

    def subscribe(self, flt: EventFilter, limit: int | None = None, *, internal: bool = False) -> Subscriber:
        sub = Subscriber(flt, limit or self.subscriber_limit, internal=internal)
        self.subscribers.add(sub)
        return sub

    def streams(self) -> int:
        """Open client streams (diagnostics, tests): the backend's own listeners do not count."""
        return sum(not sub.internal for sub in self.subscribers)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        sub.close()

    def close_all(self) -> None:
        for sub in list(self.subscribers):
            self.unsubscribe(sub)

    def replay(self, since: int, epoch: str | None) -> list[Event] | None:
        """Events after `since`, or None when they are no longer known (gap or other epoch)."""
        if epoch is not None and epoch != self.epoch:
            return None
        if since > self.seq:
            return None
        if since == self.seq:
            return []
        oldest = self.history[0].seq if self.history else self.seq + 1
        if since + 1 < oldest:
            return None
        return [e for e in self.history if e.seq > since]

    def resync_message(self, asked_epoch: str | None) -> dict[str, Any]:
        """What a client resuming from `asked_epoch` is told when `replay` cannot serve it."""
        reason = 'epoch changed' if asked_epoch and asked_epoch != self.epoch else 'history gap'
        return {'type': 'resync_required', 'reason': reason, 'epoch': self.epoch, 'seq': self.seq,
                'timestamp': now_ns()}
