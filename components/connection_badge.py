"""The connection badge: state in words, age of the last event, details and "Reconnect now"."""

from __future__ import annotations

import time
from collections.abc import Callable

from nicegui import ui

from services.events.models import ConnectionStatus

from .lifecycle import when_connected

WORDS = {
    'connected': ('Live', 'positive', 'bolt'),
    'connecting': ('Connecting', 'info', 'sync'),
    'reconnecting': ('Reconnecting', 'warning', 'sync_problem'),
    'fallback_sse': ('SSE fallback', 'warning', 'stream'),
    'fallback_polling': ('Polling', 'warning', 'schedule'),
    'auth_failed': ('Auth failed', 'negative', 'lock'),
    'disconnected': ('Offline', 'grey', 'cloud_off'),
}


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return 'no events yet'
    if seconds < 5:
        return 'just now'
    if seconds < 120:
        return f'{int(seconds) // 5 * 5}s ago'  # 5 s steps: the badge changes at most every 5 s
    if seconds < 7200:
        return f'{int(seconds // 60)}m ago'
    return f'{int(seconds // 3600)}h ago'


def badge_text(status: ConnectionStatus, now: float | None = None) -> str:
    now = now or time.time()
    words = WORDS[status.state][0]
    if status.state == 'reconnecting' and status.next_retry_at:
        words = f'Reconnecting in {max(0, round(status.next_retry_at - now))}s'
    last = None if status.last_event_at is None else now - status.last_event_at
    return f'{words} · {age_text(last)}'


class ConnectionBadge:
    """Knows nothing about the backend: it shows a status and calls `on_reconnect`."""

    def __init__(self, on_reconnect: Callable[[], None],
                 current: Callable[[], ConnectionStatus] | None = None) -> None:
        self.status = ConnectionStatus()
        self.on_reconnect = on_reconnect
        self.current = current  # the live status (age of the last event), read as the badge ticks
        self.button = ui.button(on_click=self.open_details).props('flat dense no-caps rounded') \
            .classes('connection-badge').mark('connection-badge')
        self.button.props('data-testid=connection-status')
        self.dialog = ui.dialog()
        self._shown = ('', '')
        when_connected(self.button, lambda: ui.timer(1.0, self.tick))  # the age ticks locally; nothing is fetched

    def show(self, status: ConnectionStatus) -> None:
        self.status = status
        self.refresh()
        if self.dialog.value:
            self._fill_details()

    def tick(self) -> None:
        if self.current is not None:
            self.status = self.current()
        self.refresh()

    def refresh(self) -> None:
        """Send only what changed: an idle tab's badge costs one small update every few seconds."""
        words, color, icon = WORDS[self.status.state]
        text = badge_text(self.status)
        if text != self._shown[0]:
            self.button.text = text
        if self.status.state != self._shown[1]:
            self.button.props(f'icon={icon} color={color} data-status={self.status.state}')
        self._shown = (text, self.status.state)

    def open_details(self) -> None:
        self._fill_details()
        self.dialog.open()

    def _fill_details(self) -> None:
        status = self.status
        counters = status.counters
        self.dialog.clear()
        with self.dialog, ui.card().classes('min-w-[22rem]'):
            ui.label('Live connection').classes('text-lg font-semibold')
            rows = [
                ('State', WORDS[status.state][0]),
                ('Transport', status.transport or '—'),
                ('Server dialect', {'extended': 'ApexStore + live extensions', 'cdc': 'ApexStore CDC'}.get(
                    status.dialect or '', '—')),
                ('Reconnect attempts', str(status.attempt)),
                ('Last failure', status.last_failure or '—'),
                ('Not watched', status.notice or '—'),
                ('Events received', f'{counters.received:,}'),
                ('Dropped by slow views', f'{counters.dropped:,}'),
                ('Malformed frames ignored', f'{counters.malformed:,}'),
                ('Resyncs', f'{counters.resyncs:,}'),
                ('Credential', status.credential_id),
            ]
            with ui.grid(columns=2).classes('gap-x-6 gap-y-1'):
                for label, value in rows:
                    ui.label(label).classes('text-gray-500')
                    ui.label(value).mark(f'detail-{label.lower().replace(" ", "-")}')
            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=self.dialog.close).props('flat')
                ui.button('Reconnect now', icon='refresh', on_click=self._reconnect)

    def _reconnect(self) -> None:
        self.on_reconnect()
        ui.notify('Reconnecting…', type='info', position='bottom-right')
