"""The frame budget's arithmetic, fed made-up event times: who waits, how long, and when a burst backs off."""

from __future__ import annotations

import random

import pytest

from app.live import BURST_FRAME_SECS, BUSY_FRAME_SECS, RenderBucket


def run(bucket: RenderBucket, arrivals: list[float]) -> tuple[list[float], int]:
    """Events at `arrivals` (s), rendered as FrameBudget does: at once if the bucket allows, else when it does.

    Returns each event's wait before its render and how many renders went (events that arrive while a
    render is already scheduled ride along with it).
    """
    waits: list[float] = []
    due: float | None = None  # a render scheduled for this time
    renders = 0
    for at in arrivals:
        if due is not None and due <= at:  # the scheduled render went before this event came
            bucket.spend(due)
            renders += 1
            due = None
        bucket.marks += 1
        if due is None:
            due = at + max(0.0, bucket.wait(at))
        waits.append(due - at)
    if due is not None:
        bucket.spend(due)
        renders += 1
    return waits, renders


def steady(rate: float, seconds: float, jitter: float, seed: int = 7) -> list[float]:
    """`rate` events/s for `seconds`, each early or late by up to `jitter` of its interval."""
    rng = random.Random(seed)
    step = 1 / rate
    return sorted(i * step + rng.uniform(-jitter, jitter) * step for i in range(int(rate * seconds)))


def stalled(arrivals: list[float], at: float, secs: float) -> list[float]:
    """The same events, except that those due during a stall of the loop arrive together when it ends."""
    return sorted(at + secs if at <= t < at + secs else t for t in arrivals)


def test_events_at_fifty_a_second_with_jitter_never_wait_for_a_frame():
    """50 writes/s, each up to 40 % early or late: the bucket never runs dry, so no event waits."""
    waits, renders = run(RenderBucket(), steady(50, 60, 0.4))

    assert max(waits) == 0.0
    assert renders == len(waits)


def test_after_a_stall_the_view_catches_up_instead_of_lagging_for_good():
    """A 45 ms hiccup at 50 writes/s: a few events wait once, then none does again.

    (With a refill of exactly one render per event interval the bucket would stay empty after the
    hiccup and every later event would wait out part of a frame, for as long as the writes go on.)
    """
    arrivals = stalled(steady(50, 30, 0.2), at=10.0, secs=0.045)
    waits, _ = run(RenderBucket(), arrivals)
    after = [wait for at, wait in zip(arrivals, waits, strict=True) if at > 11.0]

    assert max(after) == 0.0


@pytest.mark.parametrize('rate', [200, 480])
def test_a_busy_stream_renders_about_twenty_times_a_second_with_several_events_each(rate: int):
    """200 or 480 events/s (busy, not a burst): at most one render per busy frame, none waits longer than one."""
    arrivals = steady(rate, 10, 0.2)
    waits, renders = run(RenderBucket(), arrivals)

    assert renders <= 10 / BUSY_FRAME_SECS + 25  # a few more while the rate is being learned (a quarter second)
    assert renders < len(arrivals) / 4
    assert max(waits) <= BUSY_FRAME_SECS + 1e-9


def test_a_burst_backs_off_to_a_few_renders_a_second():
    """5,000 events/s: once the rate is learned, renders go out one per burst frame (< 10 a second)."""
    bucket = RenderBucket()
    _, renders = run(bucket, steady(5000, 5, 0.0))

    assert bucket.bursting
    assert renders <= 5 / BURST_FRAME_SECS + 20  # a handful while the rate is being learned, then 4 a second


def test_events_held_up_on_the_way_and_handed_over_together_are_not_a_burst():
    """200 writes/s render every 50 ms, ten events each; then 23 events held up on the way (a pause of the
    backend, or of this loop while it collected garbage) arrive together. Seen in ten tabs at once, that
    must not count as a burst: a burst backs off to four renders a second and collects garbage (another
    pause), which made the next clump look like a burst again (measured: a collection every second)."""
    bucket, now = RenderBucket(), 0.0
    for _ in range(40):
        now += 0.05
        bucket.marks = 10
        bucket.spend(now)
    now += 0.022
    bucket.marks = 23
    bucket.spend(now)  # the clump

    assert not bucket.bursting


def test_a_quiet_moment_after_a_burst_ends_it():
    """After a burst, one render a second later (a chart's tick) finds the view calm again: the next event
    renders at once, and nothing keeps treating the view as flooded (a collection each second, 250 ms waits)."""
    bucket = RenderBucket()
    run(bucket, steady(5000, 2, 0.0))
    assert bucket.bursting

    bucket.spend(bucket.last + 1.0)  # the tick: no events
    assert not bucket.bursting
    bucket.marks = 1
    assert bucket.wait(bucket.last + 0.5) <= 0


def test_an_idle_view_renders_the_first_event_at_once():
    bucket = RenderBucket()

    assert bucket.wait(1000.0) <= 0
    bucket.marks = 1
    bucket.spend(1000.0)
    bucket.marks = 1
    assert bucket.wait(1000.001) <= 0  # a second render right away: the bucket holds two


def test_a_tab_that_keeps_up_never_waits_for_its_own_confirmations():
    """A tab that shows each render within a frame (one tab on a quiet machine) adds no wait at all."""
    bucket = RenderBucket()
    for i in range(20):
        bucket.spend(i * 0.02)
        bucket.tab_took(0.003, now=i * 0.02 + 0.003)
        assert bucket.wait(i * 0.02 + 0.004) <= 0.0


def test_one_slow_render_makes_nobody_wait():
    """The page's first render (the tab still loading) or a garbage collection takes long to show: the next
    events still render at once."""
    bucket = RenderBucket()
    bucket.spend(0.0)
    bucket.tab_took(0.95, now=0.95)
    for i in range(1, 10):
        now = 0.95 + i * 0.02
        assert bucket.wait(now) <= 0.0, f'render {i} waited'
        bucket.spend(now)
        bucket.tab_took(0.2 if i == 5 else 0.003, now=now + 0.003)


def tab_behind(took: float, renders: int = 8) -> RenderBucket:
    bucket = RenderBucket()
    now = 0.0
    for _ in range(renders):
        bucket.spend(now)
        now += took
        bucket.tab_took(took, now=now)
    return bucket


def test_a_tab_that_falls_behind_rests_about_as_long_as_it_takes_and_then_gets_one_bigger_render():
    """Ten tabs sharing two cores: a tab that keeps taking 120 ms to show a render gets the next one about
    120 ms later, with everything that changed meanwhile, instead of a render every frame it cannot keep up with."""
    bucket = tab_behind(0.12)
    now = bucket.last + 0.12
    bucket.marks += 30  # thirty events while it rests
    assert 0.09 < bucket.wait(now + 0.001) <= 0.12
    assert bucket.wait(now + 0.12) <= 0.0


def test_a_frozen_tab_rests_no_longer_than_a_burst_frame():
    bucket = tab_behind(2.0)
    assert bucket.wait(bucket.last + 2.0) == pytest.approx(BURST_FRAME_SECS)
