"""Response styles and request parsing shared by all routes (the real server's exact shapes)."""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from .tokens import ApiToken, Permission

M = TypeVar('M', bound=BaseModel)
MAX_KEY_BYTES = 4096


class ApiError(Exception):
    """Any error answer: status plus the exact body the real server sends."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def backend_of(conn: Request | Any) -> Any:
    """The Backend behind a request or WebSocket (set on the app by create_app)."""
    return conn.app.state.backend


def plain(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def envelope(data: Any) -> JSONResponse:
    return JSONResponse({'success': True, 'data': data})


def legacy(message: str, data: Any = None) -> JSONResponse:
    body: dict[str, Any] = {'success': True, 'message': message}
    if data is not None:
        body['data'] = data
    return JSONResponse(body)


def plain_error(status: int, message: str) -> ApiError:
    return ApiError(status, {'error': message})


def envelope_error(status: int, message: str) -> ApiError:
    return ApiError(status, {'success': False, 'message': message})


def legacy_error(status: int, message: str) -> ApiError:
    return ApiError(status, {'success': False, 'message': f'Error: {message}'})


def too_large(limit: int) -> ApiError:
    return plain_error(413, f'payload too large: request body exceeds {limit} bytes')


def declared_length(request: Request) -> int | None:
    raw = request.headers.get('content-length')
    return int(raw) if raw is not None and raw.strip().isdigit() else None


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, read as a stream and refused with 413 the moment it passes `limit`.

    Buffering first and measuring after let a 100 MB upload cost hundreds of MB of memory; a declared
    Content-Length over the limit is refused before reading anything, and a missing or lying one is
    caught while counting.
    """
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


async def read_body(request: Request, model: type[M], limit: int) -> M:
    """Parse and validate a JSON body; 413 past the limit, 400 with a JSON reason otherwise."""
    raw = await read_limited(request, limit)
    try:
        return model.model_validate_json(raw or b'{}')
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ())) or 'body'
        raise plain_error(400, f'Json deserialize error: {where}: {first.get("msg")}') from None
    except json.JSONDecodeError as exc:
        raise plain_error(400, f'Json deserialize error: {exc}') from None


_CURRENT_TOKEN: ContextVar[ApiToken | None] = ContextVar('apex_current_token', default=None)


def bind_token(token: ApiToken | None) -> None:
    """Remember the request's token for code that sees no request (write guards of backend/features)."""
    _CURRENT_TOKEN.set(token)


def current_token() -> ApiToken | None:
    """The token of the request being served (None with `--no-auth` or outside a request)."""
    return _CURRENT_TOKEN.get()


def token_of(conn: Request | Any) -> ApiToken | None:
    """The validated token of a request or WebSocket (None with `--no-auth`)."""
    return conn.scope.get('apex_token')


def allows(conn: Request | Any, permission: Permission) -> bool:
    """The real server's rule: the permission itself or Admin; nothing else implies anything."""
    if not backend_of(conn).config.auth:
        return True
    token = token_of(conn)
    return token is not None and token.allows(permission)


def require(conn: Request | Any, permission: Permission) -> None:
    if not allows(conn, permission):
        raise ApiError(403, {'error': 'Insufficient permissions', 'status': 403})


def key_problem(key: str) -> str | None:
    size = len(key.encode())
    if size == 0:
        return 'key must not be empty'
    if size > MAX_KEY_BYTES:
        return 'key too long'
    return None


def int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = int(raw)
        if value < 0:
            raise ValueError
    except ValueError:
        raise plain_error(400, f'Query deserialize error: invalid digit found in string ({name})') from None
    return min(value, maximum) if maximum is not None else value


def text(value: bytes) -> str:
    return value.decode(errors='replace')
