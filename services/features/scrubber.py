"""Client of `/admin/scrubber`: pattern scrub jobs (preview first) and checksum verification of the store."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ..api import ApexApi, segment


class ScrubJob(BaseModel):
    id: str
    pattern: str
    cf: str = 'default'
    retention_days: int = 0
    status: Literal['scheduled', 'running', 'completed', 'failed', 'cancelled'] = 'running'
    records_scrubbed: int = 0
    records_total: int = 0
    progress: float = 0.0
    started_at: int = 0  # ns
    finished_at: int | None = None
    error: str | None = None


class Preview(BaseModel):
    pattern: str
    cf: str = 'default'
    matches: int
    sample: list[str] = []


class CfCheck(BaseModel):
    cf: str
    keys_read: int = 0
    ok: bool = True
    problem: str | None = None


class VerifyRun(BaseModel):
    id: str
    status: Literal['running', 'ok', 'failed'] = 'running'
    started_at: int = 0  # ns
    finished_at: int | None = None
    duration_ms: int = 0
    progress: float = 0.0
    keys_read: int = 0
    files_checked: int = 0
    bytes_checked: int = 0
    column_families: list[CfCheck] = []
    problems: list[str] = []
    method: str = ''


class IdempotencyKey(BaseModel):
    key: str
    created_at: int = 0
    expires_at: int = 0
    ttl_sec: int = 0
    used: bool = False


async def jobs(api: ApexApi) -> list[ScrubJob]:
    data = await api.call('GET', '/admin/scrubber', 'Load scrubber jobs')
    return [ScrubJob.model_validate(j) for j in data.get('jobs', [])]


async def preview(api: ApexApi, pattern: str, cf: str = 'default') -> Preview:
    """How many keys the pattern matches now (nothing is deleted)."""
    data = await api.call('POST', '/admin/scrubber/preview', 'Preview', body={'pattern': pattern, 'cf': cf})
    return Preview.model_validate(data)


async def start_job(api: ApexApi, pattern: str, cf: str = 'default') -> ScrubJob:
    data = await api.call('POST', '/admin/scrubber', 'Start scrubber job',
                          body={'pattern': pattern, 'cf': cf, 'retention_days': 0})
    return ScrubJob.model_validate(data)


async def delete_job(api: ApexApi, job_id: str) -> None:
    await api.call('DELETE', f'/admin/scrubber/{segment(job_id)}', 'Delete scrubber job')


async def verify_runs(api: ApexApi) -> list[VerifyRun]:
    data = await api.call('GET', '/admin/scrubber/verify', 'Load verification runs')
    return [VerifyRun.model_validate(r) for r in data.get('runs', [])]


async def start_verify(api: ApexApi) -> VerifyRun:
    return VerifyRun.model_validate(await api.call('POST', '/admin/scrubber/verify', 'Verify checksums', body={}))


async def idempotency_keys(api: ApexApi) -> list[IdempotencyKey]:
    """The Angular page's second tab; NotOffered where the server keeps no idempotency keys."""
    data = await api.call('GET', '/admin/idempotency', 'Idempotency keys')
    return [IdempotencyKey.model_validate(k) for k in data.get('keys', [])]


async def delete_idempotency_key(api: ApexApi, key: str) -> None:
    await api.call('DELETE', f'/admin/idempotency/{segment(key)}', 'Delete idempotency key')
