"""The embedded backend as a real child process: supervised, tied to the console, and proven ours before any token.

Every test runs `python -m backend` for real; the impostors are real HTTP servers on the same port.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from backend.server import free_port
from services.embedded import (
    SECRET_ENV,
    EmbeddedBackend,
    EmbeddedBackendError,
    EmbeddedState,
    RestartPolicy,
    ThreadClock,
    port_in_use,
    verify_identity,
)
from services.events import EventService, KeyChangeEvent, Timing, wait_for_state
from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[2]
FAST = Timing(ping_interval=0.5, ping_timeout=1, backoff_initial=0.02, backoff_max=0.2, stable_after=0.5,
              ws_probe_interval=0.5, poll_interval=0.1, long_poll_wait=0.5, open_timeout=2, sse_idle_timeout=2)


class HeldClock(ThreadClock):
    """The supervisor's backoff waits last until the test releases them (retry() and stop() still cut them short)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.released.set()

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout is None:
            return event.wait()
        while not self.released.is_set() and not event.is_set():
            event.wait(0.01)
        return event.wait(timeout)


class Impostor:
    """Something else on the port: answers 200 to everything (a bogus identity proof too) and records requests."""

    def __init__(self, port: int) -> None:
        self.requests: list[dict[str, str]] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append({'path': self.path, **{k.lower(): v for k, v in self.headers.items()}})
                body = b'{"proof": "0000", "status": "ok"}'
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server's naming

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def saw_token(self) -> bool:
        return any(ADMIN_TOKEN in value for request in self.requests for value in request.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock() -> HeldClock:
    return HeldClock()


@pytest.fixture
def make_embedded(tmp_path: Path, clock: HeldClock) -> Iterator[Callable[..., EmbeddedBackend]]:
    made: list[EmbeddedBackend] = []

    def make(**policy) -> EmbeddedBackend:
        backend = EmbeddedBackend(tmp_path / 'console-data', free_port(), ADMIN_TOKEN, ROOT, clock=clock,
                                  policy=RestartPolicy(**{'backoff_initial': 0.05, **policy}))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.stop()


async def until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = 'condition') -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f'{what} not reached in {timeout}s')
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper counts as gone: it holds no port and runs nothing)."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except FileNotFoundError:
        return True


async def put(url: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers={'Authorization': f'Bearer {ADMIN_TOKEN}',
                                                        'Content-Type': 'application/json'}) as client:
        (await client.put(f'/keys/{key}', json={'value': 'v'})).raise_for_status()


# -- 1. supervision ------------------------------------------------------------------------------------
async def test_a_killed_backend_is_restarted_and_the_console_says_so_meanwhile(make_embedded, clock):
    backend = make_embedded()
    await asyncio.to_thread(backend.start)
    service = EventService(backend.url, timing=FAST)
    service.guard(backend)
    try:
        keys: list = []
        service.on_key_changes(ADMIN_TOKEN).subscribe(keys.append)
        service.connect(ADMIN_TOKEN)
        await wait_for_state(service, ADMIN_TOKEN, 'connected')
        first_pid = backend.status.pid
        clock.hold()  # keep the restart waiting so the outage can be looked at
        os.kill(first_pid, signal.SIGKILL)
        await until(lambda: backend.status.state == EmbeddedState.restarting, what='restarting')
        assert (backend.status.attempt, backend.status.last_exit) == (1, 'killed by SIGKILL')
        await until(lambda: 'embedded backend restarting (attempt 1' in (service.status(ADMIN_TOKEN).last_failure
                                                                         or ''), what='badge shows the restart')
        assert service.status(ADMIN_TOKEN).state == 'reconnecting'
        clock.release()
        await wait_for_state(service, ADMIN_TOKEN, 'connected', timeout=20)
        assert backend.status.state == EmbeddedState.running and backend.status.restarts == 1
        assert backend.status.pid != first_pid
        await put(backend.url, 'after-restart')
        await until(lambda: any(isinstance(e, KeyChangeEvent) and e.key == 'after-restart' for e in keys))
    finally:
        await service.close()


async def test_repeated_quick_crashes_stop_the_restarts_and_say_so(make_embedded, tmp_path):
    backend = make_embedded(give_up_after=3, quick_crash_secs=60)
    await asyncio.to_thread(backend.start)
    service = EventService(backend.url, timing=FAST)
    service.guard(backend)
    store = tmp_path / 'console-data' / 'store'
    try:
        service.connect(ADMIN_TOKEN)
        await wait_for_state(service, ADMIN_TOKEN, 'connected')
        store.rename(store.with_name('store.moved'))
        store.write_text('not a directory: every start crashes')
        os.kill(backend.status.pid, signal.SIGKILL)
        await until(lambda: backend.status.state == EmbeddedState.failed, timeout=60, what='giving up')
        detail = backend.status.detail or ''
        assert 'failed 3 times in a row' in detail and 'Reconnect now' in detail
        await until(lambda: 'embedded backend not running: it failed 3 times' in (
            service.status(ADMIN_TOKEN).last_failure or ''), what='badge shows giving up')
        assert backend.blocked() is not None and ADMIN_TOKEN not in detail
        store.unlink()
        store.with_name('store.moved').rename(store)
        service.reconnect_now(ADMIN_TOKEN)  # the badge's button retries the backend too
        await wait_for_state(service, ADMIN_TOKEN, 'connected', timeout=30)
        assert backend.status.state == EmbeddedState.running
    finally:
        await service.close()


# -- 2. tied to the console, and proven ours -------------------------------------------------------------
CONSOLE_STAND_IN = '''
import subprocess, sys, time
from pathlib import Path
from services.embedded import EmbeddedBackend
backend = EmbeddedBackend(Path(sys.argv[1]), int(sys.argv[2]), 'apx_stand-in-token-0123456789', Path('.'))
backend.start()
# keep the backend's stdin pipe open in another process: only the parent-death signal is left to end it
keeper = subprocess.Popen(['sleep', '120'], pass_fds=[backend.process.stdin.fileno()])
print(backend.process.pid, keeper.pid, flush=True)
time.sleep(120)
'''


async def test_a_killed_console_takes_its_backend_along(tmp_path):
    port = free_port()
    console = subprocess.Popen([sys.executable, '-c', CONSOLE_STAND_IN, str(tmp_path), str(port)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    keeper_pid = None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(console.stdout.readline), 30)  # type: ignore[union-attr]
        backend_pid, keeper_pid = (int(part) for part in line.split())
        assert port_in_use(port)
        console.kill()  # SIGKILL: no shutdown hook runs
        await until(lambda: gone(backend_pid), timeout=15, what='backend exit after the console died')
        await until(lambda: not port_in_use(port), timeout=5, what='port released')
    finally:
        console.kill()
        console.wait()
        if keeper_pid is not None:
            os.kill(keeper_pid, signal.SIGKILL)


async def test_the_backend_exits_when_the_console_pipe_closes_and_proves_its_identity(tmp_path):
    port, secret = free_port(), secrets.token_hex(32)
    child = subprocess.Popen([sys.executable, '-m', 'backend', '--port', str(port), '--data-dir', str(tmp_path),
                              '--log-level', 'WARNING', '--embedded', '--parent-pid', str(os.getpid())],
                             cwd=ROOT, env={**os.environ, SECRET_ENV: secret, 'APEXSTORE_ADMIN_TOKEN': ADMIN_TOKEN},
                             stdin=subprocess.PIPE)
    url = f'http://127.0.0.1:{port}'
    try:
        async def identity(candidate: str) -> bool:
            while True:
                try:
                    return await asyncio.to_thread(verify_identity, url, candidate)
                except httpx.TransportError:
                    assert child.poll() is None, 'backend exited while starting'
                    await asyncio.sleep(0.05)

        assert await identity(secret)
        assert not await identity(secrets.token_hex(32))
        assert child.poll() is None
        child.stdin.close()  # type: ignore[union-attr] - what the kernel does when the console dies
        await asyncio.wait_for(asyncio.to_thread(child.wait), 15)
    finally:
        child.kill()
        child.wait()


async def test_refuses_to_start_when_the_port_is_taken(make_embedded):
    backend = make_embedded()
    impostor = Impostor(backend.port)
    try:
        with pytest.raises(EmbeddedBackendError) as raised:
            await asyncio.to_thread(backend.start)
        message = str(raised.value)
        assert f'port {backend.port}' in message and 'EMBEDDED_BACKEND_PORT' in message
        assert ADMIN_TOKEN not in message
        assert impostor.requests == []  # not even asked: nothing was sent to it
    finally:
        impostor.close()


async def test_a_stranger_that_grabs_the_port_during_a_restart_never_gets_the_token(make_embedded, clock):
    backend = make_embedded(give_up_after=3)
    await asyncio.to_thread(backend.start)
    service = EventService(backend.url, timing=FAST)
    service.guard(backend)
    impostor = None
    try:
        service.connect(ADMIN_TOKEN)
        await wait_for_state(service, ADMIN_TOKEN, 'connected')
        clock.hold()
        os.kill(backend.status.pid, signal.SIGKILL)
        await until(lambda: backend.status.state == EmbeddedState.restarting, what='restarting')
        impostor = Impostor(backend.port)
        httpx.get(backend.url + '/probe', timeout=5)  # the stranger really answers on the port
        clock.release()
        await until(lambda: backend.status.state == EmbeddedState.failed, timeout=30, what='giving up')
        assert f'port {backend.port}' in (backend.status.detail or '')
        await until(lambda: 'EMBEDDED_BACKEND_PORT' in (service.status(ADMIN_TOKEN).last_failure or ''),
                    what='badge names the port setting')
        rounds = service.status(ADMIN_TOKEN).counters.reconnects
        await until(lambda: service.status(ADMIN_TOKEN).counters.reconnects >= rounds + 3,
                    what='more reconnect rounds of the event service')
        assert not impostor.saw_token()
        assert {r['path'] for r in impostor.requests} == {'/probe'}
        impostor.close()
        impostor = None
        service.reconnect_now(ADMIN_TOKEN)
        await wait_for_state(service, ADMIN_TOKEN, 'connected', timeout=30)
    finally:
        if impostor is not None:
            impostor.close()
        await service.close()
