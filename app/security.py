"""Trust at the edge: which Host names the console answers, who counts as local, framing, sign-in throttling,
and where per-browser storage lives (private to this user, written only for signed-in browsers, removed when
their session ends).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from nicegui import app, helpers
from nicegui.persistence import PersistentDict
from nicegui.storage import USER_PREFIX, Storage
from starlette.datastructures import MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.settings import WILDCARD_ADDRESSES, settings

log = logging.getLogger(__name__)
SIMULATED_HOST = 'test'  # NiceGUI's user fixture talks to the app in-process (no socket) as http://test
CONSOLE = '*'  # the throttle key that counts every address together


# -- hosts and locality ----------------------------------------------------------------------------------------

def simulated() -> bool:
    """NiceGUI's user simulation (tests): in-process, no socket; its requests say `Host: test`, peer 127.0.0.1.

    That placeholder name is trusted only while NiceGUI's test plugin sets NICEGUI_USER_SIMULATION.
    """
    return helpers.is_user_simulation()


def host_pattern(name: str) -> str:
    """A Host-header pattern: IPv6 literals arrive bracketed (`[::1]:8080`), names compare in lower case."""
    try:
        if isinstance(ipaddress.ip_address(name), ipaddress.IPv6Address):
            return f'[{name}]'
    except ValueError:
        pass
    return name.lower()


def allowed_host_patterns() -> list[str]:
    names = settings.allowed_hosts() + ([SIMULATED_HOST] if simulated() else [])
    return [host_pattern(name) for name in names]


def is_loopback_address(value: str | None) -> bool:
    try:
        address = ipaddress.ip_address(value or '')
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from dual-stack sockets
    return address.is_loopback


def is_loopback_host(name: str | None) -> bool:
    return name == 'localhost' or (simulated() and name == SIMULATED_HOST) or is_loopback_address(name)


def is_local_request(request: Request) -> bool:
    """Host AND peer on loopback: a DNS-rebinding page sends a foreign Host, a LAN peer a foreign address."""
    peer = request.client.host if request.client is not None else None
    return is_loopback_host(request.url.hostname) and is_loopback_address(peer)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else 'unknown'


# -- response headers --------------------------------------------------------------------------------------------

def is_embed(scope: Scope) -> bool:
    values = parse_qs(scope.get('query_string', b'').decode('latin-1')).get('embed', [])
    return any(value not in ('', '0') for value in values)


def security_headers(frame_ancestors: list[str]) -> dict[str, str]:
    """No framing (clickjacking) unless a portal is listed; no MIME sniffing; no Referer (links carry nonces)."""
    headers = {'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer'}
    if frame_ancestors:
        headers['Content-Security-Policy'] = 'frame-ancestors ' + ' '.join(frame_ancestors)
    else:
        headers['Content-Security-Policy'] = "frame-ancestors 'none'"
        headers['X-Frame-Options'] = 'DENY'
    return headers


class SecurityHeadersMiddleware:
    """Pure ASGI, so it also covers responses that inner middleware (the Host check) produces itself.

    `?embed=1` pages may be framed by CONSOLE_FRAME_ANCESTORS; X-Frame-Options cannot name origins, so it is
    left out there (every current browser honours CSP frame-ancestors).
    """

    def __init__(self, app: ASGIApp, frame_ancestors: list[str]) -> None:
        self.app = app
        self.frame_ancestors = frame_ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        headers = security_headers(self.frame_ancestors if is_embed(scope) else [])

        async def send_with_headers(message: Message) -> None:
            if message['type'] == 'http.response.start':
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- sign-in throttling ---------------------------------------------------------------------------------------------

@dataclass
class Backoff:
    """Exponential back-off per key: `free` failures cost nothing, then each one doubles the wait up to `cap_secs`.

    A key is forgotten after `forget_secs` without failures, so the table stays small.
    """
    free: int
    base_secs: float
    cap_secs: float
    forget_secs: float = 15 * 60
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def delay(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return min(self.cap_secs, self.base_secs * 2 ** min(count - self.free, 32))

    def count(self, key: str) -> int:
        return self._live(key)[0]

    def retry_after(self, key: str) -> float:
        count, last = self._live(key)
        return max(0.0, last + self.delay(count) - self.clock())

    def fail(self, key: str) -> int:
        count = self._live(key)[0] + 1
        self._failures[key] = (count, self.clock())
        if len(self._failures) > 1024:
            self._forget_quiet()
        return count

    def undo(self, key: str) -> None:
        count, last = self._live(key)
        if count <= 1:
            self._failures.pop(key, None)
        else:
            self._failures[key] = (count - 1, last)

    def forgive(self, key: str) -> None:
        self._failures.pop(key, None)

    def _live(self, key: str) -> tuple[int, float]:
        count, last = self._failures.get(key, (0, 0.0))
        if count and self.clock() - last > self.forget_secs:
            return 0, 0.0
        return count, last

    def _forget_quiet(self) -> None:
        now = self.clock()
        for key in [k for k, (_, last) in self._failures.items() if now - last > self.forget_secs]:
            del self._failures[key]


class SignInThrottle:
    """Token guesses slow down per client address and, for guesses spread over many addresses, per console.

    An attempt counts as a failure from the moment it starts (so parallel guesses are throttled too) and is
    taken back when the token is accepted or the server could not judge it (unreachable).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all failures (a console start begins afresh)."""
        self.per_address = Backoff(free=3, base_secs=1.0, cap_secs=300.0)
        self.per_console = Backoff(free=20, base_secs=1.0, cap_secs=60.0)

    def retry_after(self, address: str) -> float:
        return max(self.per_address.retry_after(address), self.per_console.retry_after(CONSOLE))

    def attempt(self, address: str) -> float:
        """0 = go ahead (the attempt is counted); else the seconds this address must wait."""
        wait = self.retry_after(address)
        if wait <= 0:
            self.per_address.fail(address)
            self.per_console.fail(CONSOLE)
        return wait

    def refused(self, address: str) -> None:
        """The server rejected the token: the attempt stays counted and is logged (never the token itself)."""
        log.warning('sign-in refused for client %s: invalid token (%d recent failures from this address, '
                    '%d on this console; next attempt allowed in %.0f s)', address,
                    self.per_address.count(address), self.per_console.count(CONSOLE), self.retry_after(address))

    def accepted(self, address: str) -> None:
        self.per_address.forgive(address)
        self.per_console.undo(CONSOLE)

    def not_judged(self, address: str) -> None:
        self.per_address.undo(address)
        self.per_console.undo(CONSOLE)


def too_many_attempts(wait_secs: float) -> str:
    return f'Too many attempts — try again in {max(1, math.ceil(wait_secs))} s.'


sign_in_throttle = SignInThrottle()


# -- per-browser storage -----------------------------------------------------------------------------------------

def use_private_storage(directory: Path) -> None:
    """Keep NiceGUI's per-browser storage in the data dir, readable by this user only.

    NiceGUI writes each change to a temp file and renames it over the old one, so a file's mode comes from the
    umask: 0o077 makes them 0600 (and everything else this process and its embedded backend write, which
    holds secrets and the store, private as well).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    os.umask(0o077)
    Storage.path = directory


def _user_storages() -> dict[str, PersistentDict]:
    """NiceGUI's per-browser storages by browser id (private: there is no accessor outside that browser's request)."""
    return app.storage._users  # pylint: disable=protected-access


def storage_file(browser_id: str) -> Path:
    return Storage.path / f'storage-{USER_PREFIX}{browser_id}.json'


def drop_browser_storage(browser_id: str) -> None:
    """Forget one browser's server-side storage, in memory and on disk."""
    storage = _user_storages().get(browser_id)
    if storage is not None:
        storage.clear()  # an emptied file storage deletes its file (also after a write still in flight)
    storage_file(browser_id).unlink(missing_ok=True)


def sweep_browser_storage(keep: Collection[str], grace_secs: float) -> int:
    """Remove the storage files of browsers without a live session, once older than `grace_secs`."""
    now, removed = time.time(), 0
    prefix = f'storage-{USER_PREFIX}'
    for path in Storage.path.glob(f'{prefix}*.json'):
        browser_id = path.name[len(prefix):-len('.json')]
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if browser_id not in keep and age >= grace_secs:
            drop_browser_storage(browser_id)
            removed += 1
    return removed


def sweep_all_browser_storage() -> None:
    """At start: sessions never survive a restart, so no browser storage from an earlier run is still needed."""
    for path in [*Storage.path.glob(f'storage-{USER_PREFIX}*.json'), *Storage.path.glob('storage-*.json.tmp')]:
        path.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    """Plain containers: NiceGUI's observable ones would keep notifying the storage they came from."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set):
        return set(value)
    return value


async def renew_browser_id() -> str:
    """Give this browser a fresh NiceGUI id, sent in the signed session cookie of the response being built.

    The UI state kept under the old id (theme, unsaved drafts) moves along and the old id's storage is
    emptied, so whoever else holds the old cookie opens nothing. Call only while handling an HTTP request.
    """
    browser = app.storage.browser
    old_id = str(browser['id'])
    old = _user_storages().get(old_id)
    carried = _plain(dict(old)) if old else {}
    new_id = str(uuid.uuid4())
    browser['id'] = new_id
    if carried:
        await app.storage._create_user_storage(new_id)  # pylint: disable=protected-access  # needed now, not next request
        _user_storages()[new_id].update(carried)
        drop_browser_storage(old_id)
    return new_id


# -- wiring ------------------------------------------------------------------------------------------------------

def install() -> None:
    """Host check and headers on every request, private per-browser storage; call before ui.run."""
    sign_in_throttle.reset()
    use_private_storage(settings.browser_storage_dir)
    app.on_startup(sweep_all_browser_storage)
    hosts = allowed_host_patterns()
    if settings.console_host in WILDCARD_ADDRESSES and not settings.console_allowed_hosts.strip():
        log.warning('listening on %s but answering only to %s; set CONSOLE_ALLOWED_HOSTS to the names clients use',
                    settings.console_host or '*', ', '.join(hosts))
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.add_middleware(SecurityHeadersMiddleware, frame_ancestors=settings.frame_ancestors())  # outermost of ours
