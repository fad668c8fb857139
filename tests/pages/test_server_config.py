"""Server Config page: an admin sees every setting grouped, with its origin; changes a mutable one inline (risky
ones after a confirmation) and the server enforces it at once; read-only ones cannot be edited; live."""

from __future__ import annotations

import logging

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


async def open_page(user: User) -> None:
    await sign_in(user, next_page='/server-config')
    await user.should_see(marker='config-row-max_body_bytes')


async def test_settings_are_grouped_with_their_value_and_origin(console_backend, user: User):
    await open_page(user)
    for group in ('Server', 'Limits', 'Events', 'Monitors', 'Logging', 'RocksDB'):
        await user.should_see(marker=f'config-group-{group}')
    assert element(user, 'config-value-port').text == str(console_backend.config.port)
    assert element(user, 'config-source-port').text == 'Start-up flag'
    assert element(user, 'config-source-history_size').text == 'Default'
    assert element(user, 'config-value-admin_token').text == 'set (hidden)'
    await user.should_not_see(marker='config-input-port')  # read-only: plain text, no editor
    await user.should_see('read-only: set it with --port at start-up')
    assert element(user, 'config-input-history_size').value == '10000'
    user.find(marker='config-filter').type('rocksdb.')
    await eventually(lambda: element(user, 'config-count').text.startswith('9 of'))
    await user.should_not_see(marker='config-row-port')
    await user.should_see(marker='config-row-rocksdb.num_levels')
    user.find(marker='config-filter').clear().type('nothing matches this')
    await user.should_see('No setting matches "nothing matches this".')


async def test_lowering_max_body_bytes_asks_first_and_the_server_enforces_it(console_backend, user: User):
    await open_page(user)
    user.find(marker='config-input-max_body_bytes').clear().type('4096')
    user.find(marker='config-save-max_body_bytes').click()
    await user.should_see('max_body_bytes: 2097152 → 4096')  # the confirmation says what changes
    user.find(marker='confirm-button').click()
    await user.should_see('"max_body_bytes" updated')
    await eventually(lambda: element(user, 'config-source-max_body_bytes').text == 'Changed at runtime')
    with admin_client(console_backend) as api:
        assert api.post('/keys', json={'key': 'big', 'value': 'x' * 5000}).status_code == 413
        assert api.post('/keys', json={'key': 'small', 'value': 'x'}).status_code == 200


async def test_a_bad_value_is_explained_next_to_the_field(console_backend, user: User):
    await open_page(user)
    user.find(marker='config-input-history_size').clear().type('lots')
    user.find(marker='config-input-history_size').trigger('keydown.enter')  # Enter saves, like the button
    await user.should_see("history_size: expected a whole number, got 'lots'", marker='config-error-history_size')
    user.find(marker='config-input-history_size').clear().type('5')
    user.find(marker='config-save-history_size').click()
    await user.should_see('history_size: must be between 100 and 1e+06 events')
    assert console_backend.call(lambda b: b.config.history_size) == 10_000  # nothing was sent


async def test_the_log_level_set_here_reaches_the_backend(console_backend, user: User):
    await open_page(user)
    user.find(marker='config-input-log_level').click()  # a select: open it, pick a level
    user.find('debug').click()
    user.find(marker='config-save-log_level').click()
    await user.should_see('→ debug')  # the confirmation says what changes
    user.find(marker='confirm-button').click()
    await user.should_see('"log_level" updated')
    assert console_backend.call(lambda _b: logging.getLogger('backend').level) == logging.DEBUG


async def test_a_change_by_another_admin_appears_live(console_backend, user: User):
    await open_page(user)
    with admin_client(console_backend) as api:
        assert api.put('/admin/config/regex_budget_secs', json={'value': '2.5'}).status_code == 200
    await eventually(lambda: element(user, 'config-input-regex_budget_secs').value == '2.5'
                     and element(user, 'config-source-regex_budget_secs').text == 'Changed at runtime',
                     message='the page should follow the server_config feature event')


async def test_a_token_without_admin_is_told_so(console_backend, user: User):
    with admin_client(console_backend) as api:
        token = api.post('/admin/tokens', json={'name': 'reader', 'permissions': ['Read']}).json()['data']['token']
    await sign_in(user, token=token, next_page='/server-config')
    await user.should_see('this token lacks the permission', marker='config-state')
    await user.should_not_see(marker='config-row-port')


async def test_a_server_without_the_route_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/server-config')
    await user.should_see('Server configuration is not offered by this server.', marker='config-state')
    await user.should_not_see(marker='config-filter')
