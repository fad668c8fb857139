"""Client of `/admin/replication`: the topology (one node on the embedded backend) and its write position."""

from __future__ import annotations

from pydantic import BaseModel

from ..api import ApexApi
from ..api import segment as _segment


class ReplicaNode(BaseModel):
    id: str
    name: str
    role: str
    status: str
    lag_ms: float | None = None
    address: str = ''
    last_heartbeat: int | None = None  # ns
    this_node: bool = False


class ReplicationSummary(BaseModel):
    connected: int = 0
    total: int = 0
    avg_lag_ms: float | None = None
    status: str = 'healthy'
    replicas: int | None = None


class WalPosition(BaseModel):
    latest_sequence_number: int | None = None
    wal_bytes: int = 0
    wal_files: int = 0
    event_seq: int | None = None
    event_epoch: str | None = None
    event_history: int | None = None


class Action(BaseModel):
    enabled: bool = False
    reason: str | None = None


class Topology(BaseModel):
    mode: str | None = None
    nodes: list[ReplicaNode] = []
    summary: ReplicationSummary | None = None
    wal: WalPosition | None = None
    uptime_secs: int | None = None
    actions: dict[str, Action] = {}


async def topology(api: ApexApi) -> Topology:
    return Topology.model_validate(await api.call('GET', '/admin/replication', 'Load replication topology'))


async def promote(api: ApexApi, node_id: str) -> None:
    await api.call('POST', f'/admin/replication/{_segment(node_id)}/promote', 'Promote replica')


async def remove(api: ApexApi, node_id: str) -> None:
    await api.call('DELETE', f'/admin/replication/{_segment(node_id)}', 'Remove replica')
