"""`/pubsub`: topics (create, delete), publish, push subscriptions, and a live tail of the selected topic.

Everything is live: the backend announces each message, topic and subscription change as a
`FeatureEvent('pubsub', …)`; the page patches the one topic card, appends to the tail (bounded, newest
first, rendered as text) or patches the one subscription row it concerns.
"""

from __future__ import annotations

import time
from collections import deque

from nicegui import ui

from components.confirm import confirm
from components.live_feed import LiveFeed
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent
from services.features import pubsub as api
from services.features.pubsub import Message, Subscription, Topic

from ..context import PageContext, notify
from ..shell import page

TAIL_LENGTH = 100
SUB_COLUMNS = [
    {'name': 'id', 'label': 'ID', 'field': 'short_id', 'align': 'left'},
    {'name': 'endpoint', 'label': 'Endpoint', 'field': 'endpoint', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'delivered', 'label': 'Delivered', 'field': 'delivered', 'align': 'right'},
    {'name': 'failed', 'label': 'Failed', 'field': 'failed', 'align': 'right'},
    {'name': 'last', 'label': 'Last delivery', 'field': 'last', 'align': 'left'},
    {'name': 'actions', 'label': '', 'field': 'id', 'align': 'right'},
]
SUB_ACTIONS = r'''
<q-td :props="props">
  <q-btn flat dense :icon="props.row.active ? 'pause' : 'play_arrow'" :title="props.row.active ? 'Pause' : 'Resume'"
         @click="$parent.$emit('toggle', props.row.id)" />
  <q-btn flat dense icon="delete" color="negative" title="Delete" @click="$parent.$emit('remove', props.row.id)" />
</q-td>
'''
SUB_STATUS = r'''
<q-td :props="props">
  <q-badge :color="props.row.active ? 'positive' : 'grey'">{{ props.row.status }}</q-badge>
</q-td>
'''


def when(ns: int | None) -> str:
    return time.strftime('%d/%m %H:%M:%S', time.localtime(ns / 1e9)) if ns else 'Never'


def sub_row(sub: Subscription) -> dict:
    last = f'{when(sub.last_delivery_at)} ({sub.last_status})' if sub.last_delivery_at else 'Never'
    return {'id': sub.id, 'short_id': f'{sub.id[:12]}...', 'endpoint': sub.endpoint, 'active': sub.active,
            'status': 'Active' if sub.active else 'Inactive', 'delivered': sub.delivered, 'failed': sub.failed,
            'last': last}


class TopicCard:
    """One clickable topic card; `show` patches its labels (a message changes one card, nothing else)."""

    def __init__(self, topic: Topic, page: PubSubPage) -> None:
        name = topic.name
        with ui.card().classes('w-72').mark(f'topic-{name}') as self.card:
            with ui.row().classes('w-full items-start no-wrap justify-between gap-1'):
                with ui.column().classes('gap-1 grow min-w-0 cursor-pointer').mark(f'topic-open-{name}') as body:
                    ui.label(name).classes('font-mono font-semibold break-all')
                    self.count = ui.badge('').mark(f'topic-count-{name}')
                    self.subs = ui.label('').classes('text-sm text-gray-500').mark(f'topic-subs-{name}')
                    self.last = ui.label('').classes('text-xs text-gray-500')
                ui.button(icon='delete', on_click=lambda: page.delete_topic(name)) \
                    .props('flat dense round color=negative').mark(f'topic-delete-{name}')
        body.props('tabindex=0 role=button').on('click', lambda: page.select(name))
        body.on('keydown.enter', lambda: page.select(name))

    def show(self, topic: Topic, selected: bool) -> None:
        self.count.text = f'{topic.message_count} messages'
        self.subs.text = f'{topic.subscription_count} subscriptions'
        self.last.text = f'Last message: {when(topic.last_message_at)}'
        if selected:
            self.card.classes(add='ring-2 ring-primary')
        else:
            self.card.classes(remove='ring-2 ring-primary')


class PubSubPage:
    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.topics: dict[str, Topic] = {}
        self.cards: dict[str, TopicCard] = {}
        self.dirty: set[str] = set()
        self.refetch_topics = False
        self.selected: str | None = None
        self.subs: dict[str, Subscription] = {}
        self.subs_dirty = False
        self.tail_ids: deque[str] = deque(maxlen=TAIL_LENGTH * 2)
        self.loaded = False  # nothing renders over the loading/error/not-offered state before a good load
        self._build()
        self.refresher = ctx.refresher(self.render)

    # -- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        ui.label('Topic inspector and message publisher: topics, push subscriptions and a live tail of messages') \
            .classes('text-gray-500')
        with ui.row().classes('w-full gap-4 items-stretch') as self.forms:
            with ui.card().classes('grow min-w-[20rem]'):
                ui.label('Publish Message').classes('font-semibold')
                self.topic_input = ui.input('Topic', placeholder='my.topic').classes('w-full').mark('publish-topic')
                self.message_input = ui.textarea('Message', placeholder='Message text (Ctrl+Enter publishes)') \
                    .classes('w-full').props('autogrow').mark('publish-message')
                self.publish_button = ui.button('Publish', icon='send', on_click=self.publish).mark('publish')
            with ui.card().classes('min-w-[20rem]'):
                ui.label('Create Topic').classes('font-semibold')
                self.new_topic = ui.input('Name', placeholder="letters, digits, '.', '_', ':' or '-'") \
                    .classes('w-full').mark('topic-name')
                self.create_button = ui.button('Create Topic', icon='add', on_click=self.create_topic) \
                    .mark('create-topic')
        with ui.card().classes('w-full'):
            with ui.row().classes('items-center gap-2'):
                ui.label('Topics').classes('font-semibold')
                self.count_badge = ui.badge('0').mark('topic-count')
            self.state = StatePanel('topics-state')
            self.grid = ui.row().classes('w-full gap-3').mark('topics')
        with ui.row().classes('w-full gap-4 items-start') as self.detail:
            with ui.card().classes('grow min-w-[22rem] basis-0'):
                with ui.row().classes('w-full items-center justify-between'):
                    self.tail_title = ui.label('').classes('font-semibold').mark('tail-title')
                    ui.button('Clear', icon='clear_all', on_click=self.clear_tail).props('flat dense')
                self.feed = LiveFeed(TAIL_LENGTH, 'No messages yet: they appear here the moment they are published.') \
                    .mark('tail')
            with ui.card().classes('grow min-w-[26rem] basis-0'):
                with ui.row().classes('items-center gap-2'):
                    self.subs_title = ui.label('').classes('font-semibold').mark('subs-title')
                    self.subs_badge = ui.badge('0').mark('subs-count')
                with ui.row().classes('w-full items-center gap-2'):
                    self.endpoint_input = ui.input('Endpoint', placeholder='https://hooks.example.com/pubsub') \
                        .classes('grow').mark('sub-endpoint')
                    ui.button('Subscribe', icon='add_link', on_click=self.subscribe).mark('subscribe')
                self.subs_table = ui.table(columns=SUB_COLUMNS, rows=[], row_key='id').classes('w-full') \
                    .props('flat dense').mark('subs-table')
                self.subs_table.add_slot('body-cell-actions', SUB_ACTIONS)
                self.subs_table.add_slot('body-cell-status', SUB_STATUS)
        self.detail.set_visibility(False)
        self.topic_input.on('keydown.enter', self.publish)
        self.message_input.on('keydown.ctrl.enter', self.publish)
        self.new_topic.on('keydown.enter', self.create_topic)
        self.endpoint_input.on('keydown.enter', self.subscribe)
        self.subs_table.on('toggle', lambda e: self.toggle(e.args))
        self.subs_table.on('remove', lambda e: self.unsubscribe(e.args))
        for field in (self.topic_input, self.message_input):
            field.on_value_change(self._enable_publish)
        self._enable_publish()

    def _enable_publish(self) -> None:
        self.publish_button.set_enabled(bool((self.topic_input.value or '').strip() and
                                             (self.message_input.value or '').strip()))

    # -- loading -----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Topics, then the selected topic's tail and subscriptions, from REST (first load and resyncs)."""
        if not self.cards:
            self.state.loading()
        with self.ctx.errors(state=self.state, feature='Pub/Sub') as outcome:
            found = await api.topics(self.ctx.api)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                self.forms.set_visibility(False)
                self.detail.set_visibility(False)
            return
        self.loaded = True
        self.topics = {t.name: t for t in found}
        self.dirty = set(self.topics) | set(self.cards)
        if self.selected is not None and self.selected not in self.topics:
            self.selected = None
        if self.selected is not None:
            await self._load_selected()
        self.refresher.flush_now()

    async def _load_selected(self) -> None:
        name = self.selected
        if name is None:
            return
        with self.ctx.errors() as outcome:
            messages = await api.messages(self.ctx.api, name, TAIL_LENGTH)
            subs = await api.subscriptions(self.ctx.api, name)
        if outcome.failed or name != self.selected:
            return
        self.feed.clear()
        self.tail_ids.clear()
        for message in messages:
            self._add_to_tail(message)
        self.subs = {s.id: s for s in subs}
        self.subs_dirty = True

    def render(self):
        """The page's one refresher: cards that changed, new tail items, the subscription rows.

        A subscription count changed elsewhere (rare) reads the topic list again first: then the render
        is a coroutine, which the refresher runs as one task.
        """
        if self.refetch_topics:
            self.refetch_topics = False
            return self._refetch_then_render()
        self._render_now()
        return None

    async def _refetch_then_render(self) -> None:
        with self.ctx.errors() as outcome:
            found = await api.topics(self.ctx.api)
        if not outcome.failed:
            self.dirty |= set(self.topics) ^ {t.name for t in found}
            self.dirty |= {t.name for t in found if self.topics.get(t.name) != t}
            self.topics = {t.name: t for t in found}
        self._render_now()

    def _render_now(self) -> None:
        if not self.loaded:
            return
        for name in sorted(self.dirty):
            topic = self.topics.get(name)
            card = self.cards.get(name)
            if topic is None:
                if card is not None:
                    card.card.delete()
                    del self.cards[name]
                continue
            if card is None:
                with self.grid:
                    card = self.cards[name] = TopicCard(topic, self)
                card.card.move(self.grid, target_index=sorted(self.topics).index(name))
            card.show(topic, name == self.selected)
        self.dirty.clear()
        self.count_badge.text = str(len(self.topics))
        self.state.settle(bool(self.topics), 'No topics yet. Create one, or publish a message to a new topic.')
        self.feed.flush()
        self.detail.set_visibility(self.selected is not None)
        if self.subs_dirty:
            self.subs_dirty = False
            rows = [sub_row(s) for s in sorted(self.subs.values(), key=lambda s: s.created_at or 0)]
            self.subs_table.rows = rows
            self.subs_badge.text = str(len(rows))

    # -- live events -------------------------------------------------------------------------------
    def on_event(self, event: FeatureEvent) -> None:
        if event.feature != api.FEATURE:
            return
        data = event.data
        if event.name == 'message' and (message := api.message_of(data)) is not None:
            topic = self.topics.get(message.topic)
            if topic is not None:
                self.topics[message.topic] = topic.model_copy(update={
                    'message_count': message.message_count or topic.message_count + 1,
                    'last_message_at': message.published_at})
                self.dirty.add(message.topic)
            else:
                self.refetch_topics = True
            if message.topic == self.selected:
                self._add_to_tail(message)
        elif event.name == 'topic_created' and (created := api.topic_of(data)) is not None:
            self.topics.setdefault(created.name, created)
            self.dirty.add(created.name)
        elif event.name == 'topic_deleted':
            name = str(data.get('name'))
            self.topics.pop(name, None)
            self.dirty.add(name)
            if name == self.selected:
                self.selected = None
        elif event.name.startswith('subscription_') and (sub := api.subscription_of(data)) is not None:
            self.refetch_topics = True  # a subscription count changed: rare, so the list is read again
            if sub.topic == self.selected:
                if event.name == 'subscription_deleted':
                    self.subs.pop(sub.id, None)
                else:
                    self.subs[sub.id] = sub
                self.subs_dirty = True
        elif event.name == 'delivery' and (known := self.subs.get(str(data.get('subscription_id')))) is not None:
            self.subs[known.id] = known.model_copy(update={
                'delivered': data.get('delivered', known.delivered), 'failed': data.get('failed', known.failed),
                'last_status': data.get('status'), 'last_delivery_at': event.timestamp})
            self.subs_dirty = True
        self.refresher.mark()

    def _add_to_tail(self, message: Message) -> None:
        if message.id in self.tail_ids:
            return
        self.tail_ids.append(message.id)
        detail = f'{message.size:,} bytes' + (' (first 4096 characters)' if message.truncated else '')
        self.feed.add(f'#{message.seq}', message.message, detail, at=(message.published_at or 0) / 1e9 or None)

    # -- actions -----------------------------------------------------------------------------------
    async def select(self, name: str) -> None:
        previous, self.selected = self.selected, name
        self.dirty |= {name} | ({previous} if previous else set())
        self.tail_title.text = f'Live tail: {name}'
        self.subs_title.text = f'Subscriptions: {name}'
        self.subs = {}
        self.subs_dirty = True
        await self._load_selected()
        self.refresher.flush_now()

    def clear_tail(self) -> None:
        self.feed.clear()

    async def publish(self) -> None:
        topic = (self.topic_input.value or '').strip()
        message = self.message_input.value or ''
        if not topic or not message.strip():
            notify('Enter a topic and a message', 'warning')
            return
        with self.ctx.errors() as outcome:
            published = await api.publish(self.ctx.api, topic, message)
        if outcome.failed:
            return
        self.message_input.value = ''
        notify(f"Message #{published.seq} published to '{topic}' ({published.subscribers} subscribers)", 'success')
        if self.selected is None:
            await self.select(topic)

    async def create_topic(self) -> None:
        name = (self.new_topic.value or '').strip()
        if not name:
            notify('Enter a name for the topic', 'warning')
            return
        with self.ctx.errors(success=f"Topic '{name}' created") as outcome:
            topic = await api.create_topic(self.ctx.api, name)
        if outcome.failed:
            return
        self.new_topic.value = ''
        self.topics.setdefault(topic.name, topic)
        self.dirty.add(topic.name)
        await self.select(topic.name)

    async def delete_topic(self, name: str) -> None:
        topic = self.topics.get(name)
        subs = topic.subscription_count if topic else 0
        text = f'Delete topic "{name}"? Its message tail is dropped' + (
            f' and its {subs} subscriptions are deleted too.' if subs else '.')
        if not await confirm('Delete topic', text, typed=name if subs else None):
            return
        with self.ctx.errors(success=f"Topic '{name}' deleted") as outcome:
            await api.delete_topic(self.ctx.api, name)
        if outcome.failed:
            return
        self.topics.pop(name, None)
        self.dirty.add(name)
        if self.selected == name:
            self.selected = None
        self.refresher.flush_now()

    async def subscribe(self) -> None:
        endpoint = (self.endpoint_input.value or '').strip()
        if self.selected is None or not endpoint:
            notify('Enter the endpoint URL that should receive the messages', 'warning')
            return
        with self.ctx.errors(success=f"Subscribed {endpoint} to '{self.selected}'") as outcome:
            sub = await api.subscribe(self.ctx.api, self.selected, endpoint)
        if outcome.failed:
            return
        self.endpoint_input.value = ''
        self.subs[sub.id] = sub
        self.subs_dirty = True
        self.refresher.flush_now()

    async def toggle(self, sub_id: str) -> None:
        sub = self.subs.get(sub_id)
        if sub is None:
            return
        with self.ctx.errors(success='Subscription resumed' if not sub.active else 'Subscription paused') as outcome:
            changed = await api.set_active(self.ctx.api, sub_id, not sub.active)
        if not outcome.failed:
            self.subs[sub_id] = changed
            self.subs_dirty = True
            self.refresher.flush_now()

    async def unsubscribe(self, sub_id: str) -> None:
        sub = self.subs.get(sub_id)
        if sub is None or not await confirm('Delete subscription',
                                            f'Stop delivering "{sub.topic}" messages to {sub.endpoint}?'):
            return
        with self.ctx.errors(success='Subscription deleted') as outcome:
            await api.unsubscribe(self.ctx.api, sub_id)
        if not outcome.failed:
            self.subs.pop(sub_id, None)
            self.subs_dirty = True
            self.refresher.flush_now()


@page('/pubsub', 'Pub/Sub')
async def pubsub(ctx: PageContext) -> None:
    view = PubSubPage(ctx)
    ctx.on(FeatureEvent, view.on_event)
    ctx.on_resync(view.load)
    await view.load()
