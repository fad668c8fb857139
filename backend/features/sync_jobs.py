"""Data Sync: sync jobs that copy a key prefix to another ApexStore server, and a live view of `/ws/sync`.

Routes (legacy envelope `{success, message, data}`, as the Angular Data Sync page reads them):
- `GET /admin/sync` (Read), `POST /admin/sync` (Admin), `GET /admin/sync/{id}` (Read),
  `POST /admin/sync/{id}/trigger` (Admin), `DELETE /admin/sync/{id}` (Admin): the jobs
  (backend/features/_sync_runner.py); a job's target token is kept server-side and only ever shown masked;
- `GET /admin/sync/hub` (Read): devices connected to `/ws/sync`, pushes, acks, conflicts
  (backend/features/_sync_watch.py).

Events: `feature_event`s `('sync_jobs', 'created' | 'progress' | 'deleted' | 'devices', …)`; the hub's
own `sync_event`s are published by `/ws/sync` itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, envelope_error, legacy, read_body, require
from ..tokens import Permission
from ._sync_runner import SyncJobs
from ._sync_watch import SyncWatch
from ._urls import url_problem

log = logging.getLogger(__name__)

FEATURE = 'sync_jobs'
WATCH_SECS = 0.25  # how often connected devices are compared (and the event history read)
MAX_JOBS = 100
MAX_NAME = 100
MAX_SOURCE_BYTES = 1024
TOKEN = re.compile(r'^[\x21-\x7e]{1,4096}$')  # printable ASCII, no spaces: it goes into a header


class SyncJobBody(BaseModel):
    name: StrictStr
    source: StrictStr  # the key prefix to copy
    target: StrictStr  # base URL of the target ApexStore server
    mode: Literal['full', 'incremental', 'snapshot'] = 'full'
    target_token: StrictStr | None = None
    cf: StrictStr = 'default'


class SyncFeature:
    def __init__(self, backend) -> None:
        self.backend = backend
        self.jobs = SyncJobs(backend)
        self.watch = SyncWatch(backend, self.jobs.key_changed, self.jobs.missed_changes,
                               lambda name, data: backend.publish_feature(FEATURE, name, data))

    async def watch_forever(self) -> None:
        """The feature task: follow the hub and the event history; stop every run with the backend."""
        try:
            while True:
                try:
                    self.watch.catch_up()
                    self.watch.reconcile_devices()
                except Exception as exc:  # noqa: BLE001 - the watch must outlive one bad round
                    log.warning('sync watch round failed: %s', exc)
                await asyncio.sleep(WATCH_SECS)
        finally:
            await self.jobs.stop()


def _feature(request: Request) -> SyncFeature:
    backend = backend_of(request)
    return backend.feature_state(FEATURE, lambda: SyncFeature(backend))


def _job_id(request: Request, feature: SyncFeature) -> str:
    job_id = request.path_params['job_id']
    if job_id not in feature.jobs.jobs:
        raise envelope_error(404, 'sync job does not exist')
    return job_id


def _validated(body: SyncJobBody, backend) -> dict[str, Any]:
    """The job's fields, or a 400 saying which one is wrong."""
    name = body.name.strip()
    if not name:
        raise envelope_error(400, 'name must not be empty')
    if len(name) > MAX_NAME or any(ord(ch) < 32 for ch in name):
        raise envelope_error(400, f'name must be at most {MAX_NAME} characters, without control characters')
    if not body.source:
        raise envelope_error(400, 'source (the key prefix to copy) must not be empty')
    if len(body.source.encode()) > MAX_SOURCE_BYTES:
        raise envelope_error(400, f'source prefix must be at most {MAX_SOURCE_BYTES} bytes')
    target = body.target.strip()
    if (problem := url_problem(target, allow_query=False)) is not None:
        raise envelope_error(400, f'target URL {problem}')
    token = body.target_token.strip() if body.target_token else None
    if token and not TOKEN.match(token):
        raise envelope_error(400, 'target token must be printable ASCII without spaces (at most 4096 characters)')
    if not backend.store.has_cf(body.cf):
        raise envelope_error(400, f"column family '{body.cf}' does not exist")
    return {'name': name, 'source': body.source, 'cf': body.cf, 'target': target.rstrip('/'), 'mode': body.mode,
            'token': token or None}


# -- routes ----------------------------------------------------------------------------------------
async def list_jobs(request: Request):
    require(request, Permission.Read)
    jobs = _feature(request).jobs.all()
    return legacy(f'{len(jobs)} sync jobs', {'jobs': jobs})


async def create_job(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    feature = _feature(request)
    fields = _validated(await read_body(request, SyncJobBody, backend.config.max_body_bytes), backend)
    if any(job['name'] == fields['name'] for job in feature.jobs.jobs.values()):
        raise envelope_error(409, f"a sync job named '{fields['name']}' already exists")
    if len(feature.jobs.jobs) >= MAX_JOBS:
        raise envelope_error(409, f'at most {MAX_JOBS} sync jobs; delete one first')
    job = feature.jobs.create(**fields)
    return legacy(f"Sync job '{job['name']}' created", job)


async def get_job(request: Request):
    require(request, Permission.Read)
    feature = _feature(request)
    return legacy('Sync job', feature.jobs.view(_job_id(request, feature)))


async def trigger_job(request: Request):
    require(request, Permission.Admin)
    feature = _feature(request)
    job_id = _job_id(request, feature)
    if job_id in feature.jobs.running:
        raise envelope_error(409, 'sync job is already running')
    feature.watch.catch_up()  # what changed up to now belongs to this run
    job = feature.jobs.trigger(job_id)
    return legacy(f"Sync job '{job['name']}' started", job)


async def delete_job(request: Request):
    require(request, Permission.Admin)
    feature = _feature(request)
    job = await feature.jobs.delete(_job_id(request, feature))
    return legacy(f"Sync job '{job['name']}' deleted", {'id': job['id']})


async def hub_status(request: Request):
    require(request, Permission.Read)
    watch = _feature(request).watch
    watch.catch_up()
    watch.reconcile_devices()
    status = watch.status()
    return legacy(f"{status['totals']['connected_devices']} devices connected", status)


routes = [
    Route('/admin/sync', list_jobs, methods=['GET']),
    Route('/admin/sync', create_job, methods=['POST']),
    Route('/admin/sync/hub', hub_status, methods=['GET']),
    Route('/admin/sync/{job_id}', get_job, methods=['GET']),
    Route('/admin/sync/{job_id}', delete_job, methods=['DELETE']),
    Route('/admin/sync/{job_id}/trigger', trigger_job, methods=['POST']),
]


def install(backend) -> None:
    backend.feature_readers[FEATURE] = Permission.Read  # every reader may watch topics and jobs
    feature = backend.feature_state(FEATURE, lambda: SyncFeature(backend))
    backend.request_guards.append(feature.watch.request_guard)
    backend.write_guards.append(feature.watch.write_guard)
    backend.feature_tasks.append(feature.watch_forever)
