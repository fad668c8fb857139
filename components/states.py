"""Loading, empty, error and "not offered by this server" states, one look for every page."""

from __future__ import annotations

from nicegui import ui


class StatePanel:
    """One slot that shows whichever state a section is in (or nothing, when content is shown)."""

    def __init__(self, marker: str) -> None:
        self.container = ui.column().classes('w-full items-center py-6 gap-2').mark(marker)
        self.container.set_visibility(False)

    def _show(self, icon: str, text: str, classes: str = 'text-gray-500') -> None:
        self.container.clear()
        with self.container:
            ui.icon(icon, size='lg').classes(classes)
            ui.label(text).classes(f'{classes} text-center')
        self.container.set_visibility(True)

    def loading(self, text: str = 'Loading…') -> None:
        self.container.clear()
        with self.container:
            ui.spinner(size='lg')
            ui.label(text).classes('text-gray-500')
        self.container.set_visibility(True)

    def empty(self, text: str) -> None:
        self._show('inbox', text)

    def error(self, text: str) -> None:
        self._show('error_outline', text, 'text-negative')

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
