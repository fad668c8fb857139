"""Frame parsing, sans-I/O: text/bytes in, a typed event or a named malformation out.

Both dialects land in the same models: the original request's events (ours, with `seq`) and the
real server's CDC frames (`put`/`delete` with a hex key, a byte-array value and an ns timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from .models import KeyChangeEvent, ServerEvent

_ADAPTER: TypeAdapter = TypeAdapter(ServerEvent)
KNOWN_TYPES = {'key_change', 'compaction_status', 'health_change', 'sync_event', 'snapshot_event', 'connected',
               'lag', 'resync_required'}


@dataclass(frozen=True)
class Malformed:
    kind: str  # binary | oversize | invalid_json | not_object | unknown_type | wrong_types
    detail: str


def decode_key(raw: bytes) -> tuple[str, bool]:
    """Key bytes as text when they are UTF-8, otherwise as `0x…` hex (and say so)."""
    try:
        return raw.decode('utf-8'), False
    except UnicodeDecodeError:
        return '0x' + raw.hex(), True


def _from_cdc(frame: dict[str, Any]) -> KeyChangeEvent:
    key_hex = frame.get('key')
    if not isinstance(key_hex, str):
        raise ValueError('CDC key must be a hex string')
    key, is_hex = decode_key(bytes.fromhex(key_hex))
    value = frame.get('value')
    raw_value: bytes | None = None
    if frame['type'] == 'put':
        if not isinstance(value, list):
            raise ValueError('CDC value must be an array of bytes')
        raw_value = bytes(value)
    timestamp = frame.get('timestamp')
    if timestamp is not None and not isinstance(timestamp, int):
        raise ValueError('CDC timestamp must be an integer')
    text = None
    if raw_value is not None:
        text = raw_value.decode('utf-8', errors='replace')
    return KeyChangeEvent(operation=frame['type'], key=key, key_is_hex=is_hex, cf=str(frame.get('cf', 'default')),
                          value=text, value_bytes=raw_value, value_size=None if raw_value is None else len(raw_value),
                          timestamp=timestamp)


def parse_frame(data: str | bytes, max_bytes: int) -> ServerEvent | Malformed:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Malformed('binary', f'{len(data)} byte binary frame')
    if len(data) > max_bytes:
        return Malformed('oversize', f'{len(data)} characters (limit {max_bytes})')
    try:  # fast path: one pass of pydantic's JSON parser for well-formed extended frames
        return _ADAPTER.validate_json(data)
    except ValidationError:
        pass  # CDC frames, unknown types and broken frames take the careful path below
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Malformed('invalid_json', str(exc)[:200])
    return parse_object(frame)


def parse_object(frame: Any) -> ServerEvent | Malformed:
    if not isinstance(frame, dict):
        return Malformed('not_object', type(frame).__name__)
    kind = frame.get('type')
    try:
        if kind in ('put', 'delete'):
            return _from_cdc(frame)
        if kind not in KNOWN_TYPES:
            return Malformed('unknown_type', repr(kind)[:100])
        return _ADAPTER.validate_python(frame)
    except (ValidationError, ValueError, TypeError) as exc:
        return Malformed('wrong_types', str(exc).splitlines()[0][:200])


class SeqTracker:
    """Remembers (epoch, last seq) to resume after a reconnect and to drop duplicates."""

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.last_seq: int | None = None

    def reset(self, epoch: str | None) -> None:
        self.epoch = epoch
        self.last_seq = None

    def accept(self, seq: int | None) -> bool:
        """False for an event already seen (replay overlap)."""
        if seq is None:
            return True
        if self.last_seq is not None and seq <= self.last_seq:
            return False
        self.last_seq = seq
        return True

    def resume_params(self) -> dict[str, str]:
        if self.epoch is None or self.last_seq is None:
            return {}
        return {'since': str(self.last_seq), 'epoch': self.epoch}
