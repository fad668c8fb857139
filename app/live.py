"""How a live view spends the browser's time: coalesced renders under a frame budget.

Events change a view's model at once (cheap dict work); the view's `render` sends what changed
(a row patch, appended feed items) at most once per frame:
- an event on an idle view renders on the next loop turn (leading edge: no waiting);
- while events keep coming, renders average at most one per `frame` (one display frame, 1/60 s;
  NiceGUI's outbox then carries the whole frame's changes in one message), and one per 50 ms once
  they come faster than 100/s (several events per render: ten tabs at 200 writes/s each otherwise ask
  one browser for 400 grid transactions a second). The budget is a bucket of `FRAME_CREDIT`
  renders refilled one per frame, not a fixed spacing: events that come about once a frame with
  some jitter (50 writes/s) still render at once instead of waiting out the rest of a frame;
- while a burst lasts (a smoothed rate above `burst_rate` events/s), renders back off to one per
  `burst_frame` (< 10/s), so a flood of writes never floods the browser;
- a tab gets its next render only when it has shown the last one (or `SHOWN_TIMEOUT_SECS` passed): a tab
  that falls behind (ten tabs sharing one browser's cores) gets fewer, bigger renders instead of a queue
  of stale ones, so it is never more than one render behind;
- the last state always wins: a render reads the model, not the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nicegui import background_tasks, context

from services.runtime import reclaim_memory

log = logging.getLogger(__name__)

FRAME_SECS = 1 / 60  # one display frame: a browser shows at most 60 states a second, so rendering faster is waste
BUSY_FRAME_SECS = 0.05  # faster than 100 events/s nobody reads single changes: 20 renders/s, several events each
BUSY_RATE = 100.0  # events/s (smoothed) above which a view is busy
BURST_FRAME_SECS = 0.25  # 4 renders/s: a render can touch the DOM in 2–3 places and a view must stay ≤ 10 updates/s
BURST_RATE = 500.0  # events/s (smoothed) above which a view counts as flooded
RATE_MEMORY_SECS = 0.25  # the smoothed event rate forgets with this time constant: events handed over together
# after a 50 ms stall of the loop are not a burst, and a quiet second forgets one
TIMER_SLACK_SECS = 0.002  # a timer asked for "in n seconds" fires this much later (see FrameBudget.again_in)
FRAME_CREDIT = 4.0  # renders a view may do back to back (writes come in clusters) before it waits for its frame
TAB_TIMES_KEPT = 3  # a tab is behind when each of its last three renders took longer than a frame to show
SHOWN_TIMEOUT_SECS = 2.0  # a tab that has not confirmed a render by then (frozen, throttled) gets the next one anyway
# the tab evaluates this after the render's messages (it handles them in order) and answers: "shown"
SHOWN_PROBE = '"__LIVE_RENDER_SHOWN__"'


@dataclass
class RenderBucket:
    """The budget's arithmetic, apart from any loop or clock (so it can be checked with made-up times).

    Why a display frame and not a round 20 ms: events at 50 writes/s come one per 20 ms; with a 20 ms
    refill the bucket gains exactly what each render spends, so once a stall or a cluster of writes has
    emptied it, it never fills again and every later event waits out the rest of a frame (a steady lag
    of several milliseconds, measured with bench/hop_trace.py). Refilled faster than the moderate rates
    it serves, the bucket is full again a few events after a stall. Three cadences: up to ~60 events/s
    every event renders at once; a busy view (> `busy_rate`) renders at most every `busy_frame`; a
    flooded one (> `burst_rate`) every `burst_frame`.
    """
    frame: float = FRAME_SECS
    burst_frame: float = BURST_FRAME_SECS
    burst_rate: float = BURST_RATE
    busy_frame: float = BUSY_FRAME_SECS
    busy_rate: float = BUSY_RATE
    rate: float = 0.0  # events/s, smoothed over time (RATE_MEMORY_SECS)
    credit: float = FRAME_CREDIT  # renders available at `last`
    last: float = float('-inf')  # when the last render went
    marks: int = 0  # events since the last render
    rested: float = float('-inf')  # a tab behind on its renders gets none before this time
    tab_times: deque[float] = field(default_factory=lambda: deque(maxlen=TAB_TIMES_KEPT))  # to show a render

    @property
    def bursting(self) -> bool:
        return self.rate > self.burst_rate

    @property
    def current_frame(self) -> float:
        """One display frame while events come at moderate rates; longer while they come faster (ten tabs at
        200 writes/s would otherwise ask the browser for 600 renders a second)."""
        return self.busy_frame if self.rate > self.busy_rate else self.frame

    def credit_at(self, now: float) -> float:
        return min(FRAME_CREDIT, self.credit + (now - self.last) / self.current_frame)

    def wait(self, now: float) -> float:
        """Seconds until the next render may go: a burst spaces renders, otherwise the bucket decides; a tab
        that is behind rests first."""
        if self.bursting:
            return max(self.last + self.burst_frame, self.rested) - now
        return max((1.0 - self.credit_at(now)) * self.current_frame, self.rested - now)

    def tab_took(self, seconds: float, now: float) -> None:
        """The tab showed the last render `seconds` after it went. Taking longer than a display frame, render after
        render, means the tab (or the machine it shares) is behind: it rests as long again (at most a burst frame)
        before the next render, so it gets fewer, bigger renders and catches up, instead of spending every moment
        it has on renders. The quickest of the last few counts, so that one slow render (a garbage collection, the
        page still loading) makes nobody wait."""
        self.tab_times.append(seconds)
        behind = min(self.tab_times) if len(self.tab_times) == self.tab_times.maxlen else 0.0
        self.rested = now + min(behind, self.burst_frame) if behind > self.frame else float('-inf')

    def spend(self, now: float) -> None:
        """A render goes now: learn the event rate, take one render's credit."""
        elapsed = now - self.last
        newest = self.marks / max(elapsed, self.frame)
        # weighted by time, not per render: one busy frame does not make a burst, and a quiet second after
        # a burst forgets it (per-render weights kept a view "bursting" through seconds of idle renders)
        weight = 1.0 - math.exp(-elapsed / RATE_MEMORY_SECS)
        self.rate += weight * (newest - self.rate)
        self.credit = max(0.0, self.credit_at(now) - 1.0)
        self.marks = 0
        self.last = now


class FrameBudget:
    """Renders a view at most once per frame; one per page (all of the page's views share it)."""

    def __init__(self, render: Callable[[], Any], *, frame: float = FRAME_SECS,
                 burst_frame: float = BURST_FRAME_SECS, burst_rate: float = BURST_RATE,
                 shown_timeout: float = SHOWN_TIMEOUT_SECS) -> None:
        self.render = render
        self.shown_timeout = shown_timeout
        self.bucket = RenderBucket(frame, burst_frame, burst_rate)
        self.renders = 0
        self.closed = False
        self._handle: asyncio.Handle | None = None
        self._later: asyncio.TimerHandle | None = None
        self._later_at = float('inf')  # kept here: uvloop's short timers have no .when()
        self._running: asyncio.Task | None = None  # an async render in flight (never two at once)
        self._unshown: asyncio.Task | None = None  # waiting for the tab to confirm the last render
        self._again = False  # something changed while a render was in flight or unconfirmed
        self.held = 0  # renders held back because the tab had not shown the last one (tests, benches)
        self._loop = asyncio.get_running_loop()
        self._slot = weakref.ref(context.slot)
        self._client = context.client
        self._client.on_delete(self.close)

    def mark(self, events: int = 1) -> None:
        """Something in the view changed: render it within the budget."""
        self.bucket.marks += events
        if self._handle is not None or self.closed:
            return
        wait = self.bucket.wait(self._loop.time())
        if wait > 0:
            self._handle = self._loop.call_later(wait, self._fire)
        else:
            self._handle = self._loop.call_soon(self._fire)  # after the rest of this batch is applied

    def _fire(self, *, user_waiting: bool = False) -> None:
        self._handle = None
        slot = self._slot()
        if self.closed or slot is None:
            return
        # one render at a time, and one the tab has not shown yet is enough; a user's own action does not wait
        # for the tab (it came from that tab, so the tab is listening)
        if self._running is not None or (self._unshown is not None and not user_waiting):
            if self._running is None:
                self.held += 1
            self._again = True
            return
        self.bucket.spend(self._loop.time())
        if self.bucket.bursting:
            reclaim_soon()  # once the burst is over, hand its garbage back (debounced: one reclaim per burst)
        self.renders += 1
        outbox = self._client.outbox
        with slot:
            result = self.render()
        if asyncio.iscoroutine(result):  # a REST refetch: in the page's context, errors reach NiceGUI's handlers
            self._running = background_tasks.create(result, name='live render', context=slot)
            self._running.add_done_callback(self._rendered)
        elif outbox.updates or outbox.messages:  # the render gave the tab work: the next one waits until it is done
            self._await_tab()

    def _rendered(self, task: asyncio.Task) -> None:
        self._running = None
        if not task.cancelled() and not self.closed:
            self._await_tab()

    def _await_tab(self) -> None:
        """Ask the tab to say when it has handled the render (it handles messages in order); until then the
        view's changes collect in its model and go as one render."""
        if self._unshown is not None:
            self._unshown.cancel()  # a user's render went meanwhile: wait for that one instead
        self._unshown = self._loop.create_task(self._tab_shown(), name='live render shown')
        self._unshown.add_done_callback(self._shown)

    async def _tab_shown(self) -> None:
        sent = self._loop.time()
        with contextlib.suppress(TimeoutError):  # a frozen or throttled tab: carry on with the next render
            await self._client.run_javascript(SHOWN_PROBE, timeout=self.shown_timeout)
        now = self._loop.time()
        self.bucket.tab_took(now - sent, now)

    def _shown(self, task: asyncio.Task) -> None:
        if task is not self._unshown:
            return
        self._unshown = None
        if self._again and not self.closed:
            self._again = False
            self.mark(0)

    def again_in(self, seconds: float) -> None:
        """Render again after `seconds` even without events (a chart that scrolls, a throttled fetch).

        "No later than": a render for events after that time does the job, and no extra one follows.
        """
        at = self._loop.time() + seconds
        if self.closed or (self._later is not None and self._later_at <= at):
            return
        if self._later is not None:
            self._later.cancel()
        # uvloop keeps time in whole milliseconds, so a timer can fire up to 1 ms before `time.monotonic()` says it
        # is due; the page would then find its work not yet due and ask again, a chain of empty renders
        self._later, self._later_at = self._loop.call_later(seconds + TIMER_SLACK_SECS, self._wake), at

    def _wake(self) -> None:
        due, self._later, self._later_at = self._later_at, None, float('inf')
        if self.bucket.last >= due or self._handle is not None:
            return  # a render went (or is about to go) since the time asked for: it does what was due
        self.mark(0)

    def flush_now(self) -> None:
        """Render at once (after a user action, which should never wait for a frame)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._fire(user_waiting=True)

    def close(self) -> None:
        """The tab went away: nothing renders for a closed tab."""
        self.closed = True
        for task in (self._running, self._unshown):
            if task is not None:
                task.cancel()
        for handle in (self._handle, self._later):
            if handle is not None:
                handle.cancel()
        self._handle = self._later = None


class Expiry:
    """Keys that leave a view after a delay (struck-through deleted rows), on one timer at a time."""

    def __init__(self, delay: float, on_due: Callable[[list[str]], None]) -> None:
        self.delay = delay
        self.on_due = on_due
        self._due: dict[str, float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        context.client.on_delete(self.close)

    def add(self, key: str) -> None:
        self._due[key] = self._loop.time() + self.delay
        if self._handle is None:
            self._handle = self._loop.call_later(self.delay, self._fire)

    def discard(self, key: str) -> None:
        self._due.pop(key, None)

    def clear(self) -> None:
        self._due.clear()

    def _fire(self) -> None:
        self._handle = None
        now = self._loop.time()
        due = [key for key, at in self._due.items() if at <= now]
        for key in due:
            del self._due[key]
        if self._due:
            self._handle = self._loop.call_later(max(0.0, min(self._due.values()) - now), self._fire)
        if due:
            with contextlib.suppress(RuntimeError):  # the client went away meanwhile
                self.on_due(due)

    def close(self) -> None:
        self._due.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


_reclaim: dict[str, asyncio.TimerHandle | None] = {'handle': None}
RECLAIM_AFTER_SECS = 1.0  # a second without a bursting render: the burst is over


def reclaim_soon() -> None:
    """A tab closed or a burst is on: reclaim memory once things settle (one collection per wave)."""
    handle = _reclaim['handle']
    if handle is not None:
        handle.cancel()
    _reclaim['handle'] = asyncio.get_running_loop().call_later(RECLAIM_AFTER_SECS, _reclaim_now)


def _reclaim_now() -> None:
    _reclaim['handle'] = None
    reclaim_memory()
