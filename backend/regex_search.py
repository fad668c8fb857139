"""Regex search off the event loop, with a time budget: `GET /keys/search?mode=regex`.

`re` holds the GIL for the whole of one `search()` call, so a thread cannot keep the server responsive
against a pattern like `^(a|a)+$`: the matching runs in small worker processes (`regex_worker.py`),
waited for in a thread, and a worker that overruns the budget is killed and answered `RegexTimeout`.
Idle workers are reused; at most `size` run at once, so a burst of evil patterns costs `size` cores at most.
"""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import anyio.to_thread

WORKER = Path(__file__).with_name('regex_worker.py')


class RegexTimeout(Exception):
    """The pattern did not finish within the budget (its worker was killed)."""


class RegexFailed(Exception):
    """The worker could not run the pattern (reported with its reason)."""


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, '-I', '-S', str(WORKER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    @property
    def pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        return self.process.stdin, self.process.stdout

    def ask(self, job: bytes, budget: float) -> list[int]:
        """Blocking (run in a thread): send one job, wait at most `budget` seconds for its answer."""
        deadline = time.monotonic() + budget
        stdin, stdout = self.pipes
        try:
            stdin.write(job)
            stdin.flush()
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
        except OSError as exc:
            self.kill()
            raise RegexFailed(f'regex worker failed: {exc}') from None
        if not ready:
            self.kill()
            raise RegexTimeout
        return self._reply(stdout.readline())

    def _reply(self, line: bytes) -> list[int]:
        if not line:
            self.kill()
            raise RegexFailed('regex worker exited')
        reply = json.loads(line)
        if 'error' in reply:
            raise RegexFailed(reply['error'])
        return reply['matches']

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()


class RegexMatcher:
    def __init__(self, budget_secs: float = 1.0, size: int = 2) -> None:
        self.budget_secs = budget_secs
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Worker] = []
        self._closed = False

    async def search(self, pattern: str, keys: list[str], limit: int) -> list[int]:
        """Indices of the first `limit` keys `pattern` finds; RegexTimeout past the budget."""
        job = (json.dumps({'pattern': pattern, 'keys': keys, 'limit': limit}) + '\n').encode()
        async with self._slots:
            worker = self._idle.pop() if self._idle else await anyio.to_thread.run_sync(_Worker)
            try:
                found = await anyio.to_thread.run_sync(worker.ask, job, self.budget_secs)
            except BaseException:
                worker.kill()  # timed out, failed or cancelled: its state is unknown (SIGKILL reaps at once)
                raise
            if self._closed:  # the server stopped meanwhile: leave no process behind
                worker.kill()
            else:
                self._idle.append(worker)
            return found

    def close(self) -> None:
        self._closed = True
        for worker in self._idle:
            worker.kill()
        self._idle.clear()
