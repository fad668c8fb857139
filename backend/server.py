"""Run the backend with uvicorn: in the foreground (CLI), or in a thread (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import socket
import subprocess
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.responses import JSONResponse

from .app import create_app
from .config import BackendConfig
from .core import Backend
from .faults import websocket_protocol
from .routes.faults import FaultChange, apply_faults

IDENTITY_PATH = '/_embedded/identity'
NONCE = re.compile(r'[0-9a-f]{32,128}')


def identity_proof(secret: str, nonce: str) -> str:
    """HMAC-SHA256 of the console's nonce under the per-start secret (services/embedded.py checks it)."""
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


class IdentityRoute:
    """`GET /_embedded/identity?nonce=<hex>` → `{"proof": HMAC(secret, nonce)}`, before any authentication.

    The console that started this process asks this before it sends a token: only the process that got
    the secret from it can answer, so a stranger listening on the port never sees the admin token. The
    secret itself is never sent, and a fresh nonce each time means an answer cannot be replayed.
    """

    def __init__(self, app, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http' or scope['path'] != IDENTITY_PATH:
            await self.app(scope, receive, send)
            return
        nonce = (parse_qs(scope.get('query_string', b'').decode()).get('nonce') or [''])[0]
        if scope['method'] != 'GET' or not NONCE.fullmatch(nonce):
            response = JSONResponse({'error': 'expected GET with ?nonce=<32-128 hex digits>'}, status_code=400)
        else:
            response = JSONResponse({'proof': identity_proof(self.secret, nonce)},
                                    headers={'Cache-Control': 'no-store'})
        await response(scope, receive, send)


def build_server(config: BackendConfig, sock_host: str | None = None,
                 identity_secret: str | None = None) -> tuple[uvicorn.Server, Backend]:
    backend = Backend(config)
    app = create_app(backend)
    if identity_secret:
        app = IdentityRoute(app, identity_secret)  # type: ignore[assignment]
    uv_config = uvicorn.Config(app, host=sock_host or config.host, port=config.port, log_level='warning',
                               ws=websocket_protocol(backend.faults), ws_max_size=16 * 1024 * 1024,
                               ws_per_message_deflate=False,  # loopback/LAN: CPU matters more than bytes
                               ws_ping_interval=None, ws_ping_timeout=None, lifespan='on',
                               # streams close within milliseconds; 2 s was exceeded on a loaded 2-core machine
                               timeout_graceful_shutdown=5)
    return uvicorn.Server(uv_config), backend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class BackendThread:
    """A real backend on a real loopback socket, in its own thread and event loop.

    `faults(...)` and `call(...)` marshal into the backend's loop, so tests never touch its state
    from the wrong thread.
    """

    def __init__(self, config: BackendConfig) -> None:
        if not config.port:
            config = config.model_copy(update={'port': free_port()})
        self.config = config
        self.server: uvicorn.Server | None = None
        self.backend: Backend | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f'http://{self.config.host}:{self.config.port}'

    @property
    def ws_url(self) -> str:
        return f'ws://{self.config.host}:{self.config.port}'

    def start(self, timeout: float = 15.0) -> BackendThread:
        started = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.server, self.backend = build_server(self.config)
            original_startup = self.server.startup

            async def startup(sockets=None):
                await original_startup(sockets)
                started.set()

            self.server.startup = startup  # type: ignore[method-assign]
            self.loop.run_until_complete(self.server.serve())
            self.loop.close()

        self._thread = threading.Thread(target=run, name=f'backend:{self.config.port}', daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise RuntimeError('backend did not start')
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def restart(self) -> BackendThread:
        self.stop()
        return self.start()

    def call(self, fn: Callable[[Backend], Any], timeout: float = 30.0) -> Any:
        """Run `fn(backend)` (sync or async) inside the backend's loop and return its result."""
        assert self.loop is not None and self.backend is not None

        async def runner():
            result = fn(self.backend)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    def faults(self, **change: Any) -> dict:
        return self.call(lambda backend: apply_faults(backend, FaultChange(**change)))

    def __enter__(self) -> BackendThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class BackendProcess:
    """`python -m backend` as a child process: a separate core, and a real kill for fault tests."""

    def __init__(self, data_dir, port: int = 0, admin_token: str | None = None, extra_args: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.admin_token = admin_token
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def ws_url(self) -> str:
        return f'ws://127.0.0.1:{self.port}'

    def start(self, timeout: float = 20.0) -> BackendProcess:
        import os
        import sys
        import time

        import httpx

        env = dict(os.environ)
        if self.admin_token:
            env['APEXSTORE_ADMIN_TOKEN'] = self.admin_token
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'backend', '--port', str(self.port), '--data-dir', str(self.data_dir),
             '--log-level', 'WARNING', *self.extra_args], env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + '/health/liveness', headers={'Authorization': 'Bearer probe'}, timeout=1)
                return self
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise RuntimeError('backend process exited during start') from None
                time.sleep(0.05)
        raise RuntimeError('backend process did not start')

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:  # noqa: BLE001
                self.kill()

    def __enter__(self) -> BackendProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
