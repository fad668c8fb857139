"""The embedded backend answers like the real ApexStore server (reference §1–§3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.tokens import Permission
from tests.conftest import ADMIN_TOKEN, admin_client, make_backend


@pytest.fixture(params=['normal', 'compat'])
def backend(request, tmp_path: Path) -> Iterator:
    """Core route groups are checked in both modes: our backend and the real server's stand-in."""
    with make_backend(tmp_path / request.param, compat=request.param == 'compat') as server:
        yield server


@pytest.fixture
def api(backend) -> Iterator[httpx.Client]:
    with admin_client(backend) as client:
        yield client


def token_with(backend, *permissions: str) -> str:
    """A fresh token (created in-process: compat mode has no token routes, like the real server)."""
    _, raw = backend.call(lambda b: b.tokens.create('t-' + '-'.join(permissions), [Permission(p) for p in permissions]))
    return raw


def as_token(backend, token: str) -> httpx.Client:
    return admin_client(backend, token)


class TestBearerAndContentType:
    def test_missing_bearer_header_is_401_with_empty_body_on_every_route(self, backend):
        for method, path in [('GET', '/keys'), ('GET', '/health/liveness'), ('GET', '/nope'), ('POST', '/keys')]:
            answer = httpx.request(method, backend.url + path)
            assert answer.status_code == 401
            assert answer.content == b''
            assert answer.headers['www-authenticate'] == 'Bearer'

    def test_unknown_token_gets_the_real_servers_json(self, backend):
        answer = httpx.get(backend.url + '/stats', headers={'Authorization': 'Bearer apx_wrong'})
        assert answer.status_code == 401
        assert answer.json() == {'error': 'Invalid authentication token', 'status': 401}

    def test_expired_token_is_refused(self, backend, api):
        token, raw = backend.call(lambda b: b.tokens.create('old', [Permission.Read], expires_in_days=1))
        backend.call(lambda b: b.tokens._tokens[token.id].__setattr__('expires_at', 1))
        answer = httpx.get(backend.url + '/stats', headers={'Authorization': f'Bearer {raw}'})
        assert answer.status_code == 401
        assert answer.json() == {'error': 'Token has expired', 'status': 401}

    def test_mutations_without_json_content_type_are_415_even_without_body(self, backend):
        headers = {'Authorization': f'Bearer {ADMIN_TOKEN}'}
        for method, path in [('DELETE', '/keys/a'), ('POST', '/admin/compact'), ('PUT', '/keys/a')]:
            answer = httpx.request(method, backend.url + path, headers=headers)
            assert answer.status_code == 415
            assert answer.text == 'Content-Type must be application/json for mutating requests'

    def test_no_auth_mode_accepts_any_bearer_but_still_needs_the_header(self, tmp_path):
        from tests.conftest import make_backend

        with make_backend(tmp_path / 'open', auth=False) as server:
            assert httpx.get(server.url + '/stats', headers={'Authorization': 'Bearer x'}).status_code == 200
            assert httpx.get(server.url + '/stats').status_code == 401


class TestPermissions:
    def test_write_does_not_imply_read_and_only_admin_implies_everything(self, backend, api):
        api.put('/keys/k', json={'value': 'v'})
        read, write, delete = (token_with(backend, p) for p in ('Read', 'Write', 'Delete'))
        forbidden = {'error': 'Insufficient permissions', 'status': 403}
        with as_token(backend, read) as client:
            assert client.get('/keys/k').status_code == 200
            assert client.put('/keys/k', json={'value': 'x'}).json() == forbidden
            assert client.delete('/keys/k').status_code == 403
            assert client.post('/admin/flush').status_code == 403
        with as_token(backend, write) as client:
            assert client.get('/keys/k').json() == forbidden
            assert client.put('/keys/k', json={'value': 'w'}).status_code == 200
            assert client.delete('/keys/k').status_code == 403
        with as_token(backend, delete) as client:
            assert client.get('/keys/k').status_code == 403
            assert client.post('/keys/batch/delete', json={'keys': ['k']}).status_code == 200
        assert api.get('/keys/k').status_code == 404


class TestSingleKeys:
    def test_put_get_delete_round_trip_in_the_three_styles(self, api):
        assert api.put('/keys/user:1', json={'value': 'Alice'}).json() == {'status': 'ok'}
        assert api.get('/keys/user:1').json() == {'key': 'user:1', 'value': 'Alice'}
        posted = api.post('/keys', json={'key': 'user:2', 'value': 'Bob'})
        assert posted.status_code == 200 and posted.json() == {'success': True, 'data': {'key': 'user:2'}}
        assert api.delete('/keys/user:1').json() == {'status': 'ok'}
        assert api.delete('/keys/never-existed').json() == {'status': 'ok'}
        missing = api.get('/keys/user:1')
        assert missing.status_code == 404 and missing.json() == {'error': 'key not found'}

    def test_key_limits(self, api):
        assert api.post('/keys', json={'key': '', 'value': 'v'}).json() == {'success': False,
                                                                          'message': 'key must not be empty'}
        long_key = 'k' * 4097
        assert api.post('/keys', json={'key': long_key, 'value': 'v'}).json()['message'] == 'key too long'
        assert api.put(f'/keys/{long_key}', json={'value': 'v'}).json() == {'error': 'key too long'}
        assert api.post('/keys', json={'key': 'k' * 4096, 'value': 'v'}).status_code == 200

    def test_percent_encoded_and_html_keys_round_trip_as_text(self, api):
        key = '<img src=x onerror=alert(1)>'
        api.post('/keys', json={'key': key, 'value': '<b>bold</b>'})
        assert api.get('/keys/' + httpx.URL(f'/x/{key}').raw_path.decode()[3:]).json()['value'] == '<b>bold</b>'


class TestBadInput:
    def test_malformed_json_wrong_types_and_oversize_bodies_are_rejected_cleanly(self, api):
        bad = api.post('/keys', content=b'{"key": "a", "value": ')
        assert bad.status_code == 400 and 'Json deserialize error' in bad.json()['error']
        wrong = api.post('/keys', json={'key': 1, 'value': ['x']})
        assert wrong.status_code == 400 and 'error' in wrong.json()
        huge = api.post('/keys', json={'key': 'big', 'value': 'x' * (2 * 1024 * 1024 + 10)})
        assert huge.status_code == 413 and 'error' in huge.json()
        assert api.get('/keys/big').status_code == 404
        assert api.get('/keys', params={'limit': 'abc'}).status_code == 400

    def test_unknown_routes_and_wrong_methods_are_404(self, api):
        assert api.get('/no/such/route').status_code == 404
        assert api.patch('/keys').status_code == 404


class TestListingAndSearch:
    @pytest.fixture
    def loaded(self, api):
        records = [{'key': f'user:{i:03d}', 'value': f'name-{i}'} for i in range(25)]
        records += [{'key': 'order:1', 'value': 'book'}, {'key': 'order:2', 'value': 'pen'}]
        assert api.post('/keys/batch', json={'records': records}).json() == {'success': True, 'data': {'count': 27}}
        return api

    def test_prefix_listing_pages_with_a_cursor_and_hides_internal_keys(self, loaded):
        first = loaded.get('/keys', params={'prefix': 'user:', 'limit': 10}).json()
        assert first['keys'][0] == 'user:000' and len(first['keys']) == 10 and first['cursor'] == 'user:009'
        seen = list(first['keys'])
        cursor = first['cursor']
        while cursor:
            page = loaded.get('/keys', params={'prefix': 'user:', 'limit': 10, 'cursor': cursor}).json()
            seen += page['keys']
            cursor = page['cursor']
        assert seen == [f'user:{i:03d}' for i in range(25)]
        everything = loaded.get('/keys', params={'prefix': '', 'limit': 1000}).json()['keys']
        assert not [k for k in everything if k.startswith('__')]
        assert 'cursor' not in loaded.get('/keys').json()

    def test_search_modes(self, loaded):
        prefix = loaded.get('/keys/search', params={'q': 'order:'}).json()
        assert prefix == {'success': True, 'data': {'records': [{'key': 'order:1', 'value': 'book'},
                                                                {'key': 'order:2', 'value': 'pen'}], 'cursor': None}}
        contains = loaded.get('/keys/search', params={'q': 'der:2', 'mode': 'contains'}).json()
        assert contains == {'success': True, 'data': {'records': [{'key': 'order:2', 'value': 'pen'}]}}
        regex = loaded.get('/keys/search', params={'q': r'^user:00[12]$', 'mode': 'regex'}).json()
        assert [r['key'] for r in regex['data']['records']] == ['user:001', 'user:002']
        bad = loaded.get('/keys/search', params={'q': '([', 'mode': 'regex'})
        assert bad.status_code == 400 and bad.json()['error'].startswith('invalid regex')
        values = loaded.get('/keys/value-search', params={'q': 'boo'}).json()
        assert values['data']['records'] == [{'key': 'order:1', 'value': 'book'}]
        assert loaded.get('/keys/value-search').json() == {'error': 'q parameter is required'}

    def test_scan_and_range_shapes(self, loaded):
        scan = loaded.get('/scan', params={'lower': 'user:', 'upper': 'user:005', 'limit': 3}).json()
        assert scan['success'] is True and scan['data']['has_more'] is True and scan['data']['cursor'] == 'user:002'
        rest = loaded.get('/scan', params={'lower': 'user:', 'upper': 'user:005', 'cursor': 'user:002'}).json()
        assert [r['key'] for r in rest['data']['records']] == ['user:003', 'user:004']
        ranged = loaded.get('/keys/range', params={'lower': 'order:', 'upper': 'order:9'}).json()
        assert ranged == {'keys': [{'key': 'order:1', 'value': 'book'}, {'key': 'order:2', 'value': 'pen'}],
                          'cursor': None, 'has_more': False}

    def test_batch_validates_everything_before_writing(self, api):
        bad = api.post('/keys/batch', json={'records': [{'key': 'ok', 'value': '1'}, {'key': '', 'value': '2'}]})
        assert bad.status_code == 400 and bad.json() == {'success': False, 'message': 'key must not be empty'}
        assert api.get('/keys/ok').status_code == 404
        too_many = api.post('/keys/batch', json={'records': [{'key': f'k{i}', 'value': 'v'} for i in range(1001)]})
        assert too_many.json() == {'success': False, 'message': 'batch size 1001 exceeds maximum of 1000'}

    def test_batch_delete_and_delete_by_prefix(self, loaded):
        assert loaded.post('/keys/batch/delete', json={'keys': []}).json() == {'deleted_count': 0}
        assert loaded.post('/keys/batch/delete', json={'keys': ['order:1', 'nope']}).json() == {'deleted_count': 2}
        assert loaded.delete('/keys', params={'prefix': 'user:'}).json() == {'status': 'ok', 'prefix': 'user:'}
        assert loaded.get('/keys', params={'prefix': ''}).json()['keys'] == ['order:2']
        assert loaded.delete('/keys').json() == {'error': 'prefix query parameter is required'}


class TestTtl:
    def test_ttl_routes(self, api):
        api.put('/keys/session', json={'value': 's', 'ttl_secs': 100})
        ttl = api.get('/keys/session/ttl').json()
        assert ttl['key'] == 'session' and 95 <= ttl['ttl_secs'] <= 100 and ttl['expired'] is False
        api.put('/keys/plain', json={'value': 'p'})
        assert api.get('/keys/plain/ttl').json() == {'key': 'plain', 'ttl_secs': None, 'expired': False}
        assert api.patch('/keys/plain/ttl', json={'ttl_secs': 50}).json() == {'status': 'ok', 'key': 'plain',
                                                                              'ttl_secs': 50}
        assert api.get('/keys/missing/ttl').status_code == 404
        api.put('/keys/short', json={'value': 's', 'ttl_secs': 1})
        import time

        time.sleep(1.1)
        assert api.get('/keys/short').status_code == 404


class TestStatsAndAdmin:
    def test_stats_metrics_and_deprecated_stats_all(self, api):
        api.put('/keys/a', json={'value': 'x'})
        stats = api.get('/stats').json()
        assert set(stats) == {'sst_files', 'sst_kb', 'mem_records', 'mem_kb', 'wal_kb', 'total_records',
                              'max_levels_reached'}
        assert stats['mem_records'] == 1
        legacy = api.get('/stats/all')
        assert legacy.headers['deprecation'] == 'true' and legacy.json()['success'] is True
        assert 'max_levels_reached' not in legacy.json()['data']
        assert legacy.headers['sunset'] == 'Sat, 31 Dec 2026 23:59:59 GMT'
        metrics = api.get('/metrics')
        assert metrics.headers['content-type'].startswith('text/plain')
        assert 'apexstore_sets_total 1' in metrics.text and '# TYPE apexstore_gets_total counter' in metrics.text

    def test_flush_and_compaction_report_real_rocksdb_work(self, api):
        for round_ in range(3):
            api.post('/keys/batch', json={'records': [{'key': f'k{i:04d}', 'value': f'{round_}' * 50}
                                                      for i in range(500)]})
            assert api.post('/admin/flush').json() == {'status': 'ok'}
        assert api.get('/stats').json()['sst_files'] == 3
        compactions = api.post('/admin/compact').json()['compactions']
        assert len(compactions) == 1
        result = compactions[0]
        assert result['cf'] == 'default' and result['files_merged'] == 3
        assert result['bytes_read'] > result['bytes_written'] > 0
        assert api.get('/stats').json()['sst_files'] == 1
        assert api.get('/keys/k0001').json()['value'] == '2' * 50

    def test_health_probes_and_injected_failure(self, backend, api):
        assert api.get('/health/liveness').json() == {'status': 'ok', 'service': 'apexstore', 'endpoint': 'liveness'}
        ready = api.get('/health/readiness').json()
        assert ready['endpoint'] == 'readiness' and set(ready['details']) == {'sst_files', 'wal_kb', 'mem_records'}
        check = api.get('/health/check').json()
        assert set(check['details']) == {'memtable_records', 'sstable_files', 'wal_size_kb', 'total_records'}
        backend.faults(failing_probes=['readiness'])
        failed = api.get('/health/readiness')
        assert failed.status_code == 503 and failed.json()['status'] == 'error' and failed.json()['reason']
        assert api.get('/health/check').status_code == 500
        backend.faults(failing_probes=[])
        assert api.get('/health/readiness').status_code == 200


class TestExtensions:
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator:
        with make_backend(tmp_path / 'ext') as server:
            yield server

    def test_tokens_are_listed_without_secrets_and_can_be_revoked(self, backend, api):
        created = api.post('/admin/tokens', json={'name': 'ci', 'permissions': ['Read']}).json()
        assert created['message'] == 'Token created successfully' and created['data']['token'].startswith('apx_')
        listed = api.get('/admin/tokens').json()['data']['tokens']
        assert {t['name'] for t in listed} >= {'ci', 'console-admin'} and all(t['token'] is None for t in listed)
        assert 'token_hash' not in str(listed)
        raw = created['data']['token']
        assert httpx.get(backend.url + '/stats', headers={'Authorization': f'Bearer {raw}'}).status_code == 200
        assert api.delete(f"/admin/tokens/{created['data']['id']}").json()['message'] == 'Token deleted successfully'
        assert httpx.get(backend.url + '/stats', headers={'Authorization': f'Bearer {raw}'}).status_code == 401
        assert api.delete('/admin/tokens/nope').json() == {'success': False, 'message': 'Error: Token not found'}

    def test_feature_flags(self, api):
        assert api.post('/features/dark-launch', json={'enabled': True, 'description': 'd'}).json() == {
            'success': True, 'message': "Feature 'dark-launch' updated"}
        listed = api.get('/features').json()
        assert listed['message'] == '1 features found' and listed['data']['version'] == 1
        assert listed['data']['features'] == [{'name': 'dark-launch', 'enabled': True, 'description': 'd'}]

    def test_snapshots_create_browse_restore_delete(self, api):
        api.put('/keys/before', json={'value': '1'})
        created = api.post('/admin/backups', json={'name': 'first'}).json()['data']
        assert created['status'] == 'completed' and created['name'] == 'first' and created['file_count'] > 0
        api.put('/keys/after', json={'value': '2'})
        api.delete('/keys/before')
        browse = api.get(f"/admin/backups/{created['id']}/keys").json()
        assert browse['records'] == [{'key': 'before', 'value': '1'}]
        assert api.post(f"/admin/backups/{created['id']}/restore").json()['success'] is True
        assert api.get('/keys/before').json()['value'] == '1'
        assert api.get('/keys/after').status_code == 404
        assert api.get('/stats').status_code == 200  # the admin token survived the restore
        assert [b['id'] for b in api.get('/admin/backups').json()['data']['backups']] == [created['id']]
        assert api.delete(f"/admin/backups/{created['id']}").json()['success'] is True
        assert api.get('/admin/backups').json()['data']['backups'] == []
        assert api.post('/admin/backups/../../etc/restore').status_code == 404

    def test_column_families(self, api):
        assert api.post('/admin/column_families', json={'name': 'metrics'}).json() == {'status': 'ok',
                                                                                       'name': 'metrics'}
        names = [cf['name'] for cf in api.get('/admin/column_families').json()['column_families']]
        assert names == ['default', 'metrics']
        assert api.post('/admin/column_families', json={'name': '__system'}).status_code == 400


class TestCompatMode:
    def test_extension_routes_do_not_exist(self, compat_api):
        for path in ['/admin/tokens', '/features', '/admin/backups', '/events/poll', '/admin/column_families']:
            answer = compat_api.get(path)
            assert answer.status_code == 404 and answer.content == b''

    def test_core_routes_answer_as_in_normal_mode(self, compat_api):
        assert compat_api.post('/keys', json={'key': 'a', 'value': 'b'}).json() == {'success': True,
                                                                                    'data': {'key': 'a'}}
        assert compat_api.get('/keys/a').json() == {'key': 'a', 'value': 'b'}
        assert compat_api.get('/health/startup').json()['status'] == 'ok'


def test_everything_survives_a_restart(tmp_path):
    backend = make_backend(tmp_path / 'durable').start()
    api = admin_client(backend)
    api.put('/keys/durable', json={'value': 'yes'})
    raw = api.post('/admin/tokens', json={'name': 'kept', 'permissions': ['Read']}).json()['data']['token']
    api.post('/features/f', json={'enabled': True})
    snapshot = api.post('/admin/backups', json={'name': 's'}).json()['data']['id']
    api.close()
    backend.restart()
    with admin_client(backend) as fresh:
        assert fresh.get('/keys/durable').json()['value'] == 'yes'
        assert fresh.get('/features').json()['data']['features'][0]['name'] == 'f'
        assert [b['id'] for b in fresh.get('/admin/backups').json()['data']['backups']] == [snapshot]
    assert httpx.get(backend.url + '/stats', headers={'Authorization': f'Bearer {raw}'}).status_code == 200
    backend.stop()
    backend.stop()


class TestGraphQL:
    def test_the_real_servers_schema_answers_queries_and_mutations(self, api):
        api.put('/keys/user:1', json={'value': 'Alice'})
        answer = api.post('/graphql', json={'query': '{ get(key: "user:1") keys scan(limit: 5) { key value } '
                                                     'stats { memRecords sstFiles } }'}).json()
        assert answer['data']['get'] == 'Alice' and answer['data']['keys'] == ['user:1']
        assert answer['data']['scan'] == [{'key': 'user:1', 'value': 'Alice'}]
        assert answer['data']['stats']['memRecords'] == 1
        mutation = api.post('/graphql', json={'query': 'mutation { set(key: "g", value: "v") }'}).json()
        assert mutation == {'data': {'set': True}}
        assert api.get('/keys/g').json()['value'] == 'v'
        wrong = api.post('/graphql', json={'query': '{ nope }'}).json()
        assert wrong['data'] is None and 'nope' in wrong['errors'][0]['message']


class TestNotes:
    def test_notes_links_backlinks_and_tags(self, api):
        assert api.put('/notes/ideas', json={'content': '---\ntitle: Ideas\n---\nSee [[plans]] #Work #draft'}).json() \
            == {'status': 'ok', 'path': 'ideas'}
        api.put('/notes/plans', json={'content': 'Back to [[ideas]] #work'})
        assert api.get('/notes').json() == {'notes': ['ideas', 'plans']}
        note = api.get('/notes/ideas').json()
        assert note == {'path': 'ideas', 'content': '---\ntitle: Ideas\n---\nSee [[plans]] #Work #draft',
                        'frontmatter': {'title': 'Ideas'}, 'links': ['plans'], 'backlinks': ['plans'],
                        'tags': ['draft', 'work']}
        assert api.get('/tags').json() == {'tags': [{'tag': 'draft', 'count': 1}, {'tag': 'work', 'count': 2}]}
        assert api.get('/tags/work/notes').json() == {'tag': 'work', 'notes': ['ideas', 'plans'], 'cursor': None}
        assert api.get('/keys/note:plans').json()['value'] == 'Back to [[ideas]] #work'  # ordinary keys
        api.put('/notes/far', json={'content': 'links [[plans]] and [[ghost]]'})
        graph = api.get('/notes/ideas/graph', params={'depth': 2}).json()
        assert graph['root'] == 'ideas'
        assert {n['id']: n['type'] for n in graph['nodes']} == {'ideas': 'note', 'plans': 'note', 'far': 'note'}
        assert {(e['source'], e['target']) for e in graph['edges']} == {('ideas', 'plans'), ('plans', 'ideas'),
                                                                        ('far', 'plans')}
        api.put('/notes/plans', json={'content': 'v2'})
        versions = api.get('/notes/plans/history').json()['versions']
        assert len(versions) == 2 and versions == sorted(versions)
        first = api.get(f'/notes/plans/history/{versions[0]}').json()
        assert first == {'path': 'plans', 'timestamp': versions[0], 'content': 'Back to [[ideas]] #work'}
        restored = api.post('/notes/plans/restore', params={'timestamp': versions[0]}).json()
        assert restored == {'status': 'ok', 'path': 'plans', 'restored_from': versions[0]}
        assert api.get('/notes/plans').json()['content'] == 'Back to [[ideas]] #work'
        snap = api.post('/notes/plans/snapshot').json()
        assert snap['status'] == 'ok' and snap['timestamp'] > versions[-1]
        assert api.delete(f'/notes/plans/history/{versions[1]}').json() == {'status': 'ok'}
        assert api.get(f'/notes/plans/history/{versions[1]}').json() == {'error': 'version not found'}
        assert api.delete('/notes/plans').json() == {'status': 'ok'}
        missing = api.get('/notes/plans')
        assert missing.status_code == 404 and missing.json() == {'error': 'note not found'}
