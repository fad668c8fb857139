"""Routes the Angular pages call that the current server lacks (documented in backend/README.md).

Legacy envelope (`{success, message, data}`) for tokens, features and backups, as the Angular client
expects; plain style for column families and snapshot browsing.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re

from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.routing import Route

from ..http import backend_of, int_param, legacy, legacy_error, plain, plain_error, read_body, require, text
from ..snapshots import SnapshotNotFound
from ..storage import DEFAULT_CF, read_checkpoint
from ..tokens import Permission

FEATURE_PREFIX = b'feature:'
_CF_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')


class TokenBody(BaseModel):
    name: StrictStr = Field(min_length=1, max_length=200)
    permissions: list[Permission] = Field(min_length=1)
    expires_in_days: int | None = Field(default=None, ge=1, le=36_500)


class FeatureBody(BaseModel):
    enabled: StrictBool
    description: StrictStr = ''


class SnapshotBody(BaseModel):
    name: StrictStr | None = Field(default=None, max_length=200)


class ColumnFamilyBody(BaseModel):
    name: StrictStr


# -- tokens ----------------------------------------------------------------------------------------
async def list_tokens(request: Request):
    require(request, Permission.Admin)
    return legacy('Tokens listed', {'tokens': [t.public() for t in backend_of(request).tokens.all()]})


async def create_token(request: Request):
    require(request, Permission.Admin)
    body = await read_body(request, TokenBody, backend_of(request).config.max_body_bytes)
    token, raw = backend_of(request).tokens.create(body.name, body.permissions, body.expires_in_days)
    return legacy('Token created successfully', {**token.public(), 'token': raw})


async def delete_token(request: Request):
    require(request, Permission.Admin)
    if not backend_of(request).revoke_token(request.path_params['token_id']):
        raise legacy_error(404, 'Token not found')
    return legacy('Token deleted successfully')


# -- feature flags ---------------------------------------------------------------------------------
def _features(backend) -> list[dict]:
    return [json.loads(v) for _, v in backend.store.system_items(FEATURE_PREFIX)]


async def list_features(request: Request):
    require(request, Permission.Read)
    backend = backend_of(request)
    features = _features(backend)
    version = int(backend.store.system_get(b'feature-version') or 0)
    return legacy(f'{len(features)} features found', {'version': version, 'features': features})


async def set_feature(request: Request):
    require(request, Permission.Write)
    backend = backend_of(request)
    name = request.path_params['name']
    body = await read_body(request, FeatureBody, backend.config.max_body_bytes)
    flag = {'name': name, 'enabled': body.enabled, 'description': body.description}
    backend.store.system_put(FEATURE_PREFIX + name.encode(), json.dumps(flag).encode())
    version = int(backend.store.system_get(b'feature-version') or 0) + 1
    backend.store.system_put(b'feature-version', str(version).encode())
    return legacy(f"Feature '{name}' updated")


# -- snapshots (Angular backup routes) -------------------------------------------------------------
async def list_backups(request: Request):
    require(request, Permission.Admin)
    return legacy('Backups listed', {'backups': [i.model_dump() for i in backend_of(request).snapshots.all()]})


async def create_backup(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, SnapshotBody, backend.config.max_body_bytes)
    name = (body.name or '').strip() or f'backup-{backend.now() // 1_000_000}'
    try:
        info = await backend.create_snapshot(name)
    except Exception as exc:  # noqa: BLE001
        raise legacy_error(500, f'snapshot failed: {exc}') from None
    return legacy('Backup created successfully', info)


def _snapshot_id(request: Request) -> str:
    snapshot_id = request.path_params['snapshot_id']
    try:
        backend_of(request).snapshots.get(snapshot_id)
    except SnapshotNotFound:
        raise legacy_error(404, 'Backup not found') from None
    return snapshot_id


async def restore_backup(request: Request):
    require(request, Permission.Admin)
    snapshot_id = _snapshot_id(request)
    try:
        await backend_of(request).restore_snapshot(snapshot_id)
    except Exception as exc:  # noqa: BLE001 - the live DB was kept; say why the restore failed
        raise legacy_error(500, f'restore failed: {exc}') from None
    return legacy('Backup restored successfully')


async def delete_backup(request: Request):
    require(request, Permission.Admin)
    backend_of(request).delete_snapshot(_snapshot_id(request))
    return legacy('Backup deleted successfully')


async def browse_backup(request: Request):
    """One page of a snapshot's keys, read-only: `{"records":[…],"cursor":…,"total_estimate":n}`."""
    require(request, Permission.Admin)
    snapshot_id = _snapshot_id(request)
    limit = int_param(request, 'limit', 100, 1000)
    prefix = (request.query_params.get('prefix') or '').encode()
    cursor = request.query_params.get('cursor')
    path = backend_of(request).snapshot_path(snapshot_id)
    rows, total = read_checkpoint(path, prefix, limit + 1, cursor.encode() if cursor else None)
    more = len(rows) > limit
    rows = rows[:limit]
    return plain({'records': [{'key': text(k), 'value': text(v)} for k, v in rows],
                  'cursor': text(rows[-1][0]) if more and rows else None, 'total_estimate': total})


# -- column families -------------------------------------------------------------------------------
async def list_cfs(request: Request):
    require(request, Permission.Read)
    store = backend_of(request).store
    families = []
    for name in store.column_families():
        stats = store.cf_stats(name)
        families.append({'name': name, 'keys': stats['total_records'], 'sst_files': stats['sst_files'],
                         'size_kb': stats['sst_bytes'] // 1024, 'mem_records': stats['mem_records'],
                         'levels': backend_of(request).level_details(name)['levels']})
    return plain({'column_families': families})


async def create_cf(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    body = await read_body(request, ColumnFamilyBody, backend.config.max_body_bytes)
    if not _CF_NAME.match(body.name) or body.name.startswith('__'):
        raise plain_error(400, 'invalid column family name')
    backend.store.create_cf(body.name)
    return plain({'status': 'ok', 'name': body.name})


def _drop_cf(store, name: str) -> None:
    """Drop a column family and everything in it, never during a flush, compaction or checkpoint."""
    with store.maintenance:
        handle = store._cfs.pop(name)  # noqa: SLF001 - the store has no drop of its own
        del handle
        gc.collect()  # the CF handle must be gone before RocksDB forgets the family
        store.db.drop_column_family(name)


async def drop_cf(request: Request):
    """`DELETE /admin/column_families/{name}` (Admin): 400 for `default`, 404 when there is no such family."""
    require(request, Permission.Admin)
    store = backend_of(request).store
    name = request.path_params['name']
    if name == DEFAULT_CF:
        raise plain_error(400, 'the default column family cannot be dropped')
    if not _CF_NAME.match(name) or name.startswith('__') or not store.has_cf(name):
        raise plain_error(404, 'column family not found')
    await asyncio.to_thread(_drop_cf, store, name)
    return plain({'status': 'ok', 'name': name})


routes = [
    Route('/admin/tokens', list_tokens, methods=['GET']),
    Route('/admin/tokens', create_token, methods=['POST']),
    Route('/admin/tokens/{token_id}', delete_token, methods=['DELETE']),
    Route('/features', list_features, methods=['GET']),
    Route('/features/{name}', set_feature, methods=['POST']),
    Route('/admin/backups', list_backups, methods=['GET']),
    Route('/admin/backups', create_backup, methods=['POST']),
    Route('/admin/backups/{snapshot_id}/restore', restore_backup, methods=['POST']),
    Route('/admin/backups/{snapshot_id}/keys', browse_backup, methods=['GET']),
    Route('/admin/backups/{snapshot_id}', delete_backup, methods=['DELETE']),
    Route('/admin/column_families', list_cfs, methods=['GET']),
    Route('/admin/column_families', create_cf, methods=['POST']),
    Route('/admin/column_families/{name}', drop_cf, methods=['DELETE']),
]
