"""Backend throughput, each number as a ratio to a baseline measured in the same run.

- puts/s through `POST /keys/batch` (1000 records a request) vs rocksdict's raw WriteBatch rate;
- events/s delivered on `/ws/events` to 1 and to 10 subscribers vs a raw `websockets` loopback
  stream of frames of the same size (server and client in one process, like the backend here).

Run: `.venv/bin/python bench/backend_throughput.py [--events 50000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rocksdict import Options, Rdict, WriteBatch
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend.server import BackendProcess  # noqa: E402

TOKEN = 'apx_bench-admin-token'
AUTH = {'Authorization': f'Bearer {TOKEN}', 'Content-Type': 'application/json'}


def raw_rocksdb_puts(n: int, value: bytes) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        db = Rdict(tmp + '/db', opts)
        start = time.perf_counter()
        for chunk in range(0, n, 1000):
            batch = WriteBatch(raw_mode=True)
            for i in range(chunk, min(n, chunk + 1000)):
                batch.put(b'key:%08d' % i, value)
            db.write(batch)
        elapsed = time.perf_counter() - start
        db.close()
    return n / elapsed


def http_batch_puts(server: BackendProcess, n: int, value: str) -> float:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        start = time.perf_counter()
        for chunk in range(0, n, 1000):
            records = [{'key': f'key:{i:08d}', 'value': value} for i in range(chunk, min(n, chunk + 1000))]
            client.post('/keys/batch', json={'records': records}).raise_for_status()
        return n / (time.perf_counter() - start)


async def raw_ws_stream(n: int, frame: str, clients: int) -> float:
    """Baseline: a bare websockets server sends n frames to each of `clients` readers."""
    async def handler(ws):
        for _ in range(n):
            await ws.send(frame)
        await ws.close()

    async def read(port: int) -> float:
        async with connect(f'ws://127.0.0.1:{port}', max_size=None) as ws:
            start = time.perf_counter()
            got = 0
            async for message in ws:
                got += json.loads(message)['type'] == 'key_change'  # same client work as below
            return got / (time.perf_counter() - start)

    async with serve(handler, '127.0.0.1', 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        return min(await asyncio.gather(*(read(port) for _ in range(clients))))


async def backend_ws_delivery(server: BackendProcess, n: int, subscribers: int) -> float:
    """Events/s delivered to each of `subscribers` clients while the backend publishes n events."""
    sockets = [await connect(f'{server.ws_url}/ws/events', additional_headers=AUTH, max_size=None)
               for _ in range(subscribers)]
    for ws in sockets:
        await ws.recv()

    async def drain(ws) -> float:
        got = 0
        start = None
        while got < n:
            message = await ws.recv()
            if start is None:
                start = time.perf_counter()
            got += json.loads(message)['type'] == 'key_change'
        return got / (time.perf_counter() - start)

    readers = [asyncio.create_task(drain(ws)) for ws in sockets]

    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=60) as client:
        for chunk in range(0, n, 1000):
            records = [{'key': f'key:{i:08d}', 'value': 'v' * 32} for i in range(chunk, min(n, chunk + 1000))]
            (await client.post('/keys/batch', json={'records': records})).raise_for_status()
    rates = await asyncio.gather(*readers)
    for ws in sockets:
        await ws.close()
    return min(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--puts', type=int, default=100_000)
    parser.add_argument('--events', type=int, default=30_000)
    args = parser.parse_args()
    value = 'v' * 32
    with tempfile.TemporaryDirectory() as tmp:
        with BackendProcess(Path(tmp), admin_token=TOKEN) as server:
            raw_puts = raw_rocksdb_puts(args.puts, value.encode())
            api_puts = http_batch_puts(server, args.puts, value)
            sample = json.dumps({'type': 'key_change', 'operation': 'put', 'key': 'key:00000001', 'cf': 'default',
                                 'value_size': 32, 'value': value, 'timestamp': time.time_ns(), 'seq': 123456})
            raw_one = asyncio.run(raw_ws_stream(args.events, sample, 1))
            raw_ten = asyncio.run(raw_ws_stream(args.events, sample, 10))
            one = asyncio.run(backend_ws_delivery(server, args.events, 1))
            ten = asyncio.run(backend_ws_delivery(server, args.events, 10))
    print(f'rocksdict raw WriteBatch puts/s        {raw_puts:12,.0f}  (baseline)')
    print(f'POST /keys/batch puts/s               {api_puts:12,.0f}  ratio {api_puts / raw_puts:.3f}')
    print(f'raw websockets frames/s, 1 reader     {raw_one:12,.0f}  (baseline, {len(sample)} B frames)')
    print(f'/ws/events delivered/s, 1 subscriber  {one:12,.0f}  ratio {one / raw_one:.3f}')
    print(f'raw websockets frames/s, 10 readers   {raw_ten:12,.0f}  (baseline, each)')
    print(f'/ws/events delivered/s, 10 subs (each){ten:12,.0f}  ratio {ten / raw_ten:.3f}')


if __name__ == '__main__':
    main()
