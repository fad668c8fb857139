"""API tokens, stored hashed (SHA-256) as `__token:{id}` records like the real server does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from enum import StrEnum

from pydantic import BaseModel

from .storage import Store, now_ns

TOKEN_PREFIX = b'__token:'


class Permission(StrEnum):
    Read = 'Read'
    Write = 'Write'
    Delete = 'Delete'
    Admin = 'Admin'


class ApiToken(BaseModel):
    id: str
    name: str
    token_hash: str
    created_at: int
    expires_at: int | None = None
    permissions: list[Permission]

    def allows(self, permission: Permission) -> bool:
        """Exact match or Admin: Write does not imply Read (the real server's rule)."""
        return permission in self.permissions or Permission.Admin in self.permissions

    def public(self) -> dict:
        return {'id': self.id, 'name': self.name, 'token': None, 'created_at': self.created_at,
                'expires_at': self.expires_at, 'permissions': [p.value for p in self.permissions]}


class TokenInvalid(Exception):
    pass


class TokenExpired(Exception):
    pass


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_raw_token() -> str:
    return 'apx_' + base64.b64encode(os.urandom(32)).decode()


class TokenManager:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._tokens: dict[str, ApiToken] = {}
        self.reload()

    def reload(self) -> None:
        self._tokens = {}
        for _, value in self.store.system_items(TOKEN_PREFIX):
            token = ApiToken.model_validate_json(value)
            self._tokens[token.id] = token

    def get(self, token_id: str) -> ApiToken | None:
        return self._tokens.get(token_id)

    def all(self) -> list[ApiToken]:
        return sorted(self._tokens.values(), key=lambda t: t.created_at)

    def create(self, name: str, permissions: list[Permission], expires_in_days: int | None = None,
               raw: str | None = None) -> tuple[ApiToken, str]:
        raw = raw or generate_raw_token()
        created = now_ns()
        token = ApiToken(id=str(uuid.uuid4()), name=name, token_hash=hash_token(raw), created_at=created,
                         expires_at=created + expires_in_days * 86_400 * 10**9 if expires_in_days else None,
                         permissions=permissions)
        self._save(token)
        return token, raw

    def _save(self, token: ApiToken) -> None:
        self.store.system_put(TOKEN_PREFIX + token.id.encode(), token.model_dump_json().encode())
        self._tokens[token.id] = token

    def keep(self, tokens: list[ApiToken]) -> None:
        """Re-add tokens the store no longer has (after a restore rewound it)."""
        for token in tokens:
            if token.id not in self._tokens:
                self._save(token)

    def delete(self, token_id: str) -> bool:
        if self._tokens.pop(token_id, None) is None:
            return False
        self.store.system_delete(TOKEN_PREFIX + token_id.encode())
        return True

    def validate(self, raw: str) -> ApiToken:
        digest = hash_token(raw)
        for token in self._tokens.values():
            if hmac.compare_digest(token.token_hash, digest):
                if token.expires_at is not None and now_ns() > token.expires_at:
                    raise TokenExpired
                return token
        raise TokenInvalid

    def find_by_raw(self, raw: str) -> ApiToken | None:
        try:
            return self.validate(raw)
        except (TokenInvalid, TokenExpired):
            return None

    def has_admin(self) -> bool:
        return any(Permission.Admin in t.permissions for t in self._tokens.values())


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(',', ':')).encode()
