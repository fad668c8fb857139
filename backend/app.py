"""The ASGI application: the real server's middleware order (Bearer first, then the 415 guard)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute

from .core import Backend
from .features import install_features
from .http import ApiError, bind_token
from .routes import admin, extensions, faults, graphql, keys, notes, streams
from .routes.streams import SyncHub
from .tokens import TokenExpired, TokenInvalid

log = logging.getLogger(__name__)
MUTATING = {'POST', 'PUT', 'DELETE'}


class ApexAuthMiddleware:
    """Bearer header on every route (401, empty body, when missing), token validation, 415 guard.

    In normal mode a WebSocket upgrade may carry the token as `?token=` instead (the original
    request's protocol); compat mode accepts only the header, like the real server.
    """

    def __init__(self, app, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] not in ('http', 'websocket'):
            await self.app(scope, receive, send)
            return
        response = self._check(scope)
        if response is not None:
            await self._refuse(scope, receive, send, response)
            return
        self.backend.requests[scope['path']] += 1
        for guard in self.backend.request_guards:  # access policies, quotas (backend/features)
            refused = guard(scope, scope.get('apex_token'))
            if refused is not None:
                await self._refuse(scope, receive, send, refused)
                return
        bind_token(scope.get('apex_token'))
        async with contextlib.AsyncExitStack() as stack:
            for limiter in self.backend.request_limiters:  # backpressure: may wait, or refuse
                refused = await stack.enter_async_context(limiter(scope, scope.get('apex_token')))
                if refused is not None:
                    await self._refuse(scope, receive, send, refused)
                    return
            if not self.backend.request_observers or scope['type'] != 'http':
                await self._serve(scope, receive, send)
                return
            await self._observed(scope, receive, send)

    async def _serve(self, scope, receive, send) -> None:
        if self.backend.faults.slow_ms and scope['type'] == 'http':  # a chaos latency counts as the request's
            await asyncio.sleep(self.backend.faults.slow_ms / 1000)
        await self.app(scope, receive, send)

    async def _observed(self, scope, receive, send) -> None:
        """Serve the request, then tell the observers (telemetry, quotas) its status and duration."""
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message) -> None:
            nonlocal status
            if message['type'] == 'http.response.start':
                status = message['status']
            await send(message)

        try:
            await self._serve(scope, receive, send_noting_status)
        finally:
            elapsed = time.perf_counter() - started
            for observe in self.backend.request_observers:
                observe(scope, status, elapsed)

    @staticmethod
    async def _refuse(scope, receive, send, response: Response) -> None:
        if scope['type'] == 'websocket':
            await send({'type': 'websocket.http.response.start', 'status': response.status_code,
                        'headers': response.raw_headers})
            await send({'type': 'websocket.http.response.body', 'body': response.body})
        else:
            await response(scope, receive, send)

    def _raw_token(self, scope) -> str | None:
        headers = dict(scope.get('headers') or [])
        header = headers.get(b'authorization', b'').decode(errors='replace')
        scheme, _, value = header.partition(' ')
        if scheme.lower() == 'bearer' and value.strip():
            return value.strip()
        if scope['type'] == 'websocket' and not self.backend.config.compat:
            values = parse_qs(scope.get('query_string', b'').decode()).get('token')
            if values and values[0]:
                return values[0]
        return None

    def _check(self, scope) -> Response | None:
        if scope['path'] == '/_faults' and self.backend.config.dev_faults:
            return None
        raw = self._raw_token(scope)
        if raw is None:
            return Response(status_code=401, headers={'WWW-Authenticate': 'Bearer'})
        if self.backend.config.auth:
            try:
                scope['apex_token'] = self.backend.tokens.validate(raw)
            except TokenExpired:
                return JSONResponse({'error': 'Token has expired', 'status': 401}, status_code=401)
            except TokenInvalid:
                return JSONResponse({'error': 'Invalid authentication token', 'status': 401}, status_code=401)
        if scope['type'] == 'http' and scope['method'] in MUTATING:
            content_type = dict(scope.get('headers') or []).get(b'content-type', b'')
            if not content_type.startswith(b'application/json'):
                return PlainTextResponse('Content-Type must be application/json for mutating requests',
                                         status_code=415)
        return None


def create_app(backend: Backend) -> Starlette:
    routes: list[BaseRoute] = [*keys.routes, *admin.routes, *graphql.routes, *notes.routes, *streams.routes]
    if not backend.config.compat:
        routes.extend([*streams.poll_routes, *extensions.routes])
        # features first, as the real server orders its routes: GET /keys/by-index before GET /keys/{key}
        routes[:0] = install_features(backend)
    if backend.config.dev_faults:
        routes.extend(faults.routes)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        backend.start()
        try:
            yield
        finally:
            await backend.stop()

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, status_code=exc.status)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):  # the real server answers a wrong method with 404 too
            return Response(status_code=404) if backend.config.compat else JSONResponse({'error': 'not found'}, 404)
        return JSONResponse({'error': exc.detail}, status_code=exc.status_code)

    async def server_error(_request: Request, exc: Exception) -> Response:
        log.exception('unhandled error', exc_info=exc)
        return JSONResponse({'error': 'internal server error'}, status_code=500)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: api_error, HTTPException: http_error, Exception: server_error})
    app.state.backend = backend
    backend.sync = SyncHub(backend)
    app.add_middleware(ApexAuthMiddleware, backend=backend)
    return app
