"""Client of `/admin/chaos`: experiments on the backend's fault hooks, each with a duration (Admin, --dev-faults)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..api import ApexApi
from ..api import segment as _segment


class ExperimentType(BaseModel):
    type: str
    label: str
    hook: str | None = None
    target: str | None = None
    config: dict[str, Any] = {}
    unsupported: str | None = None


class Experiment(BaseModel):
    id: str
    name: str
    type: str
    target: str | None = None
    hook: str | None = None
    status: str
    config: dict[str, Any] = {}
    duration_s: int | None = None
    created_at: int = 0  # ns
    started_at: int | None = None
    ended_at: int | None = None
    remaining_s: float | None = None


class ChaosState(BaseModel):
    enabled: bool = True
    reason: str | None = None
    experiments: list[Experiment] = []
    types: list[ExperimentType] = []
    faults: dict[str, Any] = {}


async def chaos_state(api: ApexApi) -> ChaosState:
    return ChaosState.model_validate(await api.call('GET', '/admin/chaos', 'Load chaos experiments'))


async def create_experiment(api: ApexApi, name: str, kind: str, config: dict[str, Any],
                            duration_s: int) -> Experiment:
    body = {'name': name, 'type': kind, 'config': config, 'duration_s': duration_s}
    return Experiment.model_validate(await api.call('POST', '/admin/chaos', 'Create experiment', body=body))


async def toggle_experiment(api: ApexApi, experiment_id: str) -> Experiment:
    data = await api.call('POST', f'/admin/chaos/{_segment(experiment_id)}/toggle', 'Start/stop experiment', body={})
    return Experiment.model_validate(data)


async def delete_experiment(api: ApexApi, experiment_id: str) -> None:
    await api.call('DELETE', f'/admin/chaos/{_segment(experiment_id)}', 'Delete experiment')
