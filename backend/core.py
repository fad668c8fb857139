"""The backend's domain: every write goes through here so that every change becomes an event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from .config import BackendConfig
from .events import LIVE_VALUE_LIMIT, EventBus
from .faults import Faults
from .regex_search import RegexMatcher
from .sessions import Sessions
from .snapshots import SnapshotManager
from .storage import DEFAULT_CF, CompactionResult, Store, now_ns
from .tokens import Permission, TokenManager

log = logging.getLogger(__name__)

PROBES = ('liveness', 'readiness', 'startup')


class Backend:
    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.db_dir)
        self.tokens = TokenManager(self.store)
        self.bus = EventBus(config.history_size, 256 if config.compat else config.subscriber_limit)
        self.faults = Faults()
        self.snapshots = SnapshotManager(config.snapshot_dir)
        self.started_at = time.monotonic()
        self.counters: dict[str, int] = {}
        self.requests: Counter[str] = Counter()  # authenticated requests per path (diagnostics, tests)
        self.manual_ops: set[str] = set()
        self.probe_status: dict[str, str] = {}
        self._tasks: list[asyncio.Task] = []
        self.sync: Any = None  # the /ws/sync hub, attached by the app
        self.sessions = Sessions(lambda token_id: self.tokens.get(token_id) is not None)  # ended on revoke
        self.regex = RegexMatcher(config.regex_budget_secs)  # regex search in killable worker processes
        # extension points of backend/features (see its docstring)
        self._feature_states: dict[str, Any] = {}
        self.request_guards: list[Callable[[dict, Any], Any]] = []
        self.write_guards: list[Callable[[str, list[tuple[str, str | None, int | None]]], None]] = []
        self.feature_tasks: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.request_limiters: list[Callable[[dict, Any], contextlib.AbstractAsyncContextManager[Any]]] = []
        self.request_observers: list[Callable[[dict, int, float], None]] = []
        self.feature_readers: dict[str, Permission] = {}  # feature -> who sees its events (default Admin)
        self._bootstrap_admin()

    # -- start/stop --------------------------------------------------------------------------------
    def _bootstrap_admin(self) -> None:
        """Make sure an Admin credential exists when auth is on (never printed to logs)."""
        if not self.config.auth:
            return
        if self.config.admin_token:
            if self.tokens.find_by_raw(self.config.admin_token) is None:
                self.tokens.create('console-admin', [Permission.Admin], raw=self.config.admin_token)
            return
        if self.tokens.has_admin():
            return
        _, raw = self.tokens.create('bootstrap-admin', [Permission.Admin])
        path = self.config.admin_token_file
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(raw + '\n')
        log.warning('created an Admin token; it is stored in %s (mode 0600)', path)

    def start(self) -> None:
        from .monitors import compaction_monitor, health_monitor

        self.probe_status = {name: self.probe(name)[0] for name in PROBES}
        self._tasks = [asyncio.create_task(health_monitor(self)), asyncio.create_task(compaction_monitor(self))]
        self._tasks.extend(asyncio.create_task(factory()) for factory in self.feature_tasks)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.bus.close_all()
        self.regex.close()
        self.store.close()

    def revoke_token(self, token_id: str) -> bool:
        """Delete a token and end its open streams now: a revoked credential must stop reading at once."""
        if not self.tokens.delete(token_id):
            return False
        ended = self.sessions.revoke(token_id)
        if ended:
            log.info('token %s revoked; ended %d open stream(s)', token_id, ended)
        return True

    def feature_state(self, name: str, factory: Callable[[], Any]) -> Any:
        """A feature's state object, made on first use (one per backend)."""
        if name not in self._feature_states:
            self._feature_states[name] = factory()
        return self._feature_states[name]

    def publish_feature(self, feature: str, name: str, data: dict[str, Any]) -> None:
        """A `feature_event` (webhook delivered, message published, ...) on the streams allowed to see it.

        Only Admin tokens see a feature's events unless the feature set `feature_readers[feature]`: most
        features' state (webhook URLs, quotas, policies) is for administrators only.
        """
        permission = self.feature_readers.get(feature, Permission.Admin)
        self.bus.publish('feature_event', {'feature': feature, 'name': name, 'data': data,
                                           'permission': permission.value})

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    # -- writes ------------------------------------------------------------------------------------
    def write(self, items: list[tuple[str, str | None, int | None]], cf: str = DEFAULT_CF) -> None:
        """Apply puts (value str) and deletes (value None) atomically, then announce each one."""
        for guard in self.write_guards:  # quotas, backpressure, plugins: may refuse the whole write
            guard(cf, items)
        encoded = [(k.encode(), None if v is None else v.encode(), ttl) for k, v, ttl in items]
        self.store.write(cf, encoded)
        puts = sum(1 for _, raw, _ in encoded if raw is not None)
        self.count('batch_sets' if len(items) > 1 else 'sets', puts)
        self.count('batch_deletes' if len(items) > 1 else 'deletes', len(items) - puts)
        for (key, _value, _), (_, raw, _) in zip(items, encoded, strict=False):
            self.announce_key(cf, key, raw)

    def announce_key(self, cf: str, key: str, raw: bytes | None) -> None:
        payload: dict = {'operation': 'delete' if raw is None else 'put', 'key': key, 'cf': cf}
        if raw is not None:
            payload['value_size'] = len(raw)
            if len(raw) <= LIVE_VALUE_LIMIT:
                payload['value'] = raw.decode(errors='replace')
        self.bus.publish('key_change', payload, raw)

    def delete_prefix(self, prefix: str, cf: str = DEFAULT_CF) -> None:
        self.store.delete_prefix(cf, prefix.encode())
        self.bus.publish('key_change', {'operation': 'delete_prefix', 'key': prefix, 'cf': cf})

    def expire_due_keys(self) -> None:
        for cf, key in self.store.expired_keys():
            self.store.delete(cf, key)
            self.bus.publish('key_change', {'operation': 'delete', 'key': key.decode(errors='replace'),
                                            'cf': cf, 'reason': 'ttl'})

    # -- maintenance -------------------------------------------------------------------------------
    def level_details(self, cf: str) -> dict:
        levels = self.store.levels(cf)
        return {'levels': [{'level': lv.level, 'files': lv.files, 'bytes': lv.bytes} for lv in levels]}

    def _compaction_event(self, status: str, cf: str, kind: str, trigger: str, **details) -> None:
        self.bus.publish('compaction_status', {'status': status, 'cf': cf, 'kind': kind, 'trigger': trigger,
                                               'details': {**self.level_details(cf), **details}})

    async def flush(self, cf: str = DEFAULT_CF) -> None:
        self.manual_ops.add(cf)
        try:
            self._compaction_event('started', cf, 'flush', 'manual')
            await asyncio.to_thread(self.store.flush, cf)
            self.count('flushes')
            self._compaction_event('completed', cf, 'flush', 'manual')
        except Exception as exc:
            self._compaction_event('failed', cf, 'flush', 'manual', error=str(exc))
            raise
        finally:
            self.manual_ops.discard(cf)

    async def compact_all(self) -> list[CompactionResult]:
        """Compact every column family holding data; the result lists those where files merged."""
        results = []
        for cf in self.store.column_families():
            stats = self.store.cf_stats(cf)
            if stats['sst_files'] == 0 and stats['mem_records'] == 0:
                continue
            result = await self.compact(cf)
            if result.files_merged:
                results.append(result)
        self.count('compactions')
        return results

    async def compact(self, cf: str) -> CompactionResult:
        self.manual_ops.add(cf)
        files_before = set(self.store.sst_files(cf))
        self._compaction_event('started', cf, 'compaction', 'manual', files_before=len(files_before))
        job = asyncio.create_task(asyncio.to_thread(self.store.compact, cf))
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=0.2)
                if not job.done():
                    live = set(self.store.sst_files(cf))
                    merged = len(files_before - live)
                    self._compaction_event('running', cf, 'compaction', 'manual',
                                           progress=round(merged / max(1, len(files_before)), 3),
                                           files_merged=merged)
            result = job.result()
        except Exception as exc:
            self._compaction_event('failed', cf, 'compaction', 'manual', error=str(exc))
            raise
        finally:
            self.manual_ops.discard(cf)
        self._compaction_event('completed', cf, 'compaction', 'manual', files_merged=result.files_merged,
                               bytes_read=result.bytes_read, bytes_written=result.bytes_written,
                               duration_ms=result.duration_ms, progress=1.0)
        return result

    # -- health ------------------------------------------------------------------------------------
    def probe(self, name: str) -> tuple[str, str | None]:
        """('healthy'|'unhealthy', reason) for liveness/readiness/startup."""
        if name in self.faults.failing_probes:
            return 'unhealthy', 'injected failure'
        try:
            if name == 'startup' and not self.store.has_cf(DEFAULT_CF):
                return 'unhealthy', 'default column family not found'
            if name != 'liveness':
                self.store.cf_stats(DEFAULT_CF)
        except Exception as exc:  # noqa: BLE001 - any engine error makes the probe fail
            return 'unhealthy', f'engine stats unavailable: {exc}'
        return 'healthy', None

    def check_health_transitions(self) -> None:
        for name in PROBES:
            status, reason = self.probe(name)
            if self.probe_status.get(name) != status:
                self.probe_status[name] = status
                payload = {'probe': name, 'status': status}
                if reason:
                    payload['reason'] = reason
                self.bus.publish('health_change', payload)

    def uptime_secs(self) -> int:
        return int(time.monotonic() - self.started_at)

    # -- snapshots ---------------------------------------------------------------------------------
    def _snapshot_event(self, status: str, **payload) -> None:
        self.bus.publish('snapshot_event', {'status': status, **payload})

    async def create_snapshot(self, name: str) -> dict:
        info = self.snapshots.begin(name)
        self._snapshot_event('started', id=info.id, name=info.name)
        try:
            await asyncio.to_thread(self.store.checkpoint, self.snapshots.data_path(info.id))
        except Exception as exc:
            self.snapshots.fail(info.id)
            self._snapshot_event('failed', id=info.id, name=info.name, error=str(exc))
            raise
        info = self.snapshots.complete(info.id)
        self._snapshot_event('created', id=info.id, name=info.name, snapshot=info.model_dump())
        return info.model_dump()

    async def restore_snapshot(self, snapshot_id: str) -> None:
        info = self.snapshots.get(snapshot_id)
        self._snapshot_event('started', id=info.id, name=info.name, action='restore')
        kept_tokens = self.tokens.all()  # credentials are not data: a restore must not lock anyone out
        await asyncio.to_thread(self.store.maintenance.acquire)
        try:
            self.store.restore_from(self.snapshots.data_path(info.id))
        except Exception as exc:
            self._snapshot_event('failed', id=info.id, name=info.name, action='restore', error=str(exc))
            raise
        finally:
            self.store.maintenance.release()
        self.tokens.reload()
        self.tokens.keep(kept_tokens)
        self.bus.new_epoch()
        self.bus.publish('resync_required', {'reason': 'restore', 'epoch': self.bus.epoch})
        self._snapshot_event('restored', id=info.id, name=info.name)

    def delete_snapshot(self, snapshot_id: str) -> None:
        info = self.snapshots.delete(snapshot_id)
        self._snapshot_event('deleted', id=info.id, name=info.name)

    def snapshot_path(self, snapshot_id: str) -> Path:
        self.snapshots.get(snapshot_id)
        return self.snapshots.data_path(snapshot_id)

    def now(self) -> int:
        return now_ns()
