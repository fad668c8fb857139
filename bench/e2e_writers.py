"""Paced writers for the live benches: every write's value carries a sequence number the tabs look for."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

_seq = itertools.count(1)


# -- writers --------------------------------------------------------------------------------------------
@dataclass
class WriteLog:
    """Every write the bench made: its value token, key and wall-clock send time (ms since epoch)."""
    sent: dict[int, float] = field(default_factory=dict)
    key: dict[int, str] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)
    failed: int = 0
    first_send: float = 0.0
    last_ack: float = 0.0
    final_seq: int | None = None  # a single write sent after all others were acknowledged

    @property
    def achieved_rate(self) -> float:
        span = (self.last_ack - self.first_send) / 1000
        return len(self.acked) / span if span > 0 else 0.0

    def last_write(self) -> int:
        """The write every view must end up showing: the final one if there is one (concurrent batches
        can be applied out of order, so the highest sequence number is not necessarily the newest)."""
        return self.final_seq if self.final_seq is not None else max(self.acked)


def value(seq: int, tag: str) -> str:
    return f'bv:{seq}:{tag}'


async def stored_tokens(base_url: str, token_: str, keys: list[str]) -> dict[str, str]:
    """key -> token of the value the backend holds now: the last write *as applied*, which under load is
    not always the last one sent (concurrent PUTs to one key can land out of order)."""
    async with httpx.AsyncClient(base_url=base_url, headers=auth(token_), timeout=30) as client:
        values = await asyncio.gather(*(client.get(f'/keys/{key}') for key in keys))
    return {key: ':'.join(r.json()['value'].split(':')[:2]) + ':' for key, r in zip(keys, values, strict=True)}


def auth(token_: str) -> dict[str, str]:
    return {'Authorization': f'Bearer {token_}', 'Content-Type': 'application/json'}


async def paced(rate: float, duration: float, send: Callable[[int], Any], concurrency: int = 64) -> None:
    """Call `send(i)` at `rate` per second for `duration` seconds (late ticks go at once, bounded)."""
    gate = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task] = []
    start = time.perf_counter()

    async def one(i: int) -> None:
        async with gate:
            await send(i)

    for i in range(int(rate * duration)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


def writer_session(token_: str, connections: int) -> aiohttp.ClientSession:
    """aiohttp, not httpx, for the timed writers: a third of the CPU per request on this 2-core machine,
    where every core the bench itself burns is taken from the console and Chromium."""
    return aiohttp.ClientSession(headers=auth(token_), connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=60))


async def _send(session: aiohttp.ClientSession, method: str, url: str, body: Any) -> bool:
    try:
        async with session.request(method, url, data=json.dumps(body)) as response:
            await response.read()
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def put_writes(base_url: str, token_: str, keys: list[str], rate: float, duration: float,
                     tag: str) -> WriteLog:
    """PUT /keys/{key} {"value": "bv:<seq>:<tag>"}, keys round-robin, at `rate` writes/s."""
    result = WriteLog()
    async with writer_session(token_, 32) as session:
        async def send(i: int) -> None:
            seq = next(_seq)
            key = keys[i % len(keys)]
            result.key[seq], result.sent[seq] = key, time.time() * 1000
            ok = await _send(session, 'PUT', f'{base_url}/keys/{key}', {'value': value(seq, tag)})
            result.last_ack = time.time() * 1000
            if ok:
                result.acked.add(seq)
            else:
                result.failed += 1
        result.first_send = time.time() * 1000
        await paced(rate, duration, send)
    return result


async def batch_writes(base_url: str, token_: str, keys: list[str], rate: float, duration: float, tag: str,
                       batch: int = 100) -> WriteLog:
    """POST /keys/batch with `batch` records each, so that `rate` records/s go out in even slices."""
    result = WriteLog()
    counter = itertools.count()
    async with writer_session(token_, 16) as session:
        async def send(_i: int, size: int = batch) -> None:
            seqs = [next(_seq) for _ in range(size)]
            now = time.time() * 1000
            records = []
            for seq in seqs:
                key = keys[next(counter) % len(keys)]
                result.key[seq], result.sent[seq] = key, now
                records.append({'key': key, 'value': value(seq, tag)})
            ok = await _send(session, 'POST', f'{base_url}/keys/batch', {'records': records})
            result.last_ack = time.time() * 1000
            if ok:
                result.acked.update(seqs)
            else:
                result.failed += len(seqs)
        result.first_send = time.time() * 1000
        await paced(rate / batch, duration, send, concurrency=16)
        await send(0, size=1)  # the final write, alone, after everything else was acknowledged
        result.final_seq = max(result.sent)
    return result


async def fill(base_url: str, token_: str, names: Iterator[str], total: int, value_of: Callable[[str], str],
               per_request: int = 1000, concurrency: int = 4) -> float:
    """Write `total` keys in batches of `per_request`; returns puts/s."""
    gate = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, headers=auth(token_), timeout=120) as client:
        async def post(chunk: list[str]) -> None:
            async with gate:
                body = {'records': [{'key': k, 'value': value_of(k)} for k in chunk]}
                (await client.post('/keys/batch', json=body)).raise_for_status()
        chunks = [list(itertools.islice(names, per_request)) for _ in range(math.ceil(total / per_request))]
        await asyncio.gather(*(post(c) for c in chunks if c))
    return total / (time.perf_counter() - start)
