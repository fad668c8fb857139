"""Start, verify and supervise the embedded backend (`python -m backend --embedded`), a child process on loopback.

The console reaches it only over HTTP/WebSocket, exactly as it reaches a remote ApexStore. What makes it
trustworthy:

- Its life is tied to the console's: its own process group (stopping kills the group, workers included),
  a parent-death signal and a stdin pipe whose EOF ends it (backend/__main__.py), so a killed console
  leaves no orphan holding the port.
- It proves it is the process we started before any token is sent: it got a fresh random secret through
  its environment and answers `GET /_embedded/identity?nonce=…` with an HMAC of our nonce. A port taken by
  anything else is refused with a message naming the port and EMBEDDED_BACKEND_PORT.
- A supervisor thread restarts it with backoff when it dies, gives up after repeated quick crashes, and
  publishes `EmbeddedStatus`; the event service (`EventService.guard`) sends no token while it is not
  running and shows why in the connection badge ("embedded backend restarting (attempt 2)").
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)
SECRET_ENV = 'APEXSTORE_EMBEDDED_SECRET'  # read (and removed from its environment) by backend/__main__.py
IDENTITY_PATH = '/_embedded/identity'
HOST = '127.0.0.1'


def console_admin_token(data_dir: Path) -> str:
    """The credential the console uses with its own embedded backend, kept 0600 in the data dir."""
    path = data_dir / 'console-admin-token'
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = 'apx_' + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write(token)
    return token


class EmbeddedBackendError(RuntimeError):
    """The embedded backend could not be (re)started; the message is safe to show and never holds a token."""


class PortTaken(EmbeddedBackendError):
    pass


class EmbeddedState(StrEnum):
    starting = 'starting'
    running = 'running'
    restarting = 'restarting'
    failed = 'failed'  # gave up (or the first start failed): "Reconnect now" tries again
    stopped = 'stopped'


class EmbeddedStatus(BaseModel):
    """What the console shows about its backend process (never a token or the identity secret)."""

    model_config = ConfigDict(frozen=True)
    state: EmbeddedState = EmbeddedState.stopped
    attempt: int = 0  # restart attempt under way (0: the first start)
    restarts: int = 0  # successful restarts so far
    pid: int | None = None
    last_exit: str | None = None  # how the last process ended, e.g. 'killed by SIGKILL'
    detail: str | None = None  # why it is not running, when it gave up
    next_restart_at: float | None = None  # unix seconds

    def describe(self) -> str:
        if self.state is EmbeddedState.running:
            return f'embedded backend running (pid {self.pid})'
        if self.state is EmbeddedState.restarting:
            last = f'; last: {self.last_exit}' if self.last_exit else ''
            return f'embedded backend restarting (attempt {self.attempt}{last})'
        if self.state is EmbeddedState.failed:
            return f'embedded backend not running: {self.detail}'
        return f'embedded backend {self.state.value}'


class RestartPolicy(BaseModel):
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    quick_crash_secs: float = 30.0  # a crash sooner than this after start counts toward giving up
    give_up_after: int = 5  # quick crashes (or failed starts) in a row
    ready_timeout: float = 30.0
    stop_timeout: float = 10.0

    def delay(self, attempt: int) -> float:
        """Doubling from `backoff_initial` to `backoff_max`: a crash loop must not eat a core."""
        return min(self.backoff_max, self.backoff_initial * 2 ** max(0, attempt - 1))


def policy_from_settings() -> RestartPolicy:
    from .settings import settings

    return RestartPolicy(backoff_max=settings.embedded_restart_backoff_max,
                         give_up_after=settings.embedded_restart_give_up_after)


class ThreadClock:
    """Real time for the supervisor thread; tests pass one that holds or skips its waits."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return event.wait(timeout)


def port_in_use(port: int, host: str = HOST) -> bool:
    """Is something listening on the port? (SO_REUSEADDR: our own dead child's TIME_WAIT does not count.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def port_taken_message(port: int) -> str:
    return (f'port {port} on {HOST} is already in use by another process, so the embedded backend cannot '
            f'listen there; stop that process or choose a free port with EMBEDDED_BACKEND_PORT '
            f'(--embedded-backend-port). No token was sent to it.')


def identity_proof(secret: str, nonce: str) -> str:
    """HMAC-SHA256 of `nonce` under `secret`: what only the process we gave the secret can compute."""
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def verify_identity(url: str, secret: str, timeout: float = 2.0) -> bool:
    """Is the process answering at `url` the one holding `secret`? Asked without any credential.

    Raises `httpx.TransportError` when nothing answers (yet).
    """
    nonce = secrets.token_hex(16)
    response = httpx.get(url + IDENTITY_PATH, params={'nonce': nonce}, timeout=timeout, trust_env=False)
    if response.status_code != 200:
        return False
    try:
        proof = str(response.json().get('proof', ''))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(proof, identity_proof(secret, nonce))


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f'killed by {signal.Signals(-code).name}'
        return f'killed by signal {-code}'
    return f'exit code {code}'


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the child's whole process group (its regex workers too); it leads its own session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, 'killpg'):
            os.killpg(process.pid, sig)
        elif process.poll() is None:
            process.kill()


class EmbeddedBackend:
    """The backend child process and its supervisor thread (which also spawns it, see `start`)."""

    def __init__(self, data_dir: Path, port: int, admin_token: str, project_root: Path, *,
                 policy: RestartPolicy | None = None, clock: ThreadClock | None = None,
                 log_level: str = 'WARNING') -> None:
        self.data_dir = data_dir
        self.port = port
        self.admin_token = admin_token
        self.project_root = project_root
        self.policy = policy or RestartPolicy()
        self.clock = clock or ThreadClock()
        self.log_level = log_level
        self.process: subprocess.Popen | None = None
        self._status = EmbeddedStatus()
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._retry_requested = False
        self._ready_at = 0.0
        self._quick = 0  # quick crashes / failed starts in a row
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: EmbeddedBackendError | None = None

    @property
    def url(self) -> str:
        return f'http://{HOST}:{self.port}'

    @property
    def status(self) -> EmbeddedStatus:
        return self._status

    # -- what the event service asks (services/events/service.py `Upstream`) -----------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """`listener()` runs on the supervisor's thread after every state change."""
        self._listeners.append(listener)

    def blocked(self) -> str | None:
        """None while our verified child is alive (a token may go to the port); else why not, in words."""
        status, process = self._status, self.process
        if status.state is EmbeddedState.running:
            if process is not None and process.poll() is None:
                return None
            return 'embedded backend exited; restarting it'
        return status.describe()

    def retry(self) -> None:
        """Restart now: skip the backoff wait, or try again after giving up."""
        self._retry_requested = True
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the backend, check it is ours, then keep it running. Raises `EmbeddedBackendError`.

        The supervisor thread spawns every process: Linux sends the parent-death signal when the thread
        that forked the child ends, so that thread must live as long as the supervision does.
        """
        global _current
        self._thread = threading.Thread(target=self._supervise, name='embedded-backend', daemon=True)
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error
        _current = self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            process = self.process
        self._wake.set()
        if process is not None:
            self._terminate(process)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.policy.stop_timeout + 5)
        self._set(state=EmbeddedState.stopped, pid=None, next_restart_at=None)

    # -- the supervisor thread ---------------------------------------------------------------------
    def _supervise(self) -> None:
        try:
            self._launch(attempt=0)
        except EmbeddedBackendError as exc:
            self._start_error = exc
            self._set(state=EmbeddedState.failed, detail=str(exc))
            return
        finally:
            self._started.set()
        try:
            while self._watch_until_exit() and self._recover():
                pass
        except Exception as exc:  # noqa: BLE001 - say so: a silent supervisor is what this module fixes
            log.exception('embedded backend supervisor failed')
            self._set(state=EmbeddedState.failed, detail=f'its supervisor failed ({type(exc).__name__})')

    def _watch_until_exit(self) -> bool:
        """Block until the child exits; False when that was `stop()`."""
        process = self.process
        assert process is not None
        code = process.wait()
        if self._stopping:
            return False
        uptime = self.clock.monotonic() - self._ready_at
        self._quick = self._quick + 1 if uptime < self.policy.quick_crash_secs else 0
        _signal_group(process, signal.SIGKILL)  # workers it left behind
        self._close_pipe(process)
        self._set(last_exit=describe_exit(code), pid=None)
        log.warning('embedded backend exited (%s) after %.1fs', describe_exit(code), uptime)
        return True

    def _recover(self) -> bool:
        """Restart with backoff until it runs again (True) or `stop()` (False); give up on a crash loop."""
        attempt = 0
        while not self._stopping:
            if self._quick >= self.policy.give_up_after:
                if not self._give_up():
                    return False
                attempt = 0
            attempt += 1
            delay = self.policy.delay(attempt)
            self._set(state=EmbeddedState.restarting, attempt=attempt, next_restart_at=self.clock.time() + delay)
            log.warning('restarting the embedded backend in %.1fs (attempt %d)', delay, attempt)
            self._pause(delay)
            if self._stopping:
                return False
            try:
                self._launch(attempt)
                return True
            except EmbeddedBackendError as exc:
                if self._stopping:
                    return False
                self._quick += 1
                self._set(last_exit=str(exc))
                log.warning('embedded backend restart failed: %s', exc)
        return False

    def _give_up(self) -> bool:
        """Stop restarting and say so; wait for `retry()` (True) or `stop()` (False)."""
        detail = (f'it failed {self._quick} times in a row, each within {self.policy.quick_crash_secs:g}s of '
                  f'starting (last: {self._status.last_exit}); not restarting it. See the console log; '
                  f'"Reconnect now" tries again')
        self._set(state=EmbeddedState.failed, detail=detail, next_restart_at=None)
        log.error('embedded backend: %s', detail)
        while not self._stopping and not self._retry_requested:
            self._wake.clear()
            if self._stopping or self._retry_requested:
                break
            self.clock.wait(self._wake, None)
        self._retry_requested = False
        self._quick = 0
        return not self._stopping

    def _pause(self, delay: float) -> None:
        """The backoff wait; `retry()` and `stop()` cut it short."""
        self._wake.clear()
        if not (self._stopping or self._retry_requested):
            self.clock.wait(self._wake, delay)
        self._retry_requested = False

    def _launch(self, attempt: int) -> None:
        """Spawn a child with a fresh secret and wait until it proves it holds it."""
        if attempt == 0:
            self._set(state=EmbeddedState.starting)
        if port_in_use(self.port):
            raise PortTaken(port_taken_message(self.port))
        secret = secrets.token_hex(32)
        with self._lock:
            if self._stopping:
                raise EmbeddedBackendError('the console is shutting down')
            process = self.process = self._spawn(secret)
        try:
            self._await_identity(process, secret)
        except EmbeddedBackendError:
            self._terminate(process)
            raise
        self._ready_at = self.clock.monotonic()
        self._set(state=EmbeddedState.running, pid=process.pid, detail=None, next_restart_at=None, attempt=0,
                  restarts=self._status.restarts + (1 if attempt else 0))
        log.info('embedded backend ready at %s (pid %d, data in %s)', self.url, process.pid, self.data_dir / 'store')

    def _spawn(self, secret: str) -> subprocess.Popen:
        env = dict(os.environ, APEXSTORE_ADMIN_TOKEN=self.admin_token)  # env, not argv: not visible in `ps`
        env[SECRET_ENV] = secret
        return subprocess.Popen(
            [sys.executable, '-m', 'backend', '--host', HOST, '--port', str(self.port),
             '--data-dir', str(self.data_dir / 'store'), '--log-level', self.log_level,
             '--embedded', '--parent-pid', str(os.getpid())],
            cwd=self.project_root, env=env, stdin=subprocess.PIPE, start_new_session=True)

    def _await_identity(self, process: subprocess.Popen, secret: str) -> None:
        deadline = time.monotonic() + self.policy.ready_timeout  # a real process starting: real time
        while time.monotonic() < deadline:
            if self._stopping:
                raise EmbeddedBackendError('the console is shutting down')
            code = process.poll()
            if code is not None:
                if port_in_use(self.port):
                    raise PortTaken(port_taken_message(self.port))
                raise EmbeddedBackendError(f'it exited while starting ({describe_exit(code)}); see its log above')
            try:
                if verify_identity(self.url, secret):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            raise EmbeddedBackendError(
                f'something else answers on port {self.port} and it is not the backend the console started; '
                f'no token was sent to it. Stop it or choose a free port with EMBEDDED_BACKEND_PORT.')
        raise EmbeddedBackendError(f'it did not answer within {self.policy.ready_timeout:g}s')

    def _terminate(self, process: subprocess.Popen) -> None:
        """SIGTERM to its process group, SIGKILL if it lingers."""
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(self.policy.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self._close_pipe(process)

    @staticmethod
    def _close_pipe(process: subprocess.Popen) -> None:
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def _set(self, **changes) -> None:
        with self._lock:
            self._status = self._status.model_copy(update=changes)
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a broken listener must not stop the supervision
                log.exception('embedded backend status listener failed')


_current: EmbeddedBackend | None = None


def embedded_status() -> EmbeddedStatus | None:
    """The running console's embedded backend state (None when the console talks to a remote server)."""
    return _current.status if _current is not None else None
