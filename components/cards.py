"""Action card header as in the Angular pages: an HTTP-method badge and a title."""

from __future__ import annotations

from nicegui import ui

METHOD_COLORS = {'GET': 'info', 'POST': 'positive', 'PUT': 'positive', 'DELETE': 'negative'}


def card_header(method: str, title: str) -> None:
    with ui.row().classes('items-center gap-2'):
        ui.badge(method, color=METHOD_COLORS.get(method, 'grey'))
        ui.label(title).classes('font-semibold')
