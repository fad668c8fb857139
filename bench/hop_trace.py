"""Where one live update spends its time, hop by hop: write -> console -> browser -> DOM.

One tab, writes at a steady rate; every write's value carries `bv:<seq>:` so each hop can stamp it:
- bench: the PUT is sent;
- console (patched in this process, then `main.py` of the checkout runs as usual): its frame is read
  (`DirectConnection._queue_frame`), the event is delivered to the pages (`Channel._deliver`), a page
  marks its view (`FrameBudget.mark`), the frame budget fires (`FrameBudget._fire`), NiceGUI's outbox
  emits it (`Outbox._emit`), engine.io hands it to the ASGI WebSocket (`WebSocket.send`);
- browser: socket.io has decoded it (`socket.onAny`), the value is in the DOM (observer.js);
- a baseline tab in the same browser (its own WebSocket to the backend) shows the same writes.
Prints the median and p90 of each step. Why: the end-to-end number says how late, not where.

Run: `.venv/bin/python bench/hop_trace.py [--console-dir DIR] [--page /dashboard] [--rate 50] [--secs 10]
[--profile]`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import re
import runpy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SEQ = re.compile(r'bv:(\d+):')
STEPS = ('frame read', 'delivered', 'marked', 'budget fired', 'outbox emit', 'ws send', 'socket.io in browser', 'DOM')


# -- inside the console process ----------------------------------------------------------------------------
def serve(console_dir: Path) -> None:
    """Patch the hops, expose the stamps at /_bench/hops, then run the checkout's main.py."""
    sys.path.insert(0, str(console_dir))
    from engineio.async_drivers import asgi
    from fastapi.responses import PlainTextResponse
    from nicegui import app
    from nicegui.outbox import Outbox

    from app.live import FrameBudget
    from services.events.channel import Channel
    from services.events.transports import DirectConnection

    stamps: dict[str, dict[str, float]] = {}
    pending: list[str] = []

    def stamp(step: str, text: str) -> list[str]:
        now = time.time() * 1000
        seqs = SEQ.findall(text)
        for seq in seqs:
            stamps.setdefault(seq, {}).setdefault(step, now)
        return seqs

    deliver, mark, fire = Channel._deliver, FrameBudget.mark, FrameBudget._fire
    emit, send = Outbox._emit, asgi.WebSocket.send

    def traced_queue(self: Any, sink: Any, data: Any) -> None:
        stamp('frame read', data if isinstance(data, str) else '')
        queue(self, sink, data)

    def traced_deliver(self: Any, event: Any) -> None:
        pending.extend(stamp('delivered', str(getattr(event, 'value', '') or '')))
        deliver(self, event)

    def traced_mark(self: Any, events: int = 1) -> None:
        now = time.time() * 1000
        for seq in pending:
            stamps.setdefault(seq, {}).setdefault('marked', now)
        mark(self, events)

    def traced_fire(self: Any) -> None:
        now = time.time() * 1000
        for seq in pending:
            stamps.setdefault(seq, {}).setdefault('budget fired', now)
        pending.clear()
        fire(self)

    async def traced_emit(self: Any, message: Any) -> None:
        stamp('outbox emit', str(message))
        await emit(self, message)

    async def traced_send(self: Any, message: Any) -> None:
        stamp('ws send', message if isinstance(message, str) else '')
        await send(self, message)

    Channel._deliver, FrameBudget._fire = traced_deliver, traced_fire  # type: ignore[method-assign]
    FrameBudget.mark = traced_mark  # type: ignore[method-assign]
    queue = DirectConnection._queue_frame
    DirectConnection._queue_frame = traced_queue  # type: ignore[method-assign]
    Outbox._emit, asgi.WebSocket.send = traced_emit, traced_send  # type: ignore[method-assign]
    app.get('/_bench/hops')(lambda: stamps)
    profiler = cProfile.Profile()
    async def profile_start() -> None:  # async: it runs in the event loop's thread, the one to profile
        profiler.enable()
    app.get('/_bench/profile/start')(profile_start)

    async def profile_stop() -> str:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats('tottime').print_stats(45)
        return out.getvalue()
    app.get('/_bench/profile/stop', response_class=PlainTextResponse)(profile_stop)
    sys.argv = [str(console_dir / 'main.py')]
    runpy.run_path(str(console_dir / 'main.py'), run_name='__main__')


# -- the driver ----------------------------------------------------------------------------------------------
SOCKET_HOOK = """
const seen = window.__sio = window.__sio || {};
window.socket.onAny((...args) => {
  const at = performance.timeOrigin + performance.now();
  const text = JSON.stringify(args);
  for (const m of text.matchAll(/bv:(\\d+):/g)) if (!(m[1] in seen)) seen[m[1]] = at;
});
return true;
"""


def drive(console_dir: Path, page: str, rate: int, secs: float, profile: bool) -> None:
    import httpx

    sys.path.insert(0, str(BENCH))
    import e2e_support
    import live_e2e

    def start_traced(cls: Any, _dir: Path, workdir: Path) -> Any:
        """Console.start, but the child runs this file's `serve` (same env, ports and data dir)."""
        original_spawn = e2e_support.Managed.spawn

        def spawn(name: str, argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> Any:
            return original_spawn(name, [sys.executable, __file__, '--serve', str(console_dir)], cwd, env, log_path)

        e2e_support.Managed.spawn = spawn  # type: ignore[method-assign]
        try:
            return original_start(_dir, workdir)
        finally:
            e2e_support.Managed.spawn = original_spawn  # type: ignore[method-assign]

    original_start = e2e_support.Console.start
    live_e2e.Console.start = classmethod(start_traced)  # type: ignore[method-assign, assignment]
    with live_e2e.Env(console_dir) as env:
        ready = 'Column family' if page == '/keys' else 'Latest changes'
        baseline = env.open(env.baseline_view())
        base_offset = env.browser.clock_offset_ms(baseline)
        handle = env.open(env.console_view(page, ready))
        env.browser.run(handle, SOCKET_HOOK)
        offset = env.browser.clock_offset_ms(handle)
        if profile:
            httpx.get(env.console.url + '/_bench/profile/start', timeout=10)
        writes = asyncio.run(e2e_support.put_writes(env.console.backend_url, env.console.token,
                                                    live_e2e.BENCH_KEYS, rate, secs, tag='hop'))
        time.sleep(1.0)
        console = httpx.get(env.console.url + '/_bench/hops', timeout=10).json()
        if profile:
            print(httpx.get(env.console.url + '/_bench/profile/stop', timeout=10).text)
        browser_sio = env.browser.run(handle, 'return window.__sio;')
        dom = env.browser.state(handle)['seen']
        base_seen = env.browser.state(baseline)['seen']
    base_ms = sorted(base_seen[str(seq)] - base_offset - writes.sent[seq] for seq in writes.acked
                     if str(seq) in base_seen)
    if base_ms:
        print(f'the baseline page in the same browser, same writes: write -> DOM p50 '
              f'{statistics.median(base_ms):.2f} ms')
    report(writes, console, browser_sio, dom, offset, page, rate)


def report(writes: Any, console: dict[str, dict[str, float]], sio: dict[str, float], dom: dict[str, float],
           offset: float, page: str, rate: int) -> None:
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    totals: list[float] = []
    for seq in sorted(writes.acked):
        key = str(seq)
        times = dict(console.get(key, {}))
        if key in sio:
            times['socket.io in browser'] = sio[key] - offset
        if key in dom:
            times['DOM'] = dom[key] - offset
        if len(times) < len(STEPS):
            continue
        previous = writes.sent[seq]
        for step in STEPS:
            steps[step].append(times[step] - previous)
            previous = times[step]
        totals.append(times['DOM'] - writes.sent[seq])
    print(f'\n{page}, 1 tab, {rate} writes/s: {len(totals)} of {len(writes.acked)} writes traced through every hop\n')
    print('| step (time since the previous one) | p50 ms | p90 ms |\n|---|---|---|')
    for step in STEPS:
        values = sorted(steps[step])
        if values:
            print(f'| {step} | {statistics.median(values):.2f} | {values[int(len(values) * 0.9)]:.2f} |')
    if totals:
        totals.sort()
        print(f'| **write -> DOM** | **{statistics.median(totals):.2f}** | **{totals[int(len(totals) * 0.9)]:.2f}** |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--serve', type=Path, help=argparse.SUPPRESS)
    parser.add_argument('--console-dir', type=Path, default=BENCH.parent)
    parser.add_argument('--page', default='/dashboard', choices=['/dashboard', '/keys'])
    parser.add_argument('--rate', type=int, default=50)
    parser.add_argument('--secs', type=float, default=10.0)
    parser.add_argument('--profile', action='store_true',
                        help='cProfile the console while it writes (top 45 by own time)')
    args = parser.parse_args()
    if args.serve:
        serve(args.serve.resolve())
        return
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    drive(args.console_dir.resolve(), args.page, args.rate, args.secs, args.profile)


if __name__ == '__main__':
    main()
