"""Stat card (Angular `app-stat-card`): icon, label, value, optional sub line.

One element with a small Vue template instead of seven NiceGUI elements (card, row, icon, column, three
labels): each element costs the server ~2 KB per open tab, and the dashboard shows four of these.
"""

from __future__ import annotations

from nicegui.element import Element


class StatCard(Element, component='stat_card.js'):
    def __init__(self, icon: str, label: str, marker: str) -> None:
        super().__init__()
        self._props.update(icon=icon, label=label, value='—', sub='')
        self.classes('stat-card min-w-[12rem] grow').mark(marker)

    @property
    def value(self) -> str:
        return str(self._props['value'])

    @property
    def sub(self) -> str:
        return str(self._props['sub'])

    def set(self, value: str, sub: str = '') -> None:
        """New numbers; nothing is sent when they did not change (stats are re-read once a second)."""
        if (value, sub) != (self.value, self.sub):
            self._props['value'], self._props['sub'] = value, sub
            self.update()
