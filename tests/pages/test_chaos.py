"""Chaos page: an admin creates an experiment, starts it after typing its name, watches it count down and
switch itself off; without --dev-faults the page says how to enable chaos instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nicegui.testing import User

from backend.server import BackendThread
from tests.conftest import CONSOLE_BACKEND_PORT, admin_client, make_backend
from tests.pages.conftest import element, eventually, sign_in


@pytest.fixture
def console_faulty_backend(tmp_path: Path) -> Iterator[BackendThread]:
    """The console's backend, started with --dev-faults."""
    server = make_backend(tmp_path / 'console-faulty-store', dev_faults=True)
    server.config = server.config.model_copy(update={'port': CONSOLE_BACKEND_PORT})
    with server:
        yield server


def rows(user: User) -> list[dict]:
    return element(user, 'chaos-table').rows


def only_row(user: User) -> dict:
    [row] = rows(user)
    return row


async def open_page(user: User) -> None:
    await sign_in(user, next_page='/chaos')
    await user.should_see(marker='chaos-create')


async def test_a_slow_responses_experiment_runs_after_typed_confirmation_and_switches_itself_off(
        console_faulty_backend, user: User):
    await open_page(user)
    assert not element(user, 'chaos-create').enabled  # not without a name
    user.find(marker='chaos-name').type('slow-console')
    element(user, 'chaos-delay').value = 300
    element(user, 'chaos-duration').value = 3
    await user.should_see('Affects: every HTTP request (fault hook slow_ms).')
    await user.should_see('config: {"delay_ms": 300}')
    user.find(marker='chaos-create').click()
    await user.should_see('Experiment "slow-console" created (stopped)')
    await eventually(lambda: only_row(user)['status'] == 'stopped')
    assert console_faulty_backend.call(lambda b: b.faults.slow_ms) == 0
    user.find(marker='chaos-table').trigger('toggle', only_row(user)['id'])
    await user.should_see('It runs for 3 s, then switches itself off (Stop ends it sooner).')
    await user.should_see("Every HTTP request to this server (this console's too) waits 300 ms.")
    assert not element(user, 'confirm-button').enabled  # not until the name is typed
    user.find(marker='confirm-typed').type('slow-console')
    user.find(marker='confirm-button').click()
    await user.should_see('Experiment "slow-console" running')
    await eventually(lambda: only_row(user)['status'] == 'running' and only_row(user)['remaining'].endswith(' s'))
    assert console_faulty_backend.call(lambda b: b.faults.slow_ms) == 300
    await eventually(lambda: 'slow_ms=300' in element(user, 'chaos-faults').text)
    await eventually(lambda: only_row(user)['status'] == 'completed', timeout=20,
                     message='the experiment should switch itself off after its duration')
    assert only_row(user)['remaining'] == '—'
    assert console_faulty_backend.call(lambda b: b.faults.slow_ms) == 0
    await eventually(lambda: element(user, 'chaos-faults').text == 'Active hooks: none')


async def test_an_experiment_is_deleted_after_confirmation_and_others_changes_show_live(console_faulty_backend,
                                                                                       user: User):
    await open_page(user)
    with admin_client(console_faulty_backend) as api:
        created = api.post('/admin/chaos', json={'name': 'probe-outage', 'type': 'error',
                                                 'config': {'probes': ['readiness']}, 'duration_s': 600}).json()
    await eventually(lambda: [r['name'] for r in rows(user)] == ['probe-outage'],
                     message='an experiment created elsewhere should appear by itself')
    assert only_row(user)['type'] == 'Error injection' and only_row(user)['target'] == 'health probes'
    user.find(marker='chaos-table').trigger('delete', created['data']['id'])
    await user.should_see('Delete "probe-outage"?')
    user.find(marker='confirm-button').click()
    await user.should_see('Experiment "probe-outage" deleted')
    await eventually(lambda: rows(user) == [])
    await user.should_see('No experiments yet. Create one above.')


async def test_unsupported_types_and_bad_values_cannot_be_started(console_faulty_backend, user: User):
    await open_page(user)
    user.find(marker='chaos-name').type('starve')
    element(user, 'chaos-type').value = 'resource'
    await user.should_see('Not available: this backend has no fault hook for resource exhaustion')
    assert not element(user, 'chaos-create').enabled
    element(user, 'chaos-type').value = 'latency'
    element(user, 'chaos-delay').value = 0
    user.find(marker='chaos-create').click()
    await user.should_see('Create experiment: config.delay_ms: Input should be greater than or equal to 1')
    with admin_client(console_faulty_backend) as api:
        assert api.get('/admin/chaos').json()['data']['experiments'] == []


async def test_without_dev_faults_the_page_says_how_to_enable_chaos(console_backend, user: User):
    await sign_in(user, next_page='/chaos')
    await user.should_see('Chaos experiments are off on this server.', marker='chaos-disabled')
    await user.should_see('--dev-faults', marker='chaos-disabled')
    await user.should_not_see(marker='chaos-create')
    await user.should_see('No experiments: the fault hooks are off.')


async def test_a_server_without_chaos_routes_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/chaos')
    await user.should_see('Chaos experiments is not offered by this server.', marker='chaos-state')
    await user.should_not_see(marker='chaos-table')
