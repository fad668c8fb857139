"""The line under a page title: what the page is for, when it was last refreshed, and its action."""

from __future__ import annotations

from nicegui import ui

from .clock import clock_time


class PageHeader:
    def __init__(self, subtitle: str, action: str = 'Refresh', icon: str = 'refresh', marker: str = 'refresh') -> None:
        with ui.row().classes('w-full items-center justify-between'):
            ui.label(subtitle).classes('text-gray-500')
            with ui.row().classes('items-center gap-2'):
                self.last = ui.badge('Last: —', color='grey').mark('last-refresh')
                self.button = ui.button(action, icon=icon).props('flat').mark(marker)

    def stamp(self) -> None:
        self.last.text = f'Last: {clock_time()}'
