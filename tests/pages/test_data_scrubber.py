"""Data Scrubber page: preview a pattern, scrub after typing it, watch progress reach 100 %, verify checksums."""

from __future__ import annotations

from nicegui.testing import User

from backend.tokens import Permission
from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def seed(server, records: dict[str, str]) -> None:
    with admin_client(server) as api:
        items = list(records.items())
        for begin in range(0, len(items), 1000):
            api.post('/keys/batch', json={'records': [{'key': k, 'value': v} for k, v in items[begin:begin + 1000]]})


async def test_a_pattern_is_previewed_then_scrubbed_after_typing_it_and_progress_reaches_100(console_backend,
                                                                                            user: User):
    seed(console_backend, {**{f'temp:{i:04d}': 'x' for i in range(1500)}, 'keep:1': 'a', 'temporary': 'b'})
    await sign_in(user, next_page='/data-scrubber')
    await user.should_see('No scrubber jobs yet.')
    user.find(marker='scrub-pattern').type('temp:*').trigger('keydown.enter')
    await eventually(lambda: element(user, 'scrub-preview-text').text.startswith('1,500 keys match temp:* in default'),
                     message='the preview should count the matches')
    assert element(user, 'scrub-sample').text.startswith('temp:0000\ntemp:0001')
    assert element(user, 'scrub-sample').text.endswith('… and 1,480 more')
    user.find(marker='scrub-start').click()
    await user.should_see('Delete every key matching temp:* in column family default?')
    assert not element(user, 'confirm-button').enabled  # not until the pattern is typed
    user.find(marker='confirm-typed').type('temp:*')
    user.find(marker='confirm-button').click()
    await user.should_see('Scrubbed 1,500 keys matching temp:*')
    await eventually(lambda: element(user, 'scrub-progress').value == 1.0
                     and element(user, 'scrub-progress-text').text.startswith('Completed: 1,500 of 1,500 keys'))
    await eventually(lambda: [(r['pattern'], r['status'], r['scrubbed'], r['progress'])
                              for r in element(user, 'scrub-table').rows] == [('temp:*', 'Completed', '1,500 / 1,500',
                                                                               '100 %')])
    with admin_client(console_backend) as api:
        assert api.get('/keys/search', params={'q': 'temp:', 'prefix': 'true'}).json()['data']['records'] == []
        assert api.get('/keys/keep:1').status_code == 200 and api.get('/keys/temporary').status_code == 200


async def test_another_clients_job_appears_live_and_a_job_is_deleted_after_confirmation(console_backend, user: User):
    await sign_in(user, next_page='/data-scrubber')
    await user.should_see('No scrubber jobs yet.')
    seed(console_backend, {'old:1': 'x', 'old:2': 'y'})
    with admin_client(console_backend) as api:
        job_id = api.post('/admin/scrubber', json={'pattern': 'old:*'}).json()['data']['id']
    await eventually(lambda: [r['status'] for r in element(user, 'scrub-table').rows] == ['Completed'],
                     message='a job started elsewhere should appear through its events')
    user.find(marker='scrub-table').trigger('delete', job_id)
    await user.should_see('Remove the job for old:* from the list?')
    user.find(marker='confirm-button').click()
    await user.should_see('Scrubber job deleted')
    await eventually(lambda: element(user, 'scrub-table').rows == [])


async def test_changing_the_pattern_after_a_preview_hides_the_scrub_button(console_backend, user: User):
    seed(console_backend, {'a:1': 'x'})
    await sign_in(user, next_page='/data-scrubber')
    user.find(marker='scrub-pattern').type('a:*')
    user.find(marker='scrub-preview').click()
    await user.should_see('Scrub 1 key', marker='scrub-start')
    user.find(marker='scrub-pattern').type('b')  # another pattern: the old count no longer applies
    await user.should_not_see(marker='scrub-start')
    await user.should_not_see('1 key matches')
    user.find(marker='scrub-pattern').clear()
    user.find(marker='scrub-preview').click()
    await user.should_see('Enter a key pattern, e.g. temp:*')


async def test_checksum_verification_reports_ok(console_backend, user: User):
    seed(console_backend, {f'k{i}': 'v' for i in range(3000)})
    with admin_client(console_backend) as api:
        api.post('/admin/flush')
    await sign_in(user, next_page='/data-scrubber')
    user.find(marker='tab-verify').click()
    await user.should_see('No verification yet: run one to check the store.')
    user.find(marker='verify-start').click()
    await user.should_see('Checksums verified: OK')
    await eventually(lambda: [(r['status'], r['problems']) for r in element(user, 'verify-table').rows] == [('OK', '')])
    row = element(user, 'verify-table').rows[0]
    assert int(row['keys'].replace(',', '')) >= 3000 and row['families'] == 'default, __system'


async def test_a_read_only_token_sees_the_refusal(console_backend, user: User):
    seed(console_backend, {'temp:1': 'x'})
    _, raw = console_backend.call(lambda b: b.tokens.create('reader', [Permission.Read]))
    await sign_in(user, token=raw, next_page='/data-scrubber')
    user.find(marker='scrub-pattern').type('temp:*').trigger('keydown.enter')
    await eventually(lambda: element(user, 'scrub-preview-text').text.startswith('1 key matches temp:*'))
    user.find(marker='scrub-start').click()
    await user.should_see(marker='confirm-typed')
    user.find(marker='confirm-typed').type('temp:*')
    user.find(marker='confirm-button').click()
    await user.should_see('Start scrubber job: this token lacks the permission')
    with admin_client(console_backend) as api:
        assert api.get('/keys/temp:1').status_code == 200


async def test_idempotency_keys_say_not_offered_by_this_server(console_backend, user: User):
    await sign_in(user, next_page='/data-scrubber')
    user.find(marker='tab-idempotency').click()
    await user.should_see('Idempotency keys is not offered by this server.', marker='idempotency-state')


async def test_a_real_apexstore_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/data-scrubber')
    await user.should_see('The data scrubber is not offered by this server.', marker='scrub-state')
    await user.should_not_see(marker='scrub-pattern')
    await user.should_not_see(marker='verify-start')
