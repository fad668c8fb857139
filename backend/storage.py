"""RocksDB storage for the embedded backend: column families, TTL, flush, compaction, checkpoints.

Everything is raw bytes (rocksdict raw mode everywhere: mixing modes silently returns None).
Internal records (tokens, flags, TTL metadata, snapshot metadata) live in the `__system` column
family so that they can never leak through `/keys` or `/scan`.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rocksdict import AccessType, Checkpoint, Options, Rdict, WriteBatch

log = logging.getLogger(__name__)

SYSTEM_CF = '__system'
DEFAULT_CF = 'default'
MAX_LEVELS = 7
_TTL_PREFIX = b'__ttl:'
_LEVEL_HEADER = re.compile(r'^--- level (\d+) ---')
_SST_LINE = re.compile(r'^\s*(\d+):(\d+)\[')


def now_ns() -> int:
    return time.time_ns()


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    return opts


def prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with `prefix` (None: no upper bound)."""
    stripped = prefix.rstrip(b'\xff')
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


@dataclass(frozen=True)
class LevelInfo:
    level: int
    files: int
    bytes: int


@dataclass(frozen=True)
class CompactionResult:
    cf: str
    files_merged: int
    bytes_read: int
    bytes_written: int
    duration_ms: int


class Store:
    """One RocksDB database with column families; thread-safe for reads/writes, reopenable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: Rdict | None = None
        self._cfs: dict = {}
        self._ttl: dict[tuple[str, bytes], int] = {}
        self.maintenance = threading.Lock()  # one flush/compaction/checkpoint/restore at a time
        self.open()

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        names = Rdict.list_cf(str(self.path), Options(raw_mode=True)) if (self.path / 'CURRENT').exists() else []
        families = {name: Options(raw_mode=True) for name in set(names) | {SYSTEM_CF} if name != DEFAULT_CF}
        self._db = Rdict(str(self.path), _options(), column_families=families)
        self._cfs = {DEFAULT_CF: self._db}
        for name in families:
            self._cfs[name] = self._db.get_column_family(name)
        self._load_ttl()

    def close(self) -> None:
        """Close the DB; every CF handle and iterator must be gone first or RocksDB keeps its lock."""
        if self._db is None:
            return
        db = self._db
        self._cfs.clear()
        self._db = None
        gc.collect()
        db.close()
        del db
        gc.collect()

    @property
    def db(self) -> Rdict:
        if self._db is None:
            raise RuntimeError('store is closed')
        return self._db

    # -- column families ---------------------------------------------------------------------------
    def column_families(self) -> list[str]:
        return sorted(name for name in self._cfs if name != SYSTEM_CF)

    def has_cf(self, name: str) -> bool:
        return name in self._cfs and name != SYSTEM_CF

    def create_cf(self, name: str) -> None:
        if name in self._cfs:
            return
        self._cfs[name] = self.db.create_column_family(name, Options(raw_mode=True))

    def _cf(self, name: str):
        try:
            return self._cfs[name]
        except KeyError:
            raise KeyError(f'column family {name!r} does not exist') from None

    # -- TTL ---------------------------------------------------------------------------------------
    @staticmethod
    def _ttl_key(cf: str, key: bytes) -> bytes:
        return _TTL_PREFIX + cf.encode() + b'\x00' + key

    def _load_ttl(self) -> None:
        self._ttl = {}
        for meta_key, value in self.system_items(_TTL_PREFIX):
            cf, _, key = meta_key[len(_TTL_PREFIX):].partition(b'\x00')
            self._ttl[(cf.decode(), key)] = int(value)

    def expires_at(self, cf: str, key: bytes) -> int | None:
        return self._ttl.get((cf, key))

    def _expired(self, cf: str, key: bytes, now: int | None = None) -> bool:
        deadline = self._ttl.get((cf, key))
        return deadline is not None and (now or now_ns()) >= deadline

    def expired_keys(self) -> list[tuple[str, bytes]]:
        now = now_ns()
        return [k for k, deadline in self._ttl.items() if deadline <= now]

    # -- key/value ---------------------------------------------------------------------------------
    def get(self, cf: str, key: bytes) -> bytes | None:
        if self._expired(cf, key):
            return None
        return self._cf(cf).get(key)

    def put(self, cf: str, key: bytes, value: bytes, ttl_secs: int | None = None) -> None:
        self.write(cf, [(key, value, ttl_secs)])

    def delete(self, cf: str, key: bytes) -> None:
        self.write(cf, [(key, None, None)])

    def write(self, cf: str, items: list[tuple[bytes, bytes | None, int | None]]) -> None:
        """Atomically apply puts (value bytes) and deletes (value None), with TTL metadata."""
        handle = self.db.get_column_family_handle(cf) if cf != DEFAULT_CF else None
        sys_handle = self.db.get_column_family_handle(SYSTEM_CF)
        batch = WriteBatch(raw_mode=True)
        ttl_updates: dict[tuple[str, bytes], int | None] = {}
        for key, value, ttl_secs in items:
            meta = self._ttl_key(cf, key)
            if value is None:
                batch.delete(key, handle) if handle else batch.delete(key)
            else:
                batch.put(key, value, handle) if handle else batch.put(key, value)
            if value is not None and ttl_secs:
                deadline = now_ns() + ttl_secs * 1_000_000_000
                batch.put(meta, str(deadline).encode(), sys_handle)
                ttl_updates[(cf, key)] = deadline
            elif (cf, key) in self._ttl or (cf, key) in ttl_updates:
                batch.delete(meta, sys_handle)
                ttl_updates[(cf, key)] = None
        self.db.write(batch)
        for ident, new_deadline in ttl_updates.items():
            if new_deadline is None:
                self._ttl.pop(ident, None)
            else:
                self._ttl[ident] = new_deadline

    def delete_prefix(self, cf: str, prefix: bytes) -> None:
        end = prefix_end(prefix)
        target = self._cf(cf)
        if end is None:
            keys = [k for k, _ in self.scan(cf, prefix, None, limit=None)]
            self.write(cf, [(k, None, None) for k in keys])
            return
        target.delete_range(prefix, end)
        for ident in [i for i in self._ttl if i[0] == cf and i[1].startswith(prefix)]:
            self.system_delete(self._ttl_key(*ident))
            self._ttl.pop(ident, None)

    def scan(self, cf: str, lower: bytes, upper: bytes | None, limit: int | None,
             after: bytes | None = None, prefix: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """Live (non-expired) records in [lower, upper), starting after `after` when given."""
        out: list[tuple[bytes, bytes]] = []
        now = now_ns()
        it = self._cf(cf).iter()
        try:
            it.seek(after if after is not None and after > lower else lower)
            while it.valid():
                key = it.key()
                if upper is not None and key >= upper:
                    break
                if prefix is not None and not key.startswith(prefix):
                    break
                if (after is None or key > after) and not self._expired(cf, key, now):
                    out.append((key, it.value()))
                    if limit is not None and len(out) >= limit:
                        break
                it.next()
        finally:
            del it
        return out

    def count_scan(self, cf: str, max_records: int) -> list[tuple[bytes, bytes]]:
        return self.scan(cf, b'', None, limit=max_records)

    # -- system records ----------------------------------------------------------------------------
    def system_get(self, key: bytes) -> bytes | None:
        return self._cfs[SYSTEM_CF].get(key)

    def system_put(self, key: bytes, value: bytes) -> None:
        self._cfs[SYSTEM_CF].put(key, value)

    def system_delete(self, key: bytes) -> None:
        self._cfs[SYSTEM_CF].delete(key)

    def system_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return self.scan(SYSTEM_CF, prefix, prefix_end(prefix), limit=None)

    # -- stats -------------------------------------------------------------------------------------
    def _prop(self, cf: str, name: str) -> int:
        value = self._cf(cf).property_int_value(name)
        return int(value or 0)

    def sst_files(self, cf: str) -> dict[int, tuple[int, int]]:
        """This column family's SST files: number -> (level, bytes), from `rocksdb.sstables`."""
        files: dict[int, tuple[int, int]] = {}
        level = 0
        for line in (self._cf(cf).property_value('rocksdb.sstables') or '').splitlines():
            if header := _LEVEL_HEADER.match(line):
                level = int(header.group(1))
            elif entry := _SST_LINE.match(line):
                files[int(entry.group(1))] = (level, int(entry.group(2)))
        return files

    def levels(self, cf: str) -> list[LevelInfo]:
        files = self.sst_files(cf)
        return [LevelInfo(level, sum(1 for lv, _ in files.values() if lv == level),
                          sum(size for lv, size in files.values() if lv == level)) for level in range(MAX_LEVELS)]

    def cf_stats(self, cf: str) -> dict[str, int]:
        levels = self.levels(cf)
        return {
            'sst_files': sum(lv.files for lv in levels),
            'sst_bytes': self._prop(cf, 'rocksdb.total-sst-files-size'),
            'mem_records': self._prop(cf, 'rocksdb.num-entries-active-mem-table')
            + self._prop(cf, 'rocksdb.num-entries-imm-mem-tables'),
            'mem_bytes': self._prop(cf, 'rocksdb.cur-size-all-mem-tables'),
            'total_records': self._prop(cf, 'rocksdb.estimate-num-keys'),
            'max_levels_reached': max((lv.level + 1 for lv in levels if lv.files), default=0),
            'running_compactions': self._prop(cf, 'rocksdb.num-running-compactions'),
            'running_flushes': self._prop(cf, 'rocksdb.num-running-flushes'),
            'compaction_pending': self._prop(cf, 'rocksdb.compaction-pending'),
            'pending_compaction_bytes': self._prop(cf, 'rocksdb.estimate-pending-compaction-bytes'),
        }

    def wal_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob('*.log') if p.is_file())

    # -- maintenance (blocking: call from a worker thread) ----------------------------------------
    def flush(self, cf: str) -> None:
        with self.maintenance:
            self._cf(cf).flush(True)

    def compact(self, cf: str) -> CompactionResult:
        """Full manual compaction of one CF; metrics come from the SST files before and after."""
        with self.maintenance:
            started = time.monotonic()
            before = self.sst_files(cf)
            self._cf(cf).compact_range(None, None)
            after = self.sst_files(cf)
        removed = {n: size for n, (_, size) in before.items() if n not in after}
        added = {n: size for n, (_, size) in after.items() if n not in before}
        return CompactionResult(cf, len(removed), sum(removed.values()), sum(added.values()),
                                int((time.monotonic() - started) * 1000))

    def checkpoint(self, target: Path) -> None:
        """RocksDB checkpoint (hard links) of the whole DB; `target` must not exist."""
        with self.maintenance:
            Checkpoint(self.db).create_checkpoint(str(target))

    def restore_from(self, checkpoint_dir: Path) -> None:
        """Replace the live DB with a copy of a checkpoint; on any failure the old DB comes back.

        The caller holds `maintenance`. SST files are hard-linked (they are immutable), the rest copied.
        """
        staging = self.path.with_name(self.path.name + '.restoring')
        previous = self.path.with_name(self.path.name + '.previous')
        for leftover in (staging, previous):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(checkpoint_dir, staging, copy_function=_link_or_copy)
        self.close()
        try:
            self.path.rename(previous)
            staging.rename(self.path)
            self.open()
        except Exception:
            log.exception('restore failed; bringing the previous database back')
            self.close()
            if previous.exists():
                shutil.rmtree(self.path, ignore_errors=True)
                previous.rename(self.path)
            self.open()
            raise
        shutil.rmtree(previous, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    if src.endswith('.sst'):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)

def read_checkpoint(path: Path, prefix: bytes, limit: int,
                    after: bytes | None) -> tuple[list[tuple[bytes, bytes]], int]:
    """Browse a checkpoint read-only: one page of default-CF records and the estimated key count."""
    opts = Options(raw_mode=True)
    names = Rdict.list_cf(str(path), opts)
    families = {n: Options(raw_mode=True) for n in names if n != DEFAULT_CF}
    db = Rdict(str(path), opts, column_families=families, access_type=AccessType.read_only())
    try:
        out: list[tuple[bytes, bytes]] = []
        it = db.iter()
        it.seek(after if after is not None and after > prefix else prefix)
        while it.valid() and len(out) < limit:
            key = it.key()
            if not key.startswith(prefix):
                break
            if after is None or key > after:
                out.append((key, it.value()))
            it.next()
        del it
        total = int(db.property_int_value('rocksdb.estimate-num-keys') or 0)
        return out, total
    finally:
        db.close()
        del db
        gc.collect()
