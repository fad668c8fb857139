"""The rules of access policies: the policy model, what a request touches, and which policy decides.

Pure functions over a request's ASGI scope and the policies in the order they are tried; the feature
(`access_control.py`) keeps the policies and enforces the decisions. Not a feature module (no routes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal
from urllib.parse import parse_qs, unquote

from pydantic import BaseModel, Field, StrictStr

from ..tokens import ApiToken, Permission

STREAMS = {'/ws/events', '/events', '/events/poll', '/ws/sync'}
# routes that may read any key whatever their URL says (SQL over the store, GraphQL's key fields)
WHOLE_STORE_READERS = {'/query', '/graphql'}
# `/keys/<name>` routes that are not a key (method, first segment)
NOT_KEYS = {('GET', 'search'), ('GET', 'value-search'), ('GET', 'range'), ('GET', 'by-index'), ('GET', 'indexes'),
            ('POST', 'batch')}


class PolicyBody(BaseModel):
    name: StrictStr = Field(max_length=100)
    subject: StrictStr = Field(default='*', max_length=200)
    resource: StrictStr = Field(max_length=500)
    actions: list[Permission] = Field(min_length=1, max_length=4)
    effect: Literal['allow', 'deny'] = 'allow'
    priority: int = Field(default=100, ge=0, le=1_000_000)
    description: StrictStr = Field(default='', max_length=500)


class Policy(PolicyBody):
    id: str
    created_at: int
    updated_at: int


def resource_problem(resource: str) -> str | None:
    if resource == '*' or (resource.startswith('/') and len(resource) > 1):
        return None
    if resource.startswith('keys:') and len(resource) > len('keys:'):
        return None
    return "resource must be '*', a route glob such as '/admin/*' or a key glob such as 'keys:secret:*'"


# -- matching --------------------------------------------------------------------------------------
def subject_matches(subject: str, token: ApiToken | None) -> bool:
    if subject == '*':
        return True
    if token is None:
        return False
    kind, _, value = subject.partition(':')
    if kind == 'token':
        return token.id == value
    return kind == 'role' and any(p.value == value for p in token.permissions)


def covers(glob: str, prefix: str) -> bool:
    """Every key starting with `prefix` matches `glob` (a trailing `*` absorbs any rest)."""
    return glob.endswith('*') and fnmatchcase(prefix, glob)


def overlaps(glob: str, prefix: str) -> bool:
    """Some key starting with `prefix` may match `glob` (conservative: compares the literal heads)."""
    head = glob
    for i, char in enumerate(glob):
        if char in '*?[':
            head = glob[:i]
            break
    else:
        return glob.startswith(prefix)
    return head.startswith(prefix) or prefix.startswith(head)


@dataclass(frozen=True)
class KeyTarget:
    key: str | None = None
    prefix: str | None = None  # a listing, search or stream: every key starting with it


def _applies(policy: Policy, token: ApiToken | None, actions: frozenset[str]) -> bool:
    return subject_matches(policy.subject, token) and any(a.value in actions for a in policy.actions)


def route_decision(policies: list[Policy], token: ApiToken | None, path: str, actions: frozenset[str]) -> Policy | None:
    for policy in policies:
        if policy.resource.startswith('keys:') or not _applies(policy, token, actions):
            continue
        if policy.resource == '*' or fnmatchcase(path, policy.resource):
            return policy
    return None


def key_decision(policies: list[Policy], token: ApiToken | None, actions: frozenset[str],
                 target: KeyTarget) -> Policy | None:
    for policy in policies:
        if policy.resource.startswith('/') or not _applies(policy, token, actions):
            continue
        if policy.resource == '*':
            return policy
        glob = policy.resource[len('keys:'):]
        if target.key is not None:
            hit = fnmatchcase(target.key, glob)
        else:
            prefix = target.prefix or ''
            hit = overlaps(glob, prefix) if policy.effect == 'deny' else covers(glob, prefix)
        if hit:
            return policy
    return None


# -- what a request touches ------------------------------------------------------------------------
def request_actions(scope: dict, path: str) -> frozenset[str]:
    """The permission a request exercises (by method; Read for streams), plus Admin under `/admin/`."""
    if scope['type'] == 'websocket':
        base = 'Read'
    else:
        method = scope.get('method', 'GET')
        base = 'Read' if method in ('GET', 'HEAD', 'OPTIONS') else 'Delete' if method == 'DELETE' else 'Write'
        if path.endswith('/keys/batch/delete'):
            base = 'Delete'
    return frozenset({base, 'Admin'}) if path.startswith('/admin/') else frozenset({base})


def _query(scope: dict) -> dict[str, str]:
    raw = scope.get('query_string', b'').decode(errors='replace')
    return {name: values[0] for name, values in parse_qs(raw, keep_blank_values=True).items()}


def _range_prefix(query: dict[str, str]) -> str:
    lower, upper = query.get('lower', ''), query.get('upper')
    return os.path.commonprefix([lower, upper]) if upper else ''


def key_target(scope: dict) -> KeyTarget | None:
    """The key (or key prefix) a request reads or changes by its URL; None when it names no keys by URL."""
    raw = (scope.get('raw_path') or scope['path'].encode()).decode(errors='replace')
    if raw.startswith('/cf/'):  # `/cf/{cf}/keys…`: key policies apply in every column family
        raw = '/' + raw.split('/', 3)[-1] if raw.count('/') >= 3 else raw
    method = scope.get('method', 'GET')
    query = _query(scope)
    if raw in STREAMS:
        return KeyTarget(prefix=query.get('prefix', ''))
    if raw in WHOLE_STORE_READERS:
        return KeyTarget(prefix='')
    if raw == '/scan':
        return KeyTarget(prefix=_range_prefix(query))
    if raw == '/keys':
        return None if method == 'POST' else KeyTarget(prefix=query.get('prefix', ''))
    if not raw.startswith('/keys/'):
        return None
    segments = raw[len('/keys/'):].split('/')
    first = segments[0]
    if (method, first) in NOT_KEYS or (first == 'batch' and len(segments) > 1):
        if first == 'search':
            mode = query.get('mode', 'prefix')
            return KeyTarget(prefix=(query.get('q') or query.get('prefix') or '') if mode == 'prefix' else '')
        if first == 'range':
            return KeyTarget(prefix=_range_prefix(query))
        if first in ('value-search', 'by-index'):
            return KeyTarget(prefix='')
        return None  # batches carry their keys in the body: the write guard sees them
    return KeyTarget(key=unquote(first))


def denied(policy: Policy | None) -> Policy | None:
    """The deciding policy when it denies, else None."""
    return policy if policy is not None and policy.effect == 'deny' else None
