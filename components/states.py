"""Loading, empty, error and "not offered by this server" states, one look for every page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

Retry = Callable[[], Awaitable[Any] | Any]


class StatePanel:
    """One slot that shows whichever state a section is in (or nothing, when content is shown)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.container = ui.column().classes('w-full items-center py-6 gap-2').mark(marker)
        self.container.set_visibility(False)

    def _show(self, icon: str, text: str, classes: str = 'text-gray-500', retry: Retry | None = None) -> None:
        self.container.clear()
        with self.container:
            ui.icon(icon, size='lg').classes(classes).props('aria-hidden=true')
            ui.label(text).classes(f'{classes} text-center')
            if retry is not None:
                ui.button('Retry', icon='refresh', on_click=retry).props('flat no-caps').mark(f'{self.marker}-retry')
        self.container.set_visibility(True)

    def loading(self, text: str = 'Loading…') -> None:
        self.container.clear()
        with self.container:
            ui.spinner(size='lg')
            ui.label(text).classes('text-gray-500')
        self.container.set_visibility(True)

    def empty(self, text: str) -> None:
        self._show('inbox', text)

    def error(self, text: str, retry: Retry | None = None) -> None:
        """The error where the content would be, with a Retry button when the section can load again."""
        self._show('error_outline', text, 'text-negative', retry)

    def not_offered(self, feature: str) -> None:
        self._show('extension_off', f'{feature} is not offered by this server. '
                   'The connected ApexStore does not have this route; nothing is wrong with your data.')

    def settle(self, has_content: bool, empty_text: str) -> None:
        """After a load: nothing in the way when there is content, the empty message when there is none."""
        if has_content:
            self.hide()
        else:
            self.empty(empty_text)

    def hide(self) -> None:
        self.container.clear()
        self.container.set_visibility(False)
