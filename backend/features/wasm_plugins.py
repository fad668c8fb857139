"""WASM plugins: WebAssembly value validators the backend runs on every write (wasmtime).

A plugin is a module with no imports that exports `memory` and `validate`; an enabled plugin sees
every put (deletes carry no value) whose key starts with its `key_prefix`:

- `validate(value_ptr: i32, value_len: i32) -> i32`, or
  `validate(key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32) -> i32`;
- the host writes the UTF-8 bytes into the module's `memory`: at the pointer `alloc(len: i32) -> i32`
  returns when the module exports `alloc`, else from offset 0 (the key first, then the value);
- `0` accepts the value; any other number refuses it and is reported as the plugin's code.

Each call runs in a fresh instance (no state carried between values) with a fuel budget and a memory
cap, so a plugin that loops or grows without end fails instead of hanging the server. A refusal, a
trap or an exhausted budget refuses the whole write with 400 and nothing is written (fail closed).
Calls, acceptances, refusals and errors are counted per plugin (since the server started).
Modules and their metadata are files under `<data-dir>/wasm/`. Events: `feature_event`s `('wasm',
'uploaded' | 'toggled' | 'deleted' | 'refused' | 'error', {...})`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..http import ApiError, backend_of, legacy, read_body, require
from ..tokens import Permission
from ._support import SAFE_ID, JsonRecords, fail, new_id, write_atomically

try:
    import wasmtime as _wasmtime
except ImportError:  # pragma: no cover - the feature is then simply not offered (routes 404)
    _wasmtime = None  # type: ignore[assignment]
wasmtime: Any = _wasmtime

log = logging.getLogger(__name__)

FEATURE = 'wasm'
FUEL_PER_CALL = 10_000_000  # wasm instructions (roughly) one validation may spend
MEMORY_LIMIT = 16 * 1024 * 1024  # bytes of linear memory one instance may use
MAGIC = b'\x00asm'
PAGE = 65536


class UploadBody(BaseModel):
    """The module as base64 (mutating requests must be JSON here), with the card's fields."""
    filename: StrictStr = Field(min_length=1, max_length=255)
    content_base64: StrictStr = Field(min_length=1)
    name: StrictStr | None = Field(default=None, max_length=200)
    version: StrictStr = Field(default='1.0.0', min_length=1, max_length=50)
    description: StrictStr = Field(default='', max_length=2000)
    key_prefix: StrictStr = Field(default='', max_length=4096)
    enabled: StrictBool = True


class ToggleBody(BaseModel):
    enabled: StrictBool | None = None  # None (the Angular `{}`): flip


class TryBody(BaseModel):
    key: StrictStr = Field(default='', max_length=4096)
    value: StrictStr


class WasmPlugin(BaseModel):
    """The Angular `WasmPlugin` shape plus what this backend knows about the module and its calls."""
    id: str
    name: str
    version: str = '1.0.0'
    type: Literal['filter', 'transform', 'auth', 'custom'] = 'filter'
    status: Literal['active', 'inactive', 'error'] = 'active'
    enabled: bool = True
    size_kb: float = 0
    size_bytes: int = 0
    description: str = ''
    created_at: int
    filename: str = ''
    sha256: str = ''
    key_prefix: str = ''
    abi: Literal['value', 'key_value'] = 'value'
    calls: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    last_error: str | None = None
    last_refusal: str | None = None


@dataclass
class Verdict:
    code: int | None = None  # 0 accepted, other refused; None when the plugin failed
    error: str | None = None
    fuel_used: int = 0


@dataclass
class Loaded:
    meta: WasmPlugin
    module: Any
    has_alloc: bool
    failed_last: bool = False

    def status(self) -> str:
        if not self.meta.enabled:
            return 'inactive'
        return 'error' if self.failed_last else 'active'

    def public(self) -> dict:
        return self.meta.model_copy(update={'status': self.status()}).model_dump()


@dataclass
class WasmState:
    records: JsonRecords[WasmPlugin]
    engine: Any
    plugins: dict[str, Loaded] = field(default_factory=dict)


def _engine() -> Any:
    config = wasmtime.Config()
    config.consume_fuel = True
    return wasmtime.Engine(config)


def _state(backend) -> WasmState:
    return backend.feature_state(FEATURE, lambda: _new_state(backend.config.data_dir / FEATURE))


def _new_state(folder: Path) -> WasmState:
    state = WasmState(JsonRecords(folder, WasmPlugin), _engine())
    for meta in sorted(state.records.load_all(), key=lambda m: m.created_at):
        try:
            module, abi, has_alloc = compile_plugin(state.engine, state.records.path(meta.id, '.wasm').read_bytes())
        except (OSError, ApiError) as exc:
            log.warning('WASM plugin %s (%s) not loaded: %s', meta.id, meta.name, getattr(exc, 'body', exc))
            continue
        meta.abi = abi
        state.plugins[meta.id] = Loaded(meta, module, has_alloc)
    return state


# -- the module contract ---------------------------------------------------------------------------
def _kinds(types) -> list[str]:
    return [str(t) for t in types]


def compile_plugin(engine: Any, data: bytes) -> tuple[Any, Literal['value', 'key_value'], bool]:
    """Compile and check a module against the plugin contract; 400 with the reason otherwise."""
    if not data.startswith(MAGIC):
        raise fail(400, 'not a WebAssembly module: the file does not start with the \\0asm header '
                        '(text .wat files must be compiled to .wasm first)')
    try:
        module = wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as exc:
        raise fail(400, f'invalid WebAssembly module: {str(exc).splitlines()[0]}') from None
    if module.imports:
        names = ', '.join(f'{i.module}.{i.name}' for i in module.imports[:5])
        raise fail(400, f'the module imports {names}: plugins run sandboxed and may import nothing')
    exports = {e.name: e.type for e in module.exports}
    if not isinstance(exports.get('memory'), wasmtime.MemoryType):
        raise fail(400, 'the module must export its linear memory as "memory"')
    validate = exports.get('validate')
    if not isinstance(validate, wasmtime.FuncType):
        raise fail(400, 'the module must export a function "validate" (see the plugin ABI)')
    params, results = _kinds(validate.params), _kinds(validate.results)
    if results != ['i32'] or params not in (['i32'] * 2, ['i32'] * 4):
        raise fail(400, f'"validate" must take (i32, i32) or (i32, i32, i32, i32) and return i32; '
                        f'it takes ({", ".join(params)}) and returns ({", ".join(results)})')
    alloc = exports.get('alloc')
    if alloc is not None and (not isinstance(alloc, wasmtime.FuncType) or _kinds(alloc.params) != ['i32']
                              or _kinds(alloc.results) != ['i32']):
        raise fail(400, '"alloc" must take (i32) and return i32')
    return module, 'value' if len(params) == 2 else 'key_value', alloc is not None


def _place(store: Any, exports: Any, memory: Any, has_alloc: bool, parts: list[bytes]) -> list[int]:
    """Write each part into the instance's memory (growing it when there is no `alloc`); their pointers."""
    pointers, offset = [], 0
    for part in parts:
        pointer = exports['alloc'](store, len(part)) if has_alloc else offset
        end = pointer + len(part)
        if pointer < 0 or (has_alloc and end > memory.data_len(store)):
            raise ValueError(f'alloc returned a block outside memory (address {pointer})')
        if end > memory.data_len(store):
            memory.grow(store, -(-(end - memory.data_len(store)) // PAGE))
        memory.write(store, part, pointer)
        pointers.append(pointer)
        offset = end
    return pointers


def run_plugin(state: WasmState, plugin: Loaded, key: str, value: str) -> Verdict:
    """One call in a fresh instance, within the fuel and memory budget."""
    store = wasmtime.Store(state.engine)
    store.set_fuel(FUEL_PER_CALL)
    store.set_limits(memory_size=MEMORY_LIMIT)
    try:
        instance = wasmtime.Instance(store, plugin.module, [])
        exports: Any = instance.exports(store)
        memory = exports['memory']
        parts = [key.encode(), value.encode()] if plugin.meta.abi == 'key_value' else [value.encode()]
        pointers = _place(store, exports, memory, plugin.has_alloc, parts)
        args = [n for pointer, part in zip(pointers, parts, strict=True) for n in (pointer, len(part))]
        code = exports['validate'](store, *args)
        return Verdict(code=int(code), fuel_used=FUEL_PER_CALL - store.get_fuel())
    except (wasmtime.WasmtimeError, wasmtime.Trap, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if 'fuel' in str(exc):
            message = f'ran out of its budget of {FUEL_PER_CALL:,} instructions'
        return Verdict(error=message, fuel_used=FUEL_PER_CALL - store.get_fuel())


# -- the write hook --------------------------------------------------------------------------------
def _refuse(backend, plugin: Loaded, key: str, verdict: Verdict) -> ApiError:
    name = plugin.meta.name
    if verdict.error is not None:
        plugin.meta.errors += 1
        plugin.meta.last_error = f'{key[:200]}: {verdict.error}'
        plugin.failed_last = True
        backend.publish_feature(FEATURE, 'error', {'id': plugin.meta.id, 'name': name, 'key': key[:200],
                                                    'error': verdict.error})
        message = f"WASM plugin '{name}' failed on key '{key[:200]}' ({verdict.error}): nothing was written"
        return ApiError(400, {'error': message, 'message': message, 'plugin': name, 'reason': 'plugin_error'})
    plugin.meta.refused += 1
    plugin.meta.last_refusal = f'{key[:200]}: code {verdict.code}'
    plugin.failed_last = False
    backend.publish_feature(FEATURE, 'refused', {'id': plugin.meta.id, 'name': name, 'key': key[:200],
                                                  'code': verdict.code})
    message = f"value for key '{key[:200]}' refused by WASM plugin '{name}' (code {verdict.code}): nothing was written"
    return ApiError(400, {'error': message, 'message': message, 'plugin': name, 'code': verdict.code,
                          'reason': 'refused'})


def make_guard(backend, state: WasmState):
    """`guard(cf, items)`: every enabled plugin validates every put under its prefix; one refusal refuses all."""
    def guard(_cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        active = [p for p in state.plugins.values() if p.meta.enabled]
        if not active:
            return
        for key, value, _ttl in items:
            if value is None:
                continue
            for plugin in active:
                if not key.startswith(plugin.meta.key_prefix):
                    continue
                plugin.meta.calls += 1
                verdict = run_plugin(state, plugin, key, value)
                if verdict.code != 0:
                    raise _refuse(backend, plugin, key, verdict)
                plugin.meta.accepted += 1
                plugin.failed_last = False
    return guard


# -- routes ----------------------------------------------------------------------------------------
def _plugin(state: WasmState, plugin_id: str) -> Loaded:
    plugin = state.plugins.get(plugin_id) if SAFE_ID.match(plugin_id) else None
    if plugin is None:
        raise fail(404, 'plugin not found')
    return plugin


async def list_plugins(request: Request):
    require(request, Permission.Read)
    state = _state(backend_of(request))
    plugins = sorted(state.plugins.values(), key=lambda p: p.meta.created_at, reverse=True)
    return legacy(f'{len(plugins)} plugins', {'plugins': [p.public() for p in plugins],
                                              'runtime': f'wasmtime {_runtime_version()}',
                                              'fuel_per_call': FUEL_PER_CALL, 'memory_limit': MEMORY_LIMIT})


def _runtime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version('wasmtime')
    except PackageNotFoundError:  # pragma: no cover
        return '?'


async def upload_plugin(request: Request):
    """Validate a module with the runtime (compiled, contract checked, instantiated once) and keep it."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    body = await read_body(request, UploadBody, backend.config.max_body_bytes)
    if not body.filename.lower().endswith('.wasm'):
        raise fail(400, 'please select a .wasm file')
    try:
        data = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise fail(400, 'content_base64 is not valid base64') from None
    module, abi, has_alloc = compile_plugin(state.engine, data)
    name = (body.name or '').strip() or body.filename.rsplit('.', 1)[0]
    meta = WasmPlugin(id=new_id(), name=name, version=body.version.strip(), description=body.description,
                      enabled=body.enabled, size_bytes=len(data), size_kb=round(len(data) / 1024, 1),
                      created_at=backend.now(), filename=body.filename, sha256=hashlib.sha256(data).hexdigest(),
                      key_prefix=body.key_prefix, abi=abi)
    plugin = Loaded(meta, module, has_alloc)
    smoke = run_plugin(state, plugin, '', '')  # instantiates it once: a module that cannot start is refused now
    if smoke.error is not None:
        raise fail(400, f'the module does not run: {smoke.error}')
    write_atomically(state.records.path(meta.id, '.wasm'), data)
    state.records.save(meta.id, meta)
    state.plugins[meta.id] = plugin
    backend.publish_feature(FEATURE, 'uploaded', plugin.public())
    return legacy(f"Plugin '{name}' uploaded", plugin.public())


async def toggle_plugin(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    plugin = _plugin(state, request.path_params['plugin_id'])
    body = await read_body(request, ToggleBody, backend.config.max_body_bytes)
    plugin.meta.enabled = (not plugin.meta.enabled) if body.enabled is None else body.enabled
    plugin.failed_last = False
    state.records.save(plugin.meta.id, plugin.meta)
    backend.publish_feature(FEATURE, 'toggled', plugin.public())
    return legacy(f"Plugin '{plugin.meta.name}' {'enabled' if plugin.meta.enabled else 'disabled'}", plugin.public())


async def delete_plugin(request: Request):
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    plugin = _plugin(state, request.path_params['plugin_id'])
    state.plugins.pop(plugin.meta.id, None)
    state.records.delete(plugin.meta.id, '.wasm')
    backend.publish_feature(FEATURE, 'deleted', {'id': plugin.meta.id, 'name': plugin.meta.name})
    return legacy(f"Plugin '{plugin.meta.name}' deleted")


async def try_plugin(request: Request):
    """Run a plugin on a key and value without writing anything (not counted)."""
    require(request, Permission.Admin)
    backend = backend_of(request)
    state = _state(backend)
    plugin = _plugin(state, request.path_params['plugin_id'])
    body = await read_body(request, TryBody, backend.config.max_body_bytes)
    verdict = run_plugin(state, plugin, body.key, body.value)
    return legacy('Plugin ran', {'accepted': verdict.code == 0, 'code': verdict.code, 'error': verdict.error,
                                 'fuel_used': verdict.fuel_used})


def install(backend) -> None:
    if wasmtime is None:
        log.warning('wasmtime is not installed: WASM plugins are not offered')
        return
    backend.write_guards.append(make_guard(backend, _state(backend)))


routes: list[BaseRoute] = [] if wasmtime is None else [
    Route('/admin/wasm', list_plugins, methods=['GET']),
    Route('/admin/wasm', upload_plugin, methods=['POST']),
    Route('/admin/wasm/{plugin_id}/toggle', toggle_plugin, methods=['POST']),
    Route('/admin/wasm/{plugin_id}/test', try_plugin, methods=['POST']),
    Route('/admin/wasm/{plugin_id}', delete_plugin, methods=['DELETE']),
]
