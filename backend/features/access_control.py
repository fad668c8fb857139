"""Access policies: who (a token, a role or everyone) may do what (Read/Write/Delete/Admin) where (routes, keys).

A policy narrows what tokens may do; it never grants a permission the token lacks (the route's own
permission check still runs). Matching policies are tried by priority, highest first (deny first on a
tie); the first one that matches decides; when none matches, the token's permissions alone decide.

Resources: `*` (every route and key), a route glob (`/admin/*`, `/ws/events`) or a key glob
(`keys:secret:*`). A request is checked twice and must pass both: its route against route policies,
and the keys it touches against key policies. Keys come from the path (`/keys/{key}`), from the
prefix of a listing, search or event stream (`?prefix=`, `?q=`; no prefix means every key), and from
request bodies (`POST /keys`, batches, GraphQL, notes, sync) through a write guard.

No change may leave the store without a token that can administer policies (409), whether the change
is to a policy or the revocation of a token. With no policies the guards return at once.
Documented in docs/extensions/access_control.md.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, Field, StrictStr, TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http import backend_of, current_token, legacy, plain, plain_error, read_body, require
from ..storage import now_ns
from ..tokens import ApiToken, Permission
from ._access_rules import (
    KeyTarget,
    Policy,
    PolicyBody,
    denied,
    key_decision,
    key_target,
    request_actions,
    resource_problem,
    route_decision,
)

log = logging.getLogger(__name__)
FEATURE = 'access_control'
STORE_KEY = b'access-policies'
ADMIN_CHECKS = [('/admin/policies', frozenset({'Read', 'Admin'})), ('/admin/policies', frozenset({'Write', 'Admin'})),
                ('/admin/policies/any', frozenset({'Write', 'Admin'})),
                ('/admin/policies/any', frozenset({'Delete', 'Admin'}))]


class CheckBody(BaseModel):
    token_id: StrictStr | None = None  # None: a request without a token (only `*` policies apply)
    action: Permission
    target: StrictStr = Field(min_length=1, max_length=4096)  # a route (`/…`) or a key


# -- state -----------------------------------------------------------------------------------------
class Policies:
    """The policies, kept sorted in the order they are tried, and saved in the system column family."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.items: dict[str, Policy] = {}
        self.ordered: list[Policy] = []
        raw = backend.store.system_get(STORE_KEY)
        if raw:
            try:
                self._set(TypeAdapter(list[Policy]).validate_json(raw))
            except ValueError as exc:
                log.error('stored access policies are unreadable (%s); starting with none', exc)

    @staticmethod
    def order(policies: list[Policy]) -> list[Policy]:
        return sorted(policies, key=lambda p: (-p.priority, p.effect != 'deny', p.created_at))

    def _set(self, policies: list[Policy]) -> None:
        self.items = {p.id: p for p in policies}
        self.ordered = self.order(policies)

    def replace(self, policies: list[Policy]) -> None:
        self._set(policies)
        body = json.dumps([p.model_dump(mode='json') for p in policies]).encode()
        self.backend.store.system_put(STORE_KEY, body)

    def administrators(self, policies: list[Policy], without_token: str | None = None) -> list[ApiToken | None]:
        """Who could still manage policies under `policies` (the anonymous caller when auth is off)."""
        principals: list[ApiToken | None]
        if not self.backend.config.auth:
            principals = [None]
        else:
            now = now_ns()
            principals = [t for t in self.backend.tokens.all() if Permission.Admin in t.permissions
                          and t.id != without_token and (t.expires_at is None or t.expires_at > now)]
        ordered = self.order(policies)
        return [t for t in principals if all(
            denied(route_decision(ordered, t, path, actions)) is None for path, actions in ADMIN_CHECKS)]


def state_of(backend) -> Policies:
    return backend.feature_state(FEATURE, lambda: Policies(backend))


def refusal(message: str) -> JSONResponse:
    return JSONResponse({'error': message, 'status': 403}, status_code=403)


def _key_words(target: KeyTarget, glob: str) -> str:
    if target.key is not None:
        return f"key '{target.key}'"
    if not target.prefix:
        return f"all keys (they include keys matching '{glob}'; ask with a prefix outside it)"
    return f"keys under '{target.prefix}'"


def _primary(actions: frozenset[str]) -> str:
    return next((a for a in ('Delete', 'Write', 'Read') if a in actions), 'Admin')


LOCKOUT = 'refused: after this change no token could administer access policies (the last admin must keep access)'


def _token_revocation(state: Policies, scope: dict, token: ApiToken | None) -> Response | None:
    """`DELETE /admin/tokens/{id}` of the last token able to administer policies is refused (409)."""
    token_id = unquote(scope['path'][len('/admin/tokens/'):])
    if (token is not None and not token.allows(Permission.Admin)) or state.backend.tokens.get(token_id) is None:
        return None  # the route answers 403 / 404 itself
    if state.administrators(list(state.items.values()), without_token=token_id):
        return None
    return JSONResponse({'error': 'refused: revoking this token would leave no token able to administer '
                                  'access policies', 'status': 409}, status_code=409)


def install(backend) -> None:
    state = state_of(backend)

    def guard(scope: dict, token: ApiToken | None) -> Response | None:
        if (scope['type'] == 'http' and scope.get('method') == 'DELETE'
                and scope['path'].startswith('/admin/tokens/')):
            refused = _token_revocation(state, scope, token)
            if refused is not None:
                return refused
        policies = state.ordered
        if not policies:
            return None
        path = scope['path']
        actions = request_actions(scope, path)
        decided = denied(route_decision(policies, token, path, actions))
        if decided is not None:
            return refusal(f"access denied by policy '{decided.name}': {_primary(actions)} on {path} "
                           'is not allowed for this token')
        target = key_target(scope)
        if target is None:
            return None
        decided = denied(key_decision(policies, token, actions, target))
        if decided is not None:
            glob = decided.resource[len('keys:'):] if decided.resource.startswith('keys:') else '*'
            return refusal(f"access denied by policy '{decided.name}': {_primary(actions)} on "
                           f'{_key_words(target, glob)} is not allowed for this token')
        return None

    def write_guard(cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        policies = state.ordered
        if not policies:
            return
        token = current_token()
        if token is None and backend.config.auth:
            return  # the backend's own writes (jobs, expiry): no caller to hold to a policy
        for key, value, _ in items:
            action = 'Write' if value is not None else 'Delete'
            decided = denied(key_decision(policies, token, frozenset({action}), KeyTarget(key=key)))
            if decided is not None:
                raise plain_error(403, f"access denied by policy '{decided.name}': {action} on key '{key}' "
                                       'is not allowed for this token; nothing was written')

    backend.request_guards.append(guard)
    backend.write_guards.append(write_guard)


# -- routes ----------------------------------------------------------------------------------------
def _validated(request: Request, body: PolicyBody) -> PolicyBody:
    name, resource = body.name.strip(), body.resource.strip()
    if not name:
        raise plain_error(400, 'name is required')
    if problem := resource_problem(resource):
        raise plain_error(400, problem)
    subject = body.subject.strip() or '*'
    kind, _, value = subject.partition(':')
    if subject != '*':
        if kind == 'role' and value not in {p.value for p in Permission}:
            raise plain_error(400, f"unknown role '{value}': use Read, Write, Delete or Admin")
        if kind == 'token' and backend_of(request).tokens.get(value) is None:
            raise plain_error(400, f"no token with id '{value}'")
        if kind not in ('role', 'token'):
            raise plain_error(400, "subject must be '*', 'role:<permission>' or 'token:<id>'")
    actions = sorted(set(body.actions), key=list(Permission).index)
    return body.model_copy(update={'name': name, 'resource': resource, 'subject': subject, 'actions': actions,
                                   'description': body.description.strip()})


def _commit(request: Request, policies: list[Policy], event: str, policy: Policy) -> None:
    state = state_of(backend_of(request))
    if not state.administrators(policies):
        raise plain_error(409, LOCKOUT)
    state.replace(policies)
    backend_of(request).publish_feature(FEATURE, event, {'id': policy.id, 'name': policy.name})


def _check_name(state: Policies, name: str, own_id: str | None = None) -> None:
    if any(p.name == name and p.id != own_id for p in state.items.values()):
        raise plain_error(409, f"a policy named '{name}' already exists")


async def list_policies(request: Request):
    require(request, Permission.Admin)
    state = state_of(backend_of(request))
    return legacy('Policies listed', {'policies': [p.model_dump(mode='json') for p in state.ordered]})


async def create_policy(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = _validated(request, await read_body(request, PolicyBody, backend.config.max_body_bytes))
    state = state_of(backend)
    _check_name(state, body.name)
    now = now_ns()
    policy = Policy(**body.model_dump(), id=str(uuid.uuid4()), created_at=now, updated_at=now)
    _commit(request, [*state.items.values(), policy], 'created', policy)
    return legacy('Policy created successfully', policy.model_dump(mode='json'))


def _existing(request: Request) -> Policy:
    policy = state_of(backend_of(request)).items.get(request.path_params['policy_id'])
    if policy is None:
        raise plain_error(404, 'policy not found')
    return policy


async def update_policy(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    old = _existing(request)
    body = _validated(request, await read_body(request, PolicyBody, backend.config.max_body_bytes))
    state = state_of(backend)
    _check_name(state, body.name, old.id)
    policy = Policy(**body.model_dump(), id=old.id, created_at=old.created_at, updated_at=now_ns())
    _commit(request, [policy if p.id == old.id else p for p in state.items.values()], 'updated', policy)
    return legacy('Policy updated successfully', policy.model_dump(mode='json'))


async def delete_policy(request: Request):
    require(request, Permission.Admin)
    old = _existing(request)
    state = state_of(backend_of(request))
    _commit(request, [p for p in state.items.values() if p.id != old.id], 'deleted', old)
    return legacy('Policy deleted successfully')


async def check_access(request: Request):
    """Would this token be allowed this action on this route or key? (dry run, nothing is changed)"""
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, CheckBody, backend.config.max_body_bytes)
    token = backend.tokens.get(body.token_id) if body.token_id else None
    if body.token_id and token is None:
        raise plain_error(400, f"no token with id '{body.token_id}'")
    policies = state_of(backend).ordered
    actions = frozenset({body.action.value})
    if body.target.startswith('/'):
        actions = request_actions({'type': 'http', 'method': {'Read': 'GET', 'Delete': 'DELETE'}.get(
            body.action.value, 'POST')}, body.target) | actions
        decided = route_decision(policies, token, body.target, actions)
    else:
        decided = key_decision(policies, token, actions, KeyTarget(key=body.target))
    answer: dict[str, Any] = {'allowed': True, 'policy': None, 'effect': None}
    if decided is not None:
        answer.update(policy=decided.name, effect=decided.effect, allowed=decided.effect == 'allow')
    if token is not None and not token.allows(body.action):
        answer.update(allowed=False, reason=f'the token lacks the {body.action.value} permission')
    elif decided is None:
        answer['reason'] = 'no policy matches: the token\'s permissions decide'
    else:
        answer['reason'] = f"policy '{decided.name}' ({decided.effect}, priority {decided.priority}) decides"
    return plain(answer)


routes = [
    Route('/admin/policies', list_policies, methods=['GET']),
    Route('/admin/policies', create_policy, methods=['POST']),
    Route('/admin/policies/check', check_access, methods=['POST']),
    Route('/admin/policies/{policy_id}', update_policy, methods=['PUT']),
    Route('/admin/policies/{policy_id}', delete_policy, methods=['DELETE']),
]
