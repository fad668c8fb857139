"""live_e2e's burst scenario: 5,000 writes/s with three tabs open, DOM updates per second, loop lag, last write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from e2e_browser import Browser
from e2e_support import LagProbe, percentile, wait_for
from e2e_writers import WriteLog, auth, batch_writes, fill
from live_env import (
    BURST_KEYS,
    Config,
    Env,
    View,
    cores_table,
    ms,
    per_wall,
    ratio,
    reload_reasons,
    second_counts,
    tab_latencies,
    tab_marks,
)

log = logging.getLogger('live_e2e')


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
