"""Small pieces the scrubber, CI/CD and WASM plugin features share (not a feature: no routes).

- `JsonRecords`: a feature's records as small JSON files in its own folder of the data dir, outside
  the database, so that restoring a snapshot never rewinds a feature's own bookkeeping;
- `JobTasks`: the background jobs of a feature, cancelled cleanly when the backend stops;
- `Throttle`: progress events at most ~10 a second, and always the last one;
- `fail`: an error body both clients read (`message` for the Angular app, `error` for the console).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ..http import ApiError

log = logging.getLogger(__name__)

M = TypeVar('M', bound=BaseModel)
SAFE_ID = re.compile(r'^[A-Za-z0-9_-]{1,64}$')


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def fail(status: int, message: str) -> ApiError:
    """A refusal with the reason under both names the two clients read."""
    return ApiError(status, {'success': False, 'message': message, 'error': message})


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + '.partial')
    with open(partial, 'wb') as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


class JsonRecords(Generic[M]):
    """Records of one model, one `<id>.json` file each, in `folder`."""

    def __init__(self, folder: Path, model: type[M]) -> None:
        self.folder = folder
        self.model = model
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, record_id: str, suffix: str = '.json') -> Path:
        if not SAFE_ID.match(record_id):
            raise ValueError(f'unsafe id {record_id!r}')
        return self.folder / f'{record_id}{suffix}'

    def save(self, record_id: str, record: M) -> None:
        write_atomically(self.path(record_id), record.model_dump_json().encode())

    def load_all(self) -> list[M]:
        """Every readable record; a damaged file is logged and skipped, never fatal."""
        records = []
        for path in sorted(self.folder.glob('*.json')):
            try:
                records.append(self.model.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError) as exc:
                log.warning('skipping unreadable record %s: %s', path.name, exc)
        return records

    def delete(self, record_id: str, *suffixes: str) -> None:
        for suffix in ('.json', *suffixes):
            with contextlib.suppress(FileNotFoundError):
                self.path(record_id, suffix).unlink()


class JobTasks:
    """A feature's running jobs; `supervise` (a backend feature task) cancels them when the backend stops."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}

    def start(self, job_id: str, work: Coroutine[Any, Any, None]) -> asyncio.Task:
        task = asyncio.create_task(work, name=f'job {job_id}')
        self.tasks[job_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(job_id, None))
        return task

    def running(self, job_id: str) -> bool:
        return job_id in self.tasks

    async def cancel(self, job_id: str) -> None:
        task = self.tasks.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def supervise(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            tasks = list(self.tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class Throttle:
    """True at most every `interval` seconds (the first call included), and always when `final`."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._last = float('-inf')

    def due(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.interval:
            self._last = now
            return True
        return False
