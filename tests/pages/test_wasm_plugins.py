"""WASM Plugins page: upload a validator, watch it refuse and accept writes live, deactivate it, try it, delete it."""

from __future__ import annotations

import wasmtime
from nicegui import ui
from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in

JSON_OBJECTS = wasmtime.wat2wasm('''
(module
  (memory (export "memory") 1)
  (func (export "validate") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 2))))
    (if (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 123)) (then (return (i32.const 1))))
    (i32.const 0)))
''')


async def upload(user: User, filename: str, data: bytes) -> None:
    await element(user, 'wasm-upload').handle_uploads([ui.upload.SmallFileUpload(filename, 'application/wasm', data)])


async def upload_validator(user: User) -> None:
    await sign_in(user, next_page='/wasm-plugins')
    await user.should_see('No plugins yet: upload a .wasm validator.')
    user.find(marker='wasm-name').type('json-objects')
    user.find(marker='wasm-version').clear().type('2.0.1')
    user.find(marker='wasm-prefix').type('doc:')
    user.find(marker='wasm-description').type('documents must be JSON objects')
    await upload(user, 'json_objects.wasm', JSON_OBJECTS)
    await user.should_see('Plugin "json-objects" uploaded and active')


async def test_an_uploaded_validator_refuses_bad_values_and_its_counters_rise_live(console_backend, user: User):
    await upload_validator(user)
    await user.should_see('v2.0.1')
    await user.should_see('documents must be JSON objects')
    assert element(user, 'plugin-status').text == 'Active'
    assert element(user, 'wasm-runtime').text.startswith('Runtime: wasmtime ')
    with admin_client(console_backend) as api:
        refused = api.post('/keys', json={'key': 'doc:1', 'value': 'plain text'})
        assert refused.status_code == 400 and 'refused by WASM plugin' in refused.json()['error']
        assert api.get('/keys/doc:1').status_code == 404
        assert api.post('/keys', json={'key': 'doc:1', 'value': '{"title": "ok"}'}).status_code == 200
    await eventually(lambda: element(user, 'plugin-counts').text == '2 calls · 1 accepted · 1 refused · 0 errors',
                     message='the counters should follow the writes')
    assert element(user, 'plugin-refusal').text == 'Last refusal: doc:1: code 1'


async def test_deactivating_stops_validation_and_a_try_runs_without_writing(console_backend, user: User):
    await upload_validator(user)
    user.find(marker='plugin-toggle').click()
    await user.should_see('Plugin "json-objects" deactivated')
    await eventually(lambda: element(user, 'plugin-status').text == 'Inactive')
    with admin_client(console_backend) as api:
        assert api.post('/keys', json={'key': 'doc:2', 'value': 'anything'}).status_code == 200
    user.find(marker='plugin-try').click()
    await user.should_see(marker='try-value')
    user.find(marker='try-value').type('not json')
    user.find(marker='try-run').click()
    await eventually(lambda: element(user, 'try-result').text.startswith('Refused (code 1) · '))
    assert element(user, 'plugin-counts').text.startswith('0 calls')


async def test_a_plugin_is_deleted_after_confirmation(console_backend, user: User):
    await upload_validator(user)
    user.find(marker='plugin-delete').click()
    await user.should_see('Delete the plugin "json-objects"? Writes are no longer checked by it.')
    user.find(marker='confirm-button').click()
    await user.should_see('Plugin "json-objects" deleted')
    await user.should_see('No plugins yet: upload a .wasm validator.')
    with admin_client(console_backend) as api:
        assert api.post('/keys', json={'key': 'doc:3', 'value': 'free again'}).status_code == 200


async def test_invalid_uploads_are_refused_with_the_reason(console_backend, user: User):
    await sign_in(user, next_page='/wasm-plugins')
    await user.should_see('No plugins yet: upload a .wasm validator.')
    await upload(user, 'plugin.wat', b'(module)')
    await eventually(lambda: element(user, 'wasm-upload-error').text == 'Please select a .wasm file')
    await upload(user, 'plugin.wasm', b'this is not webassembly')
    await eventually(lambda: element(user, 'wasm-upload-error').text.startswith(
        'Upload plugin: not a WebAssembly module: the file does not start with the \\0asm header'))
    await upload(user, 'empty.wasm', wasmtime.wat2wasm('(module (memory (export "memory") 1))'))
    await eventually(lambda: 'must export a function "validate"' in element(user, 'wasm-upload-error').text)
    assert element(user, 'wasm-count').text == '0'


async def test_another_clients_upload_appears_live(console_backend, user: User):
    import base64

    await sign_in(user, next_page='/wasm-plugins')
    await user.should_see('No plugins yet: upload a .wasm validator.')
    with admin_client(console_backend) as api:
        api.post('/admin/wasm', json={'filename': 'other.wasm', 'content_base64': base64.b64encode(JSON_OBJECTS)
                                      .decode()})
    await eventually(lambda: element(user, 'wasm-count').text == '1', message='the upload should appear by its event')
    await user.should_see('other.wasm', marker='wasm-grid')


async def test_a_real_apexstore_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/wasm-plugins')
    await user.should_see('WASM plugins is not offered by this server.', marker='wasm-state')
    await user.should_not_see(marker='wasm-upload')
