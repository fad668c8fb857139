"""Client of the embedded backend's access policy routes (`/admin/policies`); a real ApexStore has none.

`resource_problem` mirrors the server's own check so the form can say what is wrong before sending.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api import ApexApi, segment

FEATURE = 'access_control'
ACTIONS = ['Read', 'Write', 'Delete', 'Admin']
Effect = Literal['allow', 'deny']


class Policy(BaseModel):
    model_config = ConfigDict(extra='ignore')
    id: str
    name: str
    subject: str = '*'  # '*', 'role:<permission>' or 'token:<id>'
    resource: str
    actions: list[str]
    effect: Effect = 'allow'
    priority: int = 100
    description: str = ''
    created_at: int | None = None
    updated_at: int | None = None


class PolicyDraft(BaseModel):
    """What the create/edit form sends."""
    name: str
    subject: str = '*'
    resource: str
    actions: list[str] = Field(min_length=1)
    effect: Effect = 'allow'
    priority: int = 100
    description: str = ''


class AccessCheck(BaseModel):
    allowed: bool
    policy: str | None = None
    effect: Effect | None = None
    reason: str = ''


def resource_problem(resource: str) -> str | None:
    """Why the server would refuse this resource pattern, or None."""
    resource = resource.strip()
    if not resource:
        return 'Enter a resource pattern'
    if resource == '*' or (resource.startswith('/') and len(resource) > 1):
        return None
    if resource.startswith('keys:') and len(resource) > len('keys:'):
        return None
    return "Use '*', a route glob such as /admin/* or a key glob such as keys:secret:*"


async def list_policies(api: ApexApi) -> list[Policy]:
    data = await api.call('GET', '/admin/policies', 'List policies')
    return [Policy.model_validate(p) for p in data.get('policies', [])]


async def create_policy(api: ApexApi, draft: PolicyDraft) -> Policy:
    return Policy.model_validate(await api.call('POST', '/admin/policies', 'Create policy', body=draft.model_dump()))


async def update_policy(api: ApexApi, policy_id: str, draft: PolicyDraft) -> Policy:
    return Policy.model_validate(await api.call('PUT', f'/admin/policies/{segment(policy_id)}', 'Update policy',
                                                body=draft.model_dump()))


async def delete_policy(api: ApexApi, policy_id: str) -> None:
    await api.call('DELETE', f'/admin/policies/{segment(policy_id)}', 'Delete policy')


async def check_access(api: ApexApi, token_id: str | None, action: str, target: str) -> AccessCheck:
    body = {'token_id': token_id, 'action': action, 'target': target}
    return AccessCheck.model_validate(await api.call('POST', '/admin/policies/check', 'Check access', body=body))
