"""What every live_e2e scenario stands on: sizes, the pages it opens, the servers and browser, number formats."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_browser import BASELINE_READY, CONSOLE_READY, Browser
from e2e_support import BareApp, BaselineServer, Console, CpuMeter, descendants
from e2e_writers import WriteLog

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
