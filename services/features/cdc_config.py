"""CDC configuration: the Angular CDC page's routes (`/admin/cdc…`), offered by the embedded backend only.

A tracked table is a column family; `NotOffered` means the connected server (a real ApexStore) has
no CDC administration (it is configured there only through `CDC_ENDPOINT`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..api import ApexApi, ApiError, segment

EVENT_KINDS: tuple[str, ...] = ('insert', 'update', 'delete', 'truncate')
DEFAULT_EVENTS = ['insert', 'update', 'delete']  # the Angular page's default


class CdcConfig(BaseModel):
    enabled: bool = True
    retention_hours: int = Field(default=24, ge=1, le=8760)
    batch_size: int = Field(default=1000, ge=100, le=100_000)


class CdcTable(BaseModel):
    table: str
    events: list[str] = []
    status: Literal['active', 'paused'] = 'active'
    since_lsn: str = ''
    last_event_at: int | None = None  # ns
    captured: int = 0  # changes retained in its log


class CdcState(BaseModel):
    config: CdcConfig = CdcConfig()
    tables: list[CdcTable] = []
    missed: int = 0


class CdcChange(BaseModel):
    lsn: str
    op: str
    key: str
    timestamp: int  # ns


class CdcChanges(BaseModel):
    table: str
    changes: list[CdcChange] = []
    next: str | None = None


async def _call(api: ApexApi, method: str, path: str, what: str, **kwargs: Any) -> Any:
    """`api.call`, without the legacy envelope's "Error: " in front of the server's reason."""
    try:
        return await api.call(method, path, what, **kwargs)
    except ApiError as exc:
        exc.message = exc.message.replace(f'{what}: Error: ', f'{what}: ', 1)
        exc.args = (exc.message,)
        raise


async def state(api: ApexApi) -> CdcState:
    return CdcState.model_validate(await _call(api, 'GET', '/admin/cdc', 'CDC configuration'))


async def save_config(api: ApexApi, config: CdcConfig) -> None:
    await _call(api, 'PUT', '/admin/cdc', 'Save CDC configuration', body=config.model_dump())


async def add_table(api: ApexApi, table: str, events: list[str]) -> CdcTable:
    data = await _call(api, 'POST', '/admin/cdc/tables', 'Add CDC table', body={'table': table, 'events': events})
    return CdcTable.model_validate(data)


async def remove_table(api: ApexApi, table: str) -> None:
    await _call(api, 'DELETE', f'/admin/cdc/tables/{segment(table)}', 'Remove CDC table')


async def changes(api: ApexApi, table: str, after: str | None = None) -> CdcChanges:
    """One batch (the configured batch size) of the table's captured changes after `after`."""
    data = await _call(api, 'GET', f'/admin/cdc/tables/{segment(table)}/changes', 'CDC changes',
                       params={'after': after})
    return CdcChanges.model_validate(data)
