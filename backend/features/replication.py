"""Replication (`/admin/replication`, Admin): the honest view of a single-node server.

This backend has no replicas and no replication protocol. The topology is this one node, the primary,
with its write position: RocksDB's latest sequence number (every write advances it), the WAL on disk
and the event stream's `seq`/`epoch`. Promote and remove exist for the Angular client and refuse with
the reason; nothing is made up.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from starlette.requests import Request
from starlette.routing import Route

from ..core import PROBES
from ..http import backend_of, envelope_error, legacy, require
from ..tokens import Permission

SELF_ID = 'self'
NO_REPLICAS = 'this backend runs as a single node: it has no replicas and no replication protocol'
ACTIONS = {
    'promote': f'Promote: {NO_REPLICAS}, so there is nothing to promote (this node is already the primary)',
    'remove': f'Remove: {NO_REPLICAS}; the primary itself cannot be removed',
    'add_replica': f'Add replica: {NO_REPLICAS}',
}


def wal_position(backend) -> dict[str, Any]:
    store = backend.store
    try:
        sequence: int | None = store.db.latest_sequence_number()
    except RuntimeError:  # the store is being restored from a snapshot
        sequence = None
    wal_files = [p for p in store.path.glob('*.log') if p.is_file()]
    return {'latest_sequence_number': sequence, 'wal_bytes': sum(p.stat().st_size for p in wal_files),
            'wal_files': len(wal_files), 'event_seq': backend.bus.seq, 'event_epoch': backend.bus.epoch,
            'event_history': len(backend.bus.history)}


def topology(backend) -> dict[str, Any]:
    probes = {name: backend.probe_status.get(name, 'unknown') for name in PROBES}
    healthy = all(status == 'healthy' for status in probes.values())
    config = backend.config
    node = {'id': SELF_ID, 'name': 'this server', 'role': 'primary', 'status': 'online', 'lag_ms': 0,
            'address': f'{config.host}:{config.port}', 'last_heartbeat': time.time_ns(), 'this_node': True,
            'probes': probes}
    summary = {'connected': 0, 'total': 0, 'avg_lag_ms': None, 'status': 'healthy' if healthy else 'degraded',
               'replicas': 0}
    return {'mode': 'single-node', 'nodes': [node], 'summary': summary, 'wal': wal_position(backend),
            'uptime_secs': backend.uptime_secs(),
            'actions': {name: {'enabled': False, 'reason': reason} for name, reason in ACTIONS.items()}}


async def get_replication(request: Request):
    require(request, Permission.Admin)
    return legacy('Single node: no replicas', topology(backend_of(request)))


def _refuse(node_id: str, action: str) -> NoReturn:
    if node_id == SELF_ID:
        raise envelope_error(409, ACTIONS[action])
    raise envelope_error(404, f'replica {node_id!r} not found: {NO_REPLICAS}')


async def promote(request: Request):
    require(request, Permission.Admin)
    _refuse(request.path_params['node_id'], 'promote')


async def remove(request: Request):
    require(request, Permission.Admin)
    _refuse(request.path_params['node_id'], 'remove')


routes = [
    Route('/admin/replication', get_replication, methods=['GET']),
    Route('/admin/replication/{node_id}/promote', promote, methods=['POST']),
    Route('/admin/replication/{node_id}', remove, methods=['DELETE']),
]
