"""Sync jobs: copy the keys under a prefix to another ApexStore server over its REST API.

A job is a record in the system column family (`sync_job:<id>`); its target token is a separate record
(`sync_secret:<id>`) and is read only to build the target's `Authorization` header: no answer, event or
log line carries it. A run ships records with `POST /keys/batch` (≤ 500 records and ~1 MiB a request,
`ttl_secs` kept), deletes with `POST /keys/batch/delete` and `DELETE /keys?prefix=`, and reports its
progress as `feature_event`s (`sync_jobs`, `progress`).

Modes: `full` pages through the prefix as it is while the run goes; `snapshot` reads the whole prefix
from one point-in-time view first (up to MAX_SNAPSHOT_RECORDS); `incremental` ships only the keys put
or deleted since the last successful run (the first run, or one after missed events, copies everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from ..storage import now_ns, prefix_end

log = logging.getLogger(__name__)

JOB_PREFIX = b'sync_job:'
SECRET_PREFIX = b'sync_secret:'
TOKEN_MASK = '••••••••'
BATCH_RECORDS = 500
BATCH_BYTES = 1 << 20
COUNT_PAGE = 5000
MAX_SNAPSHOT_RECORDS = 100_000
MAX_DIRTY_KEYS = 100_000  # changed keys remembered per incremental job; past it the next run is a full copy
MAX_PREFIX_DELETES = 100
PROGRESS_EVERY_SECS = 0.1
TARGET_TIMEOUT_SECS = 30.0


class SyncFailed(Exception):
    """Why a run stopped; the message is shown to users (never carries the token)."""


class Target:
    """The target server's REST API, with its token in the headers only."""

    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.token = token

    async def _send(self, method: str, path: str, **kwargs) -> None:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise SyncFailed('the target did not answer in time') from None
        except httpx.HTTPError as exc:
            raise SyncFailed(f'cannot reach the target ({type(exc).__name__})') from None
        if response.is_success:
            return
        try:
            body = response.json()
            detail = (body.get('error') or body.get('message')) if isinstance(body, dict) else None
        except ValueError:
            detail = response.text.strip()[:200] or None
        if response.status_code == 401:
            raise SyncFailed('the target refused the token (HTTP 401)')
        if response.status_code == 403:
            raise SyncFailed('the target token lacks the permission (HTTP 403)')
        message = f'the target answered HTTP {response.status_code}' + (f': {str(detail)[:200]}' if detail else '')
        raise SyncFailed(message.replace(self.token, TOKEN_MASK) if self.token else message)

    async def put(self, records: list[dict[str, Any]]) -> None:
        await self._send('POST', '/keys/batch', json={'records': records})

    async def delete(self, keys: list[str]) -> None:
        await self._send('POST', '/keys/batch/delete', json={'keys': keys})

    async def delete_prefix(self, prefix: str) -> None:
        await self._send('DELETE', '/keys', params={'prefix': prefix})


def batches(records: Iterable[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Requests the target takes: at most BATCH_RECORDS records and about BATCH_BYTES each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for record in records:
        weight = len(record['key']) + len(record['value']) + 32
        if batch and (len(batch) >= BATCH_RECORDS or size + weight > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += weight
    if batch:
        yield batch


class SyncJobs:
    """The jobs of one backend, their secrets, what changed for each incremental job, and running runs."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.jobs: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.dirty: dict[str, set[str] | None] = {}  # None: unknown, the next incremental run copies everything
        self.prefix_deletes: dict[str, set[str]] = {}
        self.running: dict[str, asyncio.Task] = {}
        for _, raw in backend.store.system_items(JOB_PREFIX):
            job = json.loads(raw)
            if job['status'] == 'running':  # the backend stopped during the run
                job.update(status='failed', error='interrupted: the backend stopped during the run')
            self.jobs[job['id']] = job
            self.dirty[job['id']] = None
            secret = backend.store.system_get(SECRET_PREFIX + job['id'].encode())
            if secret is not None:
                self.secrets[job['id']] = secret.decode()

    # -- records -----------------------------------------------------------------------------------
    @staticmethod
    def public(job: dict[str, Any], has_token: bool) -> dict[str, Any]:
        return {**job, 'target_token_masked': TOKEN_MASK if has_token else None, 'has_token': has_token}

    def view(self, job_id: str) -> dict[str, Any]:
        return self.public(self.jobs[job_id], job_id in self.secrets)

    def all(self) -> list[dict[str, Any]]:
        return [self.view(job_id) for job_id in sorted(self.jobs, key=lambda i: self.jobs[i]['created_at'])]

    def _save(self, job: dict[str, Any]) -> None:
        self.backend.store.system_put(JOB_PREFIX + job['id'].encode(), json.dumps(job).encode())

    def _announce(self, name: str, job: dict[str, Any]) -> None:
        self.backend.publish_feature('sync_jobs', name, self.view(job['id']))

    def create(self, name: str, source: str, cf: str, target: str, mode: str, token: str | None) -> dict[str, Any]:
        job: dict[str, Any] = {
            'id': uuid.uuid4().hex, 'name': name, 'source': source, 'cf': cf, 'target': target, 'mode': mode,
            'status': 'scheduled', 'records_synced': 0, 'records_deleted': 0, 'records_total': 0, 'percent': 0,
            'created_at': now_ns(), 'started_at': None, 'finished_at': None, 'last_success_at': None,
            'runs': 0, 'error': None}
        self.jobs[job['id']] = job
        self.dirty[job['id']] = None
        if token:
            self.secrets[job['id']] = token
            self.backend.store.system_put(SECRET_PREFIX + job['id'].encode(), token.encode())
        self._save(job)
        self._announce('created', job)
        return self.view(job['id'])

    async def delete(self, job_id: str) -> dict[str, Any]:
        task = self.running.pop(job_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(task, return_exceptions=True)
        job = self.jobs.pop(job_id)
        self.secrets.pop(job_id, None)
        self.dirty.pop(job_id, None)
        self.prefix_deletes.pop(job_id, None)
        self.backend.store.system_delete(JOB_PREFIX + job_id.encode())
        self.backend.store.system_delete(SECRET_PREFIX + job_id.encode())
        self.backend.publish_feature('sync_jobs', 'deleted', {'id': job_id, 'name': job['name']})
        return job

    # -- what changed (incremental jobs) -------------------------------------------------------------
    def key_changed(self, cf: str, key: str, operation: str) -> None:
        for job_id, job in self.jobs.items():
            if job['mode'] != 'incremental' or job['cf'] != cf:
                continue
            dirty, prefix = self.dirty.get(job_id), job['source']
            if operation == 'delete_prefix':
                if key.startswith(prefix) or prefix.startswith(key):
                    deletes = self.prefix_deletes.setdefault(job_id, set())
                    deletes.add(key if key.startswith(prefix) else prefix)
                    if len(deletes) > MAX_PREFIX_DELETES:
                        self.dirty[job_id] = None
            elif dirty is not None and key.startswith(prefix):
                dirty.add(key)
                if len(dirty) > MAX_DIRTY_KEYS:
                    self.dirty[job_id] = None

    def missed_changes(self) -> None:
        """Events were missed (or the store was restored): every incremental job copies everything next."""
        for job_id in self.jobs:
            self.dirty[job_id] = None
        for job in self.jobs.values():  # a restore brings back the system records of its time: keep ours
            self._save(job)
        for job_id, token in self.secrets.items():
            self.backend.store.system_put(SECRET_PREFIX + job_id.encode(), token.encode())

    # -- runs --------------------------------------------------------------------------------------
    def trigger(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        job.update(status='running', started_at=now_ns(), finished_at=None, records_synced=0, records_deleted=0,
                   records_total=0, percent=0, error=None, runs=job['runs'] + 1)
        self._save(job)
        self._announce('progress', job)
        self.running[job_id] = asyncio.create_task(self._run(job), name=f'sync job {job_id}')
        return self.view(job_id)

    async def _run(self, job: dict[str, Any]) -> None:
        job_id = job['id']
        changed = self.dirty.get(job_id) if job['mode'] == 'incremental' and job['last_success_at'] else None
        deletes = self.prefix_deletes.pop(job_id, set()) if changed is not None else set()
        self.dirty[job_id] = set()  # changes from now on are for the next run
        self.prefix_deletes.pop(job_id, None)
        token = self.secrets.get(job_id)
        headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}
        if token:
            headers['Authorization'] = f'Bearer {token}'
        try:
            async with httpx.AsyncClient(base_url=job['target'], headers=headers, timeout=TARGET_TIMEOUT_SECS,
                                         trust_env=False, follow_redirects=False) as client:
                target = Target(client, token)
                if changed is not None:
                    await self._copy_changes(job, target, changed, deletes)
                elif job['mode'] == 'snapshot':
                    await self._copy_snapshot(job, target)
                else:
                    await self._copy_all(job, target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure ends the run with a reason the user can read
            self._merge_back(job_id, changed, deletes)
            if isinstance(exc, SyncFailed | KeyError):  # KeyError: the store's "column family … does not exist"
                reason = str(exc.args[0])
            else:
                reason = f'{type(exc).__name__}: {exc}'
            job.update(status='failed', error=reason.replace(token, TOKEN_MASK) if token else reason)
            log.info('sync job %s failed: %s', job_id, job['error'])
        else:
            job.update(status='completed', percent=100, last_success_at=now_ns())
        finally:
            self.running.pop(job_id, None)
        job['finished_at'] = now_ns()
        if job_id in self.jobs:
            self._save(job)
            self._announce('progress', job)

    def _merge_back(self, job_id: str, changed: set[str] | None, deletes: set[str]) -> None:
        """A failed incremental run leaves its keys for the next one (with whatever changed meanwhile)."""
        current = self.dirty.get(job_id)
        self.dirty[job_id] = None if changed is None or current is None else current | changed
        if deletes:
            self.prefix_deletes.setdefault(job_id, set()).update(deletes)

    def _records(self, cf: str, rows: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
        now = now_ns()
        out = []
        for key, value in rows:
            record: dict[str, Any] = {'key': key.decode(errors='replace'), 'value': value.decode(errors='replace')}
            deadline = self.backend.store.expires_at(cf, key)
            if deadline is not None:
                record['ttl_secs'] = max(1, math.ceil((deadline - now) / 1e9))
            out.append(record)
        return out

    def _values(self, cf: str, keys: list[str]) -> list[tuple[str, bytes | None]]:
        return [(key, self.backend.store.get(cf, key.encode())) for key in keys]

    def _count(self, cf: str, prefix: bytes) -> int:
        total, after = 0, None
        while rows := self.backend.store.scan(cf, prefix, prefix_end(prefix), COUNT_PAGE, after, None):
            total += len(rows)
            after = rows[-1][0]
        return total

    async def _copy_all(self, job: dict[str, Any], target: Target) -> None:
        cf, prefix = job['cf'], job['source'].encode()
        store = self.backend.store
        job['records_total'] = await asyncio.to_thread(self._count, cf, prefix)
        after: bytes | None = None
        progress = Progress(self, job)
        while rows := await asyncio.to_thread(store.scan, cf, prefix, prefix_end(prefix), BATCH_RECORDS, after, None):
            after = rows[-1][0]
            for batch in batches(self._records(cf, rows)):
                await target.put(batch)
                job['records_synced'] += len(batch)
                job['records_total'] = max(job['records_total'], job['records_synced'])
                progress.report()

    async def _copy_snapshot(self, job: dict[str, Any], target: Target) -> None:
        cf, prefix = job['cf'], job['source'].encode()
        rows = await asyncio.to_thread(self.backend.store.scan, cf, prefix, prefix_end(prefix),
                                       MAX_SNAPSHOT_RECORDS + 1, None, None)  # one iterator: one point in time
        if len(rows) > MAX_SNAPSHOT_RECORDS:
            raise SyncFailed(f'more than {MAX_SNAPSHOT_RECORDS:,} keys under the prefix: use the full mode')
        job['records_total'] = len(rows)
        progress = Progress(self, job)
        for batch in batches(self._records(cf, rows)):
            await target.put(batch)
            job['records_synced'] += len(batch)
            progress.report()

    async def _copy_changes(self, job: dict[str, Any], target: Target, changed: set[str], deletes: set[str]) -> None:
        cf = job['cf']
        for prefix in sorted(deletes):
            await target.delete_prefix(prefix)
        keys = sorted(changed)
        job['records_total'] = len(keys)
        progress = Progress(self, job)
        for start in range(0, len(keys), BATCH_RECORDS):
            chunk = keys[start:start + BATCH_RECORDS]
            values = await asyncio.to_thread(self._values, cf, chunk)
            present = [(k.encode(), v) for k, v in values if v is not None]
            gone = [k for k, v in values if v is None]
            for batch in batches(self._records(cf, present)):
                await target.put(batch)
                job['records_synced'] += len(batch)
                progress.report()
            if gone:
                await target.delete(gone)
                job['records_synced'] += len(gone)
                job['records_deleted'] += len(gone)
                progress.report()

    async def stop(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)


class Progress:
    """`progress` events while a run goes: the first at once, then at most one per PROGRESS_EVERY_SECS."""

    def __init__(self, jobs: SyncJobs, job: dict[str, Any]) -> None:
        self.jobs = jobs
        self.job = job
        self.last = 0.0
        self.report(force=True)

    def report(self, force: bool = False) -> None:
        job = self.job
        total = job['records_total']
        job['percent'] = min(99, job['records_synced'] * 100 // total) if total else 0
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_EVERY_SECS:
            self.last = now
            self.jobs._announce('progress', job)  # noqa: SLF001 - the runner's own helper
