"""Client of `/admin/telemetry*`: log levels, tracing switch, the request log and latency per route (Admin)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..api import ApexApi
from ..api import segment as _segment

OWN_PREFIX = '/admin/telemetry'
LEVELS = ('trace', 'debug', 'info', 'warn', 'error', 'off')


class TelemetryConfig(BaseModel):
    sampling_rate: float = 1.0
    export_interval_sec: int | None = None
    tracing_enabled: bool = True
    metrics_enabled: bool = True
    otlp_endpoint: str | None = None


class LogLevel(BaseModel):
    module: str
    level: str
    effective: str | None = None


class TelemetryOverview(BaseModel):
    config: TelemetryConfig = TelemetryConfig()
    log_levels: list[LogLevel] = []
    unsupported: dict[str, str] = {}


class RequestEntry(BaseModel):
    seq: int
    at: int  # ns
    method: str
    path: str
    query: str = ''
    route: str = ''
    status: int
    ms: float
    token_name: str | None = None
    client: str | None = None


class RequestLog(BaseModel):
    requests: list[RequestEntry] = []
    recorded: int = 0
    capacity: int = 0
    tracing_enabled: bool = True


class RouteLatency(BaseModel):
    method: str
    route: str
    count: int
    client_errors: int = 0
    server_errors: int = 0
    p50_ms: float
    p95_ms: float
    max_ms: float
    window: int = 0


class RouteLatencies(BaseModel):
    routes: list[RouteLatency] = []
    window: int = 0
    metrics_enabled: bool = True


async def overview(api: ApexApi) -> TelemetryOverview:
    return TelemetryOverview.model_validate(await api.call('GET', '/admin/telemetry', 'Load telemetry'))


async def update_config(api: ApexApi, **change: Any) -> TelemetryConfig:
    data = await api.call('PUT', '/admin/telemetry', 'Save telemetry configuration', body=change)
    return TelemetryConfig.model_validate(data)


async def set_log_level(api: ApexApi, module: str, level: str) -> LogLevel:
    data = await api.call('PUT', f'/admin/telemetry/log_levels/{_segment(module)}', f'Set log level of {module}',
                          body={'level': level})
    return LogLevel.model_validate(data)


async def request_log(api: ApexApi, limit: int = 100, include_own: bool = False) -> RequestLog:
    params = {'limit': str(limit), 'exclude': None if include_own else OWN_PREFIX}
    return RequestLog.model_validate(await api.call('GET', '/admin/telemetry/requests', 'Load request log',
                                                    params=params))


async def clear_request_log(api: ApexApi) -> None:
    await api.call('DELETE', '/admin/telemetry/requests', 'Clear request log')


async def route_latencies(api: ApexApi) -> RouteLatencies:
    return RouteLatencies.model_validate(await api.call('GET', '/admin/telemetry/routes', 'Load latency per route'))
