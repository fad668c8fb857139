"""Client of `/admin/cicd`: fixtures (save a prefix, load into a prefix, export/import files) and test data."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..api import MAX_REQUEST_BYTES, ApexApi, json_body, segment

FixtureType = Literal['data', 'config', 'schema']
FIXTURE_TYPES: dict[str, str] = {'data': 'Test Data', 'config': 'Configuration', 'schema': 'Schema'}
PART_BYTES = MAX_REQUEST_BYTES * 3 // 4  # an imported file is sent in parts below the request limit


class Fixture(BaseModel):
    id: str
    name: str
    description: str = ''
    type: FixtureType = 'data'
    size: str = ''
    size_bytes: int = 0
    records: int = 0
    skipped: int = 0
    prefix: str = ''
    cf: str = 'default'
    source: Literal['saved', 'imported'] = 'saved'
    status: Literal['ready', 'importing'] = 'ready'
    created_at: int = 0  # ns


class FixtureRecord(BaseModel):
    key: str = Field(min_length=1)
    value: str


class FixtureFile(BaseModel):
    """The file format export sends and import takes."""
    format: Literal['apexstore-fixture'] = 'apexstore-fixture'
    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str = ''
    type: FixtureType = 'data'
    prefix: str = ''
    records: list[FixtureRecord] = []


class CicdJob(BaseModel):
    id: str
    kind: Literal['load', 'generate']
    status: Literal['running', 'completed', 'failed', 'cancelled'] = 'running'
    cf: str = 'default'
    target: str = ''
    fixture_id: str | None = None
    fixture_name: str | None = None
    total: int = 0
    done: int = 0
    deleted: int = 0
    progress: float = 0.0
    records_generated: int = 0
    elapsed_ms: int = 0
    started_at: int = 0
    finished_at: int | None = None
    error: str | None = None


class Generation(BaseModel):
    count: int = Field(ge=1, le=1_000_000)
    key_template: str = 'user:{n}'
    value_template: str = '{"id": {n}, "name": "{name}"}'
    start: int = Field(default=1, ge=0)
    cf: str = 'default'


async def fixtures(api: ApexApi) -> list[Fixture]:
    data = await api.call('GET', '/admin/cicd', 'Load fixtures')
    return [Fixture.model_validate(f) for f in data.get('fixtures', [])]


async def jobs(api: ApexApi) -> list[CicdJob]:
    data = await api.call('GET', '/admin/cicd/jobs', 'Load jobs')
    return [CicdJob.model_validate(j) for j in data.get('jobs', [])]


async def save_fixture(api: ApexApi, name: str, description: str, kind: str, prefix: str,
                       cf: str = 'default') -> Fixture:
    body = {'name': name, 'description': description, 'type': kind, 'prefix': prefix, 'cf': cf}
    return Fixture.model_validate(await api.call('POST', '/admin/cicd', 'Save fixture', body=body))


async def load_fixture(api: ApexApi, fixture_id: str, prefix: str, cf: str | None = None,
                       replace: bool = False) -> CicdJob:
    body: dict[str, Any] = {'prefix': prefix, 'replace': replace, 'cf': cf}
    data = await api.call('POST', f'/admin/cicd/{segment(fixture_id)}/load', 'Load fixture', body=body)
    return CicdJob.model_validate(data)


async def delete_fixture(api: ApexApi, fixture_id: str) -> None:
    await api.call('DELETE', f'/admin/cicd/{segment(fixture_id)}', 'Delete fixture')


async def export_fixture(api: ApexApi, fixture_id: str) -> FixtureFile:
    data = await api.call('GET', f'/admin/cicd/{segment(fixture_id)}/export', 'Export fixture')
    return FixtureFile.model_validate(data)


def parts(content: FixtureFile) -> list[list[FixtureRecord]]:
    """The records cut into parts that each fit in one request."""
    chunks: list[list[FixtureRecord]] = [[]]
    size = 0
    for record in content.records:
        record_size = len(json_body(record.model_dump())) + 1
        if chunks[-1] and size + record_size > PART_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(record)
        size += record_size
    return chunks


async def import_fixture(api: ApexApi, content: FixtureFile) -> Fixture:
    """Import a fixture file, in several requests when it is larger than one."""
    chunks = parts(content)
    head = content.model_copy(update={'records': chunks[0]}).model_dump()
    data = await api.call('POST', '/admin/cicd/import', 'Import fixture', body=head,
                          params={'complete': 'true' if len(chunks) == 1 else 'false'})
    fixture = Fixture.model_validate(data)
    for number, chunk in enumerate(chunks[1:], 2):
        body = {'records': [r.model_dump() for r in chunk], 'complete': number == len(chunks)}
        data = await api.call('POST', f'/admin/cicd/{segment(fixture.id)}/records', 'Import fixture', body=body)
        fixture = Fixture.model_validate(data)
    return fixture


async def preview_generation(api: ApexApi, generation: Generation) -> list[FixtureRecord]:
    data = await api.call('POST', '/admin/cicd/generate', 'Preview test data',
                          body={**generation.model_dump(), 'preview': True})
    return [FixtureRecord.model_validate(r) for r in data.get('sample', [])]


async def generate(api: ApexApi, generation: Generation) -> CicdJob:
    """Start generating; the job's progress arrives as `cicd` feature events."""
    data = await api.call('POST', '/admin/cicd/generate', 'Generate test data',
                          body={**generation.model_dump(), 'wait': False})
    return CicdJob.model_validate(data)
