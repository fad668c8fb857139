"""Chaos experiments (`/admin/chaos`, Admin) on the backend's own fault hooks, each switching itself off.

Off unless the backend runs with `--dev-faults`: the list then says how to enable it and every change
answers 409. An experiment type maps onto one hook of `backend/faults.py`:

- `latency` → `slow_ms`: every HTTP request waits `delay_ms` before it is served;
- `error` → `failing_probes`: the chosen health probes report unhealthy;
- `crash` → `drop_sockets()`: every open WebSocket is cut now and every `interval_ms` after;
- `partition` → `refuse_upgrades` (and `block_sse`): event streams cannot connect (open ones are cut);
- `resource` has no hook in this backend and is refused.

Experiments are created stopped; starting one runs it for `duration_s`, then a feature task switches
it off (status `completed`). When several run at once their effects combine (the longest delay, the
union of probes); a hook no experiment needs any more goes back to normal. Memory only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, envelope_error, legacy, read_body, require
from ..tokens import Permission

log = logging.getLogger(__name__)

FEATURE = 'chaos'
BODY_LIMIT = 64 * 1024
MAX_EXPERIMENTS = 50
HOW_TO_ENABLE = ('chaos experiments use the fault hooks, which are off: start the backend with --dev-faults '
                 '(python -m backend --dev-faults ...) to enable them')
PROBES = ('liveness', 'readiness', 'startup')
Kind = Literal['latency', 'error', 'crash', 'partition', 'resource']
TYPES: dict[str, dict[str, Any]] = {
    'latency': {'label': 'Latency injection', 'hook': 'slow_ms', 'target': 'every HTTP request',
                'config': {'delay_ms': 200}},
    'error': {'label': 'Error injection', 'hook': 'failing_probes', 'target': 'health probes',
              'config': {'probes': ['readiness']}},
    'crash': {'label': 'Crash (dropped sockets)', 'hook': 'drop_sockets', 'target': 'open WebSocket connections',
              'config': {'interval_ms': 5000}},
    'partition': {'label': 'Network partition', 'hook': 'refuse_upgrades', 'target': 'event stream connections',
                  'config': {'block_sse': False}},
    'resource': {'label': 'Resource exhaustion', 'hook': None, 'target': None, 'config': {},
                 'unsupported': 'this backend has no fault hook for resource exhaustion'},
}


class LatencyConfig(BaseModel, extra='forbid'):
    delay_ms: StrictInt = Field(default=200, ge=1, le=10_000)


class ErrorConfig(BaseModel, extra='forbid'):
    probes: list[Literal['liveness', 'readiness', 'startup']] = Field(default=['readiness'], min_length=1)


class CrashConfig(BaseModel, extra='forbid'):
    interval_ms: StrictInt = Field(default=5000, ge=500, le=600_000)


class PartitionConfig(BaseModel, extra='forbid'):
    block_sse: StrictBool = False


CONFIGS: dict[str, type[BaseModel]] = {'latency': LatencyConfig, 'error': ErrorConfig, 'crash': CrashConfig,
                                       'partition': PartitionConfig}


class ExperimentBody(BaseModel):
    name: StrictStr = Field(min_length=1, max_length=100)
    type: Kind
    target: StrictStr | None = None  # the Angular form sends one; the hook decides what is affected
    config: dict[str, Any] = {}
    duration_s: StrictInt = Field(default=60, ge=1, le=3600)


@dataclass
class Experiment:
    id: str
    name: str
    type: str
    config: dict[str, Any]
    duration_s: int
    created_at: int
    status: str = 'stopped'  # stopped | running | completed
    started_at: int | None = None
    ends_at: float | None = None  # loop time
    ended_at: int | None = None
    next_drop: float | None = None  # crash: loop time of the next drop

    def public(self, now: float) -> dict[str, Any]:
        remaining = max(0.0, self.ends_at - now) if self.status == 'running' and self.ends_at else None
        return {'id': self.id, 'name': self.name, 'type': self.type, 'target': TYPES[self.type]['target'],
                'hook': TYPES[self.type]['hook'], 'status': self.status, 'config': self.config,
                'duration_s': self.duration_s, 'created_at': self.created_at, 'started_at': self.started_at,
                'ended_at': self.ended_at, 'remaining_s': None if remaining is None else round(remaining, 2)}


@dataclass
class Chaos:
    experiments: dict[str, Experiment] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)  # fault fields an experiment set (put back when none needs them)
    wake: asyncio.Event | None = None


def state_of(backend) -> Chaos:
    return backend.feature_state(FEATURE, Chaos)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _running(state: Chaos, kind: str) -> list[Experiment]:
    return [e for e in state.experiments.values() if e.status == 'running' and e.type == kind]


def apply_hooks(backend) -> None:
    """Set the fault hooks from the running experiments; reset the ones no experiment needs any more."""
    state = state_of(backend)
    faults = backend.faults
    latency = _running(state, 'latency')
    if latency or 'slow_ms' in state.owned:
        faults.slow_ms = max((e.config['delay_ms'] for e in latency), default=0)
    probes = {p for e in _running(state, 'error') for p in e.config['probes']}
    if probes or 'failing_probes' in state.owned:
        if faults.failing_probes != probes:
            faults.failing_probes = probes
            backend.check_health_transitions()
    partition = _running(state, 'partition')
    if partition or 'refuse_upgrades' in state.owned:
        faults.refuse_upgrades = bool(partition)
        faults.block_sse = any(e.config['block_sse'] for e in partition)
    state.owned = {name for name, active in (('slow_ms', latency), ('failing_probes', probes),
                                             ('refuse_upgrades', partition)) if active}


def _publish(backend, name: str, experiment: Experiment) -> None:
    backend.publish_feature(FEATURE, name, experiment.public(_now()))


def start(backend, experiment: Experiment) -> None:
    now = _now()
    experiment.status = 'running'
    experiment.started_at = time.time_ns()
    experiment.ended_at = None
    experiment.ends_at = now + experiment.duration_s
    log.warning('chaos experiment %r (%s) started for %d s', experiment.name, experiment.type, experiment.duration_s)
    if experiment.type in ('crash', 'partition'):  # a partition must cut the links that are already open
        backend.faults.drop_sockets()
        experiment.next_drop = now + experiment.config['interval_ms'] / 1000 if experiment.type == 'crash' else None
    apply_hooks(backend)
    _publish(backend, 'started', experiment)
    _wake(backend)


def stop(backend, experiment: Experiment, status: str = 'stopped') -> None:
    experiment.status = status
    experiment.ends_at = None
    experiment.next_drop = None
    experiment.ended_at = time.time_ns()
    log.warning('chaos experiment %r (%s) %s', experiment.name, experiment.type, status)
    apply_hooks(backend)
    _publish(backend, status, experiment)
    _wake(backend)


def _wake(backend) -> None:
    wake = state_of(backend).wake
    if wake is not None:
        wake.set()


def _tick(backend) -> float | None:
    """Switch off what is due, drop sockets for crash experiments; seconds until the next thing is due."""
    state = state_of(backend)
    now = _now()
    due: list[float] = []
    for experiment in list(state.experiments.values()):
        if experiment.status != 'running' or experiment.ends_at is None:
            continue
        if now >= experiment.ends_at:
            stop(backend, experiment, 'completed')
            continue
        due.append(experiment.ends_at)
        if experiment.next_drop is not None:
            if now >= experiment.next_drop:
                dropped = backend.faults.drop_sockets()
                experiment.next_drop = now + experiment.config['interval_ms'] / 1000
                backend.publish_feature(FEATURE, 'dropped', {'id': experiment.id, 'dropped': dropped})
            due.append(experiment.next_drop)
    return max(0.0, min(due) - now) if due else None


async def timer(backend) -> None:
    """The feature task: ends experiments on time; on shutdown every experiment stops and hooks reset."""
    state = state_of(backend)
    state.wake = asyncio.Event()
    try:
        while True:
            wait = _tick(backend)
            state.wake.clear()
            try:
                await asyncio.wait_for(state.wake.wait(), wait)
            except TimeoutError:
                pass
    finally:
        for experiment in state.experiments.values():
            if experiment.status == 'running':
                experiment.status = 'stopped'
        apply_hooks(backend)


# -- routes ----------------------------------------------------------------------------------------
def _enabled(request: Request):
    """Admin, and the fault hooks on; the backend otherwise."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    if not backend.config.dev_faults:
        raise envelope_error(409, HOW_TO_ENABLE)
    return backend


def _experiment(request: Request, backend) -> Experiment:
    experiment = state_of(backend).experiments.get(request.path_params['experiment_id'])
    if experiment is None:
        raise envelope_error(404, 'experiment not found (it may have been deleted)')
    return experiment


def _types() -> list[dict[str, Any]]:
    return [{'type': name, 'label': spec['label'], 'hook': spec['hook'], 'target': spec['target'],
             'config': spec['config'], 'unsupported': spec.get('unsupported')} for name, spec in TYPES.items()]


async def list_experiments(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    enabled = bool(backend.config.dev_faults)
    now = _now()
    experiments = [e.public(now) for e in state_of(backend).experiments.values()]
    return legacy(f'{len(experiments)} experiments', {
        'enabled': enabled, 'reason': None if enabled else HOW_TO_ENABLE, 'experiments': experiments,
        'types': _types(), 'faults': backend.faults.state().model_dump()})


async def create_experiment(request: Request):
    backend = _enabled(request)
    body = await read_body(request, ExperimentBody, BODY_LIMIT)
    if body.type == 'resource':
        raise envelope_error(400, f'type resource: {TYPES["resource"]["unsupported"]}')
    try:
        config = CONFIGS[body.type].model_validate(body.config).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ())) or 'config'
        if first.get('type') == 'extra_forbidden':
            allowed = ', '.join(CONFIGS[body.type].model_fields)
            raise envelope_error(400, f'config.{where}: not an option of {body.type} (it takes {allowed})') from None
        raise envelope_error(400, f'config.{where}: {first.get("msg")}') from None
    if not body.name.strip():
        raise envelope_error(400, 'name must not be blank')
    state = state_of(backend)
    if len(state.experiments) >= MAX_EXPERIMENTS:
        raise envelope_error(409, f'at most {MAX_EXPERIMENTS} experiments: delete finished ones first')
    experiment = Experiment(uuid.uuid4().hex[:12], body.name.strip(), body.type, config,
                            body.duration_s, time.time_ns())
    state.experiments[experiment.id] = experiment
    _publish(backend, 'created', experiment)
    return legacy(f"Experiment '{experiment.name}' created", experiment.public(_now()))


async def toggle_experiment(request: Request):
    """Start a stopped or finished experiment (for its full duration) or stop a running one."""
    backend = _enabled(request)
    experiment = _experiment(request, backend)
    if experiment.status == 'running':
        stop(backend, experiment)
    else:
        start(backend, experiment)
    return legacy(f"Experiment '{experiment.name}' {experiment.status}", experiment.public(_now()))


async def delete_experiment(request: Request):
    backend = _enabled(request)
    experiment = _experiment(request, backend)
    if experiment.status == 'running':
        stop(backend, experiment)
    del state_of(backend).experiments[experiment.id]
    backend.publish_feature(FEATURE, 'deleted', {'id': experiment.id, 'name': experiment.name})
    return legacy(f"Experiment '{experiment.name}' deleted")


def install(backend) -> None:
    state_of(backend)
    if backend.config.dev_faults:
        backend.feature_tasks.append(lambda: timer(backend))


routes = [
    Route('/admin/chaos', list_experiments, methods=['GET']),
    Route('/admin/chaos', create_experiment, methods=['POST']),
    Route('/admin/chaos/{experiment_id}/toggle', toggle_experiment, methods=['POST']),
    Route('/admin/chaos/{experiment_id}', delete_experiment, methods=['DELETE']),
]
