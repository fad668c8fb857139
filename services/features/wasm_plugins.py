"""Client of `/admin/wasm`: WebAssembly validator plugins the backend runs on every write."""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel

from ..api import MAX_REQUEST_BYTES, ApexApi, segment

MAX_MODULE_BYTES = MAX_REQUEST_BYTES * 3 // 4 - 4096  # base64 in a JSON body must stay under the request limit


class WasmPlugin(BaseModel):
    id: str
    name: str
    version: str = ''
    type: Literal['filter', 'transform', 'auth', 'custom'] = 'filter'
    status: Literal['active', 'inactive', 'error'] = 'active'
    enabled: bool = True
    size_kb: float = 0
    size_bytes: int = 0
    description: str = ''
    created_at: int = 0  # ns
    filename: str = ''
    sha256: str = ''
    key_prefix: str = ''
    abi: str = 'value'
    calls: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    last_error: str | None = None
    last_refusal: str | None = None


class PluginList(BaseModel):
    plugins: list[WasmPlugin] = []
    runtime: str | None = None
    fuel_per_call: int | None = None
    memory_limit: int | None = None


class TryResult(BaseModel):
    accepted: bool
    code: int | None = None
    error: str | None = None
    fuel_used: int = 0


async def plugins(api: ApexApi) -> PluginList:
    return PluginList.model_validate(await api.call('GET', '/admin/wasm', 'Load plugins'))


async def upload(api: ApexApi, filename: str, data: bytes, *, name: str = '', version: str = '1.0.0',
                 description: str = '', key_prefix: str = '') -> WasmPlugin:
    body = {'filename': filename, 'content_base64': base64.b64encode(data).decode(), 'name': name or None,
            'version': version or '1.0.0', 'description': description, 'key_prefix': key_prefix}
    return WasmPlugin.model_validate(await api.call('POST', '/admin/wasm', 'Upload plugin', body=body))


async def set_enabled(api: ApexApi, plugin_id: str, enabled: bool) -> WasmPlugin:
    data = await api.call('POST', f'/admin/wasm/{segment(plugin_id)}/toggle', 'Enable/disable plugin',
                          body={'enabled': enabled})
    return WasmPlugin.model_validate(data)


async def delete(api: ApexApi, plugin_id: str) -> None:
    await api.call('DELETE', f'/admin/wasm/{segment(plugin_id)}', 'Delete plugin')


async def try_value(api: ApexApi, plugin_id: str, key: str, value: str) -> TryResult:
    data = await api.call('POST', f'/admin/wasm/{segment(plugin_id)}/test', 'Try plugin',
                          body={'key': key, 'value': value})
    return TryResult.model_validate(data)
