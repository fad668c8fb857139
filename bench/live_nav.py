"""live_e2e's navigation scenario: 1,000,000 keys, navigation to /keys -> first key row in the DOM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from pathlib import Path
from typing import Any

from e2e_browser import Browser
from e2e_support import wait_for
from e2e_writers import fill
from live_env import Config, Env, View, ms, ratio

log = logging.getLogger('live_e2e')
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
