"""Event service throughput and fan-out, as ratios to baselines measured in the same run.

- ingest: events/s parsed and dispatched by the service from one local WebSocket, vs a raw
  `websockets` receive loop over the same frames (target >= 0.7);
- fan-out: one upstream socket feeding 50 subscribers; sockets counted on the server; RSS growth
  after 1,000,000 events (target < 10 MB).

Run: `.venv/bin/python bench/events_service.py [--ingest 200000] [--fanout 1000000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from services.events import EventService, KeyChangeEvent, Timing  # noqa: E402
from services.runtime import tune_gc  # noqa: E402


def frames(n: int) -> list[str]:
    base = {'type': 'key_change', 'operation': 'put', 'cf': 'default', 'value_size': 5, 'value': 'Alice',
            'timestamp': time.time_ns()}
    return [json.dumps({**base, 'key': f'user:{i}', 'seq': i + 1}) for i in range(n)]


def rss_mb() -> float:
    with open('/proc/self/statm') as handle:
        return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e6


class FrameServer:
    """A bare WebSocket server that plays `connected` then the frames, counting its sockets."""

    def __init__(self, payload: list[str]) -> None:
        self.payload = payload
        self.sockets = 0
        self.go = asyncio.Event()

    async def handler(self, ws) -> None:
        self.sockets += 1
        await ws.send(json.dumps({'type': 'connected', 'epoch': 'bench', 'seq': 0}))
        await self.go.wait()
        for frame in self.payload:
            await ws.send(frame)
        await ws.wait_closed()


async def raw_receive(n: int, payload: list[str]) -> float:
    server = FrameServer(payload)
    async with serve(server.handler, '127.0.0.1', 0, compression=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        async with connect(f'ws://127.0.0.1:{port}', compression=None, max_size=None) as ws:
            await ws.recv()
            server.go.set()
            start = time.perf_counter()
            for _ in range(n):
                await ws.recv()
            return n / (time.perf_counter() - start)


async def service_ingest(n: int, payload: list[str]) -> float:
    server = FrameServer(payload)
    async with serve(server.handler, '127.0.0.1', 0, compression=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        service = EventService(f'http://127.0.0.1:{port}', timing=Timing(ping_interval=60, ping_timeout=60))
        done = asyncio.Event()
        count = 0

        def on_event(event) -> None:
            nonlocal count
            count += isinstance(event, KeyChangeEvent)
            if count == n:
                done.set()

        service.on_key_changes('bench').subscribe(on_event, maxsize=n + 10)
        service.connect('bench')
        while service.status('bench').state != 'connected':
            await asyncio.sleep(0.01)
        start = time.perf_counter()
        server.go.set()
        await done.wait()
        rate = n / (time.perf_counter() - start)
        await service.close()
        return rate


async def fanout(n: int, subscribers: int) -> tuple[int, float, float, int]:
    chunk = frames(10_000)
    rounds = max(1, n // len(chunk))

    class Renumbering(FrameServer):
        async def handler(self, ws) -> None:
            self.sockets += 1
            await ws.send(json.dumps({'type': 'connected', 'epoch': 'bench', 'seq': 0}))
            await self.go.wait()
            seq = 0
            for _ in range(rounds):
                for frame in chunk:
                    seq += 1
                    await ws.send(frame[:frame.rindex('"seq": ')] + f'"seq": {seq}}}')
            await ws.wait_closed()

    server = Renumbering(chunk)
    async with serve(server.handler, '127.0.0.1', 0, compression=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        service = EventService(f'http://127.0.0.1:{port}', timing=Timing(ping_interval=60, ping_timeout=60))
        counts = [0] * subscribers
        total = rounds * len(chunk)

        def make(i: int):
            def on_event(event) -> None:
                counts[i] += 1
            return on_event

        for i in range(subscribers):
            service.on_key_changes('bench').subscribe(make(i))
        service.connect('bench')
        while service.status('bench').state != 'connected':
            await asyncio.sleep(0.01)
        gc.collect()
        before = rss_mb()
        start = time.perf_counter()
        server.go.set()
        peak = before
        while service.status('bench').counters.received < total:
            await asyncio.sleep(0.5)
            peak = max(peak, rss_mb())
        elapsed = time.perf_counter() - start
        await asyncio.sleep(1.0)  # let the subscribers drain what is queued
        gc.collect()
        after = rss_mb()
        status = service.status('bench')
        await service.close()
        delivered = sum(counts)
        return server.sockets, after - before, total / elapsed, status.counters.dropped, delivered, peak - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--ingest', type=int, default=200_000)
    parser.add_argument('--fanout', type=int, default=1_000_000)
    parser.add_argument('--subscribers', type=int, default=50)
    args = parser.parse_args()
    payload = frames(args.ingest)
    tune_gc()  # as main.py does at start-up (services/runtime.py)
    raw = asyncio.run(raw_receive(args.ingest, payload))
    ingest = asyncio.run(service_ingest(args.ingest, payload))
    print(f'raw websockets receive loop frames/s  {raw:12,.0f}  (baseline)')
    print(f'event service parsed+dispatched/s     {ingest:12,.0f}  ratio {ingest / raw:.3f}')
    if args.fanout:
        sockets, growth, rate, dropped, delivered, peak = asyncio.run(fanout(args.fanout, args.subscribers))
        print(f'fan-out: {args.subscribers} subscribers on {sockets} upstream socket(s); {args.fanout:,} events at '
              f'{rate:,.0f}/s upstream; {delivered:,} deliveries, {dropped:,} dropped (those subscribers were told '
              f'to resync); RSS growth {growth:.1f} MB after, peak {peak:.1f} MB')


if __name__ == '__main__':
    main()
