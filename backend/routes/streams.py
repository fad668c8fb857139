"""Event streams: WebSocket `/ws/events`, SSE `/events`, long-poll `/events/poll`, and `/ws/sync`.

Normal mode speaks the original request's dialect with `seq`/`epoch` and resume; `--compat apexstore`
speaks the real server's CDC frames only (no resume, no ids, no heartbeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging

from pydantic import BaseModel, StrictInt, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..events import Event, EventFilter, Subscriber
from ..faults import SEND_BATCH
from ..http import ApiError, allows, backend_of, require, token_of
from ..sessions import REVOKED_BODY, REVOKED_CODE, REVOKED_REASON, Session
from ..tokens import Permission

log = logging.getLogger(__name__)
CONNECTED_MESSAGE = 'CDC event stream connected'
MAX_POLL_WAIT = 30.0
MAX_BATCH_FRAMES = 256


EVENT_TYPES = frozenset({'key_change', 'compaction_status', 'health_change', 'snapshot_event', 'sync_event',
                         'feature_event'})
KEY_OPERATIONS = frozenset({'put', 'delete', 'delete_prefix'})


class CdcFilter(EventFilter):
    """`?types=` (event types and/or key operations) and `?prefix=`, applied before anything is sent.

    With a prefix only key events pass; a `delete_prefix` passes when its range overlaps the prefix
    (deleting `us` removes `user:1`, deleting `user:1` is inside `user:`).
    """

    def matches(self, event: Event) -> bool:
        if not self.visible(event):
            return False
        if self.types is not None and event.type not in self.types \
                and event.payload.get('operation') not in self.types:
            return False
        if self.prefix:
            key = event.key
            if key is None or event.type != 'key_change':
                return False
            if event.payload.get('operation') == 'delete_prefix':
                return key.startswith(self.prefix) or self.prefix.startswith(key)
            return key.startswith(self.prefix)
        return True


class BadFilter(ValueError):
    pass


def event_filter(params, compat: bool) -> EventFilter:
    """The stream's filter from its query; BadFilter (400) for a type nobody sends (normal mode only)."""
    prefix = params.get('prefix') or None
    if compat:
        kind = (params.get('type') or '').lower()
        return EventFilter(frozenset({kind}) if kind in ('put', 'delete') else None, prefix)
    types = params.get('types')
    if not types:
        return CdcFilter(None, prefix)
    wanted = frozenset(t.strip().lower() for t in types.split(',') if t.strip())
    unknown = sorted(wanted - EVENT_TYPES - KEY_OPERATIONS)
    if unknown:
        raise BadFilter(f'unknown event type {unknown[0]!r}; use '
                        f'{", ".join(sorted(KEY_OPERATIONS | EVENT_TYPES))}')
    return CdcFilter(wanted or None, prefix)


def _filter_or_error(params, compat: bool, token) -> EventFilter | JSONResponse:
    try:
        flt = event_filter(params, compat)
    except BadFilter as exc:
        return JSONResponse({'error': str(exc)}, status_code=400)
    flt.token = token
    return flt


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, '') else None
    except ValueError:
        return None


def frame(event: Event, compat: bool) -> str | None:
    return event.cdc_json() if compat else event.ext_json()


def opening_frames(backend, since: int | None, epoch: str | None, flt: EventFilter) -> list[str]:
    """What a new ext-dialect stream sends before live events: replay, or a resync demand."""
    if since is None:
        return []
    replay = backend.bus.replay(since, epoch)
    if replay is None:
        return [json.dumps(backend.bus.resync_message(epoch))]
    return [e.ext_json() for e in replay if flt.matches(e)]


async def _denied(websocket: WebSocket, response: Response) -> None:
    await websocket.send_denial_response(response)


async def ws_events(websocket: WebSocket) -> None:
    backend = backend_of(websocket)
    compat = backend.config.compat
    if backend.faults.refuse_upgrades:
        await _denied(websocket, PlainTextResponse('WebSocket upgrade refused', status_code=503))
        return
    try:
        require(websocket, Permission.Read)  # type: ignore[arg-type]
    except ApiError as exc:
        await _denied(websocket, JSONResponse(exc.body, status_code=exc.status))
        return
    flt = _filter_or_error(websocket.query_params, compat, token_of(websocket))
    if isinstance(flt, JSONResponse):
        await _denied(websocket, flt)
        return
    await websocket.accept()
    sub = backend.bus.subscribe(flt)
    revoked = False
    try:
        with backend.sessions.track(token_of(websocket), sub.revoke) as session:
            revoked = await _serve_events(websocket, backend, sub, session, compat)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # client went away: nothing to report
    finally:
        backend.bus.unsubscribe(sub)
    await _close(websocket, revoked)


async def _serve_events(websocket: WebSocket, backend, sub: Subscriber, session: Session, compat: bool) -> bool:
    """Opening frames then live events until the client leaves; True when the token was revoked."""
    if compat:
        first = [json.dumps({'type': 'connected', 'message': CONNECTED_MESSAGE})]
    else:
        first = [json.dumps({'type': 'connected', 'message': CONNECTED_MESSAGE, 'epoch': backend.bus.epoch,
                             'seq': backend.bus.seq})]
        first += opening_frames(backend, _int_or_none(websocket.query_params.get('since')),
                                websocket.query_params.get('epoch'), sub.filter)
    reader = asyncio.create_task(_drain_client(websocket, backend, sub))
    try:
        return await session.guard(_send_all(websocket, backend, sub, first, compat))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _send_all(websocket: WebSocket, backend, sub: Subscriber, first: list[str], compat: bool) -> None:
    for text in first:
        await websocket.send_text(text)
    await _pump(websocket, backend, sub, compat)


async def _close(websocket: WebSocket, revoked: bool) -> None:
    """Close normally, or with 4401 and a reason when the token was revoked (clients must not retry)."""
    with contextlib.suppress(Exception):
        if revoked:
            await websocket.close(code=REVOKED_CODE, reason=REVOKED_REASON)
        else:
            await websocket.close()


async def _drain_client(websocket: WebSocket, backend, sub: Subscriber) -> None:
    """Client frames carry no protocol here: read and ignore them, and notice the disconnect."""
    try:
        while True:
            message = await websocket.receive()
            if message['type'] == 'websocket.disconnect':
                break
    except Exception:  # noqa: BLE001 - any receive error means the client is gone
        pass
    backend.bus.unsubscribe(sub)


async def _pump(websocket: WebSocket, backend, sub: Subscriber, compat: bool) -> None:
    batched = SEND_BATCH in websocket.scope.get('extensions', {})
    while True:
        kind, item = await sub.next()
        while backend.faults.stalled:
            await asyncio.sleep(0.05)
        if kind == 'closed':
            return
        items = [(kind, item)] + (sub.take_ready(MAX_BATCH_FRAMES) if batched else [])
        texts: list[str] = []
        for kind, item in items:
            if kind == 'raw' and isinstance(item, bytes):
                await _flush_texts(websocket, texts, batched)
                await websocket.send_bytes(item)
                continue
            text = _frame_text(kind, item, compat)
            if text is not None:
                texts.append(text)
        await _flush_texts(websocket, texts, batched)


def _frame_text(kind: str, item, compat: bool) -> str | None:
    if kind == 'lag':
        return json.dumps({'type': 'lag', 'skipped': item})
    if kind == 'raw':
        return item
    return frame(item, compat)


async def _flush_texts(websocket: WebSocket, texts: list[str], batched: bool) -> None:
    if not texts:
        return
    if batched:
        await websocket._send({'type': SEND_BATCH, 'texts': list(texts)})
    else:
        for text in texts:
            await websocket.send_text(text)
    texts.clear()


async def sse_events(request: Request):
    backend = backend_of(request)
    require(request, Permission.Read)
    if backend.faults.block_sse:
        return Response(status_code=404)
    compat = backend.config.compat
    flt = _filter_or_error(request.query_params, compat, token_of(request))
    if isinstance(flt, JSONResponse):
        return flt
    since = _int_or_none(request.headers.get('last-event-id') or request.query_params.get('since'))
    epoch = request.query_params.get('epoch')
    drops = backend.faults.drops
    sub = backend.bus.subscribe(flt)
    session = backend.sessions.open(token_of(request), sub.revoke)
    opening = [] if compat else opening_frames(backend, since, epoch, flt)

    def chunk(text: str, seq: int | None = None) -> str:
        return (f'id: {seq}\n' if seq is not None and not compat else '') + f'data: {text}\n\n'

    async def stream():
        try:
            hello = {'type': 'connected', 'message': CONNECTED_MESSAGE}
            if not compat:
                hello |= {'epoch': backend.bus.epoch, 'seq': backend.bus.seq}
            yield chunk(json.dumps(hello))
            for text in opening:
                yield chunk(text, json.loads(text).get('seq'))
            while backend.faults.drops == drops:
                try:
                    kind, item = await asyncio.wait_for(sub.next(), backend.config.sse_heartbeat_secs)
                except TimeoutError:
                    if not compat:
                        yield ': heartbeat\n\n'
                    continue
                if kind == 'closed':
                    if session.is_revoked:
                        yield f': {REVOKED_REASON}\n\n'  # a comment: every SSE parser skips it
                    return
                if kind == 'lag':
                    yield chunk(json.dumps({'type': 'lag', 'skipped': item}))
                elif kind == 'raw':
                    yield chunk(item if isinstance(item, str) else item.decode(errors='replace'))
                elif (text := frame(item, compat)) is not None:  # type: ignore[arg-type]
                    yield chunk(text, item.seq)  # type: ignore[union-attr]
        finally:
            backend.sessions.close(session)
            backend.bus.unsubscribe(sub)

    return StreamingResponse(stream(), media_type='text/event-stream',
                             headers={'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'})


async def poll_events(request: Request):
    """Long-poll: `{"epoch","events":[…],"next":seq}`; wait up to `wait` seconds for something new."""
    backend = backend_of(request)
    require(request, Permission.Read)
    params = request.query_params
    flt = _filter_or_error(params, False, token_of(request))
    if isinstance(flt, JSONResponse):
        return flt
    since = _int_or_none(params.get('since'))
    epoch = params.get('epoch')
    wait = min(max(float(params.get('wait') or 0), 0.0), MAX_POLL_WAIT) if _is_number(params.get('wait')) else 0.0
    if since is None:
        return _poll_body(backend, [], backend.bus.seq)
    replay = backend.bus.replay(since, epoch)
    if replay == [] and wait > 0:
        if await _wait_for_event(request, flt, wait):
            return JSONResponse(REVOKED_BODY, status_code=401)
        replay = backend.bus.replay(since, epoch)
    if replay is None:
        return _poll_body(backend, [json.dumps(backend.bus.resync_message(epoch))], backend.bus.seq)
    return _poll_body(backend, [e.ext_json() for e in replay if flt.matches(e)], backend.bus.seq)


async def _wait_for_event(request: Request, flt: EventFilter, wait: float) -> bool:
    """Wait up to `wait` seconds for a matching event; True when the token was revoked meanwhile."""
    backend = backend_of(request)
    sub = backend.bus.subscribe(flt)
    try:
        with backend.sessions.track(token_of(request), sub.revoke) as session:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.next(), wait)
    finally:
        backend.bus.unsubscribe(sub)
    return session.is_revoked


def _is_number(raw: str | None) -> bool:
    try:
        float(raw or '0')
        return True
    except ValueError:
        return False


def _poll_body(backend, frames: list[str], next_seq: int) -> Response:
    body = f'{{"epoch":{json.dumps(backend.bus.epoch)},"events":[{",".join(frames)}],"next":{next_seq}}}'
    return Response(body, media_type='application/json')


# -- /ws/sync --------------------------------------------------------------------------------------
class SyncChange(BaseModel):
    key: StrictStr
    value: StrictStr
    timestamp: StrictInt
    device_id: StrictStr = 'unknown'


class SyncPush(BaseModel):
    type: str
    changes: list[SyncChange] = []
    last_ack: int = 0


PUSH_DENIED = {'type': 'error', 'status': 403, 'error': 'Insufficient permissions: pushing changes needs Write'}


async def ws_sync(websocket: WebSocket) -> None:
    backend = backend_of(websocket)
    try:
        require(websocket, Permission.Read)  # type: ignore[arg-type]
    except ApiError as exc:
        await _denied(websocket, JSONResponse(exc.body, status_code=exc.status))
        return
    await websocket.accept()
    hub = backend.sync
    hub.clients.add(websocket)
    revoked = False
    try:
        with backend.sessions.track(token_of(websocket), functools.partial(hub.clients.discard, websocket)) as session:
            revoked = await session.guard(_sync_loop(websocket, hub))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.clients.discard(websocket)
    if revoked:
        await _close(websocket, revoked)


async def _sync_loop(websocket: WebSocket, hub: SyncHub) -> None:
    """Apply pushes; a push with changes needs Write (its REST twin is a PUT), a pull only Read."""
    while True:
        push = _parse_push(await websocket.receive_text())
        if push is None:
            continue
        if push.changes and not allows(websocket, Permission.Write):
            await websocket.send_text(json.dumps({**PUSH_DENIED, 'rejected': len(push.changes)}))
            continue
        await hub.apply(websocket, push)


def _parse_push(text: str) -> SyncPush | None:
    """A `sync_push`, or None for anything else: garbage from clients is ignored, as the real server does."""
    try:
        message = json.loads(text)
        if not isinstance(message, dict) or message.get('type') != 'sync_push':
            return None
        return SyncPush.model_validate(message)
    except (ValueError, RecursionError, ValidationError):
        return None


class SyncHub:
    """Last-writer-wins by timestamp: an older or equal push never overwrites and is reported."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.clients: set[WebSocket] = set()
        self.entries: dict[str, SyncChange] = {}

    async def apply(self, websocket: WebSocket, push: SyncPush) -> None:
        bus = self.backend.bus
        bus.publish('sync_event', {'status': 'started', 'details': {'changes': len(push.changes)}})
        applied, conflicts, refused = [], 0, []
        for change in push.changes:
            current = self.entries.get(change.key)
            if current is not None and change.timestamp <= current.timestamp:
                conflicts += 1
                bus.publish('sync_event', {'status': 'conflict', 'details': {
                    'key': change.key, 'device_id': change.device_id, 'pushed_timestamp': change.timestamp,
                    'kept_timestamp': current.timestamp, 'kept_device_id': current.device_id}})
                continue
            try:
                self.backend.write([(change.key, change.value, None)])  # a write guard may refuse it
            except ApiError as exc:
                refused.append({'key': change.key, 'error': exc.body.get('error') or str(exc.body)})
                continue
            self.entries[change.key] = change  # only what was really written is the server's state
            applied.append(change)
        ack = max((c.timestamp for c in push.changes), default=push.last_ack)
        newer = [{**c.model_dump(), 'device_id': 'server'}
                 for c in self.entries.values() if c.timestamp > push.last_ack]
        answer: dict = {'type': 'sync_ack', 'ack_timestamp': ack, 'changes': newer}
        if refused:
            answer['refused'] = refused  # quotas, policies, plugins: said per change, the socket stays open
        await websocket.send_text(json.dumps(answer))
        for change in applied:
            message = json.dumps({'type': 'sync_push', 'changes': [change.model_dump()]})
            for client in list(self.clients):
                try:
                    await client.send_text(message)
                except Exception:  # noqa: BLE001 - a gone client must not stop the broadcast
                    self.clients.discard(client)
        bus.publish('sync_event', {'status': 'completed', 'details': {'applied': len(applied), 'conflicts': conflicts}})


routes = [
    WebSocketRoute('/ws/events', ws_events),
    WebSocketRoute('/ws/sync', ws_sync),
    Route('/events', sse_events, methods=['GET']),
]
poll_routes = [Route('/events/poll', poll_events, methods=['GET'])]
