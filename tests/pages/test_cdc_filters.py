"""CDC page: filter the shared stream by key operation and prefix (in the page), export the tail as NDJSON."""

from __future__ import annotations

import json

from nicegui.testing import User

from tests.conftest import admin_client
from tests.pages.conftest import badge_state, element, eventually, sign_in


def subjects(user: User) -> list[tuple[str, str]]:
    return [(item.kind, item.subject) for item in element(user, 'cdc-feed').items]


async def test_only_deletes_under_a_prefix_are_shown_and_exported_as_ndjson(console_backend, user: User):
    await sign_in(user, next_page='/cdc')
    await eventually(lambda: badge_state(user) == 'connected')
    await user.should_see('the server still sends every event', marker='cdc-filter-note')
    element(user, 'cdc-operations').value = ['delete']
    user.find(marker='cdc-prefix').type('user:')
    with admin_client(console_backend) as other:
        other.put('/keys/user:1', json={'value': 'ada'})
        other.put('/keys/order:1', json={'value': 'x'})
        other.delete('/keys/order:1')
        other.delete('/keys/user:1')
        other.post('/admin/flush')
        other.put('/keys/user:2', json={'value': 'bob'})
    await eventually(lambda: element(user, 'cdc-summary').text.startswith('Key changes: 5'),
                     message='every event should be received')
    await eventually(lambda: subjects(user) == [('delete', 'user:1')],
                     message='only the delete under user: should be shown')
    user.find(marker='cdc-export').click()
    download = await user.download.next(timeout=10)
    lines = [json.loads(line) for line in download.content.decode().splitlines()]
    assert [(e['type'], e['operation'], e['key']) for e in lines] == [('key_change', 'delete', 'user:1')]
    assert lines[0]['seq'] > 0 and lines[0]['cf'] == 'default'
    await user.should_see('Exported 1 events')

    element(user, 'cdc-operations').value = ['put', 'delete', 'delete_prefix']  # the tail is filtered anew
    await eventually(lambda: subjects(user) == [('put', 'user:2'), ('delete', 'user:1'), ('put', 'user:1')])
    user.find(marker='cdc-export').click()
    download = await user.download.next(timeout=10)
    exported = [json.loads(line) for line in download.content.decode().splitlines()]
    assert [(e['operation'], e['key']) for e in exported] == [('put', 'user:1'), ('delete', 'user:1'),
                                                               ('put', 'user:2')]  # oldest first
    assert exported[0]['value'] == 'ada'


async def test_nothing_to_export_is_said_not_downloaded(console_backend, user: User):
    await sign_in(user, next_page='/cdc')
    user.find(marker='cdc-prefix').type('nothing-here:')
    user.find(marker='cdc-export').click()
    await user.should_see('Nothing to export: no received event matches the filter')
