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
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_browser import Browser  # noqa: E402
from e2e_support import LagProbe, dump, percentile  # noqa: E402
from e2e_writers import WriteLog, fill, put_writes, stored_tokens  # noqa: E402
from live_burst import burst_table, scenario_burst  # noqa: E402
from live_env import (  # noqa: E402
    BENCH_KEYS,
    REPO,
    Config,
    Env,
    View,
    cell,
    cores_table,
    ms,
    pct,
    per_wall,
    reload_reasons,
    tab_latencies,
    tab_marks,
)
from live_memory import memory_table, scenario_memory  # noqa: E402
from live_nav import nav_table, scenario_nav  # noqa: E402

log = logging.getLogger('live_e2e')


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
