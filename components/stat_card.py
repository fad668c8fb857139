"""Stat card (Angular `app-stat-card`): icon, label, value, optional sub line."""

from __future__ import annotations

from nicegui import ui


class StatCard:
    def __init__(self, icon: str, label: str, marker: str) -> None:
        with ui.card().classes('stat-card min-w-[12rem] grow').mark(marker):
            with ui.row().classes('items-center no-wrap gap-3'):
                ui.icon(icon, size='md').classes('text-primary')
                with ui.column().classes('gap-0'):
                    ui.label(label).classes('text-xs uppercase tracking-wide text-gray-500')
                    self.value = ui.label('—').classes('text-xl font-semibold')
                    self.sub = ui.label('').classes('text-xs text-gray-500')

    def set(self, value: str, sub: str = '') -> None:
        self.value.text = value
        self.sub.text = sub
