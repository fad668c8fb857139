"""Backpressure on key writes: a bounded number run at once, a bounded queue waits, the rest get 503.

A write is held "in flight" by sending its body in two parts and releasing the second part when the test
says so: no timing is measured, every wait is for a condition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN

HEADERS = {'Authorization': f'Bearer {ADMIN_TOKEN}', 'Content-Type': 'application/json'}


def wait_for(check: Callable[[], bool], timeout: float = 15.0, message: str = 'condition not met') -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(message)


class HeldWrite:
    """`PUT /keys/{key}` whose body is finished only on `finish()`: it holds a write slot (or a queue place)."""

    def __init__(self, url: str, key: str) -> None:
        self.gate = threading.Event()
        self.response: httpx.Response | None = None

        def body() -> Iterator[bytes]:
            yield b'{"value": "'
            self.gate.wait(30)
            yield b'held"}'

        def send() -> None:
            self.response = httpx.put(f'{url}/keys/{key}', content=body(), headers=HEADERS, timeout=30)

        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()

    def finish(self) -> httpx.Response:
        self.gate.set()
        self.thread.join(30)
        assert self.response is not None
        return self.response


def stats(api: httpx.Client) -> dict:
    return api.get('/admin/backpressure').json()['data']['stats']


def configure(api: httpx.Client, **change) -> dict:
    answer = api.put('/admin/backpressure', json=change)
    assert answer.status_code == 200, answer.text
    return answer.json()['data']


@pytest.fixture
def held(backend) -> Iterator[list[HeldWrite]]:
    writes: list[HeldWrite] = []
    yield writes
    for write in writes:  # never leave a sender thread waiting
        write.gate.set()


def test_off_by_default_and_writes_are_only_counted(backend, api):
    config = api.get('/admin/backpressure').json()['data']
    assert config['enabled'] is False and config['max_concurrency'] == 100 and config['max_queue_size'] == 10_000
    assert config['stats'] == {'in_flight': 0, 'queued': 0, 'admitted': 0, 'rejected': 0, 'timed_out': 0,
                               'peak_in_flight': 0, 'peak_queued': 0}
    api.put('/keys/a', json={'value': '1'})
    api.post('/keys/batch', json={'records': [{'key': 'b', 'value': '2'}]})
    api.get('/keys/a')  # reads are never limited or counted
    assert stats(api)['admitted'] == 2 and stats(api)['in_flight'] == 0


def test_with_concurrency_1_and_no_queue_a_concurrent_write_gets_503(backend, api, held):
    configure(api, enabled=True, max_concurrency=1, max_queue_size=0)
    held.append(HeldWrite(backend.url, 'slow'))
    wait_for(lambda: stats(api)['in_flight'] == 1, message='the held write should hold the only slot')
    refused = api.put('/keys/fast', json={'value': '1'})
    assert refused.status_code == 503
    body = refused.json()
    assert body['error'] == ('write queue full: 1 writes in flight (limit 1) and 0 waiting (limit 0); '
                             'retry in 100 ms')
    assert body['retry_after_ms'] == 100 and refused.headers['Retry-After'] == '1'
    assert body['retry'] == {'retryable': True, 'max_attempts': 3, 'on_timeout': True, 'on_error': False}
    assert api.post('/keys', json={'key': 'fast', 'value': '1'}).status_code == 503
    assert stats(api)['rejected'] == 2
    assert api.get('/keys/slow').status_code == 404 and api.get('/stats').status_code == 200  # reads go on
    assert held[0].finish().status_code == 200
    assert api.get('/keys/slow').json()['value'] == 'held'
    assert api.put('/keys/fast', json={'value': '1'}).status_code == 200  # the slot is free again
    assert stats(api) | {'admitted': 0} == {'in_flight': 0, 'queued': 0, 'admitted': 0, 'rejected': 2,
                                            'timed_out': 0, 'peak_in_flight': 1, 'peak_queued': 0}


def test_the_advised_wait_backs_off_while_refusals_follow_each_other(backend, api, held):
    configure(api, enabled=True, max_concurrency=1, max_queue_size=0, backoff_initial_ms=100, backoff_factor=3,
              backoff_max_ms=500)
    held.append(HeldWrite(backend.url, 'slow'))
    wait_for(lambda: stats(api)['in_flight'] == 1)
    waits = [api.delete('/keys/x').json()['retry_after_ms'] for _ in range(4)]
    assert waits == [100, 300, 500, 500]


def test_a_queued_write_waits_for_the_slot_and_the_queue_is_bounded(backend, api, held):
    configure(api, enabled=True, max_concurrency=1, max_queue_size=1)
    held.append(HeldWrite(backend.url, 'first'))
    wait_for(lambda: stats(api)['in_flight'] == 1)
    queued = threading.Thread(target=lambda: api.put('/keys/second', json={'value': '2'}), daemon=True)
    queued.start()
    wait_for(lambda: stats(api)['queued'] == 1, message='the second write should wait in the queue')
    assert api.put('/keys/third', json={'value': '3'}).status_code == 503
    assert held[0].finish().status_code == 200
    queued.join(30)
    assert api.get('/keys/second').json()['value'] == '2' and api.get('/keys/third').status_code == 404
    assert stats(api)['peak_queued'] == 1 and stats(api)['queued'] == 0


def test_raising_the_limit_at_runtime_admits_the_waiting_write_at_once(backend, api, held):
    configure(api, enabled=True, max_concurrency=1, max_queue_size=5)
    held.append(HeldWrite(backend.url, 'first'))
    wait_for(lambda: stats(api)['in_flight'] == 1)
    done = threading.Event()

    def second() -> None:
        api.put('/keys/second', json={'value': '2'})
        done.set()

    threading.Thread(target=second, daemon=True).start()
    wait_for(lambda: stats(api)['queued'] == 1)
    assert configure(api, max_concurrency=2)['max_concurrency'] == 2
    wait_for(done.is_set, message='the queued write should run as soon as the limit is raised')
    assert stats(api)['in_flight'] == 1  # the first write is still held
    configure(api, max_concurrency=1, max_queue_size=0)
    assert api.put('/keys/third', json={'value': '3'}).status_code == 503  # lowering applies at once too
    configure(api, enabled=False)
    assert api.put('/keys/third', json={'value': '3'}).status_code == 200  # off: nothing is limited
    held[0].finish()


def test_a_write_that_waits_longer_than_the_queue_timeout_is_refused(backend, api, held):
    configure(api, enabled=True, max_concurrency=1, max_queue_size=5, queue_timeout_ms=50, retry_on_timeout=False)
    held.append(HeldWrite(backend.url, 'first'))
    wait_for(lambda: stats(api)['in_flight'] == 1)
    refused = api.put('/keys/late', json={'value': '1'})
    assert refused.status_code == 503
    assert refused.json()['error'].startswith('the write waited 50 ms in the queue without a free slot')
    assert refused.json()['retry']['retryable'] is False
    assert stats(api)['timed_out'] == 1 and stats(api)['queued'] == 0
    assert api.post('/admin/backpressure/reset', json={}).json()['data']['stats']['timed_out'] == 0


def test_the_config_is_validated_kept_and_only_admins_change_it(backend, api):
    assert api.put('/admin/backpressure', json={'max_concurrency': 0}).json() == {
        'error': 'max_concurrency: Input should be greater than or equal to 1'}
    assert api.put('/admin/backpressure', json={'backoff_initial_ms': 5000, 'backoff_max_ms': 1000}).json() == {
        'error': 'backoff_initial_ms must not exceed backoff_max_ms'}
    assert api.put('/admin/backpressure', json={'enabled': 'yes'}).status_code == 400
    configure(api, enabled=True, max_queue_size=7)
    reader = api.post('/admin/tokens', json={'name': 'reader', 'permissions': ['Read']}).json()['data']['token']
    as_reader = {'Authorization': f'Bearer {reader}', 'Content-Type': 'application/json'}
    assert httpx.get(f'{backend.url}/admin/backpressure', headers=as_reader).status_code == 200
    assert httpx.put(f'{backend.url}/admin/backpressure', json={'enabled': False}, headers=as_reader).status_code \
        == 403
    backend.restart()
    config = httpx.get(f'{backend.url}/admin/backpressure', headers=HEADERS).json()['data']
    assert config['enabled'] is True and config['max_queue_size'] == 7
