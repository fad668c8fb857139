"""Snapshot bookkeeping: each snapshot is a RocksDB checkpoint plus a small metadata file.

Metadata lives beside the checkpoints, outside the database, so that restoring one snapshot never
rewinds the list of snapshots itself.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .storage import now_ns

_SAFE_ID = re.compile(r'^[A-Za-z0-9_-]{1,64}$')


class SnapshotInfo(BaseModel):
    """The Angular `Backup` shape plus what the console shows (file count, bytes)."""

    id: str
    name: str
    size_kb: int = 0
    size_bytes: int = 0
    file_count: int = 0
    created_at: int
    status: Literal['running', 'completed', 'failed'] = 'running'


class SnapshotNotFound(KeyError):
    pass


class SnapshotManager:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for meta in root.glob('*/meta.json'):  # a crash mid-checkpoint leaves 'running' behind
            info = SnapshotInfo.model_validate_json(meta.read_text())
            if info.status == 'running':
                info.status = 'failed'
                meta.write_text(info.model_dump_json())

    def _meta(self, snapshot_id: str) -> Path:
        return self.root / snapshot_id / 'meta.json'

    def data_path(self, snapshot_id: str) -> Path:
        return self.root / snapshot_id / 'db'

    def all(self) -> list[SnapshotInfo]:
        infos = [SnapshotInfo.model_validate_json(p.read_text()) for p in self.root.glob('*/meta.json')]
        return sorted(infos, key=lambda i: i.created_at, reverse=True)

    def get(self, snapshot_id: str) -> SnapshotInfo:
        if not _SAFE_ID.match(snapshot_id) or not self._meta(snapshot_id).exists():
            raise SnapshotNotFound(snapshot_id)
        return SnapshotInfo.model_validate_json(self._meta(snapshot_id).read_text())

    def _save(self, info: SnapshotInfo) -> SnapshotInfo:
        self._meta(info.id).write_text(info.model_dump_json())
        return info

    def begin(self, name: str) -> SnapshotInfo:
        snapshot_id = time.strftime('%Y%m%d_%H%M%S') + '_' + uuid.uuid4().hex[:6]
        (self.root / snapshot_id).mkdir()
        return self._save(SnapshotInfo(id=snapshot_id, name=name, created_at=now_ns()))

    def complete(self, snapshot_id: str) -> SnapshotInfo:
        info = self.get(snapshot_id)
        files = [p for p in self.data_path(snapshot_id).rglob('*') if p.is_file()]
        info.size_bytes = sum(p.stat().st_size for p in files)
        info.size_kb = info.size_bytes // 1024
        info.file_count = len(files)
        info.status = 'completed'
        return self._save(info)

    def fail(self, snapshot_id: str) -> None:
        info = self.get(snapshot_id)
        info.status = 'failed'
        self._save(info)

    def delete(self, snapshot_id: str) -> SnapshotInfo:
        info = self.get(snapshot_id)
        shutil.rmtree(self.root / snapshot_id)
        return info
