"""The public face: `EventService` with reference-counted channels, one per credential."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from .channel import Channel, credential_id
from .fanout import Stream
from .models import CompactionEvent, ConnectionStatus, HealthEvent, KeyChangeEvent, Resync, SnapshotEvent, SyncEvent
from .policy import Clock, Timing
from .transports import Endpoint

log = logging.getLogger(__name__)


class Upstream(Protocol):
    """A backend whose process the console runs (services/embedded.py): may the token be sent to it now?"""

    def blocked(self) -> str | None: ...  # None: yes; else why not, in words for the badge
    def retry(self) -> None: ...  # try again after giving up ("Reconnect now")
    def on_change(self, listener: Callable[[], None]) -> None: ...  # called from any thread


def _kinds(*types: type) -> Callable[[object], bool]:
    exact = frozenset(types)  # exact types: isinstance on pydantic models costs more per event
    return lambda item: type(item) in exact


class EventService:
    """Owns the upstream connections. Pages subscribe to streams; they never open sockets.

    Sessions with different tokens get different channels, so a user only ever receives what their
    own token may read; the token itself stays inside the channel's endpoint.
    """

    def __init__(self, base_url: str, *, timing: Timing | None = None, token_in_query: bool = False,
                 rng: Callable[[], float] = random.random, clock: Clock | None = None) -> None:
        self.base_url = base_url.rstrip('/')
        self.timing = timing or Timing()
        self.token_in_query = token_in_query
        self.rng = rng
        self.clock = clock or Clock()
        self.upstream: Upstream | None = None
        self._channels: dict[str, Channel] = {}
        self._auth_listeners: dict[str, Callable[[str], Any]] = {}
        self._tasks: set[asyncio.Future] = set()  # strong refs to running listener coroutines

    def _channel(self, token: str) -> Channel:
        key = credential_id(token)
        channel = self._channels.get(key)
        if channel is None:
            endpoint = Endpoint(self.base_url, token, self.token_in_query, self.timing, self.clock, self.blocked)
            channel = self._channels[key] = Channel(endpoint, rng=self.rng, retry_upstream=self._retry_upstream,
                                                    on_auth_failed=lambda: self._refused(token))
        return channel

    # -- the embedded backend, when the console runs one ---------------------------------------------
    def guard(self, upstream: Upstream) -> None:
        """Send tokens only while `upstream` says it is ours and alive; show its state while it is not."""
        self.upstream = upstream
        upstream.on_change(self._upstream_changed)

    def blocked(self) -> str | None:
        """Why no token may be sent to the backend right now (None: it may). The REST layer can ask too."""
        return self.upstream.blocked() if self.upstream is not None else None

    def _retry_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.retry()

    def _upstream_changed(self) -> None:
        for channel in list(self._channels.values()):
            channel.upstream_changed()

    # -- refused credentials ---------------------------------------------------------------------
    def on_auth_failed(self, listener: Callable[[str], Any]) -> None:
        """Call `listener(token)` (sync or async) when the server refuses a credential mid-stream (revoked).

        Registering the same function again (an app rebuilt in tests) replaces it.
        """
        self._auth_listeners[f'{listener.__module__}.{listener.__qualname__}'] = listener

    def _refused(self, token: str) -> None:
        for listener in list(self._auth_listeners.values()):
            result = listener(token)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    # -- connection management ---------------------------------------------------------------------
    def connect(self, token: str) -> None:
        """A session signed in with `token`: the first one opens the upstream connection."""
        channel = self._channel(token)
        channel.refs += 1
        if not channel.running:
            channel.start()

    async def disconnect(self, token: str) -> None:
        """A session with `token` signed out (or expired): the last one closes the connection."""
        channel = self._channels.get(credential_id(token))
        if channel is None or channel.refs == 0:
            return
        channel.refs -= 1
        if channel.refs == 0:
            await channel.stop()
            if not channel.hub.subscriptions:
                self._channels.pop(credential_id(token), None)

    def reconnect_now(self, token: str) -> None:
        self._channel(token).reconnect_now()

    async def close(self) -> None:
        for channel in list(self._channels.values()):
            await channel.stop()
            channel.hub.close_all()
        self._channels.clear()

    def status(self, token: str) -> ConnectionStatus:
        return self._channel(token).snapshot()

    def open_channels(self) -> int:
        return sum(1 for c in self._channels.values() if c.running)

    # -- streams -----------------------------------------------------------------------------------
    def stream(self, token: str, *types: type) -> Stream:
        """Exactly these event types (and the resync signals every stream carries)."""
        return Stream(lambda: self._channel(token).hub, _kinds(*types))

    _stream = stream

    def select(self, token: str, predicate: Callable[[object], bool]) -> Stream:
        """Whatever `predicate` accepts (a page that wants several event types on one subscription)."""
        return Stream(lambda: self._channel(token).hub, predicate)

    def events(self, token: str) -> Stream:
        return self._stream(token, KeyChangeEvent, CompactionEvent, HealthEvent, SyncEvent, SnapshotEvent)

    def connection_status(self, token: str) -> Stream:
        return self._stream(token, ConnectionStatus)

    def on_key_changes(self, token: str) -> Stream:
        return self._stream(token, KeyChangeEvent)

    def on_compaction_events(self, token: str) -> Stream:
        return self._stream(token, CompactionEvent)

    def on_health_events(self, token: str) -> Stream:
        return self._stream(token, HealthEvent)

    def on_sync_events(self, token: str) -> Stream:
        return self._stream(token, SyncEvent)

    def on_snapshot_events(self, token: str) -> Stream:
        return self._stream(token, SnapshotEvent)

    def resync(self, token: str) -> Stream:
        """Only the resync signals (every other stream carries them too)."""
        return self._stream(token, Resync)

    # -- hooks for the REST layer ------------------------------------------------------------------
    def watch_prefix(self, token: str, prefix: str) -> Callable[[], None]:
        """Keys a page shows: REST polling (last-resort transport) diffs these."""
        watched = self._channel(token).watched_prefixes
        watched[prefix] = watched.get(prefix, 0) + 1

        def release() -> None:
            watched[prefix] -= 1
            if watched[prefix] <= 0:
                watched.pop(prefix, None)
        return release

    def note_admin_action(self, token: str, event: CompactionEvent) -> None:
        self._channel(token).note_admin_action(event)


async def wait_for_state(service: EventService, token: str, *states: str, timeout: float = 10.0) -> ConnectionStatus:
    """Until the channel is in one of `states` (tests and start-up checks)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status = service.status(token)
        if status.state in states:
            return status
        await asyncio.sleep(0.01)
    raise TimeoutError(f'state is {service.status(token).state}, not one of {states}')
