"""Open streams per token, so that revoking a token ends them at once instead of at their next request.

Every long-lived connection (`/ws/events`, `/ws/sync`, SSE `/events`, a waiting long-poll) registers a
`Session` for the token that opened it; `Sessions.revoke(token_id)` marks them revoked and runs their
hooks (which close subscribers). WebSocket handlers run their work under `Session.guard`, which cancels
it the moment the token is revoked so the handler can close with `REVOKED_CODE`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .tokens import ApiToken

REVOKED_CODE = 4401  # WebSocket close code: 4000 + the HTTP status a new request would get
REVOKED_REASON = 'token revoked'
REVOKED_BODY = {'error': 'Token has been revoked', 'status': 401}


@dataclass(eq=False)
class Session:
    token_id: str | None
    revoked: asyncio.Event = field(default_factory=asyncio.Event)
    hooks: list[Callable[[], None]] = field(default_factory=list)

    @property
    def is_revoked(self) -> bool:
        return self.revoked.is_set()

    def revoke(self) -> None:
        self.revoked.set()
        for hook in self.hooks:
            hook()

    async def guard(self, work: Awaitable[Any]) -> bool:
        """Run `work` until it ends (its exception propagates) or the token is revoked; True if revoked."""
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(self.revoked.wait())
        finished = False
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finished = task.done()
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if finished:
            task.result()
        return self.is_revoked


class Sessions:
    def __init__(self, is_live: Callable[[str], bool]) -> None:
        self._by_token: dict[str, set[Session]] = {}
        self._is_live = is_live  # whether a token id still exists (it may go between handshake and open)

    def open(self, token: ApiToken | None, *hooks: Callable[[], None]) -> Session:
        """Register a stream of `token` (no token, as with `--no-auth`: never revoked); `close` it after."""
        session = Session(token.id if token is not None else None, hooks=list(hooks))
        if session.token_id is not None:
            self._by_token.setdefault(session.token_id, set()).add(session)
            if not self._is_live(session.token_id):
                self.revoke(session.token_id)
        return session

    def close(self, session: Session) -> None:
        if session.token_id is None:
            return
        live = self._by_token.get(session.token_id)
        if live is not None:
            live.discard(session)
            if not live:
                del self._by_token[session.token_id]

    @contextlib.contextmanager
    def track(self, token: ApiToken | None, *hooks: Callable[[], None]) -> Iterator[Session]:
        """A session for the duration of a `with` block."""
        session = self.open(token, *hooks)
        try:
            yield session
        finally:
            self.close(session)

    def revoke(self, token_id: str) -> int:
        """End every open stream of `token_id`; the number of streams ended."""
        live = self._by_token.pop(token_id, set())
        for session in live:
            session.revoke()
        return len(live)

    def count(self, token_id: str) -> int:
        return len(self._by_token.get(token_id, ()))
