"""CDC configuration (`/admin/cdc…`): tracked column families capture their inserts, updates, deletes, truncates."""

from __future__ import annotations

import time

import httpx

DEFAULT_CONFIG = {'enabled': True, 'retention_hours': 24, 'batch_size': 1000}


def changes(api: httpx.Client, table: str, **params) -> dict:
    return api.get(f'/admin/cdc/tables/{table}/changes', params=params).json()['data']


def wait_for(check, timeout: float = 5.0):
    """The capture runs after each write (from the backend's own event stream): give it a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError('condition not met')


def test_configuration_starts_with_defaults_and_is_saved(backend, api):
    first = api.get('/admin/cdc').json()
    assert first['success'] is True and first['data']['config'] == DEFAULT_CONFIG and first['data']['tables'] == []
    saved = api.put('/admin/cdc', json={'enabled': False, 'retention_hours': 48, 'batch_size': 500})
    assert saved.json()['message'] == 'CDC configuration saved'
    assert api.get('/admin/cdc').json()['data']['config'] == {'enabled': False, 'retention_hours': 48,
                                                               'batch_size': 500}
    bad = api.put('/admin/cdc', json={'enabled': True, 'retention_hours': 0, 'batch_size': 500})
    assert bad.status_code == 400 and 'retention_hours' in bad.json()['error']
    backend.restart()
    assert api.get('/admin/cdc').json()['data']['config']['retention_hours'] == 48, 'kept across restarts'


def test_a_tracked_column_family_captures_the_kinds_it_asks_for(api):
    api.post('/admin/column_families', json={'name': 'orders'})
    added = api.post('/admin/cdc/tables', json={'table': 'orders', 'events': ['insert', 'update', 'delete']})
    assert added.json()['message'] == "CDC table 'orders' added"
    table = added.json()['data']
    assert table['status'] == 'active' and table['captured'] == 0 and table['since_lsn'].isdigit()
    api.post('/cf/orders/keys', json={'key': 'o1', 'value': 'new'})
    api.put('/cf/orders/keys/o1', json={'value': 'changed'})
    api.delete('/cf/orders/keys/o1')
    api.delete('/cf/orders/keys', params={'prefix': 'o'})  # truncate: not asked for
    api.post('/keys', json={'key': 'elsewhere', 'value': 'x'})  # another family: not tracked
    log = wait_for(lambda: (found := changes(api, 'orders'))['changes'][2:] and found)
    assert [(c['op'], c['key']) for c in log['changes']] == [('insert', 'o1'), ('update', 'o1'), ('delete', 'o1')]
    lsns = [int(c['lsn']) for c in log['changes']]
    assert lsns == sorted(lsns) and lsns[0] > int(table['since_lsn'])
    listed = api.get('/admin/cdc').json()['data']['tables'][0]
    assert listed['captured'] == 3 and listed['last_event_at'] == log['changes'][-1]['timestamp']
    paged = changes(api, 'orders', after=log['changes'][0]['lsn'], limit=1)
    assert [c['op'] for c in paged['changes']] == ['update'] and paged['next'] == paged['changes'][0]['lsn']


def test_disabled_cdc_pauses_capture_and_truncate_is_captured_when_asked(api):
    api.post('/admin/cdc/tables', json={'table': 'default', 'events': ['truncate']})
    api.put('/admin/cdc', json={**DEFAULT_CONFIG, 'enabled': False})
    assert api.get('/admin/cdc').json()['data']['tables'][0]['status'] == 'paused'
    api.delete('/keys', params={'prefix': 'a'})
    api.put('/admin/cdc', json=DEFAULT_CONFIG)
    api.delete('/keys', params={'prefix': 'b'})
    log = wait_for(lambda: changes(api, 'default')['changes'])
    assert [(c['op'], c['key']) for c in log] == [('truncate', 'b')]


def test_tables_are_column_families_and_can_be_removed(api):
    missing = api.post('/admin/cdc/tables', json={'table': 'my_table', 'events': ['insert']})
    assert (missing.status_code, missing.json()) == (400, {'success': False,
                                                           'message': "Error: column family 'my_table' does not exist"})
    assert api.post('/admin/cdc/tables', json={'table': 'default', 'events': []}).status_code == 400
    assert api.post('/admin/cdc/tables', json={'table': 'default', 'events': ['merge']}).status_code == 400
    api.post('/admin/cdc/tables', json={'table': 'default', 'events': ['insert']})
    again = api.post('/admin/cdc/tables', json={'table': 'default', 'events': ['delete', 'insert']})
    assert again.json()['message'] == "CDC table 'default' updated"
    assert again.json()['data']['events'] == ['insert', 'delete']
    assert api.delete('/admin/cdc/tables/default').json()['message'] == "CDC table 'default' removed"
    gone = api.delete('/admin/cdc/tables/default')
    assert (gone.status_code, gone.json()['message']) == (404, 'Error: CDC table not found')


def test_the_real_server_stand_in_has_no_cdc_administration(compat_api):
    assert compat_api.get('/admin/cdc').status_code == 404
