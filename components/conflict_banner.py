""""Changed by another client": the notice shown over an open editor, with reload / keep-mine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui


class ConflictBanner:
    def __init__(self, on_reload: Callable[[], Any], on_keep: Callable[[], Any] | None = None) -> None:
        with ui.row().classes('w-full items-center gap-2 p-2 rounded bg-amber-500/15') as self.row:
            self.text = ui.label('').classes('grow').mark('conflict-text')
            ui.button('Reload', icon='refresh', on_click=on_reload).props('flat dense').mark('conflict-reload')
            ui.button('Keep mine', on_click=lambda: self._keep(on_keep)).props('flat dense').mark('conflict-keep')
        self.row.set_visibility(False)

    def show(self, what: str, thing: str = 'key') -> None:
        self.text.text = (f'This {thing} was {what} by another client. Reload to see the new version, '
                          'or keep yours (Save would overwrite it).')
        self.row.set_visibility(True)

    def hide(self) -> None:
        self.row.set_visibility(False)

    def _keep(self, on_keep: Callable[[], Any] | None) -> None:
        self.hide()
        if on_keep is not None:
            on_keep()
