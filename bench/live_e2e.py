"""The live path end to end: a key written through the backend's REST API, timed until its new value
is in the DOM of a console page in headless Chromium, next to a baseline page in the same browser that
holds its own WebSocket to the backend's `/ws/events` (the old Angular design, `baseline.html`).

Scenarios (each starts `python main.py` of the checkout under test, with its embedded backend):
- latency: 1 and 10 tabs x 50 and 200 writes/s, pages /keys, /dashboard and the baseline page:
  write -> DOM p50/p95/p99 per tab, writes never shown, every key's last value shown, tab reloads;
- memory: console RSS idle, per open /dashboard tab (vs a bare NiceGUI page, `bare_nicegui.py`),
  after rounds of opening and closing tabs, before/after a 5,000 writes/s burst;
- burst: 5,000 writes/s for 20 s with 3 tabs (dashboard, keys, keys) vs 3 baseline tabs: DOM
  updates/s per tab, console event-loop lag, last write shown within 1 s; empty and pre-filled store;
- nav: 1,000,000 keys, navigation to /keys -> first key row in the DOM, median of 5 (vs baseline).

Run: `.venv/bin/python bench/live_e2e.py [--console-dir DIR] [--scenario latency|memory|burst|nav|all]
[--quick] [--out results.json]`. Prints Markdown tables; every console number has its ratio to the
baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_browser import BARE_READY, BASELINE_READY, CONSOLE_READY, Browser  # noqa: E402
from e2e_support import (  # noqa: E402
    RECONNECT_TIMEOUT,
    BareApp,
    BaselineServer,
    Console,
    CpuMeter,
    LagProbe,
    descendants,
    dump,
    percentile,
    settled_rss,
    wait_for,
)
from e2e_writers import WriteLog, auth, batch_writes, fill, put_writes, stored_tokens  # noqa: E402

log = logging.getLogger('live_e2e')
REPO = Path(__file__).resolve().parents[1]
BENCH_KEYS = [f'bench:{i:02d}' for i in range(20)]  # all on screen at once in a 1400x2000 window
BURST_KEYS = [f'burst:{i:04d}' for i in range(1000)]


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `--quick` shrinks everything for a smoke test (numbers not comparable)."""
    tabs: tuple[int, ...] = (1, 10)
    rates: tuple[int, ...] = (50, 200)
    latency_secs: float = 10.0
    drain_secs: float = 3.0
    memory_tabs: int = 30
    memory_rounds: int = 5
    memory_burst_secs: float = 10.0
    burst_rate: int = 5000
    burst_secs: float = 20.0
    burst_prefill: int = 100_000
    nav_keys: int = 1_000_000
    nav_repeats: int = 5

    @classmethod
    def quick(cls) -> Config:
        return cls(tabs=(1, 3), latency_secs=5, memory_tabs=8, memory_rounds=2, memory_burst_secs=4, burst_secs=6,
                   burst_prefill=20_000, nav_keys=50_000, nav_repeats=3)


@dataclass(frozen=True)
class View:
    """A page the bench opens in tabs: where, and the JS that says it is loaded and live."""
    name: str
    url: str
    ready: str
    ready_args: tuple[Any, ...] = ()


class Env(contextlib.ExitStack):
    """Console + baseline server + Chromium (+ optionally the bare NiceGUI app), torn down in reverse."""

    def __init__(self, console_dir: Path, bare: bool = False) -> None:
        super().__init__()
        self.console_dir = console_dir
        self.with_bare = bare

    def __enter__(self) -> Env:
        super().__enter__()
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix='live-e2e-'))
            self.callback(shutil.rmtree, self.workdir, True)
            self.console = Console.start(self.console_dir, self.workdir)
            self.callback(self.console.stop)
            self.bare = BareApp.start(self.workdir) if self.with_bare else None
            if self.bare is not None:
                self.callback(self.bare.stop)
            self.baseline = BaselineServer(self.console.backend_url, self.console.token)
            self.callback(self.baseline.stop)
            self.browser = Browser()
            self.browser.clock_url = self.baseline.clock_url
            self.callback(self.browser.quit)
        except BaseException:
            self.close()
            raise
        return self

    def console_view(self, route: str, ready_text: str) -> View:
        """Through /login?next=: the first tab signs in (APEXSTORE_TOKEN), later ones pass straight on."""
        return View(route, f'{self.console.url}/login?next={route}', CONSOLE_READY, (ready_text,))

    def baseline_view(self, prefix: str = '') -> View:
        query = urllib.parse.urlencode({'ws': self.console.ws_events_url(), 'prefix': prefix})
        return View('baseline', f'{self.baseline.url}?{query}', BASELINE_READY)

    def open(self, view: View) -> str:
        return self.browser.open_tab(view.url, view.ready, *view.ready_args, alive=self.check)

    def cpu(self) -> CpuMeter:
        """Cores used by the console, its backend, Chromium and this bench while a block runs."""
        console, driver = self.console.process.pid, self.browser.driver.service.process.pid
        return CpuMeter({'console': lambda: [console], 'backend': lambda: descendants(console),
                         'chromium': lambda: descendants(driver), 'bench': lambda: [os.getpid()]})

    def check(self) -> None:
        """Fail fast, with the log, if a server under test has gone."""
        self.console.process.check_alive()
        if self.bare is not None:
            self.bare.process.check_alive()


# -- numbers ------------------------------------------------------------------------------------------------
def ms(value: float | None) -> str:
    return 'n/a' if value is None else f'{value:,.0f}' if value >= 100 else f'{value:.1f}'


def ratio(console: float | None, baseline: float | None) -> str:
    if console is None or baseline is None or baseline == 0:
        return 'n/a'
    value = console / baseline
    return f'×{value:.2g}' if value < 0.1 else f'×{value:.2f}' if value < 10 else f'×{value:.0f}'


def cell(console: float | None, baseline: float | None, fmt: Callable[[float | None], str] = ms) -> str:
    return f'{fmt(console)} ({ratio(console, baseline)})'


def pct(value: float | None) -> str:
    return 'n/a' if value is None else f'{value:.1f} %'


def reload_reasons(reasons: list[str]) -> dict[str, int]:
    """NiceGUI's own words for each reload, counted, without timestamps and client ids."""
    counts: dict[str, int] = {}
    for reason in reasons:
        text = re.sub(r'clientId \S+', 'clientId …', reason.split(' ', 1)[-1])
        counts[text] = counts.get(text, 0) + 1
    return counts


def second_counts(callbacks: dict[str, int], start: float, end: float) -> list[int]:
    """MutationObserver callbacks in each whole second of [start, end] (epoch seconds)."""
    return [int(callbacks.get(str(s), 0)) for s in range(math.ceil(start), math.floor(end))]


def per_wall(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    """Counters' growth as cores (seconds per wall second); a reload restarts a tab's counters: floor 0."""
    return {name: max(0.0, after[name] - before[name]) / wall for name in after}


def cores_table(runs: list[tuple[str, dict[str, float]]]) -> str:
    """Where the CPU went during each run's writes, in cores (2 = the whole machine here)."""
    if not runs:
        return ''
    names = list(runs[0][1])
    lines = ['| run | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
    lines += [f'| {label} | ' + ' | '.join(f'{cores.get(n, 0):.2f}' for n in names) + ' |' for label, cores in runs]
    return '\n'.join(lines)


# -- latency ------------------------------------------------------------------------------------------------
def wait_last_values(browser: Browser, handles: list[str], tokens: list[str], timeout: float) -> dict[str, Any]:
    """Poll every tab until it shows every key's last value, up to `timeout` s after the last write."""
    began = time.monotonic()
    pending = {h: tokens for h in handles}
    done: dict[str, float] = {}
    while pending and time.monotonic() - began < timeout:
        for handle in list(pending):
            pending[handle] = browser.missing(handle, pending[handle])
            if not pending[handle]:
                done[handle] = time.monotonic() - began
                del pending[handle]
        time.sleep(0.1)
    return {'tabs_ok': len(done), 'tabs': len(handles), 'missing': {h[:8]: len(m) for h, m in pending.items()},
            'settle_s': max(done.values()) if done and not pending else None}


def tab_latencies(writes: WriteLog, seen: dict[str, float], offset_ms: float) -> tuple[list[float], int]:
    """Write -> DOM of every acknowledged write in one tab, and how many never appeared there."""
    latencies, never = [], 0
    for seq in writes.acked:
        at = seen.get(str(seq))
        if at is None:
            never += 1
        else:
            latencies.append(at - offset_ms - writes.sent[seq])
    return latencies, never


def tab_marks(browser: Browser, handles: list[str]) -> dict[str, tuple[int, int]]:
    """Loads and reload reasons so far, per tab, so that a run counts only its own."""
    return {handle: (state['loads'], len(state['reasons'])) for handle, state in
            ((handle, browser.state(handle)) for handle in handles)}


def collect_tabs(browser: Browser, handles: list[str], writes: WriteLog, offsets: dict[str, float],
                 marks: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """Every tab's write -> DOM latencies, writes it never showed, and reloads since `marks`."""
    latencies: list[float] = []
    never = reloads = 0
    reasons: list[str] = []
    per_tab = []
    for handle in handles:
        state = browser.state(handle)
        tab, missed = tab_latencies(writes, state['seen'], offsets[handle])
        per_tab.append({'tab': handle[:8], 'p95': percentile(tab, 95), 'never_shown': missed,
                        'visibility': state['visibility']})
        latencies += tab
        never += missed
        reloads += state['loads'] - marks[handle][0]
        reasons += state['reasons'][marks[handle][1]:]
    return {'latencies': latencies, 'never': never, 'reloads': reloads, 'reasons': reload_reasons(reasons),
            'per_tab': per_tab}


def latency_run(env: Env, view: View, handles: list[str], rate: int, cfg: Config) -> dict[str, Any]:
    """One row: `rate` PUTs/s for `latency_secs` while `handles` show `view`."""
    browser = env.browser
    browser.reset(handles)
    marks = tab_marks(browser, handles)
    offsets = {h: browser.clock_offset_ms(h) for h in handles}
    tabs_before = browser.main_thread_seconds(handles)
    with LagProbe(env.console.url) as probe, env.cpu() as cpu:
        writes = asyncio.run(put_writes(env.console.backend_url, env.console.token, BENCH_KEYS, rate,
                                        cfg.latency_secs, tag=view.name.strip('/')))
    cores = cpu.cores | per_wall(tabs_before, browser.main_thread_seconds(handles), cpu.wall)
    diagnostics = env.console.diagnostics(cfg.latency_secs)
    last = asyncio.run(stored_tokens(env.console.backend_url, env.console.token, BENCH_KEYS))
    final = wait_last_values(browser, handles, list(last.values()), cfg.drain_secs)
    tabs = collect_tabs(browser, handles, writes, offsets, marks)
    pairs = len(writes.acked) * len(handles)
    row = {'view': view.name, 'tabs': len(handles), 'rate': rate, 'achieved': writes.achieved_rate,
           'failed': writes.failed, 'p50': percentile(tabs['latencies'], 50),
           'p95': percentile(tabs['latencies'], 95), 'p99': percentile(tabs['latencies'], 99),
           'never_shown_pct': 100 * tabs['never'] / pairs if pairs else None, 'final': final,
           'reloads': tabs['reloads'], 'reload_reasons': tabs['reasons'], 'per_tab': tabs['per_tab'],
           'clock_offset_ms': max(abs(o) for o in offsets.values()),
           'probe_p99': percentile([rtt for _, rtt in probe.samples], 99),
           'loop_lag_p99': None if diagnostics is None else diagnostics['loop_lag']['p99_ms'], 'cores': cores}
    log.info('%s %d tab(s) %d/s: p50 %s p99 %s ms, never shown %s, last values %d/%d tabs, reloads %d',
             view.name, len(handles), rate, ms(row['p50']), ms(row['p99']), pct(row['never_shown_pct']),
             final['tabs_ok'], final['tabs'], row['reloads'])
    return row


def scenario_latency(console_dir: Path, cfg: Config) -> dict[str, Any]:
    with Env(console_dir) as env:
        asyncio.run(fill(env.console.backend_url, env.console.token, iter(BENCH_KEYS), len(BENCH_KEYS),
                         lambda _k: 'initial value'))
        views = [env.baseline_view('bench:'), env.console_view('/keys', 'bench:19'),
                 env.console_view('/dashboard', 'Latest changes')]  # baseline first: console not signed in yet
        rows = []
        for view in views:
            handles: list[str] = []
            for tabs in cfg.tabs:
                while len(handles) < tabs:
                    handles.append(env.open(view))
                rows += [latency_run(env, view, handles, rate, cfg) for rate in cfg.rates]
            env.browser.close_tabs(handles)
        return {'rows': rows}


def latency_table(result: dict[str, Any]) -> str:
    rows = result['rows']
    base = {(r['tabs'], r['rate']): r for r in rows if r['view'] == 'baseline'}
    lines = ['| page | tabs | writes/s (achieved) | p50 ms | p95 ms | p99 ms | never shown | last values shown '
             '(≤ 3 s) | reloads | console probe p99 ms (loop lag p99) |', '|---|---|---|---|---|---|---|---|---|---|']
    reasons: dict[str, int] = {}
    for r in rows:
        b = base.get((r['tabs'], r['rate']))
        own = r['view'] == 'baseline' or b is None
        final = r['final']
        shown = f"{final['tabs_ok']}/{final['tabs']} tabs" + (
            f" in {final['settle_s']:.1f} s" if final['settle_s'] is not None else '')
        lines.append('| ' + ' | '.join([
            f"`{r['view']}`", str(r['tabs']), f"{r['rate']} ({r['achieved']:.0f})",
            *(ms(r[k]) if own else cell(r[k], b[k]) for k in ('p50', 'p95', 'p99')),
            pct(r['never_shown_pct']) if own else f"{pct(r['never_shown_pct'])} (base {pct(b['never_shown_pct'])})",
            shown, str(r['reloads']),
            (ms(r['probe_p99']) if own else cell(r['probe_p99'], b['probe_p99'])) + (
                '' if r['loop_lag_p99'] is None else f" ({ms(r['loop_lag_p99'])})")]) + ' |')
        for reason, count in r['reload_reasons'].items():
            reasons[reason] = reasons.get(reason, 0) + count
    cores = cores_table([(f"`{r['view']}` {r['tabs']} tab(s) {r['rate']}/s", r['cores']) for r in rows])
    return '\n'.join(lines + [f'\nReloads, in NiceGUI\'s words: {reasons or "none"}', '',
                               'Where the CPU went while writing (cores):', '', cores])


# -- memory -------------------------------------------------------------------------------------------------
@dataclass
class Target:
    """An app whose RSS is measured per open tab: the console or the bare NiceGUI app."""
    name: str
    pid: int
    first_url: str
    url: str
    ready: str
    ready_args: tuple[Any, ...]
    clients: Callable[[], int | None]  # live NiceGUI clients; None when the app cannot say


def wait_dropped(target: Target, expected: int | None) -> str:
    """Closed tabs gone from the server: by its client count if it has one, else reconnect timeout + RSS."""
    if expected is not None and target.clients() is not None:
        wait_for(lambda: target.clients() <= expected, RECONNECT_TIMEOUT + 30, f'{target.name} to drop clients',
                 interval=0.25)
        return 'client count'
    time.sleep(RECONNECT_TIMEOUT + 1.0)  # no way to ask this checkout: NiceGUI's deletion delay + margin
    return 'reconnect timeout'


def open_many(env: Env, target: Target, count: int, errors: list[int]) -> list[str]:
    """`count` tabs opened at once and all live; `errors` collects server-error reloads per round."""
    handles = env.browser.open_tabs_at_once(target.url, count)
    errors.append(env.browser.wait_ready(handles, target.ready, *target.ready_args, timeout=180, alive=env.check))
    return handles


def tab_memory(env: Env, target: Target, cfg: Config) -> dict[str, Any]:
    """RSS with 1 tab, with 1 + N tabs, then after each of R rounds of opening and closing N tabs."""
    first = env.browser.open_tab(target.first_url, target.ready, *target.ready_args, alive=env.check)
    one = settled_rss(target.pid)
    expected = target.clients()
    errors: list[int] = []
    handles = open_many(env, target, cfg.memory_tabs, errors)
    many = settled_rss(target.pid)
    log.info('%s: %.1f MB with 1 tab, %.1f MB with %d more', target.name, one or 0, many or 0, cfg.memory_tabs)
    env.browser.close_tabs(handles)
    how = wait_dropped(target, expected)
    rounds = [settled_rss(target.pid)]
    for _ in range(cfg.memory_rounds):
        env.browser.close_tabs(open_many(env, target, cfg.memory_tabs, errors))
        wait_dropped(target, expected)
        rounds.append(settled_rss(target.pid))
        log.info('%s: round %d -> %.1f MB', target.name, len(rounds) - 1, rounds[-1] or 0)
    return {'one_tab': one, 'many_tabs': many, 'per_tab': ((many or 0) - (one or 0)) / cfg.memory_tabs,
            'after_rounds': rounds, 'dropped_by': how, 'first_handle': first, 'server_errors': errors}


def memory_burst(env: Env, first: str, cfg: Config) -> dict[str, Any]:
    """RSS before, right after and settled after a burst, with dashboard + keys + keys open."""
    handles = [first] + [env.open(env.console_view('/keys', 'Column family')) for _ in range(2)]
    before = settled_rss(env.console.process.pid)
    writes = asyncio.run(batch_writes(env.console.backend_url, env.console.token, BURST_KEYS, cfg.burst_rate,
                                      cfg.memory_burst_secs, tag='mem'))
    right_after = env.console.rss()
    with contextlib.suppress(TimeoutError):  # the dashboard caught up (or 30 s passed): now let RSS settle
        wait_for(lambda: env.browser.seen_at(handles[0], writes.last_write()), 30, 'last burst write')
    # the console hands a burst's garbage back once it has been quiet for a moment (app/live.py reclaim_soon):
    # "settled" is RSS that has not moved for 3 s, not the first two equal samples
    settled = settled_rss(env.console.process.pid, timeout=30, quiet=3.0)
    env.console.process.check_alive()
    env.browser.close_tabs(handles)
    return {'before': before, 'right_after': right_after, 'settled': settled, 'achieved': writes.achieved_rate,
            'failed': writes.failed}


def scenario_memory(console_dir: Path, cfg: Config) -> dict[str, Any]:
    with Env(console_dir, bare=True) as env:
        assert env.bare is not None
        console_idle, bare_idle = settled_rss(env.console.process.pid), settled_rss(env.bare.process.pid)
        bare = env.bare
        bare_target = Target('bare NiceGUI', bare.process.pid, bare.url + '/', bare.url + '/', BARE_READY, (),
                             bare.clients)

        def console_clients() -> int | None:
            diag = env.console.diagnostics(1)
            return None if diag is None else int(diag['clients'])

        console_target = Target('console', env.console.process.pid, env.console.url + '/login?next=/dashboard',
                                env.console.url + '/dashboard', CONSOLE_READY, ('Latest changes',), console_clients)
        bare_result = tab_memory(env, bare_target, cfg)
        env.browser.close_tabs([bare_result.pop('first_handle')])
        console_result = tab_memory(env, console_target, cfg)
        burst = memory_burst(env, console_result.pop('first_handle'), cfg)
        return {'console_idle': console_idle, 'bare_idle': bare_idle, 'console': console_result,
                'bare': bare_result, 'burst': burst, 'tabs': cfg.memory_tabs}


def mb(value: float | None) -> str:
    return 'n/a' if value is None else f'{value:.1f} MB'


def memory_table(result: dict[str, Any]) -> str:
    c, b, burst = result['console'], result['bare'], result['burst']
    lines = ['| measured | console | bare NiceGUI page (same run) | ratio |', '|---|---|---|---|',
             f"| RSS idle (no tab) | {mb(result['console_idle'])} | {mb(result['bare_idle'])} | "
             f"{ratio(result['console_idle'], result['bare_idle'])} |",
             f"| RSS with 1 tab | {mb(c['one_tab'])} | {mb(b['one_tab'])} | {ratio(c['one_tab'], b['one_tab'])} |",
             f"| RSS with 1 + {result['tabs']} tabs | {mb(c['many_tabs'])} | {mb(b['many_tabs'])} | "
             f"{ratio(c['many_tabs'], b['many_tabs'])} |",
             f"| **MB per open tab** | {mb(c['per_tab'])} | {mb(b['per_tab'])} | {ratio(c['per_tab'], b['per_tab'])} |"]
    for i, (cv, bv) in enumerate(zip(c['after_rounds'], b['after_rounds'], strict=False)):
        what = f'tabs closed, clients dropped ({c["dropped_by"]})' if i == 0 else f'after round {i}'
        lines.append(f'| RSS {what} | {mb(cv)} | {mb(bv)} | {ratio(cv, bv)} |')
    growth_c = c['after_rounds'][-1] - c['after_rounds'][0]
    growth_b = b['after_rounds'][-1] - b['after_rounds'][0]
    lines.append(f"| growth over {len(c['after_rounds']) - 1} rounds of {result['tabs']} tabs | {mb(growth_c)} | "
                 f"{mb(growth_b)} | — |")
    lines.append(f"| tabs that got a 500 (page build > NiceGUI's 3 s response_timeout), reloaded; per round | "
                 f"{', '.join(map(str, c['server_errors']))} | {', '.join(map(str, b['server_errors']))} | — |")
    lines += ['', '| burst (dashboard + keys + keys open) | console | baseline: console before the burst | ratio |',
              '|---|---|---|---|',
              f"| RSS right after {burst['achieved']:,.0f} writes/s (achieved) | {mb(burst['right_after'])} | "
              f"{mb(burst['before'])} | {ratio(burst['right_after'], burst['before'])} |",
              f"| RSS settled after the burst | {mb(burst['settled'])} | {mb(burst['before'])} | "
              f"{ratio(burst['settled'], burst['before'])} |"]
    return '\n'.join(lines)


# -- burst --------------------------------------------------------------------------------------------------
def last_write_shown(env: Env, handles: list[str], writes: WriteLog, offsets: dict[str, float],
                     within: float = 5.0) -> list[float | None]:
    """Per tab: seconds from sending the final write to its value in the DOM (None: not within `within`)."""
    seq = writes.last_write()
    sent = writes.sent[seq]
    times: list[float | None] = []
    for handle in handles:
        with contextlib.suppress(TimeoutError):
            wait_for(lambda h=handle: env.browser.seen_at(h, seq),
                     max(0.0, within - (time.time() * 1000 - sent) / 1000), 'last write')
        at = env.browser.seen_at(handle, seq)
        times.append(None if at is None else (at - offsets[handle] - sent) / 1000)
    return times


def burst_tab(browser: Browser, name: str, handle: str, writes: WriteLog, offset: float, mark: tuple[int, int],
              window: tuple[float, float]) -> dict[str, Any]:
    """One tab's view of a burst: DOM updates per whole second inside it, latencies, reloads."""
    state = browser.state(handle)
    counts = second_counts(state['callbacks'], *window)
    latencies, never = tab_latencies(writes, state['seen'], offset)
    return {'view': name, 'dom_updates_max': max(counts, default=0),
            'dom_updates_mean': statistics.fmean(counts) if counts else 0.0,
            'p50': percentile(latencies, 50), 'p99': percentile(latencies, 99),
            'shown_pct': 100 * (1 - never / len(writes.acked)), 'reloads': state['loads'] - mark[0],
            'reasons': reload_reasons(state['reasons'][mark[1]:])}


def burst_run(env: Env, views: list[View], cfg: Config) -> dict[str, Any]:
    """Open `views`, measure 3 s idle, then `burst_rate` writes/s for `burst_secs`, then the final write."""
    browser = env.browser
    handles = [env.open(view) for view in views]
    offsets = {h: browser.clock_offset_ms(h) for h in handles}
    browser.reset(handles)
    marks = tab_marks(browser, handles)
    with LagProbe(env.console.url) as probe:
        idle_start = time.time()
        time.sleep(3.0)  # a measuring window for idle lag, not a wait for anything
        idle = env.console.diagnostics(3.0)
        start = time.time()
        tabs_before = browser.main_thread_seconds(handles)
        with env.cpu() as cpu:
            writes = asyncio.run(batch_writes(env.console.backend_url, env.console.token, BURST_KEYS, cfg.burst_rate,
                                              cfg.burst_secs, tag='burst'))
        end = time.time()
        cores = cpu.cores | per_wall(tabs_before, browser.main_thread_seconds(handles), cpu.wall)
        diagnostics = env.console.diagnostics(cfg.burst_secs)
        shown = last_write_shown(env, handles, writes, offsets)
    tabs = [burst_tab(browser, view.name, handle, writes, offsets[handle], marks[handle], (start, end)) | {
        'last_shown_s': after} for view, handle, after in zip(views, handles, shown, strict=True)]
    browser.close_tabs(handles)
    result = {'tabs': tabs, 'achieved': writes.achieved_rate, 'failed': writes.failed,
              'probe_idle_p99': percentile(probe.between(idle_start, start), 99),
              'probe_burst_p50': percentile(probe.between(start, end), 50),
              'probe_burst_p99': percentile(probe.between(start, end), 99),
              'loop_lag': None if diagnostics is None else diagnostics['loop_lag'],
              'loop_lag_idle': None if idle is None else idle['loop_lag'], 'cores': cores}
    log.info('burst via %s: %.0f writes/s, probe p99 %s ms, tabs %s', views[0].name, writes.achieved_rate,
             ms(result['probe_burst_p99']), [(t['view'], t['dom_updates_mean'], t['last_shown_s']) for t in tabs])
    return result


def scenario_burst(console_dir: Path, cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for store in ('empty', 'prefilled'):
        with Env(console_dir) as env:
            if store == 'prefilled':
                names = (f'user:{i:07d}' for i in range(1, cfg.burst_prefill + 1))
                asyncio.run(fill(env.console.backend_url, env.console.token, names, cfg.burst_prefill, lambda k: k))
            baseline = burst_run(env, [env.baseline_view('burst:')] * 3, cfg)  # before the console signs in
            httpx.request('DELETE', f'{env.console.backend_url}/keys', params={'prefix': 'burst:'},
                          headers=auth(env.console.token), timeout=60).raise_for_status()
            keys = env.console_view('/keys', 'Column family')
            console = burst_run(env, [env.console_view('/dashboard', 'Latest changes'), keys, keys], cfg)
            out[store] = {'baseline': baseline, 'console': console}
    return {'stores': out, 'rate': cfg.burst_rate, 'secs': cfg.burst_secs, 'prefill': cfg.burst_prefill}


def burst_table(result: dict[str, Any]) -> str:
    lines = ['| store | tab | DOM updates/s max | DOM updates/s mean | write → DOM p50 / p99 ms | writes shown | '
             'last write shown after | reloads |', '|---|---|---|---|---|---|---|---|']
    lag = ['', '| store | writes/s achieved (console run / baseline run) | console loop lag p99, in-process '
               '(idle → burst) | probe round trip p99 (idle → burst) | probe p99 burst vs baseline run |',
           '|---|---|---|---|---|']
    for store, runs in result['stores'].items():
        base, cons = runs['baseline'], runs['console']
        base_mean = statistics.fmean(t['dom_updates_mean'] for t in base['tabs'])
        base_max = statistics.fmean(t['dom_updates_max'] for t in base['tabs'])
        for i, tab in enumerate(base['tabs'][:1] + cons['tabs']):
            is_base = i == 0
            name = 'baseline (mean of 3 tabs)' if is_base else f"`{tab['view']}`"
            upd_max = base_max if is_base else tab['dom_updates_max']
            upd_mean = base_mean if is_base else tab['dom_updates_mean']
            after = tab['last_shown_s']
            shown = 'not within 5 s' if after is None else f"{after:.2f} s {'✓' if after <= 1 else '✗'}"
            rates = [f'{v:,.0f}' if is_base else f'{v:,.0f} ({ratio(v, ref)})'
                     for v, ref in ((upd_max, base_max), (upd_mean, base_mean))]
            lines.append(f"| {store} | {name} | {rates[0]} | {rates[1]} | {ms(tab['p50'])} / {ms(tab['p99'])} | "
                         f"{tab['shown_pct']:.1f} % | {shown} | {tab['reloads']} |")
        in_process = 'n/a (no hook in this checkout)' if cons['loop_lag'] is None else \
            f"{ms(cons['loop_lag_idle']['p99_ms'])} → {ms(cons['loop_lag']['p99_ms'])} ms " \
            f"(max {ms(cons['loop_lag']['max_ms'])} ms)"
        lag.append(f"| {store} | {cons['achieved']:,.0f} / {base['achieved']:,.0f} | {in_process} | "
                   f"{ms(cons['probe_idle_p99'])} → {ms(cons['probe_burst_p99'])} ms | "
                   f"{ratio(cons['probe_burst_p99'], base['probe_burst_p99'])} |")
    reasons: dict[str, int] = {}
    for runs in result['stores'].values():
        for tab in runs['baseline']['tabs'] + runs['console']['tabs']:
            for reason, count in tab['reasons'].items():
                reasons[reason] = reasons.get(reason, 0) + count
    cores = cores_table([(f'{store}, {who}', runs[who]['cores']) for store, runs in result['stores'].items()
                         for who in ('baseline', 'console')])
    return '\n'.join(lines + lag + [f'\nReloads, in NiceGUI\'s words: {reasons or "none"}', '',
                                     'Where the CPU went during the burst (cores):', '', cores])


# -- navigation ---------------------------------------------------------------------------------------------
PHASES = {'first byte of the HTML (server)': 'responseStart', 'HTML received': 'responseEnd',
          'DOMContentLoaded': 'domContentLoadedEventEnd'}


def navigate_ms(browser: Browser, handle: str, url: str) -> dict[str, float]:
    """Navigation start (the new document's timeOrigin) -> first `user:NNNNNNN` key added to the DOM,
    with the navigation-timing milestones on the way (same clock, ms after navigation start)."""
    browser.run(handle, 'window.__benchOldDocument = true; window.location.href = arguments[0];', url)

    def first_key() -> float | None:
        with contextlib.suppress(Exception):  # mid-navigation: no document to ask yet
            state = browser.run(handle, 'const b = window.__bench; return !window.__benchOldDocument && b && '
                                        'b.firstUserKey !== null && b.firstUserKey - performance.timeOrigin;')
            return state or None
        return None
    first = float(wait_for(first_key, 60, f'first key row at {url}', interval=0.02))
    timing = browser.run(handle, 'return performance.getEntriesByType("navigation")[0].toJSON();')
    return {'first key row in the DOM': first} | {name: float(timing[field]) for name, field in PHASES.items()}


def scenario_nav(console_dir: Path, cfg: Config) -> dict[str, Any]:
    with Env(console_dir, bare=True) as env:
        names = (f'user:{i:07d}' for i in range(1, cfg.nav_keys + 1))
        rate = asyncio.run(fill(env.console.backend_url, env.console.token, names, cfg.nav_keys, lambda k: k))
        log.info('filled %d keys at %.0f puts/s', cfg.nav_keys, rate)
        base_view = env.baseline_view('')
        base_tab = env.open(base_view)
        baseline = [navigate_ms(env.browser, base_tab, base_view.url) for _ in range(cfg.nav_repeats)]
        env.browser.close_tabs([base_tab])
        assert env.bare is not None
        bare_tab = env.open(View('bare', env.bare.url, 'return document.readyState === "complete"'))
        bare = [navigate_ms(env.browser, bare_tab, env.bare.url) for _ in range(cfg.nav_repeats)]
        env.browser.close_tabs([bare_tab])
        dashboard = env.console_view('/dashboard', 'Latest changes')
        tab = env.open(dashboard)
        console = []
        for _ in range(cfg.nav_repeats):
            console.append(navigate_ms(env.browser, tab, f'{env.console.url}/keys'))
            env.browser.run(tab, 'window.location.href = arguments[0];', f'{env.console.url}/dashboard')
            env.browser.wait_ready([tab], dashboard.ready, *dashboard.ready_args)
        reloads = env.browser.state(tab)['loads'] - 1 - 2 * cfg.nav_repeats
        return {'keys': cfg.nav_keys, 'fill_rate': rate, 'baseline': baseline, 'bare': bare, 'console': console,
                'unexpected_loads': reloads}


def nav_table(result: dict[str, Any]) -> str:
    def median(runs: list[dict[str, float]], name: str) -> float:
        return statistics.median(run[name] for run in runs)

    first = 'first key row in the DOM'
    bare = result.get('bare') or []
    lines = [f"| {result['keys']:,} keys, navigation → (median of {len(result['console'])}, ms after navigation "
             'start) | console `/keys` | baseline page (same run) | ratio | bare NiceGUI page, one label (same run) '
             '| console ÷ bare |', '|---|---|---|---|---|---|']
    for name in (first, *PHASES):
        cons, base = median(result['console'], name), median(result['baseline'], name)
        floor = median(bare, name) if bare else None
        label = f'**{name}**' if name == first else f'milestone: {name}'
        lines.append(f'| {label} | {ms(cons)} | {ms(base)} | {ratio(cons, base)} | {ms(floor)} | '
                     f'{ratio(cons, floor) if floor else "—"} |')
    return '\n'.join(lines + [
        f"| {first}, all runs | {', '.join(ms(r[first]) for r in result['console'])} | "
        f"{', '.join(ms(r[first]) for r in result['baseline'])} | — | "
        f"{', '.join(ms(r[first]) for r in bare)} | — |",
        f"\nFilled at {result['fill_rate']:,.0f} puts/s; console tab reloads beyond the navigations: "
        f"{result['unexpected_loads']}."])


# -- main ---------------------------------------------------------------------------------------------------
SCENARIOS = {'latency': (scenario_latency, latency_table), 'memory': (scenario_memory, memory_table),
             'burst': (scenario_burst, burst_table), 'nav': (scenario_nav, nav_table)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--console-dir', type=Path, default=REPO, help='checkout whose main.py to run (default: '
                        'this repository)')
    parser.add_argument('--scenario', choices=[*SCENARIOS, 'all'], default='all')
    parser.add_argument('--quick', action='store_true', help='small sizes, for a smoke test only')
    parser.add_argument('--tabs', type=int, nargs='+', help='latency: tab counts to run (default 1 10)')
    parser.add_argument('--rates', type=int, nargs='+', help='latency: writes/s to run (default 50 200)')
    parser.add_argument('--out', type=Path, help='also write the raw results as JSON here (scenarios already in '
                        'the file are kept, so scenarios can be recorded one by one)')
    parser.add_argument('--busy-neighbours', type=int, default=0, metavar='N',
                        help='run N processes that each keep a core busy meanwhile, like other people\'s tests on a '
                        'shared CI machine (a repeatable "slow machine", to compare checkouts under load)')
    return parser.parse_args(argv)


@contextlib.contextmanager
def busy_neighbours(count: int) -> Iterator[None]:
    """`count` processes spinning at normal priority for as long as the block runs."""
    spinners = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # stop cleanly (servers, Chromium) on Ctrl-C and on `kill`, also when started in the background
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    logging.getLogger('httpx').setLevel(logging.WARNING)
    cfg = Config.quick() if args.quick else Config()
    if args.tabs:
        cfg = dataclasses.replace(cfg, tabs=tuple(args.tabs))
    if args.rates:
        cfg = dataclasses.replace(cfg, rates=tuple(args.rates))
    names = list(SCENARIOS) if args.scenario == 'all' else [args.scenario]
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    results.update(console_dir=str(args.console_dir.resolve()), quick=args.quick, busy_neighbours=args.busy_neighbours)
    for name in names:
        run, table = SCENARIOS[name]
        began, load_before = time.monotonic(), os.getloadavg()[0]
        with busy_neighbours(args.busy_neighbours):
            results[name] = run(args.console_dir.resolve(), cfg)
        results[name].update(elapsed_s=time.monotonic() - began, load=(load_before, os.getloadavg()[0]),
                             date=time.strftime('%Y-%m-%d %H:%M'))
        print(f'\n### {name} ({results[name]["elapsed_s"]:.0f} s, {args.console_dir}, load average '
              f'{load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)\n\n{table(results[name])}\n',
              flush=True)
        if args.out:
            dump(args.out, results)


if __name__ == '__main__':
    main()
