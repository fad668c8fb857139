"""REST client: one typed method per backend route, one place that turns answers into errors.

Both response envelopes (`{success, data}` and `{success, message, data}`) and the plain style are
unwrapped here so pages only see models. The credential lives in the client's headers and never
appears in an error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from .errors import (  # noqa: F401 - re-exported: pages import the errors from here
    ApiError,
    AuthFailed,
    BadRequest,
    NotFound,
    NotOffered,
    PermissionDenied,
    ServerError,
    TooLarge,
    Unreachable,
    raise_for,
)
from .events.models import CompactionEvent
from .events.transports import parse_metrics
from .models import (
    ColumnFamily,
    CompactionResult,
    FeatureFlag,
    HealthCheck,
    KeyPage,
    KeyTtl,
    NewToken,
    Note,
    NoteGraph,
    ProbeResult,
    RateLimits,
    Record,
    RecordPage,
    Snapshot,
    Stats,
    TagCount,
    TokenInfo,
)

log = logging.getLogger(__name__)

# The largest JSON body the server takes: actix's default `JsonConfig` on the real ApexStore, the embedded
# backend's `max_body_bytes`. Bodies over it are refused here, before they are sent: nothing is half-written.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


def _data(body: Any) -> Any:
    """Accept both envelopes and the plain style: `data` when present, else the top level."""
    if isinstance(body, dict) and 'data' in body and ('success' in body):
        return body['data'] if body['data'] is not None else {}
    return body


def json_body(body: Any) -> bytes:
    """A request body exactly as it is sent (httpx's own encoding), so its size can be checked first."""
    return json.dumps(body, ensure_ascii=False, separators=(',', ':'), allow_nan=False).encode()


def segment(text: str) -> str:
    """One URL path segment: `/`, `?`, `#` and `%` encoded, so `projects/apex` stays one note or key."""
    return quote(text, safe='')


def key_path(key: str) -> str:
    return '/keys/' + segment(key)


def note_path(path: str, *rest: str) -> str:
    """`/notes/{path}[/rest…]`; the real server matches `{path}` as one segment, with `%2F` inside it."""
    return '/'.join(['/notes', segment(path), *rest])


# -- client ----------------------------------------------------------------------------------------
_shared_reads: dict[tuple[str, str, str], asyncio.Future] = {}


async def shared_read(key: tuple[str, str, str], read: Callable[[], Awaitable[Any]]) -> Any:
    """Concurrent identical reads for one credential become one request (many tabs, one burst of events)."""
    pending = _shared_reads.get(key)
    if pending is None:
        pending = _shared_reads[key] = asyncio.ensure_future(read())
        pending.add_done_callback(lambda _: _shared_reads.pop(key, None))
    return await asyncio.shield(pending)


class ApexApi:
    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0,
                 on_admin_action: Callable[[CompactionEvent], None] | None = None,
                 gate: Callable[[], str | None] = lambda: None) -> None:
        self._base_url = base_url.rstrip('/')
        self._credential = hashlib.sha256(token.encode()).hexdigest()[:16]
        # trust_env=False: no proxy from the environment ever sees the token (the backend may be on loopback)
        self._client = httpx.AsyncClient(base_url=base_url.rstrip('/'), timeout=timeout, trust_env=False, headers={
            'Authorization': f'Bearer {token}', 'Content-Type': 'application/json', 'Accept': 'application/json'})
        self.on_admin_action = on_admin_action or (lambda event: None)
        self.gate = gate  # why no request may carry the token right now (an embedded backend restarting), or None

    @property
    def base_url(self) -> str:
        """The server this client talks to (no credential in it)."""
        return self._base_url

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, what: str, **kwargs) -> httpx.Response:
        if (closed := self.gate()) is not None:
            raise Unreachable(f'{what}: {closed}')
        if 'json' in kwargs:
            kwargs['content'] = self._sized(kwargs.pop('json'), what)
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(f'{what}: the server did not answer in time') from None
        except httpx.HTTPError as exc:
            raise Unreachable(f'{what}: cannot reach the server ({type(exc).__name__})') from None
        raise_for(response, what)
        return response

    @staticmethod
    def _sized(body: Any, what: str) -> bytes:
        content = json_body(body)
        if len(content) > MAX_REQUEST_BYTES:
            raise TooLarge(f'{what}: the value is too large for the server (max 2 MiB per request): '
                           f'this one is {len(content):,} bytes; nothing was written', 413)
        return content

    async def _json(self, method: str, path: str, what: str, **kwargs) -> Any:
        response = await self._call(method, path, what, **kwargs)
        try:
            return _data(response.json())
        except ValueError:
            raise ServerError(f'{what}: the server sent something that is not JSON') from None

    # -- keys ----------------------------------------------------------------------------------
    async def get_key(self, key: str) -> Record | None:
        try:
            return Record.model_validate(await self._json('GET', key_path(key), 'Read key'))
        except NotFound:
            return None

    async def put_key(self, key: str, value: str, ttl_secs: int | None = None) -> None:
        """Write a value; without `ttl_secs` the key never expires (a write replaces any TTL it had).

        `POST /keys` carries the key in the body, so keys with `/` work on every server.
        """
        body: dict[str, Any] = {'key': key, 'value': value}
        if ttl_secs:
            body['ttl_secs'] = ttl_secs
        await self._json('POST', '/keys', 'Write key', json=body)

    async def key_ttl(self, key: str) -> KeyTtl | None:
        """Seconds the key has left (`ttl_secs` None: no TTL); None when the key does not exist."""
        try:
            return KeyTtl.model_validate(await self._json('GET', key_path(key) + '/ttl', 'Read TTL'))
        except NotFound:
            return None

    async def delete_key(self, key: str) -> None:
        await self._json('DELETE', key_path(key), 'Delete key')

    async def list_keys(self, prefix: str = '', limit: int = 100, cursor: str | None = None) -> KeyPage:
        params = {'prefix': prefix, 'limit': str(limit)}
        if cursor:
            params['cursor'] = cursor
        return KeyPage.model_validate(await self._json('GET', '/keys', 'List keys', params=params))

    async def search(self, query: str, mode: str = 'prefix', limit: int = 100,
                     cursor: str | None = None) -> RecordPage:
        params = {'q': query, 'mode': mode, 'limit': str(limit)}
        if cursor:
            params['cursor'] = cursor
        return RecordPage.model_validate(await self._json('GET', '/keys/search', 'Search', params=params))

    async def batch_put(self, records: list[Record]) -> int:
        data = await self._json('POST', '/keys/batch', 'Batch insert',
                                json={'records': [r.model_dump() for r in records]})
        return int(data.get('count', len(records)))

    async def batch_delete(self, keys: list[str]) -> int:
        data = await self._json('POST', '/keys/batch/delete', 'Batch delete', json={'keys': keys})
        return int(data.get('deleted_count', 0))

    async def delete_prefix(self, prefix: str) -> None:
        await self._json('DELETE', '/keys', 'Delete by prefix', params={'prefix': prefix})

    # -- stats and admin -------------------------------------------------------------------------
    async def stats(self) -> Stats:
        """Shared between the sessions of one credential: every open dashboard refreshes on the same events.

        Only concurrent reads are shared: an answer kept for later could predate the writes that asked for it.
        """
        data = await shared_read((self._base_url, self._credential, '/stats'),
                                 lambda: self._json('GET', '/stats', 'Read stats'))
        return Stats.model_validate(data)

    async def metrics(self) -> dict[str, float]:
        response = await self._call('GET', '/metrics', 'Read metrics')
        return parse_metrics(response.text)

    async def flush(self) -> None:
        self.on_admin_action(CompactionEvent(status='started', kind='flush', derived=True))
        try:
            await self._json('POST', '/admin/flush', 'Flush memtable')
        except ApiError as exc:
            self.on_admin_action(CompactionEvent(status='failed', kind='flush', derived=True,
                                                 details={'error': exc.message}))
            raise
        self.on_admin_action(CompactionEvent(status='completed', kind='flush', derived=True))

    async def compact(self) -> list[CompactionResult]:
        self.on_admin_action(CompactionEvent(status='started', derived=True))
        try:
            data = await self._json('POST', '/admin/compact', 'Compaction', timeout=600)
        except ApiError as exc:
            self.on_admin_action(CompactionEvent(status='failed', derived=True, details={'error': exc.message}))
            raise
        results = [CompactionResult.model_validate(c) for c in data.get('compactions', [])]
        merged = {'files_merged': sum(r.files_merged for r in results),
                  'bytes_read': sum(r.bytes_read for r in results),
                  'bytes_written': sum(r.bytes_written for r in results)}
        self.on_admin_action(CompactionEvent(status='completed', derived=True, details=merged))
        return results

    async def rate_limits(self) -> RateLimits:
        return RateLimits.model_validate(await self._json('GET', '/admin/rate_limits', 'Rate limits'))

    async def column_families(self) -> list[ColumnFamily]:
        data = await self._json('GET', '/admin/column_families', 'Column families')
        return [ColumnFamily.model_validate(cf) for cf in data.get('column_families', [])]

    async def family_names(self) -> list[str]:
        """Column family names, `default` first; just `default` where the server cannot list them."""
        try:
            names = {cf.name for cf in await self.column_families()}
        except NotOffered:
            return ['default']
        return sorted(names | {'default'}, key=lambda name: (name != 'default', name))

    async def create_column_family(self, name: str) -> None:
        """NotOffered when the server lists column families but cannot create them (404 or 405)."""
        await self._offered('POST', '/admin/column_families', 'Create column family', json={'name': name})

    async def drop_column_family(self, name: str) -> None:
        """Drop a column family and its data; NotFound when it does not exist, NotOffered without the route."""
        await self._offered('DELETE', f'/admin/column_families/{segment(name)}', 'Drop column family')

    async def _offered(self, method: str, path: str, what: str, **kwargs) -> Any:
        try:
            return await self._json(method, path, what, **kwargs)
        except BadRequest as exc:
            if exc.status == 405:  # the path exists for another method only
                raise NotOffered(f'{what}: not offered by this server', 405) from None
            raise

    # -- health --------------------------------------------------------------------------------
    async def probe(self, name: str) -> ProbeResult:
        """A probe never raises for an unhealthy answer: that answer is the result."""
        if (closed := self.gate()) is not None:
            return ProbeResult(name=name, healthy=False, http_status=None, message=closed)
        try:
            response = await self._client.get(f'/health/{name}')
        except httpx.HTTPError as exc:
            return ProbeResult(name=name, healthy=False, http_status=None,
                               message=f'unreachable ({type(exc).__name__})')
        if response.status_code in (401, 403):
            raise_for(response, f'{name} probe')
        try:
            body = response.json()
        except ValueError:
            body = {}
        healthy = response.status_code == 200 and body.get('status') == 'ok'
        message = 'ok' if healthy else (body.get('reason') or f'HTTP {response.status_code}')
        return ProbeResult(name=name, healthy=healthy, http_status=response.status_code, message=message,
                           details=body.get('details') or {})

    async def health_check(self) -> HealthCheck:
        if (closed := self.gate()) is not None:
            return HealthCheck(healthy=False, reason=closed)
        try:
            response = await self._client.get('/health/check')
        except httpx.HTTPError as exc:
            return HealthCheck(healthy=False, reason=f'unreachable ({type(exc).__name__})')
        if response.status_code in (401, 403):
            raise_for(response, 'Health check')
        body = response.json() if response.headers.get('content-type', '').startswith('application/json') else {}
        return HealthCheck(healthy=response.status_code == 200, uptime_secs=body.get('uptime_secs'),
                           details=body.get('details') or {}, reason=body.get('reason'))

    # -- snapshots (Angular backup routes) ---------------------------------------------------------
    async def snapshots(self) -> list[Snapshot]:
        data = await self._json('GET', '/admin/backups', 'List snapshots')
        return [Snapshot.model_validate(b) for b in data.get('backups', [])]

    async def create_snapshot(self, name: str) -> Snapshot:
        return Snapshot.model_validate(await self._json('POST', '/admin/backups', 'Create snapshot',
                                                        json={'name': name}, timeout=600))

    async def restore_snapshot(self, snapshot_id: str) -> None:
        await self._json('POST', f'/admin/backups/{quote(snapshot_id, safe="")}/restore', 'Restore snapshot',
                         json={}, timeout=600)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._json('DELETE', f'/admin/backups/{quote(snapshot_id, safe="")}', 'Delete snapshot')

    async def browse_snapshot(self, snapshot_id: str, prefix: str = '', limit: int = 100,
                              cursor: str | None = None) -> RecordPage:
        params = {'prefix': prefix, 'limit': str(limit)}
        if cursor:
            params['cursor'] = cursor
        return RecordPage.model_validate(await self._json(
            'GET', f'/admin/backups/{quote(snapshot_id, safe="")}/keys', 'Browse snapshot', params=params))

    # -- notes and tags ----------------------------------------------------------------------------
    async def notes(self, prefix: str = '') -> list[str]:
        data = await self._json('GET', '/notes', 'List notes', params={'prefix': prefix} if prefix else None)
        return [str(p) for p in data.get('notes', [])]

    async def note(self, path: str) -> Note | None:
        try:
            return Note.model_validate(await self._json('GET', note_path(path), 'Read note'))
        except NotFound:
            return None

    async def put_note(self, path: str, content: str) -> None:
        await self._json('PUT', note_path(path), 'Save note', json={'content': content})

    async def delete_note(self, path: str) -> None:
        await self._json('DELETE', note_path(path), 'Delete note')

    async def note_graph(self, path: str, depth: int = 1) -> NoteGraph:
        return NoteGraph.model_validate(await self._json(
            'GET', note_path(path, 'graph'), 'Note graph', params={'depth': str(depth)}))

    async def note_history(self, path: str) -> list[int]:
        data = await self._json('GET', note_path(path, 'history'), 'Note history')
        return [int(v) for v in data.get('versions', [])]

    async def note_version(self, path: str, timestamp: int) -> str | None:
        try:
            data = await self._json('GET', note_path(path, 'history', str(timestamp)), 'Note version')
        except NotFound:
            return None
        return str(data.get('content', ''))

    async def restore_note_version(self, path: str, timestamp: int) -> None:
        await self._json('POST', note_path(path, 'restore'), 'Restore note version',
                         params={'timestamp': str(timestamp)})

    async def delete_note_version(self, path: str, timestamp: int) -> None:
        """Delete one version; NotFound when it does not exist (the server's DELETE answers ok either way)."""
        if await self.note_version(path, timestamp) is None:
            raise NotFound('Delete note version: that version does not exist (nothing was deleted)', 404)
        await self._json('DELETE', note_path(path, 'history', str(timestamp)), 'Delete note version')

    async def snapshot_note(self, path: str) -> int:
        data = await self._json('POST', note_path(path, 'snapshot'), 'Snapshot note')
        return int(data.get('timestamp', 0))

    async def tags(self) -> list[TagCount]:
        data = await self._json('GET', '/tags', 'List tags')
        return [TagCount.model_validate(t) for t in data.get('tags', [])]

    async def tag_notes(self, tag: str) -> list[str]:
        data = await self._json('GET', f'/tags/{quote(tag, safe="")}/notes', 'Notes with tag')
        return [str(p) for p in data.get('notes', [])]

    # -- tokens and flags ------------------------------------------------------------------------
    async def tokens(self) -> list[TokenInfo]:
        data = await self._json('GET', '/admin/tokens', 'List tokens')
        return [TokenInfo.model_validate(t) for t in data.get('tokens', [])]

    async def create_token(self, name: str, permissions: list[str], expires_in_days: int | None) -> NewToken:
        body: dict[str, Any] = {'name': name, 'permissions': permissions}
        if expires_in_days:
            body['expires_in_days'] = expires_in_days
        return NewToken.model_validate(await self._json('POST', '/admin/tokens', 'Create token', json=body))

    async def delete_token(self, token_id: str) -> None:
        await self._json('DELETE', f'/admin/tokens/{quote(token_id, safe="")}', 'Delete token')

    async def features(self) -> list[FeatureFlag]:
        data = await self._json('GET', '/features', 'List feature flags')
        return [FeatureFlag.model_validate(f) for f in data.get('features', [])]

    async def set_feature(self, name: str, enabled: bool, description: str = '') -> None:
        await self._json('POST', f'/features/{quote(name, safe="")}', 'Update feature flag',
                         json={'enabled': enabled, 'description': description})

    async def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The raw GraphQL answer (`{data, errors}`); a 400 with GraphQL errors is an answer, not a failure."""
        body: dict[str, Any] = {'query': query}
        if variables:
            body['variables'] = variables
        try:
            response = await self._client.post('/graphql', json=body)
        except httpx.HTTPError as exc:
            raise Unreachable(f'GraphQL: cannot reach the server ({type(exc).__name__})') from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and ('data' in answer or 'errors' in answer):
            return answer
        raise_for(response, 'GraphQL')
        raise ServerError('GraphQL: the server did not answer with GraphQL JSON')

    async def call(self, method: str, path: str, what: str, *, body: Any = None,
                   params: dict[str, Any] | None = None) -> Any:
        """Any route's JSON (either envelope unwrapped), for the feature services in `services/features/`.

        NotOffered when the server lacks the route (404 without detail, or 405); `what` starts every
        error message. Validate the answer with a pydantic model at the call site.
        """
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs['json'] = body
        if params:
            kwargs['params'] = {name: value for name, value in params.items() if value is not None}
        return await self._offered(method, path, what, **kwargs)

    async def read_json(self, path: str, what: str) -> Any:
        """Any GET route's JSON (either envelope unwrapped): for read-only views of routes without a page."""
        return await self._json('GET', path, what)

    async def check_token(self) -> None:
        """Raises AuthFailed when the backend refuses the token (used by sign-in)."""
        await self._call('GET', '/stats', 'Sign in')
