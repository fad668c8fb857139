"""Values as text, pretty JSON or hex; large values show a preview with "Load all" and "Download"."""

from __future__ import annotations

import json
from collections.abc import Callable

from nicegui import ui

PREVIEW_BYTES = 64 * 1024


def pretty_json(value: str) -> str | None:
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, TypeError):
        return None


def hex_dump(data: bytes, limit: int = PREVIEW_BYTES) -> str:
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset:offset + 16]
        hexes = ' '.join(f'{b:02x}' for b in chunk)
        text = ''.join(chr(b) if 32 <= b < 127 else '.' for b in chunk)
        lines.append(f'{offset:08x}  {hexes:<47}  {text}')
    return '\n'.join(lines)


class ValueViewer:
    def __init__(self, on_download: Callable[[str, bytes], None] | None = None) -> None:
        self.key = ''
        self.value = ''
        self.full = False
        self.on_download = on_download or (lambda name, data: ui.download(data, filename=name))
        with ui.column().classes('w-full gap-1') as self.container:
            with ui.tabs().props('dense align=left') as self.tabs:
                self.text_tab = ui.tab('Text')
                self.json_tab = ui.tab('JSON')
                self.hex_tab = ui.tab('Hex')
            with ui.tab_panels(self.tabs, value=self.text_tab).classes('w-full'):
                with ui.tab_panel(self.text_tab):
                    self.text = ui.code('').classes('w-full max-h-96 overflow-auto').mark('value-text')
                with ui.tab_panel(self.json_tab):
                    self.json = ui.code('', language='json').classes('w-full max-h-96 overflow-auto')
                with ui.tab_panel(self.hex_tab):
                    self.hex = ui.code('').classes('w-full max-h-96 overflow-auto')
            with ui.row().classes('items-center gap-2') as self.large_row:
                self.size_label = ui.label('').classes('text-sm text-gray-500')
                ui.button('Load all', on_click=self.load_all).props('flat dense').mark('load-all')
                ui.button('Download', icon='download', on_click=self.download).props('flat dense')
        self.large_row.set_visibility(False)

    def show(self, key: str, value: str) -> None:
        self.key, self.value, self.full = key, value, False
        self._render()

    def load_all(self) -> None:
        self.full = True
        self._render()

    def download(self) -> None:
        safe = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in self.key)[:80] or 'value'
        self.on_download(f'{safe}.txt', self.value.encode())

    def _render(self) -> None:
        raw = self.value.encode()
        large = len(raw) > PREVIEW_BYTES
        shown = self.value if self.full or not large else raw[:PREVIEW_BYTES].decode(errors='ignore')
        self.text.content = shown
        self.json.content = pretty_json(shown) or '(not valid JSON)'
        self.hex.content = hex_dump(raw if self.full else raw[:PREVIEW_BYTES], len(raw))
        self.large_row.set_visibility(large)
        if large:
            self.size_label.text = (f'{len(raw):,} bytes' + ('' if self.full else
                                    f' — showing the first {PREVIEW_BYTES // 1024} KB'))
