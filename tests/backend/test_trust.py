"""Security issue "Trust": what a token may do is what it was given, everywhere, and no client can stall
or exhaust the server. Real servers on loopback sockets, real HTTP/WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import resource
import select
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.server import BackendProcess, BackendThread
from backend.tokens import Permission
from tests.conftest import ADMIN_TOKEN, admin_client, make_backend

FORBIDDEN = {'error': 'Insufficient permissions', 'status': 403}


@pytest.fixture(params=['normal', 'compat'])
def server(request, tmp_path: Path) -> Iterator[BackendThread]:
    """Permissions hold in both modes: compat copies the real server's API, not its security holes."""
    with make_backend(tmp_path / request.param, compat=request.param == 'compat') as running:
        yield running


def issue_token(server: BackendThread, *permissions: str) -> tuple[str, str]:
    """(id, raw token): through `POST /admin/tokens` where it exists; compat mode has no token routes."""
    if server.config.compat:
        token, raw = server.call(lambda b: b.tokens.create('t', [Permission(p) for p in permissions]))
        return token.id, raw
    with admin_client(server) as api:
        data = api.post('/admin/tokens', json={'name': 'user', 'permissions': list(permissions)}).json()['data']
    return data['id'], data['token']


def revoke(server: BackendThread, token_id: str) -> None:
    if server.config.compat:
        assert server.call(lambda b: b.revoke_token(token_id))
        return
    with admin_client(server) as api:
        assert api.delete(f'/admin/tokens/{token_id}').json()['message'] == 'Token deleted successfully'


def bearer(raw: str) -> dict[str, str]:
    return {'Authorization': f'Bearer {raw}', 'Content-Type': 'application/json'}


def graphql(server: BackendThread, raw: str, query: str) -> httpx.Response:
    return httpx.post(server.url + '/graphql', json={'query': query}, headers=bearer(raw), timeout=10)


# -- 1. permissions on GraphQL, /ws/sync and the dashboard --------------------------------------------
class TestEveryRouteChecksItsPermission:
    def test_a_read_only_token_cannot_write_or_delete_through_graphql(self, server):
        with admin_client(server) as api:
            api.put('/keys/doc', json={'value': 'original'})
            _, read = issue_token(server, 'Read')
            for mutation, needed in [('mutation { set(key: "doc", value: "hacked") }', 'Write'),
                                     ('mutation { delete(key: "doc") }', 'Delete'),
                                     ('mutation { a: set(key: "x", value: "1") ...F } '
                                      'fragment F on Mutation { delete(key: "doc") }', 'Write')]:
                answer = graphql(server, read, mutation)
                assert answer.status_code == 403
                body = answer.json()
                assert body['data'] is None
                assert 'Insufficient permissions' in body['errors'][0]['message']
                assert needed in body['errors'][0]['message']
                assert body['errors'][0]['extensions'] == {'status': 403, 'required': needed}
            assert api.get('/keys/doc').json()['value'] == 'original'
            assert api.get('/keys/x').status_code == 404
            allowed = graphql(server, read, '{ get(key: "doc") keys }').json()
            assert allowed == {'data': {'get': 'original', 'keys': ['doc']}}

    def test_a_write_only_token_cannot_read_keys_through_graphql(self, server):
        with admin_client(server) as api:
            api.put('/keys/secret', json={'value': 'payroll'})
        _, write = issue_token(server, 'Write')
        for query in ['{ keys }', '{ scan(limit: 10) { key value } }', '{ get(key: "secret") }',
                      '{ stats { totalRecords } }', '{ alias: get(key: "secret") }',
                      'query { ...Q } fragment Q on Query { keys }']:
            answer = graphql(server, write, query)
            assert answer.status_code == 403, query
            assert answer.json()['data'] is None
            assert 'secret' not in answer.text and 'payroll' not in answer.text
            assert 'needs the Read permission' in answer.json()['errors'][0]['message']
        assert graphql(server, write, 'mutation { set(key: "new", value: "v") }').json() == {'data': {'set': True}}
        _, deleter = issue_token(server, 'Delete')
        assert graphql(server, deleter, 'mutation { set(key: "z", value: "v") }').status_code == 403
        assert graphql(server, deleter, 'mutation { delete(key: "new") }').json() == {'data': {'delete': True}}

    async def test_a_read_only_token_cannot_push_through_ws_sync(self, server):
        _, read = issue_token(server, 'Read')
        push = {'type': 'sync_push', 'last_ack': 0,
                'changes': [{'key': 'doc', 'value': 'hacked', 'timestamp': 10, 'device_id': 'laptop'}]}
        async with connect(f'{server.ws_url}/ws/sync', additional_headers=bearer(read)) as sync:
            await sync.send(json.dumps(push))
            refused = json.loads(await asyncio.wait_for(sync.recv(), 5))
            assert refused['type'] == 'error' and refused['status'] == 403 and refused['rejected'] == 1
            assert 'Write' in refused['error']
            await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': []}))  # a pull: Read is enough
            ack = json.loads(await asyncio.wait_for(sync.recv(), 5))
            assert ack == {'type': 'sync_ack', 'ack_timestamp': 0, 'changes': []}
        with admin_client(server) as api:
            assert api.get('/keys/doc').status_code == 404
        async with connect(f'{server.ws_url}/ws/sync', additional_headers=bearer(ADMIN_TOKEN)) as sync:
            await sync.send(json.dumps(push))
            assert json.loads(await asyncio.wait_for(sync.recv(), 5))['type'] == 'sync_ack'
        with admin_client(server) as api:
            assert api.get('/keys/doc').json()['value'] == 'hacked'

    def test_the_dashboard_needs_read_like_stats(self, server):
        _, write = issue_token(server, 'Write')
        answer = httpx.get(server.url + '/admin/dashboard', headers=bearer(write))
        assert answer.status_code == 403 and answer.json() == FORBIDDEN
        _, read = issue_token(server, 'Read')
        assert httpx.get(server.url + '/admin/dashboard', headers=bearer(read)).status_code == 200


# -- 2. revoking a token ends its open streams --------------------------------------------------------
async def closed_with(ws: ClientConnection, timeout: float = 3.0) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason


async def sse_lines(server: BackendThread, raw: str, client: httpx.AsyncClient) -> AsyncIterator[str]:
    async with client.stream('GET', server.url + '/events', headers=bearer(raw)) as stream:
        async for line in stream.aiter_lines():
            yield line


class TestRevokedTokensStopStreaming:
    async def test_revoking_a_token_closes_its_event_websocket_at_once(self, server):
        token_id, raw = issue_token(server, 'Read')
        async with connect(f'{server.ws_url}/ws/events', additional_headers=bearer(raw)) as mine, \
                connect(f'{server.ws_url}/ws/events', additional_headers=bearer(ADMIN_TOKEN)) as admins:
            assert json.loads(await mine.recv())['type'] == 'connected'
            await admins.recv()
            started = time.monotonic()
            revoke(server, token_id)
            assert await closed_with(mine) == (4401, 'token revoked')
            assert time.monotonic() - started < 1.0
            with admin_client(server) as api:
                api.put('/keys/after', json={'value': 'v'})
            frame = json.loads(await asyncio.wait_for(admins.recv(), 5))  # other tokens keep streaming
            assert frame['key'] in ('after', b'after'.hex())  # compat mode sends keys as hex
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f'{server.ws_url}/ws/events', additional_headers=bearer(raw)):
                pass
        assert refused.value.response.status_code == 401
        assert httpx.get(server.url + '/keys', headers=bearer(raw)).status_code == 401

    async def test_revoking_a_token_closes_its_sync_websocket(self, server):
        token_id, raw = issue_token(server, 'Read', 'Write')
        async with connect(f'{server.ws_url}/ws/sync', additional_headers=bearer(raw)) as sync:
            await sync.send(json.dumps({'type': 'sync_push', 'last_ack': 0, 'changes': []}))
            assert json.loads(await asyncio.wait_for(sync.recv(), 5))['type'] == 'sync_ack'
            revoke(server, token_id)
            assert await closed_with(sync) == (4401, 'token revoked')
        assert server.call(lambda b: len(b.sync.clients)) == 0

    async def test_revoking_a_token_ends_its_sse_stream_and_answers_its_long_poll_401(self, backend):
        token_id, raw = issue_token(backend, 'Read')
        async with httpx.AsyncClient(timeout=10) as client:
            lines = sse_lines(backend, raw, client)
            assert json.loads((await anext(lines))[6:])['type'] == 'connected'
            epoch = (await client.get(backend.url + '/events/poll', headers=bearer(raw))).json()['epoch']
            waiting = asyncio.create_task(client.get(backend.url + '/events/poll', headers=bearer(raw),
                                                     params={'since': 0, 'epoch': epoch, 'wait': 20}))
            await asyncio.sleep(0.3)
            revoke(backend, token_id)
            async with asyncio.timeout(2):
                rest = [line async for line in lines]  # the stream ends: the iterator finishes
            assert ': token revoked' in rest
            answer = await asyncio.wait_for(waiting, 2)
            assert answer.status_code == 401 and answer.json() == {'error': 'Token has been revoked', 'status': 401}
            again = await client.get(backend.url + '/events', headers=bearer(raw))
            assert again.status_code == 401
        assert backend.call(lambda b: b.bus.streams()) == 0, 'no stream of the token may remain'


# -- 3. a catastrophic regex cannot stall the server -------------------------------------------------
@pytest.fixture
def backend_process(tmp_path: Path) -> Iterator[BackendProcess]:
    """The backend as its own process, so a stalled server cannot also freeze the test's clock."""
    with BackendProcess(tmp_path / 'proc', admin_token=ADMIN_TOKEN) as running:
        yield running


async def test_an_evil_regex_is_cut_off_and_never_blocks_other_requests(backend_process):
    async with httpx.AsyncClient(base_url=backend_process.url, headers=bearer(ADMIN_TOKEN), timeout=30) as api:
        await api.put('/keys/' + 'a' * 26 + '!', json={'value': 'bait'})
        await api.put('/keys/user:1', json={'value': 'ok'})
        started = time.monotonic()
        evil = asyncio.create_task(api.get('/keys/search', params={'mode': 'regex', 'q': '^(a|a)+$'}))
        await asyncio.sleep(0.3)
        liveness = await api.get('/health/liveness')
        probe_answered = time.monotonic() - started
        assert liveness.status_code == 200 and probe_answered < 0.8, f'liveness answered after {probe_answered:.2f} s'
        assert not evil.done()  # answered while the evil pattern was still being matched
        answer = await evil
        assert answer.status_code == 422 and 'regex took too long' in answer.json()['error']
        assert time.monotonic() - started < 3.0
        fine = await api.get('/keys/search', params={'mode': 'regex', 'q': '^user:'})
        assert [r['key'] for r in fine.json()['data']['records']] == ['user:1']


# -- 4. request bodies are read as a stream with a limit ----------------------------------------------
def rss_bytes() -> int:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def raw_request(server: BackendThread, head: str) -> socket.socket:
    sock = socket.create_connection((server.config.host, server.config.port), timeout=10)
    sock.sendall(head.encode())
    return sock


def upload_until_answered(sock: socket.socket, total: int, chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """Stream a chunked body of up to `total` bytes, stopping once the server answers: (bytes sent, answer)."""
    frame = memoryview(b'%x\r\n' % chunk + b'x' * chunk + b'\r\n')
    sent, offset = 0, 0
    while sent < total:
        readable, writable, _ = select.select([sock], [sock], [], 10)
        if readable:
            return sent, read_answer(sock)
        if writable:
            offset += sock.send(frame[offset:])
            if offset == len(frame):
                sent, offset = sent + chunk, 0
    sock.sendall(b'0\r\n\r\n')
    return sent, read_answer(sock)


def read_answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """One whole HTTP answer: the head, then as many body bytes as its Content-Length says."""
    sock.settimeout(timeout)
    received = b''
    while b'\r\n\r\n' not in received:
        more = sock.recv(65536)
        assert more, f'connection closed after {received!r}'
        received += more
    head, _, body = received.partition(b'\r\n\r\n')
    length = next(int(line.split(b':')[1]) for line in head.lower().split(b'\r\n')
                  if line.startswith(b'content-length:'))
    while len(body) < length:
        more = sock.recv(65536)
        assert more, 'connection closed mid-body'
        body += more
    return head + b'\r\n\r\n' + body


class TestBodiesAreBounded:
    def test_a_100_mb_upload_without_content_length_is_refused_after_the_limit(self, backend):
        head = (f'PUT /keys/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n'
                'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
        before = rss_bytes()
        with raw_request(backend, head) as sock:
            sent, answer = upload_until_answered(sock, 100 * 1024 * 1024)
        grown = rss_bytes() - before
        assert sent < 24 * 1024 * 1024, f'the server read {sent} bytes before refusing'
        assert answer.startswith(b'HTTP/1.1 413')
        assert b'payload too large' in answer
        assert grown < 64 * 1024 * 1024, f'memory grew by {grown // 2**20} MiB'
        with admin_client(backend) as api:
            assert api.get('/keys/big').status_code == 404
            assert api.get('/health/liveness').status_code == 200

    def test_a_declared_content_length_over_the_limit_is_refused_before_the_body_is_sent(self, backend):
        head = (f'PUT /keys/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n'
                f'Content-Type: application/json\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n')
        with raw_request(backend, head) as sock:
            answer = read_answer(sock, timeout=3)
        assert answer.startswith(b'HTTP/1.1 413') and b'payload too large' in answer

    def test_graphql_has_the_same_limit_and_refuses_bad_bodies_with_400(self, tmp_path):
        with make_backend(tmp_path / 's', max_body_bytes=64 * 1024) as server, admin_client(server) as api:
            big = api.post('/graphql', json={'query': '{ keys }', 'variables': {'pad': 'x' * 100_000}})
            assert big.status_code == 413 and 'payload too large' in big.json()['errors'][0]['message']
            bad_utf8 = api.post('/graphql', content=b'{"query": "{ keys \xff\xfe }"}')
            assert bad_utf8.status_code == 400 and 'UTF-8' in bad_utf8.json()['errors'][0]['message']
            for depth in (150, 20_000):
                nested = b'{"query": "{ keys }", "variables": {"v": ' + b'[' * depth + b']' * depth + b'}}'
                deep = api.post('/graphql', content=nested)
                assert deep.status_code == 400, depth
                assert 'nested deeper than 100 levels' in deep.json()['errors'][0]['message']
            deep_get = api.get('/graphql', params={'query': '{ keys }', 'variables': '[' * 500 + ']' * 500})
            assert deep_get.status_code == 400
            assert api.post('/graphql', json={'query': '{ keys }'}).json() == {'data': {'keys': []}}
