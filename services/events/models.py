"""Typed events: one model per kind, whichever dialect the server speaks (discriminated on `type`)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Event(BaseModel):
    model_config = ConfigDict(extra='ignore', frozen=True)
    seq: int | None = None
    timestamp: int | None = None  # ns since the epoch, as the servers send it

    @property
    def received_at(self) -> float:
        return (self.timestamp or time.time_ns()) / 1e9


class KeyChangeEvent(_Event):
    type: Literal['key_change'] = 'key_change'
    operation: Literal['put', 'delete', 'delete_prefix']
    key: str  # text when the key is valid UTF-8, else `0x…` hex (see key_is_hex)
    key_is_hex: bool = False
    cf: str = 'default'
    value: str | None = None  # text preview; absent for deletes or values too large to ship live
    value_bytes: bytes | None = None  # exact bytes where the server sent them (CDC dialect)
    value_size: int | None = None
    reason: str | None = None  # e.g. 'ttl' for expiry


class CompactionEvent(_Event):
    type: Literal['compaction_status'] = 'compaction_status'
    status: Literal['started', 'running', 'completed', 'failed']
    cf: str = 'default'
    kind: Literal['compaction', 'flush'] = 'compaction'
    trigger: str = 'manual'
    details: dict[str, Any] = {}
    derived: bool = False  # synthesised by the console (server pushes no such events)


class HealthEvent(_Event):
    type: Literal['health_change'] = 'health_change'
    probe: Literal['liveness', 'readiness', 'startup']
    status: Literal['healthy', 'unhealthy']
    reason: str | None = None
    derived: bool = False


class SyncEvent(_Event):
    type: Literal['sync_event'] = 'sync_event'
    status: Literal['started', 'completed', 'conflict']
    details: dict[str, Any] = {}


class SnapshotEvent(_Event):
    type: Literal['snapshot_event'] = 'snapshot_event'
    status: Literal['started', 'created', 'restored', 'deleted', 'failed']
    id: str | None = None
    name: str | None = None
    action: str | None = None
    error: str | None = None
    snapshot: dict[str, Any] | None = None


class FeatureEvent(_Event):
    """Something an extension of the embedded backend did (a webhook delivered, a message published).

    `feature` names the extension (`webhooks`, `pubsub`, ...), `name` what happened; `data` is typed
    by the page that reads it. Real ApexStore servers send none.
    """

    type: Literal['feature_event'] = 'feature_event'
    feature: str
    name: str
    data: dict[str, Any] = {}


class ConnectedEvent(_Event):
    type: Literal['connected'] = 'connected'
    message: str | None = None
    epoch: str | None = None


class LagEvent(_Event):
    type: Literal['lag'] = 'lag'
    skipped: int = 0


class ResyncRequiredEvent(_Event):
    type: Literal['resync_required'] = 'resync_required'
    reason: str | None = None
    epoch: str | None = None


ServerEvent = Annotated[
    KeyChangeEvent | CompactionEvent | HealthEvent | SyncEvent | SnapshotEvent | FeatureEvent | ConnectedEvent
    | LagEvent | ResyncRequiredEvent,
    Field(discriminator='type'),
]
DOMAIN_EVENTS = (KeyChangeEvent, CompactionEvent, HealthEvent, SyncEvent, SnapshotEvent, FeatureEvent)


class Resync(BaseModel):
    """Local signal: whatever you show may be stale, fetch it again."""

    model_config = ConfigDict(frozen=True)
    type: Literal['resync'] = 'resync'
    reason: str


class ConnectionState(StrEnum):
    connecting = 'connecting'
    connected = 'connected'
    reconnecting = 'reconnecting'
    fallback_sse = 'fallback_sse'
    fallback_polling = 'fallback_polling'
    auth_failed = 'auth_failed'
    disconnected = 'disconnected'


Transport = Literal['websocket', 'sse', 'long_poll', 'rest_poll']


class Counters(BaseModel):
    received: int = 0
    dropped: int = 0  # events a slow subscriber lost (it was told to resync)
    duplicates: int = 0
    malformed: int = 0
    malformed_by_kind: dict[str, int] = {}
    resyncs: int = 0
    reconnects: int = 0


class ConnectionStatus(BaseModel):
    """What the badge shows. Carries a credential fingerprint, never the credential."""

    state: ConnectionState = ConnectionState.disconnected
    transport: Transport | None = None
    dialect: Literal['extended', 'cdc'] | None = None
    credential_id: str = ''
    last_event_at: float | None = None  # unix seconds
    attempt: int = 0
    next_retry_at: float | None = None  # unix seconds
    last_failure: str | None = None
    notice: str | None = None  # what the connection cannot see, said plainly (e.g. keys beyond REST polling's cap)
    counters: Counters = Counters()
