"""`/server-config`: every server setting with its effective value and origin; mutable ones edited inline, live."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from nicegui import ui

from components.confirm import confirm
from components.page_header import PageHeader
from components.states import StatePanel
from services.api import ApiError, AuthFailed, NotOffered
from services.events.models import FeatureEvent
from services.features.server_config import ConfigEntry, server_config, update_setting

from ..context import PageContext, notify
from ..shell import page

SOURCE_COLORS = {'default': 'grey', 'cli': 'info', 'env': 'purple', 'runtime': 'primary'}
TYPE_COLORS = {'string': 'grey-7', 'number': 'info', 'boolean': 'positive', 'json': 'purple'}


@dataclass
class SettingRow:
    """One setting's elements, patched in place when the server's value changes."""
    entry: ConfigEntry
    container: ui.element
    value_label: ui.label | None
    editor: ui.input | ui.select | None
    source_badge: ui.badge
    error: ui.label
    searchable: str

    def dirty(self) -> bool:
        """The person changed the editor and has not saved yet: never overwrite that."""
        return self.editor is not None and str(self.editor.value or '') != self.entry.value

    def show(self, entry: ConfigEntry) -> None:
        was_dirty = self.dirty()
        self.entry = entry
        if self.value_label is not None:
            self.value_label.text = entry.value
        if self.editor is not None and not was_dirty:
            self.editor.value = entry.value
        self.source_badge.text = entry.source_label
        self.source_badge.props(f'color={SOURCE_COLORS.get(entry.source, "grey")}')


def hint(entry: ConfigEntry) -> str:
    """What a change must respect, in one line under the description."""
    parts = []
    if entry.mutable:
        if entry.min is not None and entry.max is not None:
            parts.append(f'{entry.min:g} – {entry.max:g}{" " + entry.unit if entry.unit else ""}')
        elif entry.unit:
            parts.append(entry.unit)
        if entry.applies:
            parts.append(f'applies {entry.applies}')
    elif entry.how_to_set:
        parts.append(f'read-only: {entry.how_to_set}')
    if entry.default:
        parts.append(f'default {entry.default}')
    return ' · '.join(parts)


@page('/server-config', 'Server Config')
async def server_config_page(ctx: PageContext) -> None:
    rows: dict[str, SettingRow] = {}
    group_cards: dict[str, ui.card] = {}
    header = PageHeader('View and manage server configuration parameters')
    with ui.row().classes('w-full items-center gap-2'):
        search = ui.input(placeholder='Search by key, description, or group...').props('dense clearable') \
            .classes('grow').mark('config-filter')
        count_badge = ui.badge('0').mark('config-count')
    with ui.row().classes('items-center gap-2 text-sm text-gray-500'):
        ui.label('Where a value comes from:')
        for source, label in (('default', 'Default'), ('cli', 'Start-up flag'), ('env', 'Environment'),
                              ('runtime', 'Changed at runtime')):
            ui.badge(label, color=SOURCE_COLORS[source])
        ui.label('Runtime changes last until the server restarts.')
    state = StatePanel('config-state')
    groups = ui.column().classes('w-full gap-4').mark('config-groups')

    def apply_filter() -> None:
        needle = (search.value or '').strip().lower()
        visible = 0
        for row in rows.values():
            shown = not needle or needle in row.searchable
            row.container.set_visibility(shown)
            visible += shown
        for group, card in group_cards.items():
            card.set_visibility(any(r.container.visible for r in rows.values() if r.entry.group == group))
        count_badge.text = str(visible) if not needle else f'{visible} of {len(rows)}'
        if rows and not visible:
            state.empty(f'No setting matches "{search.value}".')
        elif rows:
            state.hide()

    async def save(key: str) -> None:
        row = rows[key]
        if row.editor is None:
            return
        value = str(row.editor.value if row.editor.value is not None else '').strip()
        row.error.set_visibility(False)
        if value == row.entry.value:
            notify(f'"{key}" is already {value}', 'info')
            return
        if problem := row.entry.problem(value):  # said at once, before any confirmation
            row.error.text = problem
            row.error.set_visibility(True)
            return
        if row.entry.risk and not await confirm(
                f'Change {key}', f'{row.entry.risk}\n\n{key}: {row.entry.value} → {value}', action='Apply'):
            return
        try:
            updated = await update_setting(ctx.api, key, value)
        except (AuthFailed, NotOffered):
            with ctx.errors():  # sign-in expiry and "not offered" are said in one place
                raise
            return
        except ApiError as exc:  # refused (read-only, out of range, no permission): said next to the field
            row.error.text = exc.message
            row.error.set_visibility(True)
            return
        row.editor.value = updated.value
        row.show(updated)
        notify(f'"{key}" updated', 'success')

    def build_row(entry: ConfigEntry) -> SettingRow:
        with ui.row().classes('w-full items-start gap-4 py-2 border-b border-gray-700/40 flex-nowrap') \
                .mark(f'config-row-{entry.key}') as container:
            with ui.column().classes('w-72 gap-1 shrink-0'):
                ui.label(entry.key).classes('font-mono text-sm break-all')
                with ui.row().classes('gap-1'):
                    ui.badge(entry.type, color=TYPE_COLORS.get(entry.type, 'grey'))
                    source_badge = ui.badge(entry.source_label, color=SOURCE_COLORS.get(entry.source, 'grey')) \
                        .mark(f'config-source-{entry.key}')
                    ui.badge('Mutable' if entry.mutable else 'Read-only',
                             color='positive' if entry.mutable else 'grey').props('outline')
            with ui.column().classes('grow gap-1'):
                value_label: ui.label | None = None
                editor: ui.input | ui.select | None = None
                if not entry.mutable:
                    value_label = ui.label(entry.value).classes('font-mono break-all') \
                        .mark(f'config-value-{entry.key}')
                else:
                    with ui.row().classes('w-full items-center gap-2 flex-nowrap'):
                        if entry.type == 'boolean' or entry.choices:
                            options = entry.choices or ['true', 'false']
                            editor = ui.select(options, value=entry.value if entry.value in options else None) \
                                .props('dense outlined').classes('w-48')
                        else:
                            editor = ui.input(value=entry.value).props('dense outlined').classes('grow font-mono')
                            editor.on('keydown.enter', partial(save, entry.key))
                        editor.mark(f'config-input-{entry.key}')
                        ui.button('Save', on_click=partial(save, entry.key)).props('dense unelevated') \
                            .mark(f'config-save-{entry.key}')
                error = ui.label('').classes('text-negative text-sm').mark(f'config-error-{entry.key}')
                error.set_visibility(False)
                ui.label(entry.description).classes('text-sm')
                if text := hint(entry):
                    ui.label(text).classes('text-xs text-gray-500')
                if entry.risk:
                    ui.label(f'Risky: {entry.risk}').classes('text-xs text-warning')
        searchable = ' '.join((entry.key, entry.description, entry.group)).lower()
        return SettingRow(entry, container, value_label, editor, source_badge, error, searchable)

    def rebuild(entries: list[ConfigEntry]) -> None:
        rows.clear()
        group_cards.clear()
        groups.clear()
        by_group: dict[str, list[ConfigEntry]] = {}
        for entry in entries:
            by_group.setdefault(entry.group, []).append(entry)
        with groups:
            for group in sorted(by_group):
                with ui.card().classes('w-full').mark(f'config-group-{group}') as card:
                    group_cards[group] = card
                    with ui.row().classes('items-center gap-2'):
                        ui.label(group).classes('font-semibold')
                        ui.badge(str(len(by_group[group])), color='grey')
                    for entry in by_group[group]:
                        rows[entry.key] = build_row(entry)

    async def load() -> None:
        with ctx.errors(state=state, feature='Server configuration') as outcome:
            entries = await server_config(ctx.api)
        if outcome.failed:
            search.set_visibility(not isinstance(outcome.error, NotOffered))
            groups.set_visibility(False)
            return
        groups.set_visibility(True)
        if [e.key for e in entries] != list(rows):
            rebuild(entries)
        else:
            for entry in entries:
                rows[entry.key].show(entry)
        header.stamp()
        if entries:
            state.hide()
            apply_filter()
        else:
            state.empty('The server reports no settings.')

    refresher = ctx.refresher(load, frame=0.5, burst_frame=2.0)

    def on_feature(event: FeatureEvent) -> None:
        if event.feature == 'server_config' or (event.feature == 'telemetry' and event.name == 'log_level'):
            refresher.mark()

    header.button.on_click(refresher.flush_now)
    search.on_value_change(apply_filter)
    ctx.on(FeatureEvent, on_feature)

    async def resync() -> None:
        refresher.mark()

    ctx.on_resync(resync)
    state.loading()
    await load()
