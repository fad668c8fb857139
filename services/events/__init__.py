"""The event service: one live upstream connection per credential, fanned out to every page.

`from services.events import event_service`; `event_service()` gives the process-wide instance, built
from settings on first use (not at import time, so settings from flags and tests apply).
"""

from __future__ import annotations

from functools import cache

from ..settings import settings
from .models import (
    CompactionEvent,
    ConnectionState,
    ConnectionStatus,
    HealthEvent,
    KeyChangeEvent,
    Resync,
    SnapshotEvent,
    SyncEvent,
)
from .policy import Clock, Timing
from .service import EventService, Upstream, wait_for_state


def timing_from_settings() -> Timing:
    return Timing(ping_interval=settings.events_ping_interval, ping_timeout=settings.events_ping_timeout,
                  backoff_initial=settings.events_backoff_initial, backoff_max=settings.events_backoff_max,
                  stable_after=settings.events_stable_after, ws_probe_interval=settings.events_ws_probe_interval,
                  poll_interval=settings.events_poll_interval, open_timeout=settings.events_open_timeout,
                  sse_idle_timeout=settings.events_sse_idle_timeout, poll_max_keys=settings.events_poll_max_keys)


@cache
def event_service() -> EventService:
    """The one event service of this process (one upstream connection per credential)."""
    return EventService(settings.backend_url, timing=timing_from_settings())

__all__ = ['EventService', 'event_service', 'Timing', 'Clock', 'Upstream', 'wait_for_state', 'ConnectionState',
           'ConnectionStatus', 'KeyChangeEvent', 'CompactionEvent', 'HealthEvent', 'SyncEvent', 'SnapshotEvent',
           'Resync']
