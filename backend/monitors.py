"""Background watchers that turn RocksDB state into events (the binding has no event listener)."""

from __future__ import annotations

import asyncio
import logging

from .storage import DEFAULT_CF

log = logging.getLogger(__name__)


async def health_monitor(backend) -> None:
    """Publish `health_change` whenever a probe flips; also expires TTL'd keys."""
    while True:
        await asyncio.sleep(backend.config.health_interval_secs)
        try:
            backend.check_health_transitions()
            backend.expire_due_keys()
        except Exception:  # noqa: BLE001 - a failing probe must never stop the monitor
            log.exception('health monitor round failed')


async def compaction_monitor(backend) -> None:
    """Announce background flushes and compactions that RocksDB starts on its own."""
    running: dict[tuple[str, str], bool] = {}
    while True:
        await asyncio.sleep(backend.config.compaction_poll_secs)
        try:
            for cf in backend.store.column_families():
                if cf in backend.manual_ops:
                    continue
                stats = backend.store.cf_stats(cf)
                for kind, key in (('compaction', 'running_compactions'), ('flush', 'running_flushes')):
                    now_running = stats[key] > 0
                    if now_running != running.get((cf, kind), False):
                        running[(cf, kind)] = now_running
                        backend._compaction_event('started' if now_running else 'completed', cf, kind, 'background')
        except RuntimeError:
            pass  # store closed during a restore; next round sees the new one
        except Exception:  # noqa: BLE001
            log.exception('compaction monitor round failed')


__all__ = ['health_monitor', 'compaction_monitor', 'DEFAULT_CF']
