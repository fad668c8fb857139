"""Fan-out from one channel to many subscribers: bounded, non-blocking, never silent.

A subscriber that falls behind loses its backlog and receives one `Resync` instead, so it never
blocks the others and never grows without bound. This module draws nothing: a UI that wants its
callbacks run inside its own context passes that context in (`subscribe(..., context=...)`), and
ends the subscription itself when its page goes away (see app/context.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

from .models import Resync

log = logging.getLogger(__name__)
DEFAULT_QUEUE = 1000
_delivery_tasks: set[asyncio.Task] = set()  # strong refs: asyncio keeps only weak ones
Predicate = Callable[[Any], bool]


class Subscription:
    def __init__(self, hub: Hub, predicate: Predicate, maxsize: int) -> None:
        self.hub = hub
        self.predicate = predicate
        self.maxsize = maxsize
        self.queue: deque = deque()
        self.wakeup = asyncio.Event()
        self.stale = False
        self.dropped = 0
        self.closed = False
        self._task: asyncio.Task | None = None

    def offer(self, item: Any) -> None:
        if self.closed:
            return
        if type(item) is Resync or self.predicate(item):
            if len(self.queue) >= self.maxsize:
                self.dropped += len(self.queue)
                self.hub.dropped += len(self.queue)
                self.queue.clear()
                self.stale = True
                item = Resync(reason='subscriber fell behind')
                self.hub.on_stale()
            self.queue.append(item)
            self.wakeup.set()

    async def get(self) -> Any:
        while not self.queue:
            if self.closed:
                raise StopAsyncIteration
            self.wakeup.clear()
            await self.wakeup.wait()
        item = self.queue.popleft()
        if isinstance(item, Resync):
            self.stale = False
        return item

    def unsubscribe(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.wakeup.set()
        self.hub.subscriptions.discard(self)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    __call__ = unsubscribe

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self.get()


class Hub:
    def __init__(self, on_stale: Callable[[], None] = lambda: None) -> None:
        self.subscriptions: set[Subscription] = set()
        self.dropped = 0
        self.on_stale = on_stale

    def publish(self, item: Any) -> None:
        for sub in tuple(self.subscriptions):
            sub.offer(item)

    def open(self, predicate: Predicate, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        sub = Subscription(self, predicate, maxsize)
        self.subscriptions.add(sub)
        return sub

    def close_all(self) -> None:
        for sub in list(self.subscriptions):
            sub.unsubscribe()


class Stream:
    """A filtered view of a channel: `async for` it, or `.subscribe(callback)`."""

    def __init__(self, hub_getter: Callable[[], Hub], predicate: Predicate) -> None:
        self._hub_getter = hub_getter
        self._predicate = predicate

    def subscription(self, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        return self._hub_getter().open(self._predicate, maxsize)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        """`async for` over a stream; leaving the loop (break, error, GC) ends the subscription."""
        sub = self.subscription()
        try:
            async for item in sub:
                yield item
        finally:
            sub.unsubscribe()

    def subscribe(self, callback: Callable[[Any], Any], *, maxsize: int = DEFAULT_QUEUE,
                  context: Callable[[], AbstractContextManager[Any] | None] | None = None) -> Subscription:
        """Deliver items to `callback` (sync or async) in order; returns the unsubscribe handle.

        `context`, when given, is entered around each delivered batch (a page's UI context); when it
        returns None the subscriber is gone and the subscription ends.
        """
        sub = self.subscription(maxsize)
        sub._task = asyncio.get_running_loop().create_task(_deliver(sub, callback, context), name='event-subscription')
        _delivery_tasks.add(sub._task)
        sub._task.add_done_callback(_delivery_tasks.discard)
        return sub


async def _deliver(sub: Subscription, callback: Callable[[Any], Any],
                   context: Callable[[], AbstractContextManager[Any] | None] | None) -> None:
    """Deliver in order; everything already queued goes out in one go, without a task switch each."""
    with contextlib.suppress(StopAsyncIteration, asyncio.CancelledError):
        while True:
            batch = [await sub.get()]
            while sub.queue:
                batch.append(sub.queue.popleft())
            scope = context() if context is not None else contextlib.nullcontext()
            if scope is None:
                sub.unsubscribe()
                return
            with scope:
                for item in batch:
                    if isinstance(item, Resync):
                        sub.stale = False
                    try:
                        result = callback(item)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:  # noqa: BLE001 - one broken handler must not end the subscription
                        log.exception('event subscriber %s failed', getattr(callback, '__qualname__', callback))
