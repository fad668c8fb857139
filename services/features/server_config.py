"""Client of `/admin/config`: the server's settings, their origin, and runtime changes (Admin)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ..api import ApexApi
from ..api import segment as _segment

Source = Literal['default', 'cli', 'env', 'runtime']
SOURCE_LABELS: dict[str, str] = {'default': 'Default', 'cli': 'Start-up flag', 'env': 'Environment',
                                 'runtime': 'Changed at runtime'}


class ConfigEntry(BaseModel):
    """The Angular `ConfigEntry`, plus where the value came from and what a change must respect."""
    key: str
    value: str
    type: Literal['string', 'number', 'boolean', 'json'] = 'string'
    description: str = ''
    mutable: bool = False
    group: str = 'General'
    source: str = 'default'
    default: str = ''
    min: float | None = None
    max: float | None = None
    integer: bool | None = None
    choices: list[str] = []
    unit: str = ''
    risk: str | None = None
    applies: str | None = None
    how_to_set: str | None = None

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)

    def problem(self, raw: str) -> str | None:
        """Why the server would refuse `raw` (checked before asking to confirm a risky change), or None."""
        text = raw.strip()
        if not self.mutable:
            return f'{self.key} is read-only while the server runs'
        if self.type == 'boolean':
            return None if text.lower() in ('true', 'false') else f'{self.key}: expected true or false'
        if self.choices:
            return None if text.lower() in self.choices else f'{self.key}: expected one of {", ".join(self.choices)}'
        if self.type != 'number':
            return None
        try:
            number = int(text) if self.integer else float(text)
        except ValueError:
            return f'{self.key}: expected {"a whole number" if self.integer else "a number"}, got {raw!r}'
        low = float('-inf') if self.min is None else self.min
        high = float('inf') if self.max is None else self.max
        if number != number or not low <= number <= high:
            return f'{self.key}: must be between {low:g} and {high:g}{" " + self.unit if self.unit else ""}'
        return None


class ConfigList(BaseModel):
    entries: list[ConfigEntry] = []


async def server_config(api: ApexApi) -> list[ConfigEntry]:
    return ConfigList.model_validate(await api.call('GET', '/admin/config', 'Load server configuration')).entries


async def update_setting(api: ApexApi, key: str, value: str) -> ConfigEntry:
    """Change one mutable setting; BadRequest carries the server's reason (read-only, out of range, ...)."""
    data = await api.call('PUT', f'/admin/config/{_segment(key)}', f'Update "{key}"', body={'value': value})
    return ConfigEntry.model_validate(data)
