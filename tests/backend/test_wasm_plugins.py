"""WASM plugins: a real wasmtime module validates every write; refusals, errors and calls are counted."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import wasmtime

from backend.tokens import Permission
from tests.conftest import admin_client, make_backend

# Accepts a value only when it starts with '{' (code 1 otherwise, 2 when empty).
JSON_OBJECTS = '''
(module
  (memory (export "memory") 1)
  (func (export "validate") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 2))))
    (if (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 123)) (then (return (i32.const 1))))
    (i32.const 0)))
'''
# The key/value ABI with the module's own allocator: values longer than 10 bytes are refused with code 7.
SHORT_VALUES = '''
(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "alloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n)))
    (local.get $p))
  (func (export "validate") (param $kp i32) (param $kl i32) (param $vp i32) (param $vl i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $vl) (i32.const 10)) (then (i32.const 7)) (else (i32.const 0)))))
'''
# Loops forever on a value starting with 'x': the fuel budget stops it.
LOOPS_ON_X = '''
(module
  (memory (export "memory") 1)
  (func (export "validate") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.and (i32.gt_u (local.get $len) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 120)))
      (then (loop $forever (br $forever))))
    (i32.const 0)))
'''


def module(wat: str) -> str:
    return base64.b64encode(wasmtime.wat2wasm(wat)).decode()


def upload(api: httpx.Client, wat: str, name: str, **extra) -> dict:
    answer = api.post('/admin/wasm', json={'filename': f'{name}.wasm', 'content_base64': module(wat), **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


def plugin(api: httpx.Client, plugin_id: str) -> dict:
    return next(p for p in api.get('/admin/wasm').json()['data']['plugins'] if p['id'] == plugin_id)


def token_with(server, *permissions: str) -> str:
    _, raw = server.call(lambda b: b.tokens.create('t-' + '-'.join(permissions), [Permission(p) for p in permissions]))
    return raw


def test_a_validator_refuses_a_bad_value_lets_a_good_one_through_and_counts(api):
    uploaded = upload(api, JSON_OBJECTS, 'json-objects', version='2.1.0', description='JSON objects only',
                      key_prefix='doc:')
    assert uploaded['status'] == 'active' and uploaded['type'] == 'filter' and uploaded['version'] == '2.1.0'
    assert uploaded['abi'] == 'value' and uploaded['size_bytes'] > 0 and uploaded['name'] == 'json-objects'
    refused = api.post('/keys', json={'key': 'doc:1', 'value': 'plain text'})
    assert refused.status_code == 400
    assert refused.json()['error'] == ("value for key 'doc:1' refused by WASM plugin 'json-objects' (code 1): "
                                       'nothing was written')
    assert api.get('/keys/doc:1').status_code == 404
    assert api.post('/keys', json={'key': 'doc:1', 'value': '{"ok": true}'}).status_code == 200
    assert api.get('/keys/doc:1').json()['value'] == '{"ok": true}'
    assert api.post('/keys', json={'key': 'other', 'value': 'not under doc:'}).status_code == 200
    counted = plugin(api, uploaded['id'])
    assert (counted['calls'], counted['accepted'], counted['refused'], counted['errors']) == (2, 1, 1, 0)
    assert counted['last_refusal'] == 'doc:1: code 1'


def test_one_refused_record_refuses_the_whole_batch(api):
    upload(api, JSON_OBJECTS, 'json-objects')
    batch = api.post('/keys/batch', json={'records': [{'key': 'a', 'value': '{}'}, {'key': 'b', 'value': 'nope'}]})
    assert batch.status_code == 400 and "key 'b'" in batch.json()['error']
    assert api.get('/keys/a').status_code == 404  # nothing of the batch was written


def test_the_key_value_abi_with_the_modules_own_allocator(api):
    uploaded = upload(api, SHORT_VALUES, 'short-values')
    assert uploaded['abi'] == 'key_value'
    assert api.put('/keys/k1', json={'value': 'short'}).status_code == 200
    long = api.put('/keys/k2', json={'value': 'much too long for it'})
    assert long.status_code == 400 and '(code 7)' in long.json()['error']
    tried = api.post(f'/admin/wasm/{uploaded["id"]}/test', json={'key': 'k', 'value': 'x' * 11}).json()['data']
    assert tried['accepted'] is False and tried['code'] == 7 and tried['fuel_used'] > 0
    assert plugin(api, uploaded['id'])['calls'] == 2  # a try is not counted


def test_disabling_a_plugin_stops_validation_and_enabling_brings_it_back(api):
    uploaded = upload(api, JSON_OBJECTS, 'json-objects')
    toggled = api.post(f'/admin/wasm/{uploaded["id"]}/toggle', json={}).json()['data']
    assert toggled['enabled'] is False and toggled['status'] == 'inactive'
    assert api.post('/keys', json={'key': 'free', 'value': 'anything goes'}).status_code == 200
    assert plugin(api, uploaded['id'])['calls'] == 0
    api.post(f'/admin/wasm/{uploaded["id"]}/toggle', json={'enabled': True})
    assert api.post('/keys', json={'key': 'free', 'value': 'checked again'}).status_code == 400
    api.delete(f'/admin/wasm/{uploaded["id"]}')
    assert api.post('/keys', json={'key': 'free', 'value': 'no plugin left'}).status_code == 200
    assert api.get('/admin/wasm').json()['data']['plugins'] == []


def test_a_plugin_that_never_returns_runs_out_of_fuel_and_the_write_is_refused(api):
    uploaded = upload(api, LOOPS_ON_X, 'loops')
    stuck = api.post('/keys', json={'key': 'k', 'value': 'x marks the spot'})
    assert stuck.status_code == 400
    assert "WASM plugin 'loops' failed on key 'k' (ran out of its budget of" in stuck.json()['error']
    assert api.get('/keys/k').status_code == 404
    errored = plugin(api, uploaded['id'])
    assert errored['errors'] == 1 and errored['status'] == 'error' and 'budget' in errored['last_error']
    assert api.post('/keys', json={'key': 'k', 'value': 'fine'}).status_code == 200
    assert plugin(api, uploaded['id'])['status'] == 'active'


def test_invalid_modules_get_a_clear_400(api):
    def refused(body: dict) -> str:
        answer = api.post('/admin/wasm', json={'filename': 'p.wasm', **body})
        assert answer.status_code == 400, answer.text
        return answer.json()['error']

    text = base64.b64encode(b'(module)').decode()
    assert 'does not start with the \\0asm header' in refused({'content_base64': text})
    truncated = base64.b64encode(b'\x00asm\x01\x00\x00\x00\x01\xff').decode()
    assert refused({'content_base64': truncated}).startswith('invalid WebAssembly module: ')
    assert refused({'content_base64': 'not base64!'}) == 'content_base64 is not valid base64'
    assert refused({'content_base64': module('(module (memory (export "memory") 1))')}) == \
        'the module must export a function "validate" (see the plugin ABI)'
    assert 'may import nothing' in refused({'content_base64': module(
        '(module (import "env" "log" (func)) (memory (export "memory") 1)'
        ' (func (export "validate") (param i32 i32) (result i32) i32.const 0))')})
    assert 'must take (i32, i32)' in refused({'content_base64': module(
        '(module (memory (export "memory") 1) (func (export "validate") (param i64) (result i32) i32.const 0))')})
    assert 'export its linear memory' in refused({'content_base64': module(
        '(module (func (export "validate") (param i32 i32) (result i32) i32.const 0))')})
    wrong_name = api.post('/admin/wasm', json={'filename': 'p.wat', 'content_base64': module(JSON_OBJECTS)})
    assert wrong_name.status_code == 400 and wrong_name.json()['error'] == 'please select a .wasm file'
    assert api.post('/admin/wasm', json={'filename': 'p.wasm'}).status_code == 400
    assert api.get('/admin/wasm').json()['data']['plugins'] == []
    assert api.post('/admin/wasm/unknown/toggle', json={}).status_code == 404
    assert api.delete('/admin/wasm/unknown').status_code == 404


def test_plugins_survive_a_restart(tmp_path: Path):
    with make_backend(tmp_path / 'store') as first, admin_client(first) as api:
        uploaded = upload(api, JSON_OBJECTS, 'json-objects')
    with make_backend(tmp_path / 'store') as second, admin_client(second) as api:
        assert plugin(api, uploaded['id'])['name'] == 'json-objects'
        assert api.post('/keys', json={'key': 'k', 'value': 'text'}).status_code == 400


def test_only_admin_manages_plugins(backend, api):
    uploaded = upload(api, JSON_OBJECTS, 'json-objects')
    with admin_client(backend, token_with(backend, 'Read')) as reader:
        assert reader.get('/admin/wasm').status_code == 200
        assert reader.post('/admin/wasm', json={'filename': 'p.wasm', 'content_base64': module(JSON_OBJECTS)}) \
            .status_code == 403
        assert reader.post(f'/admin/wasm/{uploaded["id"]}/toggle', json={}).status_code == 403
        assert reader.post(f'/admin/wasm/{uploaded["id"]}/test', json={'value': 'x'}).status_code == 403
        assert reader.delete(f'/admin/wasm/{uploaded["id"]}').status_code == 403
    with admin_client(backend, token_with(backend, 'Write')) as writer:
        assert writer.get('/admin/wasm').status_code == 403
        assert writer.post('/keys', json={'key': 'w', 'value': 'text'}).status_code == 400  # still validated
    assert plugin(api, uploaded['id'])['enabled'] is True


def test_a_real_apexstore_has_no_plugins(compat_api):
    assert compat_api.get('/admin/wasm').status_code == 404
    assert compat_api.post('/keys', json={'key': 'k', 'value': 'text'}).status_code == 200
