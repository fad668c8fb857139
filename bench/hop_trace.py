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
import contextlib
import cProfile
import io
import logging
import pstats
import re
import runpy
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SEQ = re.compile(r'bv:(\d+):')
STEPS = ('frame read', 'delivered', 'marked', 'budget fired', 'outbox emit', 'ws send', 'socket.io in browser', 'DOM')


# -- inside the console process ----------------------------------------------------------------------------
def serve(console_dir: Path, mode: str) -> None:
    """Patch the hops (or only watch memory), expose what was seen at /_bench/..., run the checkout's main.py."""
    sys.path.insert(0, str(console_dir))
    if mode == 'memory':
        watch_memory(console_dir)
    else:
        trace_hops()
    sys.argv = [str(console_dir / 'main.py')]
    runpy.run_path(str(console_dir / 'main.py'), run_name='__main__')


def trace_hops() -> None:
    from engineio.async_drivers import asgi
    from fastapi.responses import PlainTextResponse
    from nicegui import app
    from nicegui.outbox import Outbox

    from app.live import FrameBudget
    from services.events.channel import Channel
    from services.events.transports import DirectConnection

    stamps: dict[str, dict[str, float]] = {}
    pending: list[str] = []
    waits: list[dict[str, float]] = []

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
        if pending and self._handle is None:
            wait = self.bucket.wait(self._loop.time())
            if wait > 0:
                waits.append({'wait_ms': wait * 1000, 'credit': self.bucket.credit, 'rate': self.bucket.rate,
                              'since_last_ms': (self._loop.time() - self.bucket.last) * 1000, 'renders': self.renders})
        for seq in pending:
            stamps.setdefault(seq, {}).setdefault('marked', now)
        mark(self, events)

    def traced_fire(self: Any, **kwargs: Any) -> None:
        now, renders = time.time() * 1000, self.renders
        fire(self, **kwargs)
        if self.renders == renders:  # held: the tab has not shown the last render yet
            return
        for seq in pending:
            stamps.setdefault(seq, {}).setdefault('budget fired', now)
        pending.clear()

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
    app.get('/_bench/waits')(lambda: waits)
    profiler = cProfile.Profile()
    async def profile_start() -> None:  # async: it runs in the event loop's thread, the one to profile
        profiler.enable()
    app.get('/_bench/profile/start')(profile_start)

    async def profile_stop(sort: str = 'tottime') -> str:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(45)
        return out.getvalue()
    app.get('/_bench/profile/stop', response_class=PlainTextResponse)(profile_stop)


def watch_memory(console_dir: Path) -> None:
    """/_bench/memory: RSS, glibc's heap, pymalloc's arenas, live objects by type, the deepest frame queue."""
    import ctypes
    import gc
    import os
    import tempfile
    from collections import Counter

    from fastapi.responses import PlainTextResponse
    from nicegui import app

    from services.events.transports import DirectConnection

    deepest = {'frames': 0}
    queue = DirectConnection._queue_frame

    def watched_queue(self: Any, sink: Any, data: Any) -> None:
        queue(self, sink, data)
        deepest['frames'] = max(deepest['frames'], len(self._pending))

    DirectConnection._queue_frame = watched_queue  # type: ignore[method-assign]
    from app import live as live_pages
    from services import runtime

    reclaims: list[float] = []
    reclaim = runtime.reclaim_memory

    def counted_reclaim() -> None:
        reclaims.append(time.time())
        reclaim()

    live_pages.reclaim_memory = counted_reclaim  # type: ignore[assignment]
    fire = live_pages.FrameBudget._fire
    rates = {'max': 0.0, 'bursting_renders': 0}

    def watched_fire(self: Any, **kwargs: Any) -> None:
        fire(self, **kwargs)
        rates['max'] = max(rates['max'], self.bucket.rate)
        rates['bursting_renders'] += self.bucket.bursting

    live_pages.FrameBudget._fire = watched_fire  # type: ignore[method-assign]

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                                          'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

    libc = ctypes.CDLL('libc.so.6')
    libc.mallinfo2.restype = MallInfo2

    def pymalloc() -> dict[str, int]:
        """sys._debugmallocstats() writes to the C stderr: catch it in a file and read its totals."""
        with tempfile.TemporaryFile() as sink:
            saved = os.dup(2)
            os.dup2(sink.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors='replace')
        wanted = {'# arenas allocated current': 'arenas', '# bytes in allocated blocks': 'used',
                  '# bytes in available blocks': 'free_blocks'}
        found: dict[str, int] = {}
        for line in text.splitlines():
            for label, name in wanted.items():
                if line.strip().startswith(label):
                    found[name] = int(line.split('=')[-1].replace(',', '').strip().split()[0])
        return found

    async def memory(collect: bool = False) -> dict[str, Any]:
        if collect:
            gc.collect()
            libc.malloc_trim(0)
        info = libc.mallinfo2()
        with open('/proc/self/statm') as handle:
            rss_pages = int(handle.read().split()[1])
        types = Counter(type(o).__name__ for o in gc.get_objects())
        return {'rss_mb': rss_pages * os.sysconf('SC_PAGE_SIZE') / 2**20,
                'glibc': {'heap_mb': info.arena / 2**20, 'mmapped_mb': info.hblkhd / 2**20,
                          'in_use_mb': info.uordblks / 2**20, 'free_mb': info.fordblks / 2**20},
                'pymalloc': pymalloc(), 'gc_objects': sum(types.values()), 'gc_counts': gc.get_count(),
                'types': dict(types.most_common(25)), 'deepest_frame_queue': deepest['frames'],
                'reclaims': list(reclaims), 'now': time.time(), 'rates': dict(rates)}

    app.get('/_bench/memory')(memory)
    import tracemalloc
    snapshots: list[Any] = []

    async def trace_start() -> None:
        tracemalloc.start(25)
        snapshots[:] = [tracemalloc.take_snapshot()]

    async def trace_diff(by: str = 'filename', per: int = 1) -> str:
        gc.collect()
        stats = tracemalloc.take_snapshot().compare_to(snapshots[0], by)
        lines = [f'{sum(s.size_diff for s in stats) / per / 1024:.1f} KB in all, per {per}']
        if by == 'traceback':
            mine: dict[str, list[float]] = {}
            for s in stats:
                frames = [f'{f.filename.split("/")[-1]}:{f.lineno}' for f in s.traceback
                          if f.filename.startswith(str(console_dir))]
                outside = s.traceback[-1].filename.split('/')[-1]
                key = ' < '.join(frames[-3:][::-1]) or f'not from the console: {outside}'
                acc = mine.setdefault(key, [0.0, 0.0])
                acc[0] += s.size_diff
                acc[1] += s.count_diff
            top = sorted(mine.items(), key=lambda kv: -kv[1][0])[:40]
            return '\n'.join(lines + [f'{v[0] / per / 1024:8.1f} KB {v[1] / per:8.1f}  {k}' for k, v in top])
        lines += [f'{s.size_diff / per / 1024:8.1f} KB {s.count_diff / per:8.1f}  {s.traceback}' for s in stats[:40]]
        return '\n'.join(lines)

    app.get('/_bench/tracemalloc/start')(trace_start)
    app.get('/_bench/tracemalloc/diff', response_class=PlainTextResponse)(trace_diff)


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


@contextlib.contextmanager
def traced_env(console_dir: Path, mode: str) -> Iterator[Any]:
    """live_e2e's Env, but the console runs this file's `serve` in `mode` (same env, ports and data dir)."""
    sys.path.insert(0, str(BENCH))
    import e2e_support
    import live_env

    original_spawn = e2e_support.Managed.spawn

    def spawn(name: str, argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> Any:
        if name == 'console':
            argv = [sys.executable, __file__, '--serve', str(console_dir), '--serve-mode', mode]
        return original_spawn(name, argv, cwd, env, log_path)

    e2e_support.Managed.spawn = spawn  # type: ignore[method-assign]
    try:
        with live_env.Env(console_dir) as env:
            yield env
    finally:
        e2e_support.Managed.spawn = original_spawn  # type: ignore[method-assign]


def drive(console_dir: Path, page: str, rate: int, secs: float, profile: bool, tabs: int = 1) -> None:
    import e2e_writers
    import httpx
    import live_env

    with traced_env(console_dir, 'hops') as env:
        ready = 'Column family' if page == '/keys' else 'Latest changes'
        baseline = env.open(env.baseline_view())
        base_offset = env.browser.clock_offset_ms(baseline)
        handle = env.open(env.console_view(page, ready))
        for _ in range(tabs - 1):  # more tabs of the same page: the traced one shares the machine with them
            env.open(env.console_view(page, ready))
        env.browser.run(handle, SOCKET_HOOK)
        offset = env.browser.clock_offset_ms(handle)
        if profile:
            httpx.get(env.console.url + '/_bench/profile/start', timeout=10)
        writes = asyncio.run(e2e_writers.put_writes(env.console.backend_url, env.console.token,
                                                    live_env.BENCH_KEYS, rate, secs, tag='hop'))
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


def drive_burst(console_dir: Path, rate: int, secs: float) -> None:
    """Dashboard + keys + keys open, a burst of batch writes: what the console's memory is made of before and after."""
    import e2e_support
    import e2e_writers
    import httpx
    import live_env

    with traced_env(console_dir, 'memory') as env:
        dashboard = env.open(env.console_view('/dashboard', 'Latest changes'))
        for _ in range(2):
            env.open(env.console_view('/keys', 'Column family'))
        memory = f'{env.console.url}/_bench/memory'
        e2e_support.settled_rss(env.console.process.pid)
        before = httpx.get(memory, timeout=60).json()
        writes = asyncio.run(e2e_writers.batch_writes(env.console.backend_url, env.console.token,
                                                      live_env.BURST_KEYS, rate, secs, tag='mem'))
        with contextlib.suppress(TimeoutError):
            e2e_support.wait_for(lambda: env.browser.seen_at(dashboard, writes.last_write()), 30, 'last write')
        e2e_support.settled_rss(env.console.process.pid)
        right_after = httpx.get(memory, timeout=60).json()
        e2e_support.settled_rss(env.console.process.pid, timeout=30, quiet=3.0)  # as live_e2e measures it
        after = httpx.get(memory, timeout=60).json()
        collected = httpx.get(memory, params={'collect': True}, timeout=60).json()
    print(f'\nburst: {writes.achieved_rate:,.0f} writes/s for {secs:.0f} s, 3 tabs\n')
    print('| | before | settled (2 equal samples) | settled (3 s without change) | after a collection + malloc_trim '
          '|\n|---|---|---|---|---|')
    rows = [('RSS MB', lambda m: m['rss_mb']), ('glibc heap MB', lambda m: m['glibc']['heap_mb']),
            ('glibc in use MB', lambda m: m['glibc']['in_use_mb']), ('glibc free MB', lambda m: m['glibc']['free_mb']),
            ('glibc mmapped MB', lambda m: m['glibc']['mmapped_mb']),
            ('pymalloc arenas (1 MiB)', lambda m: m['pymalloc'].get('arenas')),
            ('pymalloc used MB', lambda m: m['pymalloc'].get('used', 0) / 2**20),
            ('pymalloc free blocks MB', lambda m: m['pymalloc'].get('free_blocks', 0) / 2**20),
            ('objects the collector tracks', lambda m: m['gc_objects']),
            ('deepest frame queue', lambda m: m['deepest_frame_queue'])]
    for label, get in rows:
        print(f'| {label} | ' + ' | '.join(f'{get(m):,.1f}' if isinstance(get(m), float) else f'{get(m)}'
                                            for m in (before, right_after, after, collected)) + ' |')
    print(f"\nhighest event rate a view saw {after['rates']['max']:,.0f}/s, renders while bursting "
          f"{after['rates']['bursting_renders']}")
    print(f"reclaims (s before the 'after' sample): {[round(after['now'] - t, 1) for t in after['reclaims']]}")
    grown = {name: after['types'].get(name, 0) - before['types'].get(name, 0) for name in after['types']}
    print('\nobject types that grew: ' + ', '.join(f'{name} +{n:,}' for name, n in
                                                   sorted(grown.items(), key=lambda kv: -kv[1])[:12] if n > 0))


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
    print('| step (time since the previous one) | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|')
    for step in STEPS:
        if steps[step]:
            print(f'| {step} | {spread(steps[step])} |')
    if totals:
        print(f'| **write -> DOM** | {spread(totals)} |')


def spread(values: list[float]) -> str:
    """p50 | p90 | p99, nearest rank (as live_e2e counts them)."""
    from e2e_support import percentile

    return ' | '.join(f'{percentile(values, q):.2f}' for q in (50, 90, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--serve', type=Path, help=argparse.SUPPRESS)
    parser.add_argument('--serve-mode', default='hops', help=argparse.SUPPRESS)
    parser.add_argument('--console-dir', type=Path, default=BENCH.parent)
    parser.add_argument('--page', default='/dashboard', choices=['/dashboard', '/keys'])
    parser.add_argument('--rate', type=int, default=50)
    parser.add_argument('--secs', type=float, default=10.0)
    parser.add_argument('--tabs', type=int, default=1, help='tabs of the page open (hops are traced in the first)')
    parser.add_argument('--burst', action='store_true', help='memory before and after a burst (use --rate 5000)')
    parser.add_argument('--profile', action='store_true',
                        help='cProfile the console while it writes (top 45 by own time)')
    args = parser.parse_args()
    if args.burst:
        logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
        drive_burst(args.console_dir.resolve(), args.rate, args.secs)
        return
    if args.serve:
        serve(args.serve.resolve(), args.serve_mode)
        return
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    drive(args.console_dir.resolve(), args.page, args.rate, args.secs, args.profile, args.tabs)


if __name__ == '__main__':
    main()
