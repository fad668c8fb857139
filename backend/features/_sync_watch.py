"""What `/ws/sync` is doing, for the Data Sync page: connected devices, pushes, acks, conflicts.

The `/ws/sync` hub (backend/routes/streams.py `SyncHub`) publishes `sync_event`s and keeps its sockets
in `backend.sync.clients`; this module reads both without touching the hub:
- the event history is read with the bus's own `replay(since, epoch)` (no subscriber of its own), from
  the feature's watch task and before every answer, so counts are current when they are read; a gap
  (history rolled past, a restore started a new epoch) makes the counts lower bounds (`complete` false)
  and is passed on to whoever tracks key changes (incremental sync jobs then copy everything once);
- devices are the hub's sockets grouped by their `?device_id=`; changes a device applied are counted
  by a write guard that knows which device's connection is writing (a context variable set when the
  `/ws/sync` upgrade passes the request guards).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

from ..events import Event
from ..storage import now_ns

log = logging.getLogger(__name__)

SYNC_PATH = '/ws/sync'
ANONYMOUS = '(no device id)'
MAX_DEVICE_ID = 128
KEEP_GONE_DEVICES = 100  # disconnected devices still listed (with their counts), newest first
RECENT_LENGTH = 50

_DEVICE: ContextVar[str | None] = ContextVar('apex_sync_device', default=None)


def device_id_of(query: str | bytes) -> str:
    raw = query.decode(errors='replace') if isinstance(query, bytes) else query
    value = (parse_qs(raw).get('device_id') or [''])[0].strip()
    return value[:MAX_DEVICE_ID] or ANONYMOUS


@dataclass
class DeviceStats:
    device_id: str
    connections: int = 0
    connected_at: int | None = None  # ns; when its first current connection came
    last_seen_at: int | None = None  # ns; now while connected, else when it went away
    changes: int = 0  # changes it pushed that the hub applied
    conflicts: int = 0  # changes it pushed that lost last-writer-wins
    last_push_at: int | None = None

    def public(self) -> dict[str, Any]:
        return {**asdict(self), 'connected': self.connections > 0}


class SyncWatch:
    def __init__(self, backend, on_key_change: Callable[[str, str, str], None], on_gap: Callable[[], None],
                 announce: Callable[[str, dict[str, Any]], None]) -> None:
        self.backend = backend
        self.on_key_change = on_key_change  # (cf, key, operation) for every key change seen
        self.on_gap = on_gap
        self.announce = announce
        self.devices: dict[str, DeviceStats] = {}
        self.totals = {'pushes': 0, 'changes_pushed': 0, 'acks': 0, 'applied': 0, 'conflicts': 0}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LENGTH)
        self.complete = True
        self._epoch = backend.bus.epoch
        self._seq = backend.bus.seq

    # -- hooks -------------------------------------------------------------------------------------
    def request_guard(self, scope: dict, _token: Any) -> None:
        """Remember which device a `/ws/sync` connection is (its writes run in this context)."""
        if scope['type'] == 'websocket' and scope['path'] == SYNC_PATH:
            _DEVICE.set(device_id_of(scope.get('query_string', b'')))
        return None

    def write_guard(self, _cf: str, items: list[tuple[str, str | None, int | None]]) -> None:
        device_id = _DEVICE.get()
        if device_id is None:
            return
        stats = self._device(device_id)
        stats.changes += len(items)
        stats.last_push_at = now_ns()

    def _device(self, device_id: str) -> DeviceStats:
        stats = self.devices.get(device_id)
        if stats is None:
            stats = self.devices[device_id] = DeviceStats(device_id)
        return stats

    # -- catching up -------------------------------------------------------------------------------
    def catch_up(self) -> None:
        """Count every event published since the last call (cheap when there is none)."""
        bus = self.backend.bus
        if bus.epoch == self._epoch and bus.seq == self._seq:
            return
        events = bus.replay(self._seq, self._epoch)
        self._epoch, self._seq = bus.epoch, bus.seq
        if events is None:
            if self.complete:
                log.info('sync watch missed events (history gap or new epoch); counts are lower bounds now')
            self.complete = False
            self.on_gap()
            return
        for event in events:
            self._count(event)

    def _count(self, event: Event) -> None:
        payload = event.payload
        if event.type == 'key_change':
            self.on_key_change(payload.get('cf', 'default'), payload['key'], payload['operation'])
        elif event.type == 'resync_required':
            self.on_gap()
        elif event.type == 'sync_event':
            details = payload.get('details') or {}
            status = payload.get('status')
            at = payload.get('timestamp') or now_ns()
            if status == 'started':
                self.totals['pushes'] += 1
                self.totals['changes_pushed'] += int(details.get('changes') or 0)
                self.recent.append({'at': at, 'kind': 'push', 'detail': f'{details.get("changes", 0)} changes'})
            elif status == 'completed':
                self.totals['acks'] += 1
                self.totals['applied'] += int(details.get('applied') or 0)
                self.recent.append({'at': at, 'kind': 'ack', 'detail': f'{details.get("applied", 0)} applied, '
                                                                        f'{details.get("conflicts", 0)} conflicts'})
            elif status == 'conflict':
                self.totals['conflicts'] += 1
                device_id = str(details.get('device_id') or ANONYMOUS)[:MAX_DEVICE_ID]
                self._device(device_id).conflicts += 1
                self.recent.append({'at': at, 'kind': 'conflict', 'device_id': device_id,
                                    'key': str(details.get('key', '')),
                                    'detail': f'kept the change of {details.get("kept_device_id", "?")}'})

    # -- devices -----------------------------------------------------------------------------------
    def reconcile_devices(self) -> None:
        """Group the hub's sockets by device id; say so (a `devices` event) when that changed."""
        clients = getattr(self.backend.sync, 'clients', None) or set()
        current = Counter(device_id_of(ws.scope.get('query_string', b'')) for ws in list(clients))
        now = now_ns()
        changed: list[tuple[str, bool]] = []
        for device_id in set(current) | {d for d, s in self.devices.items() if s.connections}:
            stats = self._device(device_id)
            count = current.get(device_id, 0)
            if count != stats.connections:
                changed.append((device_id, count > stats.connections))
                if count and not stats.connections:
                    stats.connected_at = now
                stats.connections = count
            stats.last_seen_at = now
        if not changed:
            return
        for device_id, joined in sorted(changed):
            self.recent.append({'at': now, 'kind': 'connected' if joined else 'disconnected', 'device_id': device_id,
                                'detail': f'{current.get(device_id, 0)} connections'})
        self._forget_old_devices()
        self.announce('devices', {'connected': sorted(current), 'connections': sum(current.values())})

    def _forget_old_devices(self) -> None:
        gone = sorted((s for s in self.devices.values() if not s.connections),
                      key=lambda s: s.last_seen_at or 0, reverse=True)
        for stats in gone[KEEP_GONE_DEVICES:]:
            del self.devices[stats.device_id]

    # -- answer ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        devices = sorted(self.devices.values(), key=lambda s: (not s.connections, s.device_id))
        connected = [d for d in devices if d.connections]
        return {
            'devices': [d.public() for d in devices],
            'totals': {**self.totals, 'connected_devices': len(connected),
                       'connections': sum(d.connections for d in connected)},
            'recent': list(self.recent)[::-1],
            'complete': self.complete,
        }
