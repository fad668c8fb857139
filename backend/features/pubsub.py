"""Pub/Sub: topics, publish, push subscriptions, and every published message as a live `feature_event`.

Topics and subscriptions are records in the system column family (they survive restarts and follow
snapshot restores); the last `TAIL_LENGTH` messages of each topic are kept in memory for the console's
tail. A subscription is an http(s) endpoint that gets each message as a JSON POST, delivered by a
background task (bounded queue, a few deliveries at a time, one attempt each, outcome counted).

Events (`backend.publish_feature('pubsub', name, data)`): `message`, `topic_created`, `topic_deleted`,
`subscription_created`, `subscription_updated`, `subscription_deleted`, `delivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections import deque
from typing import Any

import httpx
from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, envelope_error, int_param, legacy, read_body, require
from ..storage import now_ns
from ..tokens import Permission
from ._urls import url_problem

log = logging.getLogger(__name__)

FEATURE = 'pubsub'
TOPIC_PREFIX = b'pubsub:topic:'
SUB_PREFIX = b'pubsub:sub:'
TOPIC_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$')
MAX_MESSAGE_BYTES = 64 * 1024
EVENT_PREVIEW_CHARS = 4096  # a message event carries at most this much text (the tail shows a line of it)
TAIL_LENGTH = 100
QUEUE_LIMIT = 1000  # pending deliveries; past it a delivery is dropped and counted as failed
PARALLEL_DELIVERIES = 4
DELIVERY_TIMEOUT_SECS = 5.0


class TopicBody(BaseModel):
    name: StrictStr


class PublishBody(BaseModel):
    message: StrictStr = Field(min_length=1)


class SubscriptionBody(BaseModel):
    endpoint: StrictStr
    active: StrictBool = True


class SubscriptionChange(BaseModel):
    active: StrictBool


def _topic_name(raw: str) -> str:
    if not TOPIC_NAME.match(raw):
        raise envelope_error(400, "topic name must be 1-128 letters, digits, '.', '_', ':' or '-', starting "
                                  'with a letter or digit')
    return raw


class PubSub:
    """One backend's topics, subscriptions, message tails and delivery queue."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.tails: dict[str, deque[dict[str, Any]]] = {}
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None

    # -- records -----------------------------------------------------------------------------------
    def _get(self, key: bytes) -> dict[str, Any] | None:
        raw = self.backend.store.system_get(key)
        return json.loads(raw) if raw is not None else None

    def _put(self, key: bytes, record: dict[str, Any]) -> None:
        self.backend.store.system_put(key, json.dumps(record).encode())

    def topics(self) -> list[dict[str, Any]]:
        subs = self.subscriptions()
        out = []
        for _, raw in self.backend.store.system_items(TOPIC_PREFIX):
            topic = json.loads(raw)
            topic['subscription_count'] = sum(1 for s in subs if s['topic'] == topic['name'])
            out.append(topic)
        return out

    def topic(self, name: str) -> dict[str, Any] | None:
        return self._get(TOPIC_PREFIX + name.encode())

    def existing_topic(self, name: str) -> dict[str, Any]:
        topic = self.topic(_topic_name(name))
        if topic is None:
            raise envelope_error(404, f"topic '{name}' does not exist")
        return topic

    def create_topic(self, name: str) -> dict[str, Any]:
        topic = {'name': name, 'created_at': now_ns(), 'message_count': 0, 'last_message_at': None}
        self._put(TOPIC_PREFIX + name.encode(), topic)
        self.tails.pop(name, None)  # a topic of the same name that a restore took away left its tail here
        self.backend.publish_feature(FEATURE, 'topic_created', {'topic': {**topic, 'subscription_count': 0}})
        return topic

    def delete_topic(self, name: str) -> int:
        """Drop the topic, its subscriptions and its tail; returns how many subscriptions went with it."""
        dropped = [s for s in self.subscriptions() if s['topic'] == name]
        for sub in dropped:
            self.backend.store.system_delete(SUB_PREFIX + sub['id'].encode())
        self.backend.store.system_delete(TOPIC_PREFIX + name.encode())
        self.tails.pop(name, None)
        self.backend.publish_feature(FEATURE, 'topic_deleted', {'name': name, 'subscriptions': len(dropped)})
        return len(dropped)

    def subscriptions(self, topic: str | None = None) -> list[dict[str, Any]]:
        subs = [json.loads(raw) for _, raw in self.backend.store.system_items(SUB_PREFIX)]
        return [s for s in subs if topic is None or s['topic'] == topic]

    def subscription(self, sub_id: str) -> dict[str, Any]:
        sub = self._get(SUB_PREFIX + sub_id.encode()) if re.fullmatch(r'[0-9a-f]{32}', sub_id) else None
        if sub is None:
            raise envelope_error(404, 'subscription does not exist')
        return sub

    def save_subscription(self, sub: dict[str, Any], event: str) -> None:
        self._put(SUB_PREFIX + sub['id'].encode(), sub)
        self.backend.publish_feature(FEATURE, event, {'subscription': sub})

    # -- publish and deliver -----------------------------------------------------------------------
    def publish(self, name: str, message: str) -> dict[str, Any]:
        topic = self.topic(name)
        if topic is None:
            topic = self.create_topic(name)  # publishing creates the topic, as the Angular page expects
        now = now_ns()
        topic['message_count'] += 1
        topic['last_message_at'] = now
        self._put(TOPIC_PREFIX + name.encode(), topic)
        record = {'id': uuid.uuid4().hex, 'topic': name, 'seq': topic['message_count'], 'message': message,
                  'size': len(message.encode()), 'published_at': now}
        self.tails.setdefault(name, deque(maxlen=TAIL_LENGTH)).append(record)
        targets = [s for s in self.subscriptions(name) if s['active']]
        for sub in targets:
            self._enqueue(sub, record)
        preview = message[:EVENT_PREVIEW_CHARS]
        self.backend.publish_feature(FEATURE, 'message', {
            **record, 'message': preview, 'truncated': len(preview) < len(message),
            'message_count': topic['message_count'], 'subscribers': len(targets)})
        return {**record, 'subscribers': len(targets)}

    def _enqueue(self, sub: dict[str, Any], record: dict[str, Any]) -> None:
        if self.queue is not None and self.queue.qsize() < QUEUE_LIMIT:
            self.queue.put_nowait((sub['id'], record))
        else:
            self._record_delivery(sub['id'], record, False, 'dropped: delivery queue full')

    def _record_delivery(self, sub_id: str, record: dict[str, Any], ok: bool, status: str) -> None:
        sub = self._get(SUB_PREFIX + sub_id.encode())
        if sub is None:  # deleted while the message was on its way
            return
        sub['delivered' if ok else 'failed'] += 1
        sub['last_status'] = 'success' if ok else status
        sub['last_delivery_at'] = now_ns()
        self._put(SUB_PREFIX + sub_id.encode(), sub)
        self.backend.publish_feature(FEATURE, 'delivery', {
            'subscription_id': sub_id, 'topic': record['topic'], 'message_id': record['id'], 'ok': ok,
            'status': sub['last_status'], 'delivered': sub['delivered'], 'failed': sub['failed']})

    async def _deliver(self, client: httpx.AsyncClient, sub_id: str, record: dict[str, Any]) -> None:
        sub = self._get(SUB_PREFIX + sub_id.encode())
        if sub is None or not sub['active']:
            return
        try:
            response = await client.post(sub['endpoint'], json=record, headers={'X-ApexStore-Topic': record['topic']})
            ok, status = response.is_success, f'HTTP {response.status_code}'
        except Exception as exc:  # noqa: BLE001 - any failure is the delivery's outcome, never the worker's end
            ok, status = False, f'error: {type(exc).__name__}'
        self._record_delivery(sub_id, record, ok, status)

    async def deliver_forever(self) -> None:
        """The delivery worker (a feature task): a few POSTs at a time, cancelled with the backend."""
        self.queue = asyncio.Queue()
        slots = asyncio.Semaphore(PARALLEL_DELIVERIES)
        running: set[asyncio.Task] = set()

        def done(task: asyncio.Task) -> None:
            running.discard(task)
            slots.release()

        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECS, trust_env=False,
                                     follow_redirects=False) as client:
            try:
                while True:
                    sub_id, record = await self.queue.get()
                    await slots.acquire()
                    task = asyncio.create_task(self._deliver(client, sub_id, record))
                    running.add(task)
                    task.add_done_callback(done)
            finally:
                for task in list(running):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*running, return_exceptions=True)


def _state(request: Request) -> PubSub:
    backend = backend_of(request)
    return backend.feature_state(FEATURE, lambda: PubSub(backend))


# -- routes ----------------------------------------------------------------------------------------
async def list_topics(request: Request):
    require(request, Permission.Read)
    topics = sorted(_state(request).topics(), key=lambda t: t['name'])
    return legacy(f'{len(topics)} topics', {'topics': topics})


async def create_topic(request: Request):
    require(request, Permission.Write)
    body = await read_body(request, TopicBody, backend_of(request).config.max_body_bytes)
    state = _state(request)
    name = _topic_name(body.name)
    if state.topic(name) is not None:
        raise envelope_error(409, f"topic '{name}' already exists")
    return legacy(f"Topic '{name}' created", {**state.create_topic(name), 'subscription_count': 0})


async def publish(request: Request):
    require(request, Permission.Write)
    name = _topic_name(request.path_params['topic'])
    body = await read_body(request, PublishBody, backend_of(request).config.max_body_bytes)
    size = len(body.message.encode())
    if size > MAX_MESSAGE_BYTES:
        raise envelope_error(400, f'message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}')
    result = _state(request).publish(name, body.message)
    return legacy(f"Message published to '{name}'", result)


async def delete_topic(request: Request):
    require(request, Permission.Delete)
    state = _state(request)
    name = state.existing_topic(request.path_params['topic'])['name']
    dropped = state.delete_topic(name)
    return legacy(f"Topic '{name}' deleted", {'name': name, 'subscriptions_deleted': dropped})


async def list_messages(request: Request):
    """The topic's newest messages (up to `limit`, default and max 100), oldest first."""
    require(request, Permission.Read)
    state = _state(request)
    name = state.existing_topic(request.path_params['topic'])['name']
    limit = int_param(request, 'limit', TAIL_LENGTH, TAIL_LENGTH)
    messages = list(state.tails.get(name, ()))[-limit:] if limit else []
    return legacy(f'{len(messages)} messages', {'messages': messages})


async def list_subscriptions(request: Request):
    require(request, Permission.Read)
    state = _state(request)
    name = state.existing_topic(request.path_params['topic'])['name']
    subs = sorted(state.subscriptions(name), key=lambda s: s['created_at'])
    return legacy(f'{len(subs)} subscriptions', {'subscriptions': subs})


async def create_subscription(request: Request):
    require(request, Permission.Write)
    state = _state(request)
    name = state.existing_topic(request.path_params['topic'])['name']
    body = await read_body(request, SubscriptionBody, backend_of(request).config.max_body_bytes)
    endpoint = body.endpoint.strip()
    if (problem := url_problem(endpoint)) is not None:
        raise envelope_error(400, f'endpoint {problem}')
    sub = {'id': uuid.uuid4().hex, 'topic': name, 'endpoint': endpoint, 'active': body.active,
           'created_at': now_ns(), 'delivered': 0, 'failed': 0, 'last_status': None, 'last_delivery_at': None}
    state.save_subscription(sub, 'subscription_created')
    return legacy('Subscription created', sub)


async def update_subscription(request: Request):
    require(request, Permission.Write)
    state = _state(request)
    sub = state.subscription(request.path_params['sub_id'])
    body = await read_body(request, SubscriptionChange, backend_of(request).config.max_body_bytes)
    sub['active'] = body.active
    state.save_subscription(sub, 'subscription_updated')
    return legacy(f'Subscription {"resumed" if body.active else "paused"}', sub)


async def delete_subscription(request: Request):
    require(request, Permission.Delete)
    state = _state(request)
    sub = state.subscription(request.path_params['sub_id'])
    state.backend.store.system_delete(SUB_PREFIX + sub['id'].encode())
    state.backend.publish_feature(FEATURE, 'subscription_deleted', {'subscription': sub})
    return legacy('Subscription deleted', {'id': sub['id']})


routes = [
    Route('/pubsub/topics', list_topics, methods=['GET']),
    Route('/pubsub/topics', create_topic, methods=['POST']),
    Route('/pubsub/topics/{topic}', publish, methods=['POST']),
    Route('/pubsub/topics/{topic}', delete_topic, methods=['DELETE']),
    Route('/pubsub/topics/{topic}/messages', list_messages, methods=['GET']),
    Route('/pubsub/topics/{topic}/subscriptions', list_subscriptions, methods=['GET']),
    Route('/pubsub/topics/{topic}/subscriptions', create_subscription, methods=['POST']),
    Route('/pubsub/subscriptions/{sub_id}', update_subscription, methods=['PUT']),
    Route('/pubsub/subscriptions/{sub_id}', delete_subscription, methods=['DELETE']),
]


def install(backend) -> None:
    backend.feature_readers[FEATURE] = Permission.Read  # every reader may watch topics and jobs
    state = backend.feature_state(FEATURE, lambda: PubSub(backend))
    backend.feature_tasks.append(state.deliver_forever)
