"""CI/CD: fixtures (the keys under a prefix, saved by name, loaded into any prefix, exported and imported as
files) and test data generated from a key and a value template.

Loads and generation are jobs that write in batches through `backend.write`, so every key they write
is a `key_change` event; progress goes out as `feature_event`s `('cicd', 'progress' | 'completed' |
'failed', job)`, and `('cicd', 'fixture_saved' | 'fixture_deleted', {...})` when the list changes.
Fixtures are files under `<data-dir>/cicd/fixtures/` (outside the database: a snapshot restore does
not rewind them); values are text (records whose value is not UTF-8 are skipped and counted).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..http import backend_of, key_problem, legacy, read_body, read_limited, require
from ..storage import DEFAULT_CF, prefix_end
from ..tokens import Permission
from ._cicd_templates import GenerateBody, checked_templates, generate_batches
from ._support import SAFE_ID, JobTasks, JsonRecords, Throttle, fail, new_id, write_atomically

log = logging.getLogger(__name__)

FEATURE = 'cicd'
BATCH = 1000
MAX_FIXTURE_RECORDS = 100_000
MAX_FIXTURE_BYTES = 64 * 1024 * 1024
KEEP_JOBS = 50
FixtureType = Literal['data', 'config', 'schema']


class FixtureBody(BaseModel):
    """Save the keys under `prefix` of `cf` as a fixture (the Angular create form plus where to read)."""
    name: StrictStr = Field(min_length=1, max_length=200)
    description: StrictStr = Field(default='', max_length=2000)
    type: FixtureType = 'data'
    prefix: StrictStr = Field(default='', max_length=4096)
    cf: StrictStr = DEFAULT_CF


class FixtureRecord(BaseModel):
    key: StrictStr
    value: StrictStr


class FixtureFile(BaseModel):
    """A fixture as a file (what export sends and import takes); every key starts with `prefix`."""
    format: Literal['apexstore-fixture'] = 'apexstore-fixture'
    version: Literal[1] = 1
    name: StrictStr = Field(min_length=1, max_length=200)
    description: StrictStr = Field(default='', max_length=2000)
    type: FixtureType = 'data'
    prefix: StrictStr = Field(default='', max_length=4096)
    records: list[FixtureRecord] = []


class AppendBody(BaseModel):
    records: list[FixtureRecord]
    complete: StrictBool = True


class Fixture(BaseModel):
    """The Angular `CICDFixture` shape (`size` as text) plus counts, source and state."""
    id: str
    name: str
    description: str = ''
    type: FixtureType = 'data'
    size: str = '0 B'
    size_bytes: int = 0
    records: int = 0
    skipped: int = 0
    prefix: str = ''
    cf: str = DEFAULT_CF
    source: Literal['saved', 'imported'] = 'saved'
    status: Literal['ready', 'importing'] = 'ready'
    created_at: int


class LoadBody(BaseModel):
    prefix: StrictStr | None = Field(default=None, max_length=4096)  # target; None: the fixture's own prefix
    cf: StrictStr | None = None
    replace: StrictBool = False  # delete the keys under the target prefix first


class CicdJob(BaseModel):
    id: str
    kind: Literal['load', 'generate']
    status: Literal['running', 'completed', 'failed', 'cancelled'] = 'running'
    cf: str = DEFAULT_CF
    target: str = ''  # the target prefix (load) or the key template (generate)
    fixture_id: str | None = None
    fixture_name: str | None = None
    total: int = 0
    done: int = 0
    deleted: int = 0
    progress: float = 0.0
    records_generated: int = 0
    elapsed_ms: int = 0
    started_at: int
    finished_at: int | None = None
    error: str | None = None


@dataclass
class CicdState:
    fixtures: JsonRecords[Fixture]
    jobs: JsonRecords[CicdJob]
    tasks: JobTasks = field(default_factory=JobTasks)


def _state(backend) -> CicdState:
    return backend.feature_state(FEATURE, lambda: _new_state(backend.config.data_dir / FEATURE))


def _new_state(folder: Path) -> CicdState:
    state = CicdState(JsonRecords(folder / 'fixtures', Fixture), JsonRecords(folder / 'jobs', CicdJob))
    for job in state.jobs.load_all():
        if job.status == 'running':
            job.status, job.error = 'failed', 'interrupted: the server stopped during the job'
            state.jobs.save(job.id, job)
    return state


def size_text(size: int) -> str:
    for unit, scale in (('MB', 1024 * 1024), ('KB', 1024)):
        if size >= scale:
            return f'{size / scale:.1f} {unit}'
    return f'{size} B'


# -- fixtures --------------------------------------------------------------------------------------
def _fixture(state: CicdState, fixture_id: str) -> Fixture:
    if SAFE_ID.match(fixture_id) and state.fixtures.path(fixture_id).exists():
        for fixture in state.fixtures.load_all():
            if fixture.id == fixture_id:
                return fixture
    raise fail(404, 'fixture not found')


def _read_file(state: CicdState, fixture: Fixture) -> FixtureFile:
    return FixtureFile.model_validate_json(state.fixtures.path(fixture.id, '.fixture.json').read_bytes())


def _store_file(state: CicdState, fixture: Fixture, content: FixtureFile) -> Fixture:
    data = content.model_dump_json().encode()
    fixture.records, fixture.size_bytes = len(content.records), len(data)
    fixture.size = size_text(len(data))
    write_atomically(state.fixtures.path(fixture.id, '.fixture.json'), data)
    state.fixtures.save(fixture.id, fixture)
    return fixture


def _capture(store, cf: str, prefix: str) -> tuple[list[FixtureRecord], int]:
    """The records under `prefix` (blocking); refused past the size limits so a fixture stays a file."""
    raw = prefix.encode()
    rows = store.scan(cf, raw, prefix_end(raw) if raw else None, MAX_FIXTURE_RECORDS + 1)
    if len(rows) > MAX_FIXTURE_RECORDS:
        raise fail(400, f'more than {MAX_FIXTURE_RECORDS:,} keys under this prefix: choose a narrower one')
    records, skipped, size = [], 0, 0
    for key, value in rows:
        try:
            records.append(FixtureRecord(key=key.decode(), value=value.decode()))
        except UnicodeDecodeError:
            skipped += 1
            continue
        size += len(key) + len(value)
        if size > MAX_FIXTURE_BYTES:
            raise fail(400, f'the keys under this prefix hold more than {size_text(MAX_FIXTURE_BYTES)}: '
                            'choose a narrower one')
    return records, skipped


def _announce(backend, name: str, fixture: Fixture | dict) -> None:
    backend.publish_feature(FEATURE, name, fixture if isinstance(fixture, dict) else fixture.model_dump())


async def list_fixtures(request: Request):
    require(request, Permission.Read)
    fixtures = sorted(_state(backend_of(request)).fixtures.load_all(), key=lambda f: f.created_at, reverse=True)
    return legacy(f'{len(fixtures)} fixtures', {'fixtures': [f.model_dump() for f in fixtures]})


async def save_fixture(request: Request):
    """Save the keys under a prefix as a named fixture."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, FixtureBody, backend.config.max_body_bytes)
    if not backend.store.has_cf(body.cf):
        raise fail(400, f'column family {body.cf!r} does not exist')
    records, skipped = await asyncio.to_thread(_capture, backend.store, body.cf, body.prefix)
    state = _state(backend)
    fixture = Fixture(id=new_id(), name=body.name.strip(), description=body.description, type=body.type,
                      prefix=body.prefix, cf=body.cf, skipped=skipped, created_at=backend.now())
    content = FixtureFile(name=fixture.name, description=body.description, type=body.type, prefix=body.prefix,
                          records=records)
    fixture = await asyncio.to_thread(_store_file, state, fixture, content)
    _announce(backend, 'fixture_saved', fixture)
    note = f' ({skipped} records with binary values skipped)' if skipped else ''
    return legacy(f'Fixture saved with {fixture.records} records{note}', fixture.model_dump())


def _checked_records(prefix: str, records: list[FixtureRecord]) -> None:
    for number, record in enumerate(records, 1):
        if problem := key_problem(record.key):
            raise fail(400, f'record {number}: {problem}')
        if not record.key.startswith(prefix):
            raise fail(400, f'record {number}: key {record.key[:100]!r} does not start with the fixture prefix '
                            f'{prefix!r}')


async def import_fixture(request: Request):
    """A fixture file (as exported) becomes a fixture; `?complete=false` when more records follow by append."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    raw = await read_limited(request, backend.config.max_body_bytes)
    try:
        content = FixtureFile.model_validate_json(raw or b'{}')
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ())) or 'file'
        raise fail(400, f'not a fixture file: {where}: {first.get("msg")}') from None
    _checked_records(content.prefix, content.records)
    complete = request.query_params.get('complete', 'true') != 'false'
    state = _state(backend)
    fixture = Fixture(id=new_id(), name=content.name.strip(), description=content.description, type=content.type,
                      prefix=content.prefix, source='imported', status='ready' if complete else 'importing',
                      created_at=backend.now())
    fixture = await asyncio.to_thread(_store_file, state, fixture, content)
    _announce(backend, 'fixture_saved', fixture)
    return legacy(f'Fixture imported with {fixture.records} records', fixture.model_dump())


async def append_records(request: Request):
    """More records for a fixture being imported in parts (a file larger than one request)."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    fixture = _fixture(state, request.path_params['fixture_id'])
    body = await read_body(request, AppendBody, backend.config.max_body_bytes)
    if fixture.status != 'importing':
        raise fail(409, 'this fixture is complete: records can only be added while it is being imported')
    _checked_records(fixture.prefix, body.records)
    content = await asyncio.to_thread(_read_file, state, fixture)
    if len(content.records) + len(body.records) > MAX_FIXTURE_RECORDS:
        raise fail(400, f'a fixture holds at most {MAX_FIXTURE_RECORDS:,} records')
    content.records.extend(body.records)
    fixture.status = 'ready' if body.complete else 'importing'
    fixture = await asyncio.to_thread(_store_file, state, fixture, content)
    _announce(backend, 'fixture_saved', fixture)
    return legacy(f'Fixture has {fixture.records} records', fixture.model_dump())


async def export_fixture(request: Request):
    """The fixture as a file: `{"format": "apexstore-fixture", "version": 1, ..., "records": [...]}`."""
    require(request, Permission.Read)
    state = _state(backend_of(request))
    fixture = _fixture(state, request.path_params['fixture_id'])
    content = await asyncio.to_thread(_read_file, state, fixture)
    filename = re.sub(r'[^A-Za-z0-9_.-]+', '-', fixture.name).strip('-') or 'fixture'
    return JSONResponse(content.model_dump(), headers={
        'Content-Disposition': f'attachment; filename="{filename}.fixture.json"'})


async def delete_fixture(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    fixture = _fixture(state, request.path_params['fixture_id'])
    state.fixtures.delete(fixture.id, '.fixture.json')
    _announce(backend, 'fixture_deleted', {'id': fixture.id, 'name': fixture.name})
    return legacy('Fixture deleted')


# -- jobs ------------------------------------------------------------------------------------------
def _publish(backend, name: str, job: CicdJob) -> None:
    backend.publish_feature(FEATURE, name, job.model_dump())


def _begin(backend, state: CicdState, job: CicdJob) -> None:
    state.jobs.save(job.id, job)
    finished = sorted((j for j in state.jobs.load_all() if j.status != 'running'), key=lambda j: j.started_at,
                      reverse=True)
    for stale in finished[KEEP_JOBS:]:
        state.jobs.delete(stale.id)
    _publish(backend, 'progress', job)


async def _run(backend, state: CicdState, job: CicdJob, batches) -> None:
    """Write each batch the iterator yields through `backend.write`, with progress; the job's record."""
    throttle = Throttle()
    started = time.monotonic()
    try:
        for items in batches:
            backend.write(items, job.cf)
            job.done += sum(1 for _, value, _ in items if value is not None)
            job.deleted += sum(1 for _, value, _ in items if value is None)
            job.records_generated = job.done if job.kind == 'generate' else 0
            job.progress = round(job.done / max(job.total, 1), 4)
            job.elapsed_ms = int((time.monotonic() - started) * 1000)
            if throttle.due():
                _publish(backend, 'progress', job)
            await asyncio.sleep(0)  # other requests go on between batches
        job.status, job.progress = 'completed', 1.0
    except asyncio.CancelledError:
        job.status, job.error = 'cancelled', 'cancelled: the server stopped during the job'
        raise
    except Exception as exc:  # noqa: BLE001 - a refused write (quota, plugin) ends the job with its reason
        body = getattr(exc, 'body', None) or {}
        job.status, job.error = 'failed', body.get('error') or body.get('message') or str(exc)
        log.warning('cicd job %s failed: %s', job.id, job.error)
    finally:
        job.elapsed_ms = int((time.monotonic() - started) * 1000)
        job.finished_at = backend.now()
        state.jobs.save(job.id, job)
        _publish(backend, job.status if job.status != 'cancelled' else 'failed', job)


def _text(key: bytes) -> str | None:
    try:
        return key.decode()
    except UnicodeDecodeError:
        return None


def _load_batches(store, cf: str, target: str, replace: bool, fixture_prefix: str, records: list[FixtureRecord]):
    """Deletes under the target first (with `replace`), then the fixture's records moved to the target prefix."""
    raw, after = target.encode(), None
    while replace and (rows := store.scan(cf, raw, prefix_end(raw), BATCH, after)):
        after = rows[-1][0]
        keys = [text for key, _ in rows if (text := _text(key)) is not None]  # binary keys cannot be named
        if keys:
            yield [(key, None, None) for key in keys]
    for begin in range(0, len(records), BATCH):
        yield [(target + r.key[len(fixture_prefix):], r.value, None) for r in records[begin:begin + BATCH]]


async def load_fixture(request: Request):
    """Write a fixture's records under a (possibly different) prefix; answers with the running job."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    fixture = _fixture(state, request.path_params['fixture_id'])
    body = await read_body(request, LoadBody, backend.config.max_body_bytes)
    if fixture.status != 'ready':
        raise fail(409, 'this fixture is still being imported')
    target = fixture.prefix if body.prefix is None else body.prefix
    cf = body.cf or fixture.cf
    if not backend.store.has_cf(cf):
        raise fail(400, f'column family {cf!r} does not exist')
    if body.replace and not target:
        raise fail(400, 'replace needs a target prefix: it would delete every key of the column family')
    content = await asyncio.to_thread(_read_file, state, fixture)
    for record in content.records:
        if problem := key_problem(target + record.key[len(fixture.prefix):]):
            raise fail(400, f'key {record.key[:100]!r} under the target prefix: {problem}')
    job = CicdJob(id=new_id(), kind='load', cf=cf, target=target, fixture_id=fixture.id, fixture_name=fixture.name,
                  total=len(content.records), started_at=backend.now())
    _begin(backend, state, job)
    state.tasks.start(job.id, _run(backend, state, job, _load_batches(
        backend.store, cf, target, body.replace, fixture.prefix, content.records)))
    return legacy(f'Loading {job.total} records', job.model_dump())


async def generate(request: Request):
    """Generate `count` records from the templates; `preview` answers a few without writing anything."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, GenerateBody, backend.config.max_body_bytes)
    if not backend.store.has_cf(body.cf):
        raise fail(400, f'column family {body.cf!r} does not exist')
    sample = checked_templates(body)
    if body.preview:
        return legacy('Preview', {'sample': sample, 'records_generated': 0, 'elapsed_ms': 0})
    state = _state(backend)
    job = CicdJob(id=new_id(), kind='generate', cf=body.cf, target=body.key_template, total=body.count,
                  started_at=backend.now())
    _begin(backend, state, job)
    task = state.tasks.start(job.id, _run(backend, state, job, generate_batches(body)))
    if body.wait:
        await asyncio.shield(task)
        if job.status == 'failed':
            raise fail(400, f'generation failed after {job.done} records: {job.error}')
        return legacy(f'Generated {job.records_generated} records in {job.elapsed_ms}ms', job.model_dump())
    return legacy(f'Generating {job.total} records', job.model_dump())


async def list_jobs(request: Request):
    require(request, Permission.Read)
    jobs = sorted(_state(backend_of(request)).jobs.load_all(), key=lambda j: j.started_at, reverse=True)
    return legacy(f'{len(jobs)} jobs', {'jobs': [j.model_dump() for j in jobs]})


def install(backend) -> None:
    backend.feature_tasks.append(_state(backend).tasks.supervise)


routes = [
    Route('/admin/cicd', list_fixtures, methods=['GET']),
    Route('/admin/cicd', save_fixture, methods=['POST']),
    Route('/admin/cicd/generate', generate, methods=['POST']),
    Route('/admin/cicd/import', import_fixture, methods=['POST']),
    Route('/admin/cicd/jobs', list_jobs, methods=['GET']),
    Route('/admin/cicd/{fixture_id}/records', append_records, methods=['POST']),
    Route('/admin/cicd/{fixture_id}/load', load_fixture, methods=['POST']),
    Route('/admin/cicd/{fixture_id}/export', export_fixture, methods=['GET']),
    Route('/admin/cicd/{fixture_id}', delete_fixture, methods=['DELETE']),
]
