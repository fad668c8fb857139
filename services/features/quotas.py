"""Client of the embedded backend's per-token quota routes (`/admin/quotas`); a real ApexStore has none."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.api import ApexApi, segment

FEATURE = 'quotas'


class QuotaUsage(BaseModel):
    """Live usage: rates over the last minute, today's budget, stored bytes, refusals."""
    requests_per_min: int = 0
    reads_per_min: int = 0
    writes_per_min: int = 0
    budget_used: int = 0
    storage_bytes: int = 0
    rejected_rate: int = 0
    rejected_storage: int = 0


class QuotaDraft(BaseModel):
    """What the create/edit form sends; None means no limit."""
    tenant: str  # the token's id
    description: str = ''
    max_requests_per_min: int | None = None
    max_reads_per_min: int | None = None
    max_writes_per_min: int | None = None
    max_storage_bytes: int | None = None
    max_budget_per_day: int | None = None
    active: bool = True


class Quota(QuotaDraft):
    model_config = ConfigDict(extra='ignore')
    id: str
    token_name: str | None = None
    created_at: int | None = None
    current_budget_used: int = 0
    usage: QuotaUsage = QuotaUsage()

    def draft(self) -> QuotaDraft:
        return QuotaDraft.model_validate(self.model_dump(include=set(QuotaDraft.model_fields)))


def usage_from_event(data: dict) -> dict[str, QuotaUsage]:
    """The `quotas/usage` feature event's data: usage by quota id."""
    return {quota_id: QuotaUsage.model_validate(usage) for quota_id, usage in (data.get('usage') or {}).items()}


async def list_quotas(api: ApexApi) -> list[Quota]:
    data = await api.call('GET', '/admin/quotas', 'List quotas')
    return [Quota.model_validate(q) for q in data.get('quotas', [])]


async def create_quota(api: ApexApi, draft: QuotaDraft) -> Quota:
    return Quota.model_validate(await api.call('POST', '/admin/quotas', 'Create quota', body=draft.model_dump()))


async def update_quota(api: ApexApi, quota_id: str, draft: QuotaDraft) -> Quota:
    return Quota.model_validate(await api.call('PUT', f'/admin/quotas/{segment(quota_id)}', 'Update quota',
                                               body=draft.model_dump()))


async def delete_quota(api: ApexApi, quota_id: str) -> None:
    await api.call('DELETE', f'/admin/quotas/{segment(quota_id)}', 'Delete quota')
