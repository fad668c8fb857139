"""Server configuration (`/admin/config`, Admin): every setting with its effective value and origin.

Settings of `BackendConfig` and RocksDB options of the store. A setting the running server can change
safely is mutable (validated, applied at once, in memory: a restart returns to the start values);
the rest (address, data directory, auth, ...) are read-only and a change is refused with 400.
`source` says where the effective value came from: `default`, `cli` (start-up flag or argument),
`env` (environment variable) or `runtime` (changed here since the start).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..config import BackendConfig
from ..http import backend_of, envelope_error, legacy, read_body, require
from ..storage import SYSTEM_CF
from ..tokens import Permission
from . import telemetry

log = logging.getLogger(__name__)

FEATURE = 'server_config'
BODY_LIMIT = 64 * 1024  # fixed: lowering `max_body_bytes` must never lock the admin out of this route
ADMIN_TOKEN_ENV = 'APEXSTORE_ADMIN_TOKEN'
LOG_LEVELS = ('trace', 'debug', 'info', 'warn', 'error', 'off')
ValueType = Literal['string', 'number', 'boolean', 'json']


class ConfigChange(BaseModel):
    value: StrictStr | StrictBool | StrictInt | StrictFloat  # the Angular page sends a string


@dataclass(frozen=True)
class Setting:
    key: str
    group: str
    type: ValueType
    description: str
    read: Callable[[Any], Any]  # backend -> effective value
    apply: Callable[[Any, Any], None] | None = None  # None: read-only
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = True
    choices: tuple[str, ...] = ()
    unit: str = ''
    risk: str | None = None  # why a change deserves a confirmation
    how_to_set: str = ''  # for read-only settings: where it is set instead
    applies: str = 'at once'

    @property
    def mutable(self) -> bool:
        return self.apply is not None

    def parse(self, raw: str) -> Any:
        """The typed value, or ValueError with a message a person can act on."""
        text = raw.strip()
        if self.type == 'boolean':
            if text.lower() not in ('true', 'false'):
                raise ValueError(f'{self.key}: expected true or false, got {raw!r}')
            return text.lower() == 'true'
        if self.choices:
            if text.lower() not in self.choices:
                raise ValueError(f'{self.key}: expected one of {", ".join(self.choices)}, got {raw!r}')
            return text.lower()
        try:
            number: float = int(text) if self.integer else float(text)
        except ValueError:
            kind = 'a whole number' if self.integer else 'a number'
            raise ValueError(f'{self.key}: expected {kind}, got {raw!r}') from None
        low = float('-inf') if self.minimum is None else self.minimum
        high = float('inf') if self.maximum is None else self.maximum
        if number != number or not low <= number <= high:  # NaN compares false with everything
            unit = f' {self.unit}' if self.unit else ''
            raise ValueError(f'{self.key}: must be between {low:g} and {high:g}{unit}, got {raw!r}')
        return number


@dataclass
class ConfigState:
    runtime: dict[str, Any] = field(default_factory=dict)  # key -> value set here
    start_values: dict[str, Any] = field(default_factory=dict)  # RocksDB options as the store opened


def state_of(backend) -> ConfigState:
    return backend.feature_state(FEATURE, ConfigState)


# -- BackendConfig settings ------------------------------------------------------------------------
def _config(name: str) -> Callable[[Any], Any]:
    return lambda backend: getattr(backend.config, name)


def _set_config(name: str, also: Callable[[Any, Any], None] | None = None) -> Callable[[Any, Any], None]:
    def apply(backend, value) -> None:
        setattr(backend.config, name, value)
        if also is not None:
            also(backend, value)
    return apply


def _resize_history(backend, size: int) -> None:
    """Keep the newest events; clients resuming from before the kept window are told to resync."""
    backend.bus.history = deque(backend.bus.history, maxlen=size)


def _set_subscriber_limit(backend, limit: int) -> None:
    backend.bus.subscriber_limit = limit


def _set_regex_budget(backend, secs: float) -> None:
    backend.regex.budget_secs = secs


def _read_log_level(_backend) -> str:
    return telemetry.level_name(logging.getLogger('backend').getEffectiveLevel())


def _set_log_level(backend, level: str) -> None:
    telemetry.set_level(backend, 'backend', level)


def _admin_token(backend) -> str:
    return 'set (hidden)' if backend.config.admin_token else 'not set'


def _read_only(key: str, group: str, type_: ValueType, description: str, how: str,
               read: Callable[[Any], Any] | None = None) -> Setting:
    return Setting(key, group, type_, description, read or _config(key), how_to_set=how)


CONFIG_SETTINGS: tuple[Setting, ...] = (
    _read_only('host', 'Server', 'string', 'Address the server listens on', 'set it with --host at start-up'),
    _read_only('port', 'Server', 'number', 'TCP port the server listens on', 'set it with --port at start-up'),
    _read_only('data_dir', 'Server', 'string', 'Directory of the RocksDB database and snapshots',
               'set it with --data-dir at start-up', lambda b: str(b.config.data_dir)),
    _read_only('auth', 'Server', 'boolean', 'Bearer tokens are checked (off with --no-auth)',
               'set it with --no-auth at start-up'),
    _read_only('admin_token', 'Server', 'string', 'Admin token installed at start-up (never shown)',
               'set it with --admin-token or env APEXSTORE_ADMIN_TOKEN at start-up', _admin_token),
    _read_only('compat', 'Server', 'boolean', 'Behave like the current real ApexStore (no extensions)',
               'set it with --compat apexstore at start-up'),
    _read_only('dev_faults', 'Server', 'boolean', 'Fault hooks and chaos experiments are available',
               'set it with --dev-faults at start-up'),
    Setting('max_body_bytes', 'Limits', 'number', 'Largest request body; bigger ones are refused with 413',
            _config('max_body_bytes'), _set_config('max_body_bytes'), 1024, 256 * 1024 * 1024, unit='bytes',
            risk='Lowering it refuses every larger write with 413 (the console sends up to 2 MiB).'),
    Setting('regex_budget_secs', 'Limits', 'number', 'Time one regex key search may spend matching',
            _config('regex_budget_secs'), _set_config('regex_budget_secs', _set_regex_budget), 0.05, 30,
            integer=False, unit='s', applies='from the next search'),
    Setting('history_size', 'Events', 'number', 'Events kept for clients resuming with since=',
            _config('history_size'), _set_config('history_size', _resize_history), 100, 1_000_000, unit='events',
            risk='Lowering it drops the oldest events: clients further behind must resync.'),
    Setting('subscriber_limit', 'Events', 'number', 'Events queued per stream before it is marked lagging',
            _config('subscriber_limit'), _set_config('subscriber_limit', _set_subscriber_limit), 16, 100_000,
            unit='events', applies='for streams opened from now on'),
    Setting('sse_heartbeat_secs', 'Events', 'number', 'Quiet time before an SSE stream sends a heartbeat',
            _config('sse_heartbeat_secs'), _set_config('sse_heartbeat_secs'), 1, 300, integer=False, unit='s',
            applies='from the next heartbeat'),
    Setting('health_interval_secs', 'Monitors', 'number', 'How often the health probes are re-checked',
            _config('health_interval_secs'), _set_config('health_interval_secs'), 0.05, 60, integer=False,
            unit='s', applies='from the next check'),
    Setting('compaction_poll_secs', 'Monitors', 'number', 'How often compaction progress is polled',
            _config('compaction_poll_secs'), _set_config('compaction_poll_secs'), 0.05, 60, integer=False,
            unit='s', applies='from the next poll'),
    Setting('log_level', 'Logging', 'string', 'Level of the backend\'s loggers (per module: Telemetry page)',
            _read_log_level, _set_log_level, choices=LOG_LEVELS,
            risk='trace/debug can log a lot; off hides errors too.'),
)


# -- RocksDB options -------------------------------------------------------------------------------
_SECTION = re.compile(r'^\[(\w+)(?: "([^"]*)")?\]$')


def rocksdb_options(db_dir: Path) -> dict[str, dict[str, str]]:
    """The newest OPTIONS file RocksDB wrote (it writes one at open and after every change)."""
    files = sorted(db_dir.glob('OPTIONS-*'), key=lambda p: int(p.name.split('-')[-1]) if p.name.split('-')[-1]
                   .isdigit() else -1)
    sections: dict[str, dict[str, str]] = {}
    if not files:
        return sections
    current: dict[str, str] = {}
    for line in files[-1].read_text(errors='replace').splitlines():
        line = line.strip()
        if match := _SECTION.match(line):
            name = match.group(1) + (f':{match.group(2)}' if match.group(2) else '')
            current = sections.setdefault(name, {})
        elif '=' in line and not line.startswith('#'):
            key, _, value = line.partition('=')
            current[key.strip()] = value.strip()
    return sections


def _rocks_read(section: str, option: str, kind: ValueType) -> Callable[[Any], Any]:
    def read(backend) -> Any:
        raw = rocksdb_options(backend.store.path).get(section, {}).get(option)
        if raw is None:
            return None
        if kind == 'boolean':
            return raw == 'true'
        if kind == 'number':
            return int(raw) if raw.lstrip('-').isdigit() else raw
        return raw
    return read


def _rocks_apply(option: str) -> Callable[[Any, Any], None]:
    def apply(backend, value) -> None:
        text = ('true' if value else 'false') if isinstance(value, bool) else str(value)
        for name, handle in list(backend.store._cfs.items()):  # noqa: SLF001 - every open family, not __system
            if name != SYSTEM_CF:
                handle.set_options({option: text})
    return apply


def _rocks(option: str, description: str, kind: ValueType = 'number', *, mutable: bool = False,
           minimum: float | None = None, maximum: float | None = None, unit: str = '', risk: str | None = None,
           section: str = 'CFOptions:default') -> Setting:
    return Setting(f'rocksdb.{option}', 'RocksDB', kind, description, _rocks_read(section, option, kind),
                   _rocks_apply(option) if mutable else None, minimum, maximum, unit=unit, risk=risk,
                   how_to_set='the storage layer sets it when the database opens',
                   applies='to every open column family (new families and a restart start from the defaults)')


MIB = 1024 * 1024
ROCKSDB_SETTINGS: tuple[Setting, ...] = (
    _rocks('max_background_jobs', 'Background flush and compaction threads', section='DBOptions'),
    _rocks('max_open_files', 'Open SST file limit (-1: unlimited)', section='DBOptions'),
    _rocks('num_levels', 'LSM levels'),
    _rocks('compression', 'Block compression', 'string'),
    _rocks('write_buffer_size', 'Memtable size before it is flushed', mutable=True, minimum=64 * 1024,
           maximum=1024 * MIB, unit='bytes', risk='Small memtables mean many flushes and many small SST files.'),
    _rocks('max_write_buffer_number', 'Memtables kept in memory (active + being flushed)', mutable=True, minimum=2,
           maximum=16),
    _rocks('level0_file_num_compaction_trigger', 'L0 files that trigger a compaction', mutable=True, minimum=1,
           maximum=64),
    _rocks('target_file_size_base', 'Target SST file size at L1', mutable=True, minimum=64 * 1024,
           maximum=1024 * MIB, unit='bytes'),
    _rocks('disable_auto_compactions', 'Automatic compactions are off', 'boolean', mutable=True,
           risk='With automatic compactions off, L0 grows without bound and reads slow down.'),
)
SETTINGS: dict[str, Setting] = {s.key: s for s in (*CONFIG_SETTINGS, *ROCKSDB_SETTINGS)}


# -- values and origins ----------------------------------------------------------------------------
def text_of(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        return f'{value:g}'
    return '' if value is None else str(value)


def default_of(backend, setting: Setting) -> Any:
    if setting.key.startswith('rocksdb.'):
        return state_of(backend).start_values.get(setting.key)
    if setting.key == 'log_level':
        return 'info'  # `python -m backend --log-level` defaults to INFO
    if setting.key == 'admin_token':
        return 'not set'
    info = BackendConfig.model_fields.get(setting.key)
    return None if info is None or info.is_required() else info.default


def source_of(backend, setting: Setting, value: Any) -> str:
    state = state_of(backend)
    if setting.key in state.runtime and state.runtime[setting.key] == value:
        return 'runtime'
    if setting.key == 'log_level':
        if telemetry.level_changed_at_runtime(backend, 'backend'):
            return 'runtime'
        return 'cli' if logging.getLogger().level != logging.WARNING else 'default'  # --log-level set the root
    if setting.key == 'admin_token':
        token = backend.config.admin_token
        if not token:
            return 'default'
        from_env = os.environ.get(ADMIN_TOKEN_ENV) or ''
        return 'env' if from_env and hmac.compare_digest(from_env, token) else 'cli'
    if setting.key.startswith('rocksdb.'):
        return 'default'
    explicit = setting.key in backend.config.model_fields_set
    return 'cli' if explicit and value != default_of(backend, setting) else 'default'


def entry(backend, setting: Setting) -> dict[str, Any]:
    """The Angular `ConfigEntry` plus where the value came from and what a change must respect."""
    try:
        value = setting.read(backend)
    except Exception as exc:  # noqa: BLE001 - a store being restored: say so rather than fail the list
        value = f'unavailable ({exc})'
    return {'key': setting.key, 'value': text_of(value), 'type': setting.type, 'description': setting.description,
            'mutable': setting.mutable, 'group': setting.group, 'source': source_of(backend, setting, value),
            'default': text_of(default_of(backend, setting)), 'min': setting.minimum, 'max': setting.maximum,
            'integer': setting.integer if setting.type == 'number' else None, 'choices': list(setting.choices),
            'unit': setting.unit, 'risk': setting.risk, 'applies': setting.applies if setting.mutable else None,
            'how_to_set': None if setting.mutable else setting.how_to_set}


def change(backend, key: str, raw: str) -> dict[str, Any]:
    """Validate and apply one change; KeyError for an unknown key, ValueError with the reason otherwise."""
    setting = SETTINGS[key]
    if not setting.mutable:
        raise ValueError(f"'{key}' is read-only while the server runs ({setting.how_to_set})")
    value = setting.parse(raw)
    before = entry(backend, setting)['value']
    assert setting.apply is not None
    setting.apply(backend, value)
    state_of(backend).runtime[key] = setting.read(backend)
    after = entry(backend, setting)
    log.info('setting %s changed at runtime: %s -> %s', key, before, after['value'])
    backend.publish_feature(FEATURE, 'changed', {'key': key, 'value': after['value'], 'previous': before})
    return after


# -- routes ----------------------------------------------------------------------------------------
async def list_config(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    entries = [entry(backend, setting) for setting in SETTINGS.values()]
    return legacy(f'{len(entries)} settings', {'entries': entries})


async def update_config(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    key = request.path_params['key']
    body = await read_body(request, ConfigChange, BODY_LIMIT)
    raw = text_of(body.value)
    if key not in SETTINGS:
        raise envelope_error(404, f"unknown setting '{key}'")
    try:
        updated = change(backend, key, raw)
    except ValueError as exc:
        raise envelope_error(400, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - RocksDB refused the option: nothing was changed
        raise envelope_error(400, f'{key}: the store refused the change ({exc})') from None
    return legacy(f"'{key}' updated", updated)


def install(backend) -> None:
    state = state_of(backend)
    for setting in ROCKSDB_SETTINGS:
        try:
            state.start_values[setting.key] = setting.read(backend)
        except OSError:
            log.warning('could not read the RocksDB option %s', setting.key)


routes = [
    Route('/admin/config', list_config, methods=['GET']),
    Route('/admin/config/{key}', update_config, methods=['PUT']),
]
