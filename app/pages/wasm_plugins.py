"""`/wasm-plugins`: upload WebAssembly validators the backend runs on every write; enable, disable, try, delete; their
calls, refusals and errors counted live."""

from __future__ import annotations

import time

from nicegui import ui
from nicegui.events import UploadEventArguments

from components.confirm import confirm
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent, KeyChangeEvent
from services.features import wasm_plugins
from services.features.wasm_plugins import MAX_MODULE_BYTES, WasmPlugin

from ..context import PageContext, notify
from ..shell import page

STATUS_COLORS = {'active': 'positive', 'inactive': 'grey', 'error': 'negative'}
ABI = '''A plugin is a WebAssembly module that imports nothing and exports:
  memory                      its linear memory
  validate(ptr, len) -> i32   sees the value's UTF-8 bytes, or
  validate(key_ptr, key_len, value_ptr, value_len) -> i32   sees the key too
  alloc(len) -> i32           optional: where the host should write (else from offset 0)
validate returns 0 to accept; any other number refuses the write (400, nothing written) and is shown as its code.
Every put under the plugin's key prefix is checked (deletes carry no value); each call runs in a fresh instance
with an instruction budget and a memory cap: a trap or an exhausted budget refuses the write too.'''
EXAMPLE = ''';; accepts only values that start with "{" (code 1 otherwise)
(module
  (memory (export "memory") 1)
  (func (export "validate") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 2))))
    (if (i32.ne (i32.load8_u (local.get $ptr)) (i32.const 123)) (then (return (i32.const 1))))
    (i32.const 0)))'''


def uploaded_on(ns: int) -> str:
    return time.strftime('%d/%m/%y', time.localtime(ns / 1e9)) if ns else '—'


def counts_text(plugin: WasmPlugin) -> str:
    return (f'{plugin.calls:,} calls · {plugin.accepted:,} accepted · {plugin.refused:,} refused · '
            f'{plugin.errors:,} errors')


class PluginCard:
    """One plugin's card; `show` patches its texts in place (a write only changes the counters)."""

    def __init__(self, plugin: WasmPlugin, on_toggle, on_try, on_delete) -> None:
        self.id = plugin.id
        with ui.card().classes('w-full gap-1') as self.card:
            with ui.row().classes('w-full items-center justify-between'):
                with ui.row().classes('items-center gap-2'):
                    self.name = ui.label().classes('font-semibold')
                    self.version = ui.label().classes('text-gray-500 text-sm')
                with ui.row().classes('gap-1'):
                    self.status = ui.badge().mark('plugin-status')
                    self.kind = ui.badge(color='purple')
            self.details = ui.label().classes('text-xs text-gray-500')
            self.description = ui.label().classes('text-sm')
            self.counts = ui.label().classes('text-sm').mark('plugin-counts')
            self.refusal = ui.label().classes('text-xs text-warning font-mono').mark('plugin-refusal')
            self.error = ui.label().classes('text-xs text-negative font-mono').mark('plugin-error')
            with ui.row().classes('gap-1'):
                self.toggle = ui.button(on_click=lambda: on_toggle(self.id)).props('flat dense no-caps') \
                    .mark('plugin-toggle')
                ui.button('Try a value', icon='science', on_click=lambda: on_try(self.id)) \
                    .props('flat dense no-caps').mark('plugin-try')
                ui.button('Delete', icon='delete', color='negative', on_click=lambda: on_delete(self.id)) \
                    .props('flat dense no-caps').mark('plugin-delete')
        self.show(plugin)

    def show(self, plugin: WasmPlugin) -> None:
        self.name.text = plugin.name
        self.version.text = f'v{plugin.version}'
        self.status.text = plugin.status.capitalize()
        self.status.props(f'color={STATUS_COLORS.get(plugin.status, "grey")}')
        self.kind.text = plugin.type
        scope = f'keys under {plugin.key_prefix}' if plugin.key_prefix else 'every key'
        abi = 'key and value' if plugin.abi == 'key_value' else 'value'
        self.details.text = (f'{plugin.size_kb:g} KB · {plugin.filename} · checks the {abi} of {scope} · '
                             f'Uploaded {uploaded_on(plugin.created_at)}')
        self.description.text = plugin.description
        self.description.set_visibility(bool(plugin.description))
        self.counts.text = counts_text(plugin)
        self.refusal.text = f'Last refusal: {plugin.last_refusal}' if plugin.last_refusal else ''
        self.error.text = f'Last error: {plugin.last_error}' if plugin.last_error else ''
        self.toggle.text = 'Deactivate' if plugin.enabled else 'Activate'
        self.toggle.props(f'icon={"pause" if plugin.enabled else "play_arrow"}')


@page('/wasm-plugins', 'WASM Plugins')
async def wasm_plugins_page(ctx: PageContext) -> None:
    plugins: dict[str, WasmPlugin] = {}
    cards: dict[str, PluginCard] = {}

    header = PageHeader('WebAssembly plugin manager: value validators the server runs on every write')
    runtime_label = ui.label('').classes('text-xs text-gray-500').mark('wasm-runtime')
    with ui.card().classes('w-full') as upload_card:
        ui.label('Upload Plugin').classes('font-semibold')
        with ui.row().classes('w-full gap-2'):
            name_input = ui.input('Name', placeholder='defaults to the file name').classes('w-56').mark('wasm-name')
            version_input = ui.input('Version', value='1.0.0').classes('w-32').mark('wasm-version')
            prefix_input = ui.input('Key prefix', placeholder='empty: every key').classes('w-56 font-mono') \
                .mark('wasm-prefix')
            description_input = ui.input('Description').classes('grow').mark('wasm-description')
        upload = ui.upload(label='Select a .wasm file', auto_upload=True, max_file_size=MAX_MODULE_BYTES) \
            .props('accept=".wasm" flat bordered').classes('w-full').mark('wasm-upload')
        upload_error = ui.label('').classes('text-negative text-sm').mark('wasm-upload-error')
        with ui.expansion('Plugin ABI', icon='help_outline').classes('w-full'):
            ui.label(ABI).classes('text-sm whitespace-pre-wrap font-mono')
            ui.code(EXAMPLE, language='wasm').classes('w-full')
            ui.label('Compile text (.wat) to .wasm first, e.g. with wasmtime.wat2wasm or wat2wasm from wabt.') \
                .classes('text-xs text-gray-500')
    with ui.card().classes('w-full'):
        with ui.row().classes('items-center gap-2'):
            ui.label('Plugins').classes('font-semibold')
            count_badge = ui.badge('0').mark('wasm-count')
        state = StatePanel('wasm-state')
        grid = ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-2 gap-3') \
            .mark('wasm-grid')

    def draw() -> None:
        for plugin_id in [i for i in cards if i not in plugins]:
            grid.remove(cards.pop(plugin_id).card)
        for plugin in sorted(plugins.values(), key=lambda p: p.created_at, reverse=True):
            if plugin.id in cards:
                cards[plugin.id].show(plugin)
            else:
                with grid:
                    cards[plugin.id] = PluginCard(plugin, toggle, try_value, delete)
        count_badge.text = str(len(plugins))
        state.settle(bool(plugins), 'No plugins yet: upload a .wasm validator.')

    async def reload() -> None:
        with ctx.errors(state=state, feature='WASM plugins') as outcome:
            listing = await wasm_plugins.plugins(ctx.api)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                upload_card.set_visibility(False)
                grid.set_visibility(False)
            return
        plugins.clear()
        plugins.update({p.id: p for p in listing.plugins})
        if listing.runtime:
            runtime_label.text = (f'Runtime: {listing.runtime} · per call: {listing.fuel_per_call or 0:,} '
                                  f'instructions, {(listing.memory_limit or 0) // (1024 * 1024)} MB of memory')
        header.stamp()
        draw()

    refresher = ctx.refresher(reload, frame=0.5, burst_frame=2.0)  # a REST refetch: counters move with writes

    async def on_upload(event: UploadEventArguments) -> None:
        upload.reset()
        filename = event.file.name
        if not filename.lower().endswith('.wasm'):
            upload_error.text = 'Please select a .wasm file'
            notify('Please select a .wasm file', 'warning')
            return
        data = await event.file.read()
        with ctx.errors() as outcome:
            plugin = await wasm_plugins.upload(
                ctx.api, filename, data, name=(name_input.value or '').strip(),
                version=(version_input.value or '').strip(), description=description_input.value or '',
                key_prefix=prefix_input.value or '')
        if outcome.failed:
            upload_error.text = outcome.error.message if outcome.error else 'Upload failed'
            return
        upload_error.text = ''
        name_input.value = description_input.value = prefix_input.value = ''
        notify(f'Plugin "{plugin.name}" uploaded and active', 'success')
        plugins[plugin.id] = plugin
        draw()

    async def toggle(plugin_id: str) -> None:
        plugin = plugins.get(plugin_id)
        if plugin is None:
            return
        with ctx.errors() as outcome:
            updated = await wasm_plugins.set_enabled(ctx.api, plugin_id, not plugin.enabled)
        if not outcome.failed:
            notify(f'Plugin "{updated.name}" {"activated" if updated.enabled else "deactivated"}', 'success')
            plugins[plugin_id] = updated
            draw()

    async def delete(plugin_id: str) -> None:
        plugin = plugins.get(plugin_id)
        if plugin is None or not await confirm(
                'Delete plugin', f'Delete the plugin "{plugin.name}"? Writes are no longer checked by it.'):
            return
        with ctx.errors(success=f'Plugin "{plugin.name}" deleted') as outcome:
            await wasm_plugins.delete(ctx.api, plugin_id)
        if not outcome.failed:
            plugins.pop(plugin_id, None)
            draw()

    async def try_value(plugin_id: str) -> None:
        plugin = plugins.get(plugin_id)
        if plugin is None:
            return
        with ui.dialog() as dialog, ui.card().classes('min-w-[28rem]'):
            ui.label(f'Try "{plugin.name}"').classes('text-lg font-semibold')
            ui.label('Runs the plugin on a key and value; nothing is written and nothing is counted.') \
                .classes('text-sm text-gray-500')
            key = ui.input('Key', value=plugin.key_prefix).classes('w-full font-mono').mark('try-key')
            value = ui.textarea('Value').classes('w-full font-mono').mark('try-value')
            verdict = ui.label('').mark('try-result')

            async def run() -> None:
                with ctx.errors() as outcome:
                    result = await wasm_plugins.try_value(ctx.api, plugin_id, key.value or '', value.value or '')
                if outcome.failed:
                    return
                if result.error:
                    verdict.text = f'Error: {result.error}'
                else:
                    verdict.text = 'Accepted' if result.accepted else f'Refused (code {result.code})'
                verdict.text += f' · {result.fuel_used:,} instructions'

            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=dialog.close).props('flat')
                ui.button('Run', icon='play_arrow', on_click=run).mark('try-run')
            key.on('keydown.enter', run)
        dialog.on('hide', dialog.delete)
        dialog.open()

    def on_feature(event: FeatureEvent) -> None:
        if event.feature == 'wasm':  # uploads, toggles, deletes, refusals and errors by any client
            refresher.mark()

    def on_rejected() -> None:
        upload_error.text = (f'The module is larger than {MAX_MODULE_BYTES / (1024 * 1024):.1f} MB: a plugin travels '
                             'as base64 in one JSON request, which the server caps at 2 MiB')
        notify(upload_error.text, 'warning')

    upload.on_upload(on_upload)
    upload.on_rejected(on_rejected)
    header.button.on_click(reload)
    ctx.on(FeatureEvent, on_feature)
    ctx.on(KeyChangeEvent, lambda _event: refresher.mark() if plugins else None)  # accepted writes move counters
    ctx.on_resync(reload)
    state.loading()
    await reload()
