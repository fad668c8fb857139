"""Data Scrubber: delete every key matching a glob pattern, as a job with progress; verify the store's checksums.

A scrub job deletes in batches through `backend.write`, so every deleted key is a `key_change` event
(and passes the write guards: quotas, plugins). Progress goes out as `feature_event`s
`('scrubber', 'progress' | 'completed' | 'failed' | 'deleted', {...})`. Checksum verification reads
every key of every column family with RocksDB's block checksum verification on, and checks that
every live SST file exists with the size RocksDB recorded (`'verify_progress'`, `'verified'` events).
Job and verification records are JSON files under `<data-dir>/scrubber/`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, StrictStr
from rocksdict import ReadOptions
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, legacy, read_body, require
from ..storage import DEFAULT_CF, SYSTEM_CF, prefix_end
from ..tokens import Permission
from ._support import SAFE_ID, JobTasks, JsonRecords, Throttle, fail, new_id

log = logging.getLogger(__name__)

FEATURE = 'scrubber'
SCAN_PAGE = 1000  # keys read per step while matching
BATCH = 500  # keys deleted per write (one atomic batch, one event each)
SAMPLE = 20  # matching keys shown by a preview
KEEP_RECORDS = 100  # finished jobs / verification runs kept
VERIFY_METHOD = ('Every key and value of every column family (the internal __system family included) was read '
                 'with RocksDB block checksum verification on (ReadOptions.verify_checksums), so every data block '
                 'of every live SST file was checked against its stored CRC; and every live SST file RocksDB lists '
                 'was checked to exist on disk with the size RocksDB recorded. Records still in the memtable are '
                 'read from memory (no checksum applies) and protected by the WAL.')


class PatternBody(BaseModel):
    pattern: StrictStr = Field(min_length=1, max_length=1024)
    cf: StrictStr = DEFAULT_CF


class ScrubBody(PatternBody):
    retention_days: int = Field(default=0, ge=0, le=3650)


class ScrubJob(BaseModel):
    """The Angular `ScrubberJob` shape plus the column family, total, progress and error."""
    id: str
    pattern: str
    cf: str = DEFAULT_CF
    retention_days: int = 0
    status: Literal['scheduled', 'running', 'completed', 'failed', 'cancelled'] = 'running'
    records_scrubbed: int = 0
    records_total: int = 0
    progress: float = 0.0
    started_at: int
    finished_at: int | None = None
    error: str | None = None


class CfCheck(BaseModel):
    cf: str
    keys_read: int = 0
    ok: bool = True
    problem: str | None = None


class VerifyRun(BaseModel):
    id: str
    status: Literal['running', 'ok', 'failed'] = 'running'
    started_at: int
    finished_at: int | None = None
    duration_ms: int = 0
    progress: float = 0.0
    keys_read: int = 0
    files_checked: int = 0
    bytes_checked: int = 0
    column_families: list[CfCheck] = []
    problems: list[str] = []
    method: str = VERIFY_METHOD


@dataclass
class ScrubberState:
    jobs: JsonRecords[ScrubJob]
    runs: JsonRecords[VerifyRun]
    tasks: JobTasks = field(default_factory=JobTasks)
    verifying: bool = False


def _state(backend) -> ScrubberState:
    return backend.feature_state(FEATURE, lambda: _new_state(backend.config.data_dir / FEATURE))


def _new_state(folder: Path) -> ScrubberState:
    state = ScrubberState(JsonRecords(folder / 'jobs', ScrubJob), JsonRecords(folder / 'verify', VerifyRun))
    for job in state.jobs.load_all():  # a job cut short by a stop never finished: say so
        if job.status in ('running', 'scheduled'):
            job.status, job.error = 'failed', 'interrupted: the server stopped during the job'
            state.jobs.save(job.id, job)
    for run in state.runs.load_all():
        if run.status == 'running':
            run.status, run.problems = 'failed', ['interrupted: the server stopped during the verification']
            state.runs.save(run.id, run)
    return state


def _prune(records: JsonRecords, items: list, key) -> None:
    finished = sorted((i for i in items if i.status != 'running'), key=key, reverse=True)
    for stale in finished[KEEP_RECORDS:]:
        records.delete(stale.id)


# -- matching --------------------------------------------------------------------------------------
class Matcher:
    """A glob pattern (`*`, `?`, `[...]`, case-sensitive) and the literal prefix every match starts with."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        cut = next((i for i, ch in enumerate(pattern) if ch in '*?['), len(pattern))
        self.prefix = pattern[:cut].encode()
        self._regex = re.compile(fnmatch.translate(pattern), re.DOTALL)

    def matches(self, key: bytes) -> str | None:
        """The key as text when it matches (keys that are not UTF-8 cannot be written back, so never match)."""
        try:
            text = key.decode()
        except UnicodeDecodeError:
            return None
        return text if self._regex.match(text) else None

    def page(self, store, cf: str, after: bytes | None) -> tuple[list[str], bytes | None, bool]:
        """Matches among the next SCAN_PAGE keys after `after`: (matches, last key read, finished)."""
        rows = store.scan(cf, self.prefix, prefix_end(self.prefix) if self.prefix else None, SCAN_PAGE, after)
        found = [text for key, _ in rows if (text := self.matches(key)) is not None]
        return found, rows[-1][0] if rows else after, len(rows) < SCAN_PAGE

    def count(self, store, cf: str) -> tuple[int, list[str]]:
        """How many keys match now, and the first few (blocking: run in a worker thread)."""
        total, after, finished = 0, None, False
        sample: list[str] = []
        while not finished:
            found, after, finished = self.page(store, cf, after)
            total += len(found)
            sample.extend(found[:SAMPLE - len(sample)])
        return total, sample


def _checked(backend, body: PatternBody) -> Matcher:
    if not backend.store.has_cf(body.cf):
        raise fail(400, f'column family {body.cf!r} does not exist')
    return Matcher(body.pattern)


# -- scrub jobs ------------------------------------------------------------------------------------
def _publish(backend, name: str, job: ScrubJob) -> None:
    backend.publish_feature(FEATURE, name, job.model_dump())


async def _scrub(backend, state: ScrubberState, job: ScrubJob, matcher: Matcher) -> None:
    """Count, then delete every match in batches through `backend.write` (one event per key)."""
    throttle = Throttle()
    try:
        job.records_total, _ = await asyncio.to_thread(matcher.count, backend.store, job.cf)
        job.status = 'running'
        _publish(backend, 'progress', job)
        after, finished = None, False
        pending: list[str] = []
        while not finished or pending:
            if not finished and len(pending) < BATCH:
                found, after, finished = await asyncio.to_thread(matcher.page, backend.store, job.cf, after)
                pending.extend(found)
                continue
            batch, pending = pending[:BATCH], pending[BATCH:]
            backend.write([(key, None, None) for key in batch], job.cf)
            job.records_scrubbed += len(batch)
            job.records_total = max(job.records_total, job.records_scrubbed)  # matches written meanwhile
            job.progress = round(job.records_scrubbed / max(job.records_total, 1), 4)
            if throttle.due():
                _publish(backend, 'progress', job)
            await asyncio.sleep(0)  # other requests go on between batches
        job.status, job.progress = 'completed', 1.0
        job.records_total = job.records_scrubbed
    except asyncio.CancelledError:
        job.status, job.error = 'cancelled', 'cancelled'
        raise
    except Exception as exc:  # noqa: BLE001 - a refused write (quota, plugin) or an engine error ends the job
        job.status = 'failed'
        job.error = getattr(exc, 'body', {}).get('error') or getattr(exc, 'body', {}).get('message') or str(exc)
        log.warning('scrub job %s failed: %s', job.id, job.error)
    finally:
        job.finished_at = backend.now()
        state.jobs.save(job.id, job)
        if job.status != 'cancelled':
            _publish(backend, job.status, job)


async def list_jobs(request: Request):
    require(request, Permission.Read)
    jobs = sorted(_state(backend_of(request)).jobs.load_all(), key=lambda j: j.started_at, reverse=True)
    return legacy(f'{len(jobs)} scrubber jobs', {'jobs': [j.model_dump() for j in jobs]})


async def preview(request: Request):
    """How many keys a pattern matches now, with the first few: shown before anything is deleted."""
    require(request, Permission.Read)
    backend = backend_of(request)
    body = await read_body(request, PatternBody, backend.config.max_body_bytes)
    matcher = _checked(backend, body)
    total, sample = await asyncio.to_thread(matcher.count, backend.store, body.cf)
    return legacy(f'{total} keys match', {'pattern': body.pattern, 'cf': body.cf, 'matches': total, 'sample': sample})


async def create_job(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, ScrubBody, backend.config.max_body_bytes)
    if body.retention_days:
        raise fail(400, 'retention_days: this store keeps no write time per key, so keys cannot be chosen by age; '
                        'use 0 (scrub every match now), or give keys a TTL')
    matcher = _checked(backend, body)
    state = _state(backend)
    job = ScrubJob(id=new_id(), pattern=body.pattern, cf=body.cf, status='scheduled', started_at=backend.now())
    state.jobs.save(job.id, job)
    _prune(state.jobs, state.jobs.load_all(), key=lambda j: j.started_at)
    state.tasks.start(job.id, _scrub(backend, state, job, matcher))
    return legacy('Scrubber job started', job.model_dump())


async def delete_job(request: Request):
    """Remove a job from the list; a running job is stopped first (what it deleted stays deleted)."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    job_id = request.path_params['job_id']
    if not SAFE_ID.match(job_id) or not state.jobs.path(job_id).exists():
        raise fail(404, 'scrubber job not found')
    await state.tasks.cancel(job_id)
    state.jobs.delete(job_id)
    backend.publish_feature(FEATURE, 'deleted', {'id': job_id})
    return legacy('Scrubber job deleted')


# -- checksum verification -------------------------------------------------------------------------
class Stopped(Exception):
    """The backend is stopping: the verification thread ends early."""


def _verify_cf(handle, check: CfCheck, progress, root: str) -> None:
    options = ReadOptions()
    options.set_verify_checksums(True)
    options.fill_cache(False)  # type: ignore[call-arg]  # read from disk, not from blocks cached before
    it = handle.iter(options)
    try:
        it.seek_to_first()
        while it.valid():
            it.value()
            check.keys_read += 1
            if check.keys_read % 10_000 == 0:
                progress()
            it.next()
        it.status()  # raises when a block failed its checksum
    except Stopped:
        raise
    except Exception as exc:  # noqa: BLE001 - RocksDB reports corruption as a plain Exception
        check.ok, check.problem = False, f'{check.cf}: {str(exc).replace(root, "")}'
    finally:
        del it


def _verify(store, run: VerifyRun, progress) -> None:
    """The whole check, under the store's maintenance lock (no flush, compaction or restore meanwhile)."""
    with store.maintenance:
        names = [DEFAULT_CF, *[n for n in store.column_families() if n != DEFAULT_CF], SYSTEM_CF]
        files = store.db.live_files()
        for number, name in enumerate(names):
            check = CfCheck(cf=name)
            run.column_families.append(check)
            handle = store.db if name == DEFAULT_CF else store.db.get_column_family(name)
            try:
                _verify_cf(handle, check, progress, f'{store.path}/')
            finally:
                del handle
            run.keys_read += check.keys_read
            if check.problem:
                run.problems.append(check.problem)
            run.progress = round((number + 1) / (len(names) + 1), 4)
            progress()
        for info in files:
            path = store.path / info['name'].lstrip('/')
            run.files_checked += 1
            try:
                size = path.stat().st_size
            except OSError:
                run.problems.append(f'{info["name"].lstrip("/")}: listed by RocksDB but missing on disk')
                continue
            run.bytes_checked += size
            if size != info['size']:
                run.problems.append(f'{info["name"].lstrip("/")}: {size} bytes on disk, RocksDB recorded '
                                    f'{info["size"]}')


async def _run_verify(backend, state: ScrubberState, run: VerifyRun) -> None:
    loop = asyncio.get_running_loop()
    throttle = Throttle(0.2)
    started = time.monotonic()
    stop = threading.Event()

    def progress() -> None:
        if stop.is_set():
            raise Stopped
        if throttle.due():
            loop.call_soon_threadsafe(backend.publish_feature, FEATURE, 'verify_progress', run.model_dump())

    work = asyncio.ensure_future(asyncio.to_thread(_verify, backend.store, run, progress))
    try:
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:  # the backend stops: end the thread before the store closes
            stop.set()
            await asyncio.gather(work, return_exceptions=True)
            run.status = 'failed'
            run.problems.append('interrupted: the server stopped during the verification')
            raise
        run.status = 'failed' if run.problems else 'ok'
    except Exception as exc:  # noqa: BLE001 - report whatever stopped the check
        run.status = 'failed'
        run.problems.append(f'the check could not finish: {exc}')
    finally:
        state.verifying = False
        run.progress = 1.0
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.finished_at = backend.now()
        state.runs.save(run.id, run)
        backend.publish_feature(FEATURE, 'verified', run.model_dump())


async def list_runs(request: Request):
    require(request, Permission.Read)
    runs = sorted(_state(backend_of(request)).runs.load_all(), key=lambda r: r.started_at, reverse=True)
    return legacy(f'{len(runs)} verification runs', {'runs': [r.model_dump() for r in runs]})


async def start_verify(request: Request):
    """Start a checksum verification of the whole store (one at a time); the answer is the running record."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    if state.verifying:
        raise fail(409, 'a verification is already running')
    state.verifying = True
    run = VerifyRun(id=new_id(), started_at=backend.now())
    state.runs.save(run.id, run)
    _prune(state.runs, state.runs.load_all(), key=lambda r: r.started_at)
    state.tasks.start(run.id, _run_verify(backend, state, run))
    backend.publish_feature(FEATURE, 'verify_progress', run.model_dump())
    return legacy('Verification started', run.model_dump())


def install(backend) -> None:
    backend.feature_tasks.append(_state(backend).tasks.supervise)


routes = [
    Route('/admin/scrubber', list_jobs, methods=['GET']),
    Route('/admin/scrubber', create_job, methods=['POST']),
    Route('/admin/scrubber/preview', preview, methods=['POST']),
    Route('/admin/scrubber/verify', list_runs, methods=['GET']),
    Route('/admin/scrubber/verify', start_verify, methods=['POST']),
    Route('/admin/scrubber/{job_id}', delete_job, methods=['DELETE']),
]
