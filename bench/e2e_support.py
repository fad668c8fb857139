"""Plumbing for `live_e2e.py`: processes, the baseline server, Chromium tabs, paced writers, probes.

Self-contained on purpose (imports nothing from app/, components/ or services/): the same bench runs
against any checkout of the console, before and after a rewrite.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nicegui

log = logging.getLogger('live_e2e')
BENCH = Path(__file__).resolve().parent
RECONNECT_TIMEOUT = 3.0  # NiceGUI's default: a client is deleted this long after its socket goes
# a cheap route answered by the console's own event loop (a 404 from a NiceGUI route, no page built)
PROBE_PATH = f'/_nicegui/{nicegui.__version__}/dynamic_resources/__bench_probe__'


# -- small numbers helpers ---------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values (shown as n/a)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def rss_mb(pid: int) -> float | None:
    """VmRSS of one process (not its children) in MB."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as handle:
            for line in handle:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def settled_rss(pid: int, timeout: float = 15.0, tolerance: float = 0.5, quiet: float = 0.5) -> float | None:
    """RSS once it stops moving (within `tolerance` MB for `quiet` seconds, sampled every 0.5 s), or after `timeout`."""
    deadline = time.monotonic() + timeout
    last = rss_mb(pid)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mb(pid)
        if now is None or last is None:
            return now
        if abs(now - last) > tolerance:
            still_since = time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return now
        last = now
    return last


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until `condition()` is truthy; the bench never sleeps blindly where it can ask."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(interval)


# -- where the CPU goes -----------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds so far) of one process, None if it is gone."""
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii', errors='replace') as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def descendants(root: int) -> list[int]:
    """Every process below `root` (not root itself), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append(int(entry))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat), to see load from other work."""
    with open('/proc/stat', encoding='ascii') as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS  # minus idle and iowait


class CpuMeter:
    """Cores used by each part of the system over an interval: where the time of a run goes.

    Processes that exit during the interval drop out (their time is not counted); a bench run keeps
    its tabs and servers alive while it measures, so that does not happen where it matters.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._began = 0.0
        self._busy = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {pid: stat[1] for pid in pids() if (stat := _proc_stat(pid)) is not None}
                for name, pids in self.groups.items()}

    def __enter__(self) -> CpuMeter:
        self._start, self._began, self._busy = self._sample(), time.monotonic(), machine_busy_seconds()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = wall = time.monotonic() - self._began
        end = self._sample()
        self.cores = {name: sum(cpu - self._start[name].get(pid, 0.0) for pid, cpu in pids.items()) / wall
                      for name, pids in end.items()}
        self.cores['other work on the machine'] = max(
            0.0, (machine_busy_seconds() - self._busy) / wall - sum(self.cores.values()))


# -- processes ----------------------------------------------------------------------------------------
@dataclass
class Managed:
    """A child process in its own process group, so teardown also reaches its children (the backend)."""
    name: str
    popen: subprocess.Popen
    log_path: Path

    @classmethod
    def spawn(cls, name: str, argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> Managed:
        handle = open(log_path, 'wb')  # the child writes it; our copy closes right after the spawn
        popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        handle.close()
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log_path.read_text(errors='replace')[-2000:]
            raise RuntimeError(f'{self.name} exited with {self.popen.returncode}:\n{tail}')

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning('%s did not stop in %.0f s; killing it', self.name, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # leftovers in its group (the embedded backend)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def wait_http(url: str, process: Managed, timeout: float = 60.0) -> None:
    """Up as soon as the server answers anything at all (a 404 is an answer)."""
    def answered() -> bool:
        process.check_alive()
        try:
            httpx.get(url, timeout=1.0)
            return True
        except httpx.TransportError:
            return False
    wait_for(answered, timeout, f'{process.name} at {url}', interval=0.2)


@dataclass
class Console:
    """`python main.py` of the checkout under test, with its embedded backend, on fresh ports and data."""
    process: Managed
    port: int
    backend_port: int
    token: str
    data_dir: Path

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def backend_url(self) -> str:
        return f'http://127.0.0.1:{self.backend_port}'

    @classmethod
    def start(cls, console_dir: Path, workdir: Path) -> Console:
        token = 'apx_' + secrets.token_urlsafe(32)
        port, backend_port = free_port(), free_port()
        data_dir = workdir / f'console-{port}'
        data_dir.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k != 'APEXSTORE_URL'}
        env.update(APEXSTORE_TOKEN=token, CONSOLE_DATA_DIR=str(data_dir), CONSOLE_PORT=str(port),
                   EMBEDDED_BACKEND_PORT=str(backend_port), CONSOLE_LOG_LEVEL='WARNING', PYTHONUNBUFFERED='1')
        # main.py of the checkout, through a link of another name: on a shared machine a broad `pkill -f main.py`
        # aimed at someone else's console took ours down mid-run (three times while recording the numbers)
        script = data_dir / 'apexstore-console-under-bench.py'
        script.symlink_to(console_dir / 'main.py')
        process = Managed.spawn('console', [sys.executable, str(script)], console_dir, env, data_dir / 'console.log')
        console = cls(process, port, backend_port, token, data_dir)
        try:
            wait_http(console.url + PROBE_PATH, process)
        except BaseException:
            process.stop()
            raise
        log.info('console %s up (pid %d, backend %s)', console.url, process.pid, console.backend_url)
        return console

    def rss(self) -> float | None:
        return rss_mb(self.process.pid)

    def diagnostics(self, seconds: float = 10.0) -> dict[str, Any] | None:
        """The console's own numbers if the checkout has `/_console/diagnostics` (None before the hook)."""
        try:
            response = httpx.get(f'{self.url}/_console/diagnostics', params={'seconds': seconds}, timeout=5)
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None

    def ws_events_url(self) -> str:
        return f'ws://127.0.0.1:{self.backend_port}/ws/events?token={self.token}'

    def stop(self) -> None:
        self.process.stop()


@dataclass
class BareApp:
    """`bench/bare_nicegui.py`: NiceGUI's own floor for memory per client."""
    process: Managed
    port: int

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @classmethod
    def start(cls, workdir: Path) -> BareApp:
        port = free_port()
        process = Managed.spawn('bare NiceGUI', [sys.executable, str(BENCH / 'bare_nicegui.py'), '--port', str(port)],
                                BENCH, dict(os.environ), workdir / 'bare.log')
        app = cls(process, port)
        try:
            wait_http(app.url + PROBE_PATH, process)
        except BaseException:
            process.stop()
            raise
        return app

    def clients(self) -> int:
        return int(httpx.get(f'{self.url}/_bench/clients', timeout=5).json()['clients'])

    def stop(self) -> None:
        self.process.stop()


# -- the baseline page's server -----------------------------------------------------------------------
class BaselineServer:
    """Serves `baseline.html`, and proxies GET /api/... to the backend (same origin, token added here)."""

    def __init__(self, backend_url: str, token: str) -> None:
        page = (BENCH / 'baseline.html').read_bytes()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'  # keep-alive: a clock read is one request, not a TCP handshake plus one
            disable_nagle_algorithm = True  # headers and body go as two writes: Nagle held the body ~40 ms

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == '/clock':  # this process's clock, for tabs of any origin (Browser.clock_offset_ms)
                    self._send(200, 'application/json', str(time.time() * 1000).encode(), cors=True)
                elif self.path.startswith('/api/'):
                    self._proxy(self.path[4:])
                elif self.path.split('?')[0] in ('/', '/baseline.html'):
                    self._send(200, 'text/html; charset=utf-8', page)
                else:
                    self._send(404, 'text/plain', b'not found')

            def _proxy(self, path: str) -> None:
                request = urllib.request.Request(backend_url + path, headers={'Authorization': f'Bearer {token}'})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._send(response.status, 'application/json', response.read())
                except urllib.error.HTTPError as exc:
                    self._send(exc.code, 'application/json', exc.read())

            def _send(self, status: int, content_type: str, body: bytes, cors: bool = False) -> None:
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                if cors:
                    self.send_header('Access-Control-Allow-Origin', '*')
                self.send_header('Content-Length', str(len(body)))
                self.send_header('Cache-Control', 'no-store')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name='baseline server', daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.server.server_address[1]}/baseline.html'

    @property
    def clock_url(self) -> str:
        return f'http://127.0.0.1:{self.server.server_address[1]}/clock'

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the event-loop probe from outside ----------------------------------------------------------------
class LagProbe:
    """HTTP round trips to a trivial console route every 50 ms, from a thread of its own.

    Why: the "before" checkout has no in-process sampler; a request to a route that does no work waits
    exactly as long as the console's event loop is busy, so its round trip is loop lag + a constant.
    """

    def __init__(self, base_url: str, interval: float = 0.05) -> None:
        self.url = base_url + PROBE_PATH
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (epoch s, round trip ms)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='lag probe', daemon=True)

    def __enter__(self) -> LagProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                began = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(self.url)
                    self.samples.append((time.time(), (time.perf_counter() - began) * 1000))
                self._stop.wait(max(0.0, self.interval - (time.perf_counter() - began)))

    def between(self, start: float, end: float) -> list[float]:
        return [rtt for at, rtt in self.samples if start <= at <= end]


def dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=str))
