"""What a page gets: the session's REST client and live streams, already tied to its client's life."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from nicegui import app, background_tasks, ui

from services.api import ApexApi, ApiError, AuthFailed, NotOffered
from services.events import event_service
from services.events.models import ConnectionStatus, KeyChangeEvent, Resync

from .auth import Session


@dataclass
class PageContext:
    session: Session
    route: str
    embed: bool = False
    _refetchers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def api(self) -> ApexApi:
        return self.session.api

    def _stream(self, name: str):
        return getattr(event_service, name)(self.session.token)

    def on(self, stream: str, handler: Callable[[Any], Any]) -> None:
        """Subscribe for as long as this page's client lives. Resync signals go to `on_resync` handlers."""
        def route_item(item: Any) -> Any:
            if isinstance(item, Resync):
                return None  # handled once per page by the resync stream below
            return handler(item)
        self._stream(stream).subscribe(route_item)

    def on_resync(self, refetch: Callable[[], Awaitable[None]]) -> None:
        """Refetch after any gap (reconnect, lag, transport switch): never silently stale."""
        if not self._refetchers:
            self._stream('resync').subscribe(self._resync)
        self._refetchers.append(refetch)

    async def _resync(self, _signal: Resync) -> None:
        for refetch in self._refetchers:
            await refetch()

    def on_status(self, handler: Callable[[ConnectionStatus], Any]) -> None:
        self._stream('connection_status').subscribe(
            lambda item: handler(item) if isinstance(item, ConnectionStatus) else None)
        handler(event_service.status(self.session.token))

    def watch_prefix(self, prefix: str) -> Callable[[], None]:
        release = event_service.watch_prefix(self.session.token, prefix)
        ui.context.client.on_delete(release)
        return release

    def reconnect_now(self) -> None:
        event_service.reconnect_now(self.session.token)

    def query(self, name: str) -> str | None:
        """A query parameter of the page's URL (e.g. `/notes?open=ideas`)."""
        request = ui.context.client.request
        return request.query_params.get(name) if request is not None else None

    def draft(self, name: str) -> dict:
        """Unsaved form input that survives a forced sign-in (server-side, per browser)."""
        drafts = app.storage.user.setdefault('drafts', {})
        return drafts.setdefault(f'{self.route}:{name}', {})


NOTIFY_TYPES: dict[str, Literal['positive', 'negative', 'warning', 'info']] = {
    'error': 'negative', 'success': 'positive', 'warning': 'warning', 'info': 'info'}


def notify(message: str, kind: str = 'info') -> None:
    """A toast, bottom-right, like the Angular app's (click or wait 3.5 s to dismiss)."""
    ui.notify(message, type=NOTIFY_TYPES.get(kind, 'info'), position='bottom-right', timeout=3500,
              close_button=True)


async def guarded(action: Awaitable[Any], *, success: str | None = None,
                  not_offered: Callable[[], None] | None = None) -> Any:
    """Run an API call; show what went wrong as a toast instead of raising. Returns None on failure."""
    try:
        result = await action
    except NotOffered as exc:
        if not_offered is not None:
            not_offered()
        else:
            notify(exc.message, 'warning')
        return None
    except AuthFailed as exc:
        notify(exc.message, 'error')
        return None
    except ApiError as exc:
        notify(exc.message, 'error')
        return None
    if success:
        notify(success, 'success')
    return result


async def fetch_shown(action: Awaitable[Any], state, feature: str, *, disable: Any = None) -> Any:
    """Fetch a section's data; on failure the section's StatePanel says why (and `disable` is disabled
    when the server does not offer the feature at all). Returns None on failure."""
    try:
        return await action
    except NotOffered:
        state.not_offered(feature)
        if disable is not None:
            disable.disable()
    except ApiError as exc:
        state.error(exc.message)
    return None


class OwnWrites:
    """This page's own recent writes, so their events are not taken for another client's change."""

    def __init__(self, window_secs: float = 5.0) -> None:
        self.window = window_secs
        self._writes: dict[str, tuple[str | None, float]] = {}

    def remember(self, key: str, value: str | None) -> None:
        self._writes[key] = (value, time.monotonic())

    def is_own(self, event: KeyChangeEvent) -> bool:
        value, at = self._writes.get(event.key, (None, 0.0))
        if time.monotonic() - at > self.window:
            return False
        return (event.operation == 'delete' and value is None) or (event.operation == 'put' and value == event.value)


class Coalescer:
    """At most `rate` renders per second however many events arrive; a burst ends in one render."""

    def __init__(self, render: Callable[[], Any], rate: float = 10.0) -> None:
        self.render = render
        self.interval = 1.0 / rate
        self.dirty = False
        self.last = 0.0
        self.renders = 0
        self._pending: asyncio.TimerHandle | None = None
        ui.context.client.on_delete(self.cancel)

    def mark(self) -> None:
        self.dirty = True
        if self._pending is not None:
            return
        delay = max(0.0, self.interval - (time.monotonic() - self.last))
        self._pending = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._pending = None
        if not self.dirty:
            return
        self.dirty = False
        self.last = time.monotonic()
        self.renders += 1
        result = self.render()
        if asyncio.iscoroutine(result):
            background_tasks.create(result, name='coalesced render')  # errors reach NiceGUI's handlers

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
