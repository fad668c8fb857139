"""Pub/Sub page: topics, publishing, subscriptions and a live tail, all following the event stream."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from backend.tokens import Permission
from tests.backend.test_pubsub import Receiver
from tests.conftest import admin_client
from tests.pages.conftest import element, eventually, sign_in


def tail(user: User) -> list[str]:
    return [item.subject for item in element(user, 'tail').items]


def card_count(user: User, topic: str) -> str:
    return element(user, f'topic-count-{topic}').text


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


async def test_a_message_published_elsewhere_appears_in_the_tail_and_the_counts(console_backend, user: User,
                                                                                receiver: Receiver):
    await sign_in(user, next_page='/pubsub')
    await user.should_see('No topics yet. Create one, or publish a message to a new topic.')
    user.find(marker='topic-name').type('orders')
    user.find(marker='create-topic').click()
    await user.should_see("Topic 'orders' created")
    await user.should_see('Live tail: orders', marker='tail-title')
    assert card_count(user, 'orders') == '0 messages' and element(user, 'topic-count').text == '1'
    with admin_client(console_backend) as other:  # another client publishes: the page hears it live
        other.post('/pubsub/topics/orders', json={'message': '<b>order 1</b> & more'})
    await eventually(lambda: tail(user) == ['<b>order 1</b> & more'], message='the tail should show the message')
    await eventually(lambda: card_count(user, 'orders') == '1 messages')
    user.find(marker='sub-endpoint').type(receiver.url)
    user.find(marker='subscribe').click()
    await user.should_see(f"Subscribed {receiver.url} to 'orders'")
    await eventually(lambda: element(user, 'topic-subs-orders').text == '1 subscriptions')
    [row] = element(user, 'subs-table').rows
    assert row['endpoint'] == receiver.url and row['status'] == 'Active' and row['short_id'].endswith('...')
    user.find(marker='publish-topic').type('orders')
    user.find(marker='publish-message').type('order 2')
    user.find(marker='publish').click()
    await user.should_see("Message #2 published to 'orders' (1 subscribers)")
    await eventually(lambda: tail(user) == ['order 2', '<b>order 1</b> & more'])
    assert element(user, 'publish-message').value == ''
    await eventually(lambda: element(user, 'subs-table').rows[0]['delivered'] == 1,
                     message='the delivery count should follow the delivery event')
    assert receiver.received[0]['body']['message'] == 'order 2'
    assert card_count(user, 'orders') == '2 messages'
    user.find(marker='subs-table').trigger('toggle', row['id'])
    await user.should_see('Subscription paused')
    await eventually(lambda: element(user, 'subs-table').rows[0]['status'] == 'Inactive')


async def test_publishing_to_a_new_topic_adds_its_card_and_the_tail_follows_the_selected_topic(console_backend,
                                                                                                user: User):
    await sign_in(user, next_page='/pubsub')
    await user.should_see('No topics yet. Create one, or publish a message to a new topic.')
    with admin_client(console_backend) as other:
        other.post('/pubsub/topics/audit.log', json={'message': 'older'})
    await user.should_see(marker='topic-audit.log')  # a topic created elsewhere appears
    user.find(marker='topic-open-audit.log').click()
    await eventually(lambda: tail(user) == ['older'], message='selecting a topic loads its recent messages')
    with admin_client(console_backend) as other:
        other.post('/pubsub/topics/elsewhere', json={'message': 'not for this tail'})
        other.post('/pubsub/topics/audit.log', json={'message': 'newer'})
    await eventually(lambda: tail(user) == ['newer', 'older'])
    await eventually(lambda: card_count(user, 'elsewhere') == '1 messages')
    assert 'not for this tail' not in tail(user)


async def test_deleting_a_topic_asks_first_and_a_topic_with_subscriptions_needs_its_name(console_backend,
                                                                                         user: User, receiver):
    with admin_client(console_backend) as api:
        api.post('/pubsub/topics', json={'name': 'keep'})
        api.post('/pubsub/topics', json={'name': 'hooked'})
        api.post('/pubsub/topics/hooked/subscriptions', json={'endpoint': receiver.url})
    await sign_in(user, next_page='/pubsub')
    await user.should_see(marker='topic-keep')
    user.find(marker='topic-delete-keep').click()
    await user.should_see('Delete topic "keep"? Its message tail is dropped.')
    user.find('Cancel').click()
    await user.should_not_see('Delete topic "keep"? Its message tail is dropped.')
    await user.should_see(marker='topic-keep')
    with admin_client(console_backend) as api:
        assert len(api.get('/pubsub/topics').json()['data']['topics']) == 2
    user.find(marker='topic-delete-keep').click()
    await user.should_see('Delete topic "keep"? Its message tail is dropped.')
    user.find(marker='confirm-button').click()
    await user.should_see("Topic 'keep' deleted")
    await user.should_not_see(marker='topic-keep')
    user.find(marker='topic-delete-hooked').click()
    await user.should_see('Delete topic "hooked"? Its message tail is dropped and its 1 subscriptions are deleted too.')
    assert not element(user, 'confirm-button').enabled  # not until the name is typed
    user.find(marker='confirm-typed').type('hooked')
    user.find(marker='confirm-button').click()
    await user.should_see("Topic 'hooked' deleted")
    with admin_client(console_backend) as api:
        assert api.get('/pubsub/topics').json()['data']['topics'] == []


async def test_bad_input_is_explained(console_backend, user: User):
    await sign_in(user, next_page='/pubsub')
    await user.should_see('No topics yet. Create one, or publish a message to a new topic.')
    assert not element(user, 'publish').enabled  # nothing to publish yet
    user.find(marker='topic-name').type('no spaces')
    user.find(marker='create-topic').click()
    await user.should_see("Create topic: topic name must be 1-128 letters, digits, '.', '_', ':' or '-'")
    user.find(marker='publish-topic').type('fine')
    user.find(marker='publish-message').type('x' * 70_000)
    user.find(marker='publish').click()
    await user.should_see('Publish: message is 70000 bytes; the limit is 65536')
    user.find(marker='publish-message').clear().type('small')
    user.find(marker='publish-message').trigger('keydown.ctrl.enter')  # Ctrl+Enter publishes
    await user.should_see("Message #1 published to 'fine' (0 subscribers)")
    await eventually(lambda: tail(user) == ['small'])
    user.find(marker='sub-endpoint').type('ftp://files.example.com/in')
    user.find(marker='sub-endpoint').trigger('keydown.enter')
    await user.should_see('Subscribe: endpoint must start with http:// or https://')


async def test_a_read_only_token_sees_topics_but_cannot_publish(console_backend, user: User):
    _, reader = console_backend.call(lambda b: b.tokens.create('reader', [Permission.Read]))
    with admin_client(console_backend) as api:
        api.post('/pubsub/topics/news', json={'message': 'hello'})
    await sign_in(user, reader, next_page='/pubsub')
    await eventually(lambda: card_count(user, 'news') == '1 messages')
    user.find(marker='publish-topic').type('news')
    user.find(marker='publish-message').type('denied')
    user.find(marker='publish').click()
    await user.should_see('Publish: this token lacks the permission')
    user.find(marker='topic-delete-news').click()
    await user.should_see('Delete topic "news"? Its message tail is dropped.')
    user.find(marker='confirm-button').click()
    await user.should_see('Delete topic: this token lacks the permission')
    await user.should_see(marker='topic-news')


async def test_a_server_without_pubsub_says_not_offered(console_compat_backend, user: User):
    await sign_in(user, next_page='/pubsub')
    await user.should_see('Pub/Sub is not offered by this server.', marker='topics-state')
    await user.should_not_see(marker='publish')
    await user.should_not_see(marker='create-topic')
