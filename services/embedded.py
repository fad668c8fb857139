"""Start the embedded backend (`python -m backend`) as a child process on loopback.

The console reaches it only over HTTP/WebSocket, exactly as it reaches a remote ApexStore.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


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


class EmbeddedBackend:
    def __init__(self, data_dir: Path, port: int, admin_token: str, project_root: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.admin_token = admin_token
        self.project_root = project_root
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ, APEXSTORE_ADMIN_TOKEN=self.admin_token)  # env, not argv: not visible in `ps`
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'backend', '--host', '127.0.0.1', '--port', str(self.port),
             '--data-dir', str(self.data_dir / 'store'), '--log-level', 'WARNING'],
            cwd=self.project_root, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'embedded backend exited with code {self.process.returncode} '
                                   f'(is port {self.port} in use? set EMBEDDED_BACKEND_PORT)')
            try:
                httpx.get(self.url + '/health/liveness', headers={'Authorization': 'Bearer probe'}, timeout=1)
                log.info('embedded backend ready at %s (data in %s)', self.url, self.data_dir / 'store')
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError('embedded backend did not start in time')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
