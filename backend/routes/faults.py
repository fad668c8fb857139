"""Fault hooks over HTTP (`--dev-faults` only): the same switches tests use in-process."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, plain, read_body

GARBAGE = {
    'invalid_json': '{"type": "key_change", "key": ',
    'unknown_type': json.dumps({'type': 'mystery_event', 'seq': 0}),
    'wrong_types': json.dumps({'type': 'key_change', 'operation': 42, 'key': ['not', 'a', 'string'], 'cf': None}),
    'binary': b'\x00\x01\x02garbage',
    'not_object': '[1, 2, 3]',
}


class FaultChange(BaseModel):
    refuse_upgrades: bool | None = None
    block_sse: bool | None = None
    stalled: bool | None = None
    failing_probes: list[str] | None = None
    slow_ms: int | None = Field(default=None, ge=0, le=60_000)
    drop_sockets: bool = False
    garbage: Literal['invalid_json', 'unknown_type', 'wrong_types', 'binary', 'not_object', 'oversize'] | None = None
    garbage_count: int = Field(default=1, ge=1, le=100_000)
    reset: bool = False


def apply_faults(backend, change: FaultChange) -> dict:
    faults = backend.faults
    if change.reset:
        faults.reset()
    for name in ('refuse_upgrades', 'block_sse', 'stalled', 'slow_ms'):
        value = getattr(change, name)
        if value is not None:
            setattr(faults, name, value)
    if change.failing_probes is not None:
        faults.failing_probes = set(change.failing_probes)
        backend.check_health_transitions()
    dropped = faults.drop_sockets() if change.drop_sockets else 0
    if change.garbage:
        payload = 'x' * (2 << 20) if change.garbage == 'oversize' else GARBAGE[change.garbage]
        for sub in [sub for sub in backend.bus.subscribers if not sub.internal]:  # clients' streams only
            for _ in range(change.garbage_count):
                sub.inject(payload)
    return {**faults.state().model_dump(), 'dropped': dropped}


async def post_faults(request: Request):
    change = await read_body(request, FaultChange, 1 << 20)
    return plain(apply_faults(backend_of(request), change))


async def get_faults(request: Request):
    return plain(backend_of(request).faults.state().model_dump())


routes = [Route('/_faults', post_faults, methods=['POST']), Route('/_faults', get_faults, methods=['GET'])]
