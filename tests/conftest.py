"""Shared fixtures: real embedded backends on loopback sockets, one per test unless stated."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.config import BackendConfig
from backend.server import BackendThread

os.environ.setdefault('SE_CHROMEDRIVER', '/usr/bin/chromedriver')
ADMIN_TOKEN = 'apx_test-admin-token-0123456789abcdefghijklmnopqrstuv'


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
