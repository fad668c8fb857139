"""Pub/Sub client: topics, publishing, push subscriptions, the message tail (the `/pubsub` page's routes).

`NotOffered` from any of these means the server has no Pub/Sub (a real ApexStore). Live changes come
as `FeatureEvent`s with `feature == 'pubsub'`; `message_of` / `topic_of` / `subscription_of` read them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..api import ApexApi, segment

FEATURE = 'pubsub'


class _Model(BaseModel):
    model_config = ConfigDict(extra='ignore')


class Topic(_Model):
    name: str
    message_count: int = 0
    last_message_at: int | None = None  # ns
    created_at: int | None = None  # ns
    subscription_count: int = 0


class Subscription(_Model):
    id: str
    topic: str
    endpoint: str
    active: bool = True
    created_at: int | None = None
    delivered: int = 0
    failed: int = 0
    last_status: str | None = None  # 'success', 'HTTP 500', 'error: ConnectError', ...
    last_delivery_at: int | None = None


class Message(_Model):
    id: str
    topic: str
    seq: int = 0
    message: str
    size: int = 0
    published_at: int | None = None
    truncated: bool = False  # events carry the first 4096 characters of a longer message
    message_count: int | None = None  # the topic's count after this message (events only)


class Published(_Model):
    id: str
    topic: str
    seq: int
    subscribers: int = 0


def _topic_path(topic: str, *rest: str) -> str:
    return '/'.join(['/pubsub/topics', segment(topic), *rest])


async def topics(api: ApexApi) -> list[Topic]:
    data = await api.call('GET', '/pubsub/topics', 'Load topics')
    return [Topic.model_validate(t) for t in (data or {}).get('topics', [])]


async def create_topic(api: ApexApi, name: str) -> Topic:
    return Topic.model_validate(await api.call('POST', '/pubsub/topics', 'Create topic', body={'name': name}))


async def delete_topic(api: ApexApi, name: str) -> None:
    await api.call('DELETE', _topic_path(name), 'Delete topic')


async def publish(api: ApexApi, topic: str, message: str) -> Published:
    data = await api.call('POST', _topic_path(topic), 'Publish', body={'message': message})
    return Published.model_validate(data)


async def messages(api: ApexApi, topic: str, limit: int = 100) -> list[Message]:
    """The topic's newest messages, oldest first."""
    data = await api.call('GET', _topic_path(topic, 'messages'), 'Load messages', params={'limit': str(limit)})
    return [Message.model_validate(m) for m in (data or {}).get('messages', [])]


async def subscriptions(api: ApexApi, topic: str) -> list[Subscription]:
    data = await api.call('GET', _topic_path(topic, 'subscriptions'), 'Load subscriptions')
    return [Subscription.model_validate(s) for s in (data or {}).get('subscriptions', [])]


async def subscribe(api: ApexApi, topic: str, endpoint: str) -> Subscription:
    data = await api.call('POST', _topic_path(topic, 'subscriptions'), 'Subscribe', body={'endpoint': endpoint})
    return Subscription.model_validate(data)


async def set_active(api: ApexApi, subscription_id: str, active: bool) -> Subscription:
    data = await api.call('PUT', f'/pubsub/subscriptions/{segment(subscription_id)}',
                          'Resume subscription' if active else 'Pause subscription', body={'active': active})
    return Subscription.model_validate(data)


async def unsubscribe(api: ApexApi, subscription_id: str) -> None:
    await api.call('DELETE', f'/pubsub/subscriptions/{segment(subscription_id)}', 'Delete subscription')


# -- live events -----------------------------------------------------------------------------------
def message_of(data: dict[str, Any]) -> Message | None:
    """The message of a `message` event (None when the event is not one we can read)."""
    try:
        return Message.model_validate(data)
    except ValidationError:
        return None


def topic_of(data: dict[str, Any]) -> Topic | None:
    try:
        return Topic.model_validate(data.get('topic'))
    except ValidationError:
        return None


def subscription_of(data: dict[str, Any]) -> Subscription | None:
    try:
        return Subscription.model_validate(data.get('subscription'))
    except ValidationError:
        return None
