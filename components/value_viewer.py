"""Values as text, pretty JSON or hex; large values show a preview with "Load all" and "Download".

A stored value is data, never markup: it is shown in a `<pre>` as a text node (`TextBlock`). `ui.code`
would not do: it wraps its content in a Markdown code fence, so a value holding "```" ends the fence
and the rest renders as HTML (DOMPurify keeps `<form>` and remote `<img>`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Self

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement
from nicegui.events import GenericEventArguments, Handler

PREVIEW_BYTES = 64 * 1024

# What the browser may send in one socket message: engineio's `max_http_buffer_size`, which NiceGUI leaves
# at its default of 1,000,000 bytes. A bigger message (a pasted 10 MB value) is dropped by the server, so a
# text box's value travels only while it is well under that; larger values go through an upload (HTTP).
SOCKET_MESSAGE_BYTES = 1_000_000
MAX_TYPED_BYTES = 512 * 1024
_DEFAULT_JS = '(...args) => emit(...args)'


def pretty_json(value: str) -> str | None:
    return parse_json(value)[0]


def parse_json(value: str) -> tuple[str | None, str | None]:
    """(the value pretty-printed, None) or (None, why it is not JSON): always the whole value, never a preview."""
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False), None
    except ValueError as exc:
        return None, str(exc)
    except RecursionError:
        return None, 'nested too deeply to show'


def is_binary(value: str) -> bool:
    """Text that came from bytes that are not UTF-8 (replacement characters) or holds control characters."""
    sample = value[:4096]
    return '\ufffd' in sample or any(ord(c) < 32 and c not in '\t\n\r' for c in sample)


def encoding_of(value: str) -> str:
    return 'binary' if is_binary(value) else 'UTF-8'


def hex_dump(data: bytes, limit: int = PREVIEW_BYTES) -> str:
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset:offset + 16]
        hexes = ' '.join(f'{b:02x}' for b in chunk)
        text = ''.join(chr(b) if 32 <= b < 127 else '.' for b in chunk)
        lines.append(f'{offset:08x}  {hexes:<47}  {text}')
    return '\n'.join(lines)


def cut(text: str, limit: int) -> str:
    """The first `limit` bytes of `text`, never splitting a character."""
    return text.encode()[:limit].decode(errors='ignore')


class TextBlock(TextElement):
    """Preformatted text that the browser shows as text (a Vue text node): no Markdown, no HTML."""

    def __init__(self, content: str = '') -> None:
        super().__init__(tag='pre', text=content)
        self.classes('w-full whitespace-pre-wrap break-all font-mono text-sm p-2 rounded bg-gray-500/10 m-0')

    @property
    def content(self) -> str:
        return str(self.text or '')

    @content.setter
    def content(self, value: str) -> None:
        self.text = value


class ValueInput(ui.textarea):
    """A text box that never loses what it cannot send.

    The browser sends the box's value over the socket on every change; past the socket's message limit
    the server drops it and keeps the old value, so a form would write that one and report success.
    Here the browser measures the value first: up to `max_bytes` it is sent; above, only its size is, and
    `unsent_bytes` tells the page to refuse (the text stays in the browser for the user to shorten or save).
    """

    def __init__(self, label: str, *, placeholder: str | None = None, max_bytes: int = MAX_TYPED_BYTES) -> None:
        self.max_bytes = max_bytes
        self.unsent_bytes: int | None = None
        super().__init__(label, placeholder=placeholder)

    def on(self,
           type: str,  # noqa: A002 (NiceGUI's name)
           handler: Handler[GenericEventArguments] | None = None,
           args: None | Sequence[str] | Sequence[Sequence[str] | None] = None,
           *,
           throttle: float = 0.0,
           leading_events: bool = True,
           trailing_events: bool = True,
           js_handler: str = _DEFAULT_JS,
           ) -> Self:
        if type == f'update:{self.VALUE_PROP}' and js_handler == _DEFAULT_JS:
            js_handler = ('(value) => { const size = new TextEncoder().encode(JSON.stringify(value ?? "")).length;'
                          f' emit(size > {self.max_bytes} ? {{unsent_bytes: size}} : value); }}')
        return super().on(type, handler, args, throttle=throttle, leading_events=leading_events,
                          trailing_events=trailing_events, js_handler=js_handler)

    def _event_args_to_value(self, e: GenericEventArguments) -> Any:
        if isinstance(e.args, dict) and 'unsent_bytes' in e.args:
            self.unsent_bytes = int(e.args['unsent_bytes'])
            return self.value  # the server keeps what it had; the page must not write it as if it were new
        self.unsent_bytes = None
        return super()._event_args_to_value(e)

    def too_large_message(self, what: str, instead: str = 'load it from a file instead (up to 2 MiB)') -> str | None:
        """Why the page must not write this box's value (None: what the server holds is what the user sees)."""
        if self.unsent_bytes is None:
            return None
        return (f'{what} is {self.unsent_bytes:,} bytes: more than a text box can send ({self.max_bytes // 1024} KB). '
                f'Nothing was written; {instead}.')


class ValueViewer:
    def __init__(self, on_download: Callable[[str, bytes], None] | None = None) -> None:
        self.key = ''
        self.value = ''
        self.full = False
        self.pretty: str | None = None
        self.json_problem: str | None = None
        self.on_download = on_download or (lambda name, data: ui.download(data, filename=name))
        with ui.column().classes('w-full gap-1') as self.container:
            with ui.tabs().props('dense align=left') as self.tabs:
                self.text_tab = ui.tab('Text')
                self.tree_tab = ui.tab('Tree')
                self.json_tab = ui.tab('JSON')
                self.hex_tab = ui.tab('Hex')
            with ui.tab_panels(self.tabs, value=self.text_tab).classes('w-full') as self.panels:
                with ui.tab_panel(self.text_tab):
                    self.text = self._block('value-text')
                with ui.tab_panel(self.tree_tab):
                    self.tree_note = ui.label('').classes('text-sm text-gray-500').mark('value-tree-note')
                    self.tree = ui.json_editor({'content': {'json': None}, 'readOnly': True, 'mode': 'tree',
                                                'mainMenuBar': False, 'navigationBar': False}) \
                        .classes('w-full max-h-96').props('data-testid=value-tree').mark('value-tree')
                with ui.tab_panel(self.json_tab):
                    self.json = self._block('value-json')
                with ui.tab_panel(self.hex_tab):
                    self.hex = self._block('value-hex')
            with ui.row().classes('items-center gap-2') as self.large_row:
                self.size_label = ui.label('').classes('text-sm text-gray-500').mark('value-truncated')
                ui.button('Load all', on_click=self.load_all).props('flat dense').mark('load-all')
                ui.button('Download', icon='download', on_click=self.download).props('flat dense')
        self.large_row.set_visibility(False)

    @staticmethod
    def _block(marker: str) -> TextBlock:
        block = TextBlock()
        block.classes('max-h-96 overflow-auto').mark(marker)
        return block

    def show(self, key: str, value: str, *, pick_tab: bool = True) -> None:
        self.key, self.value, self.full = key, value, False
        self.pretty, self.json_problem = parse_json(value)
        self._render()
        if pick_tab:  # JSON opens as a tree, binary as hex, the rest as text
            tab = self.tree_tab if self.is_structured else self.hex_tab if is_binary(value) else self.text_tab
            self.panels.value = tab

    @property
    def is_structured(self) -> bool:
        return self.pretty is not None and self.pretty[:1] in '{['

    @property
    def tree_data(self) -> Any:
        return self.tree.properties['content'].get('json')

    def load_all(self) -> None:
        self.full = True
        self._render()

    def download(self) -> None:
        safe = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in self.key)[:80] or 'value'
        self.on_download(f'{safe}.txt', self.value.encode())

    def _render(self) -> None:
        raw = self.value.encode()
        large = len(raw) > PREVIEW_BYTES
        self.text.content = self.value if self.full or not large else cut(self.value, PREVIEW_BYTES)
        self.json.content = self._json_text()
        self.hex.content = hex_dump(raw if self.full else raw[:PREVIEW_BYTES], len(raw))
        self.large_row.set_visibility(large)
        if large:
            self.size_label.text = (f'{len(raw):,} bytes' + ('' if self.full else
                                    f' — showing the first {PREVIEW_BYTES // 1024} KB (preview truncated — load all)'))
        self._render_tree(large)

    def _render_tree(self, large: bool) -> None:
        """A foldable tree of the whole JSON value; a large one only after "Load all" (never a cut tree)."""
        data = json.loads(self.value) if self.is_structured and (self.full or not large) else None
        if self.pretty is None:
            note = f'(not valid JSON: {self.json_problem})'
        elif not self.is_structured:
            note = 'A JSON scalar: see the JSON tab.'
        elif data is None:
            note = 'Large JSON: Load all shows it as a tree.'
        else:
            note = ''
        self.tree_note.text = note
        self.tree_note.set_visibility(bool(note))
        self.tree.set_visibility(data is not None)
        if self.tree.properties['content'].get('json') != data:
            self.tree.properties['content'] = {'json': data}
            self.tree.update()

    def _json_text(self) -> str:
        """Validity is decided on the whole value; only the shown text is cut to the preview."""
        if self.pretty is None:
            return f'(not valid JSON: {self.json_problem})'
        pretty = self.pretty
        if self.full or len(pretty.encode()) <= PREVIEW_BYTES:
            return pretty
        return cut(pretty, PREVIEW_BYTES) + '\n… (valid JSON; preview truncated — Load all shows the rest)'

