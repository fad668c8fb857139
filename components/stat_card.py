"""Stat card (Angular `app-stat-card`): icon, label, value, optional sub line.

One element with a small Vue template instead of seven NiceGUI elements (card, row, icon, column, three
labels): each element costs the server ~2 KB per open tab, and the dashboard shows four of these. New
numbers go to the browser as a delta (`show`); the props carry them only when the element itself is sent.
"""

from __future__ import annotations

from typing import Any

from nicegui.element import Element


class StatCard(Element, component='stat_card.js'):
    def __init__(self, icon: str, label: str, marker: str) -> None:
        super().__init__()
        self._value, self._sub = '—', ''
        self._props.update(icon=icon, label=label, value=self._value, sub=self._sub)
        self.classes('stat-card min-w-[12rem] grow').mark(marker)

    @property
    def value(self) -> str:
        return self._value

    @property
    def sub(self) -> str:
        return self._sub

    def set(self, value: str, sub: str = '') -> None:
        """New numbers; nothing is sent when they did not change (stats are re-read once a second)."""
        if (value, sub) != (self._value, self._sub):
            self._value, self._sub = value, sub
            if self.client.has_socket_connection:
                self.run_method('show', value, sub)
            else:  # still being built or connecting: the element goes out whole, with these numbers
                self.update()

    def _to_dict(self) -> dict[str, Any]:
        """When the element itself is sent (first render, a reconnect), it starts from the latest numbers."""
        with self._props.suspend_updates():
            self._props['value'], self._props['sub'] = self._value, self._sub
        return super()._to_dict()
