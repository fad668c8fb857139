"""All console settings in one place: environment variables, overridable by `main.py` flags."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = ('127.0.0.1', 'localhost', '::1')
WILDCARD_ADDRESSES = ('0.0.0.0', '::', '')
# a CSP source for frame-ancestors: 'self' or scheme://host[:port] (host may start with *.); nothing to inject
FRAME_SOURCE = re.compile(r"'self'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix='', extra='ignore', populate_by_name=True)

    console_host: str = Field('127.0.0.1', description='address the console listens on')
    console_port: int = Field(8080, description='port the console listens on')
    apexstore_url: str | None = Field(None, description='ApexStore base URL; unset = start the embedded backend')
    apexstore_token: SecretStr | None = Field(None, description='credential for single-user/desktop sign-in')
    embedded_backend_port: int = Field(8081, description='port of the embedded backend (loopback only)')
    console_data_dir: Path = Field(Path(user_data_dir('apexstore-console')),
                                   description='embedded store, sessions and generated secrets')
    console_storage_secret: SecretStr | None = Field(None, description='session cookie secret (generated if unset)')
    console_log_level: str = Field('INFO', description='logging level')
    console_cookie_samesite: str = Field('lax', description="session cookie SameSite; 'none' (needs https) lets "
                                         'portals on other origins embed pages in iframes')
    console_session_idle_secs: float = Field(12 * 3600, description='sign out sessions idle this long')
    console_reconnect_timeout: float = Field(10.0, description='a tab that went quiet (frozen laying out a '
                                             'huge paste, a flaky network) keeps its page and unsaved '
                                             'input this long')
    console_allowed_hosts: str = Field('', description='Host names the console answers to, comma-separated '
                                       "('*' = any); default 127.0.0.1, localhost, ::1 and CONSOLE_HOST")
    console_frame_ancestors: str = Field('', description='portal origins allowed to embed ?embed=1 pages in '
                                         'iframes, comma/space-separated; default none (no framing)')
    # event service timing (seconds)
    events_ping_interval: float = Field(15.0, description='WebSocket ping interval')
    events_ping_timeout: float = Field(15.0, description='dead after this long without pong')
    events_backoff_initial: float = Field(0.5, description='first reconnect delay (full jitter)')
    events_backoff_max: float = Field(30.0, description='reconnect delay cap')
    events_stable_after: float = Field(10.0, description='connection counts as stable after this long')
    events_ws_probe_interval: float = Field(30.0, description='while degraded, retry WebSocket this often')
    events_poll_interval: float = Field(2.0, description='REST polling period on servers without long-poll')
    events_open_timeout: float = Field(5.0, description='connect/upgrade answer timeout; an unanswered WebSocket '
                                       'upgrade counts toward falling back to SSE')
    events_sse_idle_timeout: float = Field(45.0, description='an SSE stream silent this long (no event, no '
                                           'heartbeat) is reopened; silent from the start counts toward polling')
    events_poll_max_keys: int = Field(100_000, description='REST polling remembers at most this many keys per '
                                      'credential; the connection status names what lies beyond')
    # embedded backend supervision
    embedded_restart_backoff_max: float = Field(30.0, description='longest wait before restarting a crashed '
                                                'embedded backend (doubling from 0.5 s)')
    embedded_restart_give_up_after: int = Field(5, description='stop restarting the embedded backend after this '
                                                'many crashes in a row, each within 30 s of its start')

    @field_validator('console_frame_ancestors')
    @classmethod
    def _origins_only(cls, value: str) -> str:
        bad = [source for source in value.replace(',', ' ').split() if not FRAME_SOURCE.fullmatch(source)]
        if bad:
            raise ValueError(f"not an origin like https://portal.example or 'self': {', '.join(bad)}")
        return value

    def allowed_hosts(self) -> list[str]:
        """CONSOLE_ALLOWED_HOSTS, else the loopback names plus the address the console listens on."""
        configured = [name.strip() for name in self.console_allowed_hosts.split(',') if name.strip()]
        if configured:
            return configured
        extra = [] if self.console_host in (*WILDCARD_ADDRESSES, *LOOPBACK_NAMES) else [self.console_host]
        return [*LOOPBACK_NAMES, *extra]

    def frame_ancestors(self) -> list[str]:
        return self.console_frame_ancestors.replace(',', ' ').split()

    @property
    def browser_storage_dir(self) -> Path:
        """NiceGUI's per-browser storage (signed-in browsers only), 0700/0600."""
        return self.console_data_dir / 'browser-storage'

    @property
    def embedded(self) -> bool:
        return not self.apexstore_url

    @property
    def backend_url(self) -> str:
        return (self.apexstore_url or f'http://127.0.0.1:{self.embedded_backend_port}').rstrip('/')

    def storage_secret(self) -> str:
        """The configured secret, else one generated once and kept (0600) in the data dir."""
        if self.console_storage_secret:
            return self.console_storage_secret.get_secret_value()
        path = self.console_data_dir / 'storage-secret'
        if path.exists():
            return path.read_text().strip()
        self.console_data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(secret)
        return secret


settings = Settings()
