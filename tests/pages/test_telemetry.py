"""Telemetry page: an admin changes a module's log level, switches request tracing, and watches the requests
this server serves (status, latency, never a token) with the latency per route — live."""

from __future__ import annotations

import logging

from nicegui.testing import User

from tests.conftest import ADMIN_TOKEN, admin_client
from tests.pages.conftest import element, eventually, sign_in


async def open_page(user: User) -> None:
    await sign_in(user, next_page='/telemetry')
    await user.should_see(marker='log-levels-table')
    await eventually(lambda: element(user, 'log-levels-table').rows, message='log levels should load')


def level_of(user: User, module: str) -> str:
    return next(r['level'] for r in element(user, 'log-levels-table').rows if r['module'] == module)


async def test_a_log_level_set_here_applies_in_the_backend_and_shows_on_the_page(console_backend, user: User):
    await open_page(user)
    assert level_of(user, 'backend.core') == 'inherit'
    user.find(marker='log-levels-table').trigger('set_level', ['backend.core', 'debug'])
    await user.should_see('backend.core: log level debug')
    await eventually(lambda: level_of(user, 'backend.core') == 'debug')
    assert console_backend.call(lambda _b: logging.getLogger('backend.core').level) == logging.DEBUG
    with admin_client(console_backend) as api:  # another admin's change shows up by itself
        api.put('/admin/telemetry/log_levels/backend.storage', json={'level': 'error'})
    await eventually(lambda: level_of(user, 'backend.storage') == 'error',
                     message='the page should follow the log_level feature event')
    user.find(marker='log-levels-table').trigger('set_level', ['backend.core', 'inherit'])
    await eventually(lambda: level_of(user, 'backend.core') == 'inherit')
    assert console_backend.call(lambda _b: logging.getLogger('backend.core').level) == logging.NOTSET


async def test_the_request_log_shows_a_request_with_status_and_latency_but_never_the_token(console_backend,
                                                                                           user: User):
    await open_page(user)
    with admin_client(console_backend) as api:
        api.get('/keys/telemetry-visit', params={'token': ADMIN_TOKEN})

    def visit() -> dict | None:
        return next((r for r in element(user, 'requests-table').rows if r['path'].startswith('/keys/telemetry-visit')),
                    None)

    await eventually(lambda: visit() is not None, message='the request should appear in the log by itself')
    row = visit()
    assert row is not None
    assert (row['method'], row['status'], row['path']) == ('GET', 404, '/keys/telemetry-visit?token=%5Bredacted%5D')
    assert float(row['ms']) >= 0 and row['token'] == 'console-admin'
    assert all(ADMIN_TOKEN not in str(r) for r in element(user, 'requests-table').rows)
    await eventually(lambda: any(r['route'] == '/keys/{key}' for r in element(user, 'latency-table').rows))
    charted = element(user, 'latency-chart').options['yAxis']['data']
    assert charted and set(charted) <= {f"{r['method']} {r['route']}" for r in element(user, 'latency-table').rows}
    assert all(not r['path'].startswith('/admin/telemetry') for r in element(user, 'requests-table').rows)
    user.find(marker='requests-include-own').click()  # the page's own reads, on request
    await eventually(lambda: any(r['path'].startswith('/admin/telemetry')
                                 for r in element(user, 'requests-table').rows))


async def test_switching_tracing_off_stops_the_request_log(console_backend, user: User):
    await open_page(user)
    user.find(marker='telemetry-tracing').click()
    user.find(marker='telemetry-save').click()
    await user.should_see('Telemetry configuration saved')
    await user.should_see('Request tracing is off: new requests are not logged')
    with admin_client(console_backend) as api:
        assert api.get('/admin/telemetry').json()['data']['config']['tracing_enabled'] is False
        api.get('/keys/while-tracing-is-off')
        assert all(e['path'] != '/keys/while-tracing-is-off'
                   for e in api.get('/admin/telemetry/requests').json()['data']['requests'])
    assert not element(user, 'telemetry-otlp').enabled
    await user.should_see('otlp_endpoint: this backend has no OTLP exporter')


async def test_clearing_the_log_asks_first(console_backend, user: User):
    await open_page(user)
    await eventually(lambda: element(user, 'latency-table').rows, message='the sign-in requests should be counted')
    user.find(marker='requests-clear').click()
    await user.should_see('Forget every logged request and the latency of every route?')
    user.find(marker='confirm-button').click()
    await user.should_see('Request log cleared')
    with admin_client(console_backend) as api:
        routes = api.get('/admin/telemetry/routes').json()['data']['routes']
    assert all(r['route'].startswith('/admin/telemetry') for r in routes)  # only what came after the clear


async def test_a_server_without_telemetry_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/telemetry')
    await user.should_see('Telemetry is not offered by this server.', marker='telemetry-state')
    await user.should_not_see(marker='log-levels-table')
