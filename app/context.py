"""What a page gets: the session's REST client and live streams, already tied to its client's life."""

from __future__ import annotations

import inspect
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from nicegui import app, background_tasks, context, ui

from components.states import StatePanel
from services.api import ApexApi, ApiError, AuthFailed, NotOffered
from services.events import event_service
from services.events.fanout import Subscription
from services.events.models import ConnectionStatus, KeyChangeEvent, Resync

from .auth import Session, refused_token
from .live import FrameBudget

E = TypeVar('E')


@dataclass
class Outcome:
    """What `ctx.errors()` saw: whether the guarded block failed, and with which error."""
    error: ApiError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class PageContext:
    """A page's link to its session: the REST client, typed live events, errors reported in one place.

    A page holds ONE event subscription, whatever it listens to, and it ends with the page's client.
    """
    session: Session
    route: str
    embed: bool = False
    _handlers: dict[type, list[Callable[[Any], Any]]] = field(default_factory=dict)
    _refetchers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    _subscription: Subscription | None = None

    @property
    def api(self) -> ApexApi:
        return self.session.api

    # -- live events -------------------------------------------------------------------------------
    def on(self, kind: type[E], handler: Callable[[E], Any]) -> None:
        """Call `handler` with every `kind` event (e.g. `ctx.on(KeyChangeEvent, ...)`) while the page lives."""
        self._handlers.setdefault(kind, []).append(handler)
        self._subscribe()

    def on_resync(self, refetch: Callable[[], Awaitable[Any]]) -> None:
        """Refetch after any gap (reconnect, lag, transport switch): never silently stale."""
        self._refetchers.append(refetch)
        self._subscribe()

    def on_status(self, handler: Callable[[ConnectionStatus], Any]) -> None:
        self.on(ConnectionStatus, handler)
        handler(event_service().status(self.session.token))

    def _subscribe(self) -> None:
        if self._subscription is not None:
            return
        handlers = self._handlers
        slot = weakref.ref(context.slot)
        client = context.client
        self._subscription = event_service().select(self.session.token, lambda item: type(item) in handlers) \
            .subscribe(self._dispatch, context=lambda: None if client.is_deleted else slot())
        client.on_delete(self._subscription.unsubscribe)

    async def _dispatch(self, item: Any) -> None:
        if type(item) is Resync:
            for refetch in self._refetchers:
                await refetch()
            return
        for handler in self._handlers.get(type(item), ()):
            result = handler(item)
            if inspect.isawaitable(result):
                await result

    def refresher(self, render: Callable[[], Any], **budget: float) -> FrameBudget:
        """The page's one refresher: every view marks it, it renders what changed once per frame."""
        return FrameBudget(render, **budget)

    def watch_prefix(self, prefix: str) -> Callable[[], None]:
        release = event_service().watch_prefix(self.session.token, prefix)
        context.client.on_delete(release)
        return release

    def status(self) -> ConnectionStatus:
        return event_service().status(self.session.token)

    def reconnect_now(self) -> None:
        event_service().reconnect_now(self.session.token)

    # -- errors, in one place ----------------------------------------------------------------------
    @contextmanager
    def errors(self, *, state: StatePanel | None = None, feature: str | None = None,
               success: str | None = None) -> Iterator[Outcome]:
        """Run API calls; whatever goes wrong is said once, as a toast or in the section's `state`.

        `with ctx.errors() as outcome: ...` then `if outcome.failed: return`.
        """
        outcome = Outcome()
        try:
            yield outcome
        except AuthFailed as exc:  # the token was revoked or expired: sign in again, drafts are kept
            outcome.error = exc
            notify(f'{exc.message}. Please sign in again; your unsaved input is kept.', 'error')
            background_tasks.create(refused_token(self.session.token), name='refused token')
            ui.navigate.to(f'/login?next={quote(self.route)}')
            return
        except ApiError as exc:
            outcome.error = exc
            report(exc, state=state, feature=feature, retry=self._retry if self._refetchers else None)
            return
        if success:
            notify(success, 'success')

    async def _retry(self) -> None:
        """What an error's Retry button does: fetch again whatever the page fetches after a gap."""
        for refetch in list(self._refetchers):
            await refetch()

    # -- page helpers ------------------------------------------------------------------------------
    async def offer_families(self, *selects: ui.select) -> None:
        """The server's column families in `selects`, each keeping its choice; `default` alone when they
        cannot be listed (a real ApexStore, or the server unreachable)."""
        try:
            families = await self.api.family_names()
        except ApiError:
            families = ['default']
        for select in selects:
            select.set_options(families, value=select.value if select.value in families else 'default')

    def query(self, name: str) -> str | None:
        """A query parameter of the page's URL (e.g. `/notes?open=ideas`)."""
        request = context.client.request
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


def report(exc: ApiError, *, state: StatePanel | None = None, feature: str | None = None,
           retry: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Say what went wrong: in the section's state panel (with Retry) when there is one, else as a toast."""
    if isinstance(exc, NotOffered):
        if state is not None:
            state.not_offered(feature or 'This feature')
        else:
            notify(exc.message, 'warning')
    elif state is not None:
        state.error(exc.message, retry)
    else:
        notify(exc.message, 'error')


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

