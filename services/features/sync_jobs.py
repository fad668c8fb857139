"""Data Sync client: sync jobs to other ApexStore servers, and the `/ws/sync` hub's live state.

`NotOffered` means the server has neither (a real ApexStore). Live changes: `FeatureEvent`s with
`feature == 'sync_jobs'` (`created`, `progress` carry the job; `deleted` its id; `devices` the hub's
sockets) and the hub's own `SyncEvent`s. A job's target token goes to the server once, at creation;
answers only ever carry `target_token_masked`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..api import ApexApi, segment

FEATURE = 'sync_jobs'
Mode = Literal['full', 'incremental', 'snapshot']
MODES: dict[str, str] = {'full': 'Full Sync', 'incremental': 'Incremental', 'snapshot': 'Snapshot'}


class _Model(BaseModel):
    model_config = ConfigDict(extra='ignore')


class SyncJob(_Model):
    id: str
    name: str
    source: str  # the key prefix copied
    target: str  # the target server's base URL
    mode: str = 'full'
    status: str = 'scheduled'  # scheduled | running | completed | failed
    cf: str = 'default'
    records_synced: int = 0
    records_total: int = 0
    records_deleted: int = 0
    percent: int = 0
    created_at: int | None = None
    started_at: int | None = None  # ns
    finished_at: int | None = None  # ns
    last_success_at: int | None = None
    runs: int = 0
    error: str | None = None
    target_token_masked: str | None = None
    has_token: bool = False


class NewSyncJob(BaseModel):
    name: str
    source: str
    target: str
    mode: Mode = 'incremental'
    target_token: str | None = None
    cf: str = 'default'


class SyncDevice(_Model):
    device_id: str
    connected: bool = False
    connections: int = 0
    connected_at: int | None = None
    last_seen_at: int | None = None
    changes: int = 0
    conflicts: int = 0
    last_push_at: int | None = None


class SyncTotals(_Model):
    connected_devices: int = 0
    connections: int = 0
    pushes: int = 0
    changes_pushed: int = 0
    acks: int = 0
    applied: int = 0
    conflicts: int = 0


class SyncActivity(_Model):
    at: int
    kind: str  # push | ack | conflict | connected | disconnected
    device_id: str | None = None
    key: str | None = None
    detail: str = ''


class SyncHub(_Model):
    devices: list[SyncDevice] = []
    totals: SyncTotals = SyncTotals()
    recent: list[SyncActivity] = []  # newest first
    complete: bool = True  # False: the server missed events, counts are lower bounds


async def jobs(api: ApexApi) -> list[SyncJob]:
    data = await api.call('GET', '/admin/sync', 'Load sync jobs')
    return [SyncJob.model_validate(j) for j in (data or {}).get('jobs', [])]


async def create_job(api: ApexApi, job: NewSyncJob) -> SyncJob:
    body = job.model_dump(exclude_none=True)
    return SyncJob.model_validate(await api.call('POST', '/admin/sync', 'Create sync job', body=body))


async def trigger(api: ApexApi, job_id: str) -> SyncJob:
    data = await api.call('POST', f'/admin/sync/{segment(job_id)}/trigger', 'Start sync job', body={})
    return SyncJob.model_validate(data)


async def delete_job(api: ApexApi, job_id: str) -> None:
    await api.call('DELETE', f'/admin/sync/{segment(job_id)}', 'Delete sync job')


async def hub(api: ApexApi) -> SyncHub:
    return SyncHub.model_validate(await api.call('GET', '/admin/sync/hub', 'Load sync hub'))


def job_of(data: dict[str, Any]) -> SyncJob | None:
    """The job a `created` / `progress` event carries (None when it is not one we can read)."""
    try:
        return SyncJob.model_validate(data)
    except ValidationError:
        return None
