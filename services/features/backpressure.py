"""Client of the embedded backend's write backpressure routes (`/admin/backpressure`); a real ApexStore has none."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.api import ApexApi

FEATURE = 'backpressure'


class BackpressureStats(BaseModel):
    in_flight: int = 0
    queued: int = 0
    admitted: int = 0
    rejected: int = 0
    timed_out: int = 0
    peak_in_flight: int = 0
    peak_queued: int = 0


class BackpressureConfig(BaseModel):
    """The Angular page's fields (same defaults before the first load) plus the queue timeout."""
    model_config = ConfigDict(extra='ignore')
    enabled: bool = True
    max_queue_size: int = 10_000
    max_concurrency: int = 100
    queue_timeout_ms: int = 30_000
    backoff_initial_ms: int = 100
    backoff_max_ms: int = 30_000
    backoff_factor: float = 2.0
    retry_max_attempts: int = 3
    retry_on_timeout: bool = True
    retry_on_error: bool = False


class BackpressureState(BackpressureConfig):
    stats: BackpressureStats = BackpressureStats()

    def config(self) -> BackpressureConfig:
        return BackpressureConfig.model_validate(self.model_dump(include=set(BackpressureConfig.model_fields)))


async def get_state(api: ApexApi) -> BackpressureState:
    return BackpressureState.model_validate(await api.call('GET', '/admin/backpressure', 'Read backpressure'))


async def save_config(api: ApexApi, config: BackpressureConfig) -> BackpressureState:
    return BackpressureState.model_validate(await api.call('PUT', '/admin/backpressure', 'Save backpressure',
                                                           body=config.model_dump()))


async def reset_stats(api: ApexApi) -> BackpressureState:
    return BackpressureState.model_validate(await api.call('POST', '/admin/backpressure/reset',
                                                           'Reset backpressure counters', body={}))
