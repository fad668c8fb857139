"""Confirmation dialogs for destructive actions (optionally: type a word to confirm)."""

from __future__ import annotations

from nicegui import ui


async def confirm(title: str, message: str, *, action: str = 'Delete', typed: str | None = None) -> bool:
    """True when the user confirmed. With `typed`, the button stays disabled until it is typed."""
    with ui.dialog() as dialog, ui.card().classes('min-w-[24rem]'):
        ui.label(title).classes('text-lg font-semibold')
        ui.label(message).classes('whitespace-pre-wrap')
        typed_input = None
        if typed:
            ui.label(f'Type "{typed}" to confirm.').classes('text-sm text-gray-500')
            typed_input = ui.input(placeholder=typed).props('autofocus').mark('confirm-typed')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('flat')
            go = ui.button(action, color='negative', on_click=lambda: dialog.submit(True)).mark('confirm-button')
        if typed_input is not None:
            go.bind_enabled_from(typed_input, 'value', backward=lambda v: (v or '').strip() == typed)
            typed_input.on('keydown.enter', lambda: dialog.submit(True) if typed_input.value.strip() == typed
                           else None)
    result = await dialog
    dialog.delete()
    return bool(result)
