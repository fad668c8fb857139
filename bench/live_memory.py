"""live_e2e's memory scenario: RSS per open tab, over rounds of opening and closing tabs, after a burst."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_browser import BARE_READY, CONSOLE_READY
from e2e_support import RECONNECT_TIMEOUT, settled_rss, wait_for
from e2e_writers import batch_writes
from live_env import BURST_KEYS, Config, Env, ratio

log = logging.getLogger('live_e2e')


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
