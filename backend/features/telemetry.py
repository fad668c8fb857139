"""Telemetry (`/admin/telemetry*`, Admin): log levels per module, a request log, latency per route.

The request log is a bounded ring buffer filled by a request observer. It keeps the method, the path,
the matched route, the status and the latency, never a header: the Authorization header is never
read, and query parameters that look like credentials (`token`, `secret`, `password`, ...) are
recorded as `[redacted]`. Log level changes are runtime-only: they are undone when the backend stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, envelope_error, int_param, legacy, read_body, require
from ..tokens import Permission

log = logging.getLogger(__name__)

FEATURE = 'telemetry'
OWN_PREFIX = '/admin/telemetry'  # this feature's own reads never make the request log "new"
LOG_CAPACITY = 1000
ROUTE_WINDOW = 500  # latencies kept per route for the percentiles
TICK_SECS = 1.0  # at most one `requests` feature event per second, and only when something new was logged
BODY_LIMIT = 64 * 1024  # fixed: a tiny `max_body_bytes` must never lock an admin out of telemetry
TRACE = 5
LEVELS: dict[str, int] = {'trace': TRACE, 'debug': logging.DEBUG, 'info': logging.INFO, 'warn': logging.WARNING,
                          'error': logging.ERROR, 'off': logging.CRITICAL + 10, 'inherit': logging.NOTSET}
LevelName = Literal['trace', 'debug', 'info', 'warn', 'error', 'off', 'inherit']
FIXED_MODULES = ('backend', 'uvicorn', 'uvicorn.error', 'uvicorn.access')
SENSITIVE = re.compile(r'token|secret|passw|auth|api[_-]?key|signature|session|credential|cookie', re.I)
MAX_TEXT = 300
UNSUPPORTED = {
    'export_interval_sec': 'this backend has no metrics exporter; percentiles are computed on request',
    'otlp_endpoint': 'this backend has no OTLP exporter',
}


class TelemetryConfig(BaseModel):
    """The Angular `TelemetryConfig`; the exporter fields stay empty (nothing is exported)."""
    sampling_rate: float = 1.0  # share of requests written to the request log
    export_interval_sec: int | None = None
    tracing_enabled: bool = True  # the request log on/off
    metrics_enabled: bool = True  # per-route latency on/off
    otlp_endpoint: str | None = None


class TelemetryChange(BaseModel):
    sampling_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    export_interval_sec: int | None = None
    tracing_enabled: StrictBool | None = None
    metrics_enabled: StrictBool | None = None
    otlp_endpoint: StrictStr | None = None


class LevelChange(BaseModel):
    level: LevelName


@dataclass
class RouteStats:
    count: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=ROUTE_WINDOW))

    def add(self, status: int, ms: float) -> None:
        self.count += 1
        self.client_errors += 400 <= status < 500
        self.server_errors += status >= 500
        self.latencies.append(ms)


@dataclass
class Telemetry:
    config: TelemetryConfig = field(default_factory=TelemetryConfig)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))
    seq: int = 0
    routes: dict[tuple[str, str], RouteStats] = field(default_factory=dict)
    original_levels: dict[str, int] = field(default_factory=dict)  # what to put back when the backend stops
    dirty: bool = False


def state_of(backend) -> Telemetry:
    return backend.feature_state(FEATURE, Telemetry)


# -- log levels ------------------------------------------------------------------------------------
def level_name(level: int) -> str:
    for name, value in LEVELS.items():
        if value == level:
            return name
    return logging.getLevelName(level).lower()


def modules() -> list[str]:
    """The loggers whose level may be set: this backend's own and the HTTP server's (never the root)."""
    names = {name for name, logger in logging.root.manager.loggerDict.items()
             if isinstance(logger, logging.Logger) and (name == 'backend' or name.startswith('backend.'))}
    return sorted(names | set(FIXED_MODULES))


def log_levels() -> list[dict[str, str]]:
    levels = []
    for name in modules():
        logger = logging.getLogger(name)
        levels.append({'module': name, 'level': level_name(logger.level),
                       'effective': level_name(logger.getEffectiveLevel())})
    return levels


def set_level(backend, module: str, level: str) -> dict[str, str]:
    """Set one module's level now (ValueError for an unknown module); announced as a feature event."""
    if module not in modules():
        raise ValueError(f"unknown module '{module}'")
    state = state_of(backend)
    logger = logging.getLogger(module)
    state.original_levels.setdefault(module, logger.level)
    logger.setLevel(LEVELS[level])
    log.info('log level of %s set to %s', module, level)
    entry = {'module': module, 'level': level_name(logger.level), 'effective': level_name(logger.getEffectiveLevel())}
    backend.publish_feature(FEATURE, 'log_level', entry)
    return entry


def level_changed_at_runtime(backend, module: str) -> bool:
    return module in state_of(backend).original_levels


def restore_levels(backend) -> None:
    state = state_of(backend)
    for module, level in state.original_levels.items():
        logging.getLogger(module).setLevel(level)
    state.original_levels.clear()


# -- the request log -------------------------------------------------------------------------------
def redacted_query(raw: bytes) -> str:
    """The query string with every credential-like parameter's value replaced."""
    if not raw:
        return ''
    pairs = parse_qsl(raw.decode('latin-1'), keep_blank_values=True)
    return urlencode([(name, '[redacted]' if SENSITIVE.search(name) else value) for name, value in pairs])[:MAX_TEXT]


def route_of(scope: dict) -> str:
    route = scope.get('route')
    return getattr(route, 'path', None) or '(no route)'


def make_observer(backend):
    state = state_of(backend)

    def observe(scope: dict, status: int, seconds: float) -> None:
        path = scope.get('path', '')
        method = scope.get('method', '')
        route = route_of(scope)
        ms = round(seconds * 1000, 3)
        config = state.config
        if config.metrics_enabled:
            state.routes.setdefault((method, route), RouteStats()).add(status, ms)
        if config.tracing_enabled and (config.sampling_rate >= 1.0 or random.random() < config.sampling_rate):
            state.seq += 1
            token = scope.get('apex_token')
            client = scope.get('client')
            state.log.append({'seq': state.seq, 'at': time.time_ns(), 'method': method, 'path': path[:MAX_TEXT],
                              'query': redacted_query(scope.get('query_string', b'')), 'route': route,
                              'status': status, 'ms': ms, 'token_name': getattr(token, 'name', None),
                              'client': client[0] if client else None})
        if not path.startswith(OWN_PREFIX):
            state.dirty = True

    return observe


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    index = max(0, min(len(sorted_values) - 1, math.ceil(share * len(sorted_values)) - 1))
    return sorted_values[index]


def route_rows(state: Telemetry) -> list[dict[str, Any]]:
    rows = []
    for (method, route), stats in state.routes.items():
        values = sorted(stats.latencies)
        rows.append({'method': method, 'route': route, 'count': stats.count, 'client_errors': stats.client_errors,
                     'server_errors': stats.server_errors, 'p50_ms': percentile(values, 0.50),
                     'p95_ms': percentile(values, 0.95), 'max_ms': values[-1] if values else 0.0,
                     'window': len(values)})
    return sorted(rows, key=lambda row: (-row['count'], row['route'], row['method']))


async def ticker(backend) -> None:
    """Tell consoles the log has news, at most once a second; put log levels back when the backend stops."""
    state = state_of(backend)
    try:
        while True:
            await asyncio.sleep(TICK_SECS)
            if state.dirty:
                state.dirty = False
                backend.publish_feature(FEATURE, 'requests', {'recorded': state.seq})
    finally:
        restore_levels(backend)


# -- routes ----------------------------------------------------------------------------------------
def overview(backend) -> dict[str, Any]:
    return {'config': state_of(backend).config.model_dump(), 'log_levels': log_levels(),
            'levels': list(LEVELS), 'unsupported': UNSUPPORTED}


async def get_telemetry(request: Request):
    require(request, Permission.Admin)
    return legacy('Telemetry configuration', overview(backend_of(request)))


async def put_telemetry(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    change = await read_body(request, TelemetryChange, BODY_LIMIT)
    if change.otlp_endpoint:
        raise envelope_error(400, f'otlp_endpoint: {UNSUPPORTED["otlp_endpoint"]}; leave it empty')
    if change.export_interval_sec is not None:
        raise envelope_error(400, f'export_interval_sec: {UNSUPPORTED["export_interval_sec"]}; leave it empty')
    state = state_of(backend)
    updates = change.model_dump(exclude_none=True, exclude={'otlp_endpoint', 'export_interval_sec'})
    state.config = state.config.model_copy(update=updates)
    log.info('telemetry configuration changed: %s', updates)
    backend.publish_feature(FEATURE, 'config', state.config.model_dump())
    return legacy('Telemetry configuration updated', state.config.model_dump())


async def put_log_level(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    module = request.path_params['module']
    change = await read_body(request, LevelChange, BODY_LIMIT)
    try:
        entry = set_level(backend, module, change.level)
    except ValueError as exc:
        raise envelope_error(404, f'{exc}; known modules: {", ".join(modules())}') from None
    return legacy(f"Log level of '{module}' set to {change.level}", entry)


async def get_requests(request: Request):
    """Newest first; `?limit=` (≤ 1000), `?exclude=<path prefix>` (e.g. this page's own reads)."""
    require(request, Permission.Admin)
    state = state_of(backend_of(request))
    limit = int_param(request, 'limit', 100, LOG_CAPACITY)
    exclude = request.query_params.get('exclude') or None
    entries = [e for e in reversed(state.log) if exclude is None or not e['path'].startswith(exclude)][:limit]
    return legacy(f'{len(entries)} requests', {'requests': entries, 'recorded': state.seq, 'capacity': LOG_CAPACITY,
                                               'tracing_enabled': state.config.tracing_enabled})


async def clear_requests(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = state_of(backend)
    state.log.clear()
    state.routes.clear()
    backend.publish_feature(FEATURE, 'cleared', {})
    return legacy('Request log and latency cleared')


async def get_routes(request: Request):
    require(request, Permission.Admin)
    state = state_of(backend_of(request))
    return legacy('Latency per route', {'routes': route_rows(state), 'window': ROUTE_WINDOW,
                                        'metrics_enabled': state.config.metrics_enabled})


def install(backend) -> None:
    state_of(backend)
    backend.request_observers.append(make_observer(backend))
    backend.feature_tasks.append(lambda: ticker(backend))


logging.addLevelName(TRACE, 'TRACE')

routes = [
    Route('/admin/telemetry', get_telemetry, methods=['GET']),
    Route('/admin/telemetry', put_telemetry, methods=['PUT']),
    Route('/admin/telemetry/log_levels/{module}', put_log_level, methods=['PUT']),
    Route('/admin/telemetry/requests', get_requests, methods=['GET']),
    Route('/admin/telemetry/requests', clear_requests, methods=['DELETE']),
    Route('/admin/telemetry/routes', get_routes, methods=['GET']),
]
