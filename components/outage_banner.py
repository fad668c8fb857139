"""The page-wide banner that says the server is gone, what the console is doing, and what to do."""

from __future__ import annotations

import time
from collections.abc import Callable

from nicegui import ui

from services.events.models import ConnectionStatus

OUTAGE_STATES = ('reconnecting', 'disconnected')


def outage_text(status: ConnectionStatus, now: float | None = None) -> str | None:
    """The banner's words for a status, or None while the server is reachable."""
    if status.state not in OUTAGE_STATES or (status.state == 'disconnected' and not status.last_failure):
        return None
    now = now or time.time()
    retry = ''
    if status.state == 'reconnecting' and status.next_retry_at:
        retry = f' Next attempt in {max(0, round(status.next_retry_at - now))} s.'
    cause = f' ({status.last_failure})' if status.last_failure else ''
    notice = f' {status.notice}' if status.notice else ''
    return (f'The ApexStore server cannot be reached{cause}. Live updates are paused and the page\'s actions are '
            f'disabled until it is back; the console keeps trying and catches up on its own.{retry}{notice} '
            'Check that the server is running, then press Reconnect now.')


class OutageBanner:
    """Hidden while connected, built the first time it is needed (most tabs never need it: memory per tab);
    knows nothing about the backend (it is told the status)."""

    def __init__(self, on_reconnect: Callable[[], None], content: ui.element | None = None) -> None:
        self.content = content  # its buttons are disabled (with the banner as the reason) while the server is gone
        self.on_reconnect = on_reconnect
        self.slot = ui.element('div').classes('w-full').mark('outage-slot')
        self.row: ui.row | None = None
        self.label: ui.label | None = None
        self.down = False

    def _build(self) -> tuple[ui.row, ui.label]:
        with self.slot:
            with ui.row().classes('w-full items-center gap-3 px-4 py-2 bg-negative text-white no-wrap') \
                    .props('role=alert') as row:
                ui.icon('cloud_off').props('aria-hidden=true')
                label = ui.label('').classes('grow text-sm').mark('outage-text')
                ui.button('Reconnect now', on_click=self.on_reconnect).props('flat dense no-caps color=white') \
                    .mark('outage-reconnect')
        row.mark('outage-banner')
        self.row, self.label = row, label
        return row, label

    def show(self, status: ConnectionStatus) -> None:
        text = outage_text(status)
        if text is None:
            if self.down and self.row is not None:
                self.down = False
                self.row.set_visibility(False)
                self._disable_content(False)
            return
        row, label = (self.row, self.label) if self.row is not None and self.label is not None else self._build()
        if label.text != text:
            label.text = text
        if not self.down:
            self.down = True
            row.set_visibility(True)
            self._disable_content(True)

    def _disable_content(self, down: bool) -> None:
        if self.content is None:
            return
        if down:
            self.content.classes(add='backend-down')
            self.content.props('aria-disabled=true')
        else:
            self.content.classes(remove='backend-down')
            self.content.props(remove='aria-disabled')
