"""Shared fixtures: real embedded backends on loopback sockets, one per test unless stated."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.config import BackendConfig
from backend.server import BackendThread, free_port

ADMIN_TOKEN = 'apx_test-admin-token-0123456789abcdefghijklmnopqrstuv'
# The console under test (user/screen fixtures run main.py) talks to a backend on this port; set before any
# console module reads its settings.
CONSOLE_BACKEND_PORT = free_port()
os.environ.update({
    'APEXSTORE_URL': f'http://127.0.0.1:{CONSOLE_BACKEND_PORT}',
    'CONSOLE_DATA_DIR': tempfile.mkdtemp(prefix='console-test-'),
    'CONSOLE_STORAGE_SECRET': 'test-secret',
    'EVENTS_PING_INTERVAL': '1', 'EVENTS_PING_TIMEOUT': '2', 'EVENTS_BACKOFF_INITIAL': '0.05',
    'EVENTS_BACKOFF_MAX': '0.5', 'EVENTS_WS_PROBE_INTERVAL': '0.5', 'EVENTS_POLL_INTERVAL': '0.2',
})
os.environ.setdefault('SE_CHROMEDRIVER', '/usr/bin/chromedriver')


def make_backend(data_dir: Path, **overrides) -> BackendThread:
    config = BackendConfig(port=0, data_dir=data_dir, admin_token=ADMIN_TOKEN, health_interval_secs=0.1,
                           compaction_poll_secs=0.1, **overrides)
    return BackendThread(config)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[BackendThread]:
    with make_backend(tmp_path / 'store') as server:
        yield server


@pytest.fixture
def compat_backend(tmp_path: Path) -> Iterator[BackendThread]:
    with make_backend(tmp_path / 'compat-store', compat=True) as server:
        yield server


@pytest.fixture
def console_backend(tmp_path: Path) -> Iterator[BackendThread]:
    """A fresh backend on the port the console under test is configured for."""
    server = make_backend(tmp_path / 'console-store')
    server.config = server.config.model_copy(update={'port': CONSOLE_BACKEND_PORT})
    with server:
        yield server


@pytest.fixture
def console_compat_backend(tmp_path: Path) -> Iterator[BackendThread]:
    server = make_backend(tmp_path / 'console-compat-store', compat=True)
    server.config = server.config.model_copy(update={'port': CONSOLE_BACKEND_PORT})
    with server:
        yield server


def admin_client(server: BackendThread, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30,
                        headers={'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'})


@pytest.fixture
def api(backend: BackendThread) -> Iterator[httpx.Client]:
    with admin_client(backend) as client:
        yield client


@pytest.fixture
def compat_api(compat_backend: BackendThread) -> Iterator[httpx.Client]:
    with admin_client(compat_backend) as client:
        yield client
