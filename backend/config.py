"""Settings of the embedded backend (one place; `python -m backend --help` mirrors them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class BackendConfig(BaseModel):
    host: str = '127.0.0.1'
    port: int = 8081
    data_dir: Path
    auth: bool = True
    admin_token: str | None = None  # raw token to install as the Admin token (never logged)
    compat: bool = False  # behave like the current real ApexStore server (no extensions)
    dev_faults: bool = False  # expose the fault hooks over HTTP (tests only)
    history_size: int = 10_000
    subscriber_limit: int = 1024
    sse_heartbeat_secs: float = 15.0
    health_interval_secs: float = 1.0
    compaction_poll_secs: float = 0.25
    max_body_bytes: int = 2 * 1024 * 1024
    regex_budget_secs: float = 1.0  # total time one `/keys/search?mode=regex` may spend matching

    @property
    def db_dir(self) -> Path:
        return self.data_dir / 'db'

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / 'snapshots'

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / 'admin-token'
