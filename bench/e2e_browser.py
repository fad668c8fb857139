"""Chromium for the live benches: headless tabs with `observer.js`, clock offsets, CPU counters per tab."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from e2e_support import BENCH, log, wait_for
from selenium import webdriver
from selenium.common.exceptions import JavascriptException, WebDriverException
from selenium.webdriver.chrome.service import Service

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
CHROME_FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--no-first-run', '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
                '--disable-backgrounding-occluded-windows', '--window-size=1400,2000')
CONSOLE_READY = ('return !!window.did_handshake && !!document.querySelector('
                 '\'[data-testid="connection-status"][data-status="connected"]\') '
                 '&& document.body.textContent.includes(arguments[0]);')
BASELINE_READY = 'return !!(window.__baseline && window.__baseline.connected && window.__baseline.listed);'
BARE_READY = 'return !!window.did_handshake && !!document.querySelector(\'[data-testid="bare-page"]\');'


# -- Chromium -----------------------------------------------------------------------------------------
CLOCK_JS = '''
  const [url, done] = arguments;
  (async () => {
    const now = () => performance.timeOrigin + performance.now();
    let best = null;
    for (let i = 0; i < 12; i++) {  // the first two reads open the connection; the tightest of the rest counts
      const before = now();
      const bench = await (await fetch(url, {cache: 'no-store'})).json();
      const after = now();
      if (i > 1 && (best === null || after - before < best[0])) best = [after - before, (before + after) / 2 - bench];
    }
    done(best[1]);
  })().catch(() => done(null));
'''
class Browser:
    """One headless Chromium; every bench tab gets `observer.js` on each new document."""

    def __init__(self) -> None:
        options = webdriver.ChromeOptions()
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.binary_location = CHROMIUM
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_script_timeout(30)
        self.home = self.driver.current_window_handle  # stays on about:blank so the browser never closes
        self.clock_url: str | None = None  # the bench's clock over HTTP (see clock_offset_ms)
        self.observer = (BENCH / 'observer.js').read_text()

    def run(self, handle: str, script: str, *args: Any) -> Any:
        if self.driver.current_window_handle != handle:
            self.driver.switch_to.window(handle)
        return self.driver.execute_script(script, *args)

    def open_tab(self, url: str, ready: str, *ready_args: Any, timeout: float = 60.0,
                 alive: Callable[[], None] | None = None) -> str:
        """A new tab with the observer installed before its first document, loaded and `ready`."""
        self.driver.switch_to.new_window('tab')
        handle = self.driver.current_window_handle
        self.driver.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': self.observer})
        self.driver.get(url)
        self.wait_ready([handle], ready, *ready_args, timeout=timeout, alive=alive)
        self.driver.execute_cdp_cmd('Performance.enable', {})
        return handle

    def open_tabs_at_once(self, url: str, count: int) -> list[str]:
        """`count` tabs loading concurrently (CDP Target.createTarget); no observer (memory runs only)."""
        self.driver.switch_to.window(self.home)
        return [self.driver.execute_cdp_cmd('Target.createTarget', {'url': url})['targetId'] for _ in range(count)]

    def wait_ready(self, handles: list[str], ready: str, *args: Any, timeout: float = 60.0,
                   alive: Callable[[], None] | None = None) -> int:
        """Wait until every tab is `ready`; a tab showing NiceGUI's 500 page (e.g. "took longer than the
        response_timeout") is reloaded, as a user would. Returns how many such reloads it took."""
        script = f'const ready = (function() {{ {ready} }}).apply(null, arguments); if (ready) return "ready"; ' \
                 'const text = document.body ? document.body.innerText : ""; ' \
                 'return text.startsWith("500") && text.includes("Server error") ? "error" : "";'
        retries = 0
        for handle in handles:
            def is_ready(handle: str = handle) -> bool:
                nonlocal retries
                if alive is not None:
                    alive()
                try:
                    state = self.run(handle, script, *args)
                except JavascriptException:
                    return False  # mid-navigation or mid-reload
                if state == 'error':
                    retries += 1
                    log.warning('tab %s shows a server error; reloading it', handle[:8])
                    self.run(handle, 'location.reload();')
                return state == 'ready'
            try:
                wait_for(is_ready, timeout, f'tab {handle[:8]} ready', interval=0.1)
            except TimeoutError as exc:
                raise TimeoutError(f'{exc}: {self.describe(handle)}') from None
        return retries

    def describe(self, handle: str) -> str:
        """What a tab that never got ready shows (for the error message)."""
        try:
            return str(self.run(handle, 'return [location.href, document.readyState, !!window.did_handshake, '
                                        '(document.body ? document.body.innerText : "").slice(0, 300)];'))
        except WebDriverException as exc:
            return f'(cannot ask the tab: {exc.msg})'

    def close_tabs(self, handles: list[str]) -> None:
        for handle in handles:
            with contextlib.suppress(WebDriverException):
                self.driver.switch_to.window(handle)
                self.driver.close()
        self.driver.switch_to.window(self.home)

    def clock_offset_ms(self, handle: str) -> float:
        """Tab clock minus this process's clock, from the tightest of a few round trips.

        With `clock_url` (the bench's own HTTP server) the tab asks it over a kept-alive connection (~0.3 ms
        round trips, about as long each way); otherwise through WebDriver, whose way in is longer than its
        way back, which put the tab's clock ~2 ms late and gave a 1 ms baseline negative latencies.
        """
        if self.clock_url is not None:
            self.run(handle, 'return 0;')  # switch to the tab
            offset = self.driver.execute_async_script(CLOCK_JS, self.clock_url)
            if offset is not None:
                return float(offset)
        best: tuple[float, float] | None = None
        for _ in range(5):
            before = time.time() * 1000
            tab = float(self.run(handle, 'return performance.timeOrigin + performance.now();'))
            after = time.time() * 1000
            if best is None or after - before < best[0]:
                best = (after - before, tab - (before + after) / 2)
        assert best is not None
        return best[1]

    def main_thread_seconds(self, handles: list[str]) -> dict[str, float]:
        """Renderer main-thread time so far, summed over tabs (CDP Performance.getMetrics): where the
        browser's share of the CPU goes. The counters restart when a tab reloads."""
        totals = {'tabs: JS': 0.0, 'tabs: style+layout': 0.0, 'tabs: main thread busy': 0.0}
        for handle in handles:
            self.run(handle, 'return 0;')  # switch to the tab: CDP commands go to the current one
            answer = self.driver.execute_cdp_cmd('Performance.getMetrics', {})
            metrics = {m['name']: m['value'] for m in answer['metrics']}
            totals['tabs: JS'] += metrics.get('ScriptDuration', 0.0)
            totals['tabs: style+layout'] += metrics.get('RecalcStyleDuration', 0.0) + metrics.get('LayoutDuration', 0.0)
            totals['tabs: main thread busy'] += metrics.get('TaskDuration', 0.0)
        return totals

    def reset(self, handles: list[str]) -> None:
        for handle in handles:
            self.run(handle, 'window.__bench.reset();')

    def state(self, handle: str) -> dict[str, Any]:
        return dict(self.run(handle, 'const b = window.__bench; return {seen: b.seen, callbacks: b.callbacks, '
                                     'loads: b.loads, reasons: b.reasons, firstUserKey: b.firstUserKey, '
                                     'timeOrigin: performance.timeOrigin, visibility: document.visibilityState};'))

    def seen_at(self, handle: str, seq: int) -> float | None:
        """When the tab first had `bv:<seq>:` in its DOM (its own clock), or None."""
        at = self.run(handle, 'return window.__bench.seen[arguments[0]];', str(seq))
        return None if at is None else float(at)

    def missing(self, handle: str, tokens: list[str]) -> list[str]:
        return list(self.run(handle, 'return window.__bench.has(arguments[0]);', tokens))

    def quit(self) -> None:
        with contextlib.suppress(WebDriverException):
            self.driver.quit()
