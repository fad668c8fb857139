"""Data Scrubber: a pattern's matches are counted, then deleted in batches as events; the store's checksums verify."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from backend.tokens import Permission
from tests.conftest import admin_client


def until(check, timeout: float = 20.0, message: str = 'condition not met'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(message)


def seed(api: httpx.Client, records: dict[str, str]) -> None:
    items = list(records.items())
    for begin in range(0, len(items), 1000):
        chunk = items[begin:begin + 1000]
        answer = api.post('/keys/batch', json={'records': [{'key': k, 'value': v} for k, v in chunk]})
        assert answer.status_code == 200, answer.text


def job(api: httpx.Client, job_id: str) -> dict:
    return next(j for j in api.get('/admin/scrubber').json()['data']['jobs'] if j['id'] == job_id)


def token_with(server, *permissions: str) -> str:
    _, raw = server.call(lambda b: b.tokens.create('t-' + '-'.join(permissions), [Permission(p) for p in permissions]))
    return raw


def test_a_preview_counts_the_matches_and_the_job_deletes_exactly_those_in_batches(backend, api):
    temp = {f'temp:{i:05d}': f'v{i}' for i in range(1234)}
    kept = {'temporary': 'not under temp:', 'temp': 'no colon', 'user:1': 'ada', 'tem:p1': 'near miss'}
    seed(api, {**temp, **kept, 'session:a:temp:1': 'pattern is anchored'})
    preview = api.post('/admin/scrubber/preview', json={'pattern': 'temp:*'}).json()['data']
    assert preview['matches'] == 1234 and preview['sample'][:2] == ['temp:00000', 'temp:00001']
    assert len(preview['sample']) == 20
    assert api.post('/admin/scrubber/preview', json={'pattern': 'temp:0000?'}).json()['data']['matches'] == 10
    assert api.post('/admin/scrubber/preview', json={'pattern': '*:temp:*'}).json()['data']['matches'] == 1

    started = api.post('/admin/scrubber', json={'pattern': 'temp:*', 'retention_days': 0})
    assert started.status_code == 200, started.text
    job_id = started.json()['data']['id']
    done = until(lambda: (j := job(api, job_id))['status'] == 'completed' and j, message='the job should finish')
    assert done['records_scrubbed'] == 1234 and done['records_total'] == 1234 and done['progress'] == 1.0
    assert done['finished_at'] >= done['started_at'] and done['pattern'] == 'temp:*'
    assert api.get('/keys/search', params={'q': 'temp:', 'prefix': 'true', 'limit': 2000}).json()['data'][
        'records'] == []
    for key, value in kept.items():
        assert api.get(f'/keys/{key}').json()['value'] == value
    assert api.get('/keys/session:a:temp:1').status_code == 200


def test_every_deleted_key_is_an_event_and_progress_is_published(backend, api):
    seed(api, {f'old:{i:04d}': 'x' for i in range(1200)})
    cursor = api.get('/events/poll', params={'wait': 0}).json()['next']
    job_id = api.post('/admin/scrubber', json={'pattern': 'old:*'}).json()['data']['id']
    until(lambda: job(api, job_id)['status'] == 'completed')
    events: list[dict] = []
    while batch := (page := api.get('/events/poll', params={'since': cursor, 'wait': 0}).json())['events']:
        events += batch
        cursor = page['next']
    deletes = [e for e in events if e['type'] == 'key_change' and e.get('operation') == 'delete']
    assert len(deletes) == 1200
    progress = [e for e in events if e['type'] == 'feature_event' and e['feature'] == 'scrubber']
    assert progress[-1]['name'] == 'completed' and progress[-1]['data']['progress'] == 1.0
    assert any(e['name'] == 'progress' for e in progress)


def test_checksum_verification_reads_every_family_and_reports_ok(backend, api):
    seed(api, {f'k{i:05d}': 'v' * 50 for i in range(5000)})
    api.post('/admin/column_families', json={'name': 'audit'})
    api.post('/admin/flush')
    run = api.post('/admin/scrubber/verify').json()['data']
    assert run['status'] == 'running'

    def finished():
        runs = api.get('/admin/scrubber/verify').json()['data']['runs']
        return runs[0] if runs[0]['status'] != 'running' else None

    result = until(finished, message='the verification should finish')
    assert result['status'] == 'ok' and result['problems'] == [], result
    assert result['keys_read'] >= 5000 and result['files_checked'] >= 1 and result['bytes_checked'] > 0
    assert [c['cf'] for c in result['column_families']] == ['default', 'audit', '__system']
    assert 'verify_checksums' in result['method']


def test_a_corrupted_sst_block_fails_the_verification_and_names_the_file(backend, api, tmp_path: Path):
    seed(api, {f'c{i:05d}': 'payload-' * 20 for i in range(20000)})
    api.post('/admin/flush')
    store_dir = tmp_path / 'store' / 'db'
    sst = max(store_dir.glob('*.sst'), key=lambda p: p.stat().st_size)
    with open(sst, 'r+b') as handle:  # flip one byte in the middle of a data block
        handle.seek(sst.stat().st_size // 3)
        byte = handle.read(1)
        handle.seek(sst.stat().st_size // 3)
        handle.write(bytes([byte[0] ^ 0xFF]))
    api.post('/admin/scrubber/verify')
    result = until(lambda: (r := api.get('/admin/scrubber/verify').json()['data']['runs'][0])['status'] != 'running'
                   and r)
    assert result['status'] == 'failed'
    assert any('checksum mismatch' in p and sst.name in p for p in result['problems']), result['problems']
    assert str(tmp_path) not in ' '.join(result['problems'])  # no server paths in the report


def test_bad_input_is_refused_and_deleting_a_job_removes_it(backend, api):
    assert api.post('/admin/scrubber/preview', json={'pattern': ''}).status_code == 400
    assert api.post('/admin/scrubber/preview', json={'pattern': 7}).status_code == 400
    missing_cf = api.post('/admin/scrubber', json={'pattern': 'a*', 'cf': 'nope'})
    assert missing_cf.status_code == 400 and "column family 'nope' does not exist" in missing_cf.json()['error']
    by_age = api.post('/admin/scrubber', json={'pattern': 'a*', 'retention_days': 90})
    assert by_age.status_code == 400 and 'no write time per key' in by_age.json()['message']
    assert api.post('/admin/scrubber', json={'pattern': 'a*', 'retention_days': -1}).status_code == 400
    assert api.delete('/admin/scrubber/unknown').status_code == 404
    job_id = api.post('/admin/scrubber', json={'pattern': 'nothing:*'}).json()['data']['id']
    until(lambda: job(api, job_id)['status'] == 'completed')
    assert api.delete(f'/admin/scrubber/{job_id}').json()['success'] is True
    assert api.get('/admin/scrubber').json()['data']['jobs'] == []


def test_only_admin_scrubs_or_verifies_and_read_may_preview(backend, api):
    seed(api, {'temp:1': 'x'})
    with admin_client(backend, token_with(backend, 'Read')) as reader:
        assert reader.get('/admin/scrubber').status_code == 200
        assert reader.get('/admin/scrubber/verify').status_code == 200
        assert reader.post('/admin/scrubber/preview', json={'pattern': 'temp:*'}).json()['data']['matches'] == 1
        assert reader.post('/admin/scrubber', json={'pattern': 'temp:*'}).status_code == 403
        assert reader.post('/admin/scrubber/verify').status_code == 403
    with admin_client(backend, token_with(backend, 'Write', 'Delete')) as writer:
        assert writer.get('/admin/scrubber').status_code == 403
        assert writer.post('/admin/scrubber', json={'pattern': 'temp:*'}).status_code == 403
    assert api.get('/keys/temp:1').status_code == 200


def test_a_real_apexstore_has_no_scrubber(compat_api):
    assert compat_api.get('/admin/scrubber').status_code == 404
    assert compat_api.post('/admin/scrubber/verify').status_code == 404
