"""A bounded feed of the latest changes, newest first; every string rendered as text."""

from __future__ import annotations

import time
from collections import deque

from nicegui import ui


class ChangeFeed:
    def __init__(self, limit: int = 50, marker: str = 'change-feed') -> None:
        self.items: deque[tuple[str, str, str, str]] = deque(maxlen=limit)
        self.container = ui.column().classes('w-full gap-1 max-h-72 overflow-y-auto').mark(marker)
        self.empty_text = 'Waiting for changes…'
        self.render()

    def add(self, kind: str, subject: str, detail: str = '', at: float | None = None) -> None:
        self.items.appendleft((time.strftime('%H:%M:%S', time.localtime(at or time.time())), kind, subject, detail))

    def render(self) -> None:
        self.container.clear()
        with self.container:
            if not self.items:
                ui.label(self.empty_text).classes('text-gray-500 text-sm')
            for stamp, kind, subject, detail in self.items:
                with ui.row().classes('w-full no-wrap items-center gap-2 text-sm'):
                    ui.label(stamp).classes('font-mono text-gray-500')
                    ui.badge(kind, color={'put': 'positive', 'delete': 'negative'}.get(kind, 'info'))
                    ui.label(subject).classes('font-mono truncate')
                    if detail:
                        ui.label(detail).classes('text-gray-500 truncate')
