"""`/backpressure`: write concurrency and queue limits (applied at once), retry advice, and live write traffic.

While backpressure is on, the backend sends `backpressure/stats` feature events (coalesced); while it is
off, writes are only counted and the page refetches the counters when keys change (throttled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nicegui import ui

from components.page_header import PageHeader
from components.states import StatePanel
from services.api import NotOffered
from services.events.models import FeatureEvent, KeyChangeEvent
from services.features import backpressure as bp
from services.features.backpressure import BackpressureConfig, BackpressureStats

from ..context import PageContext, notify
from ..shell import page

# field -> (label, minimum, maximum, step)
NUMBERS: dict[str, tuple[str, float, float, float]] = {
    'max_queue_size': ('Max Queue Size', 0, 1_000_000, 1),
    'max_concurrency': ('Max Concurrency', 1, 10_000, 1),
    'queue_timeout_ms': ('Queue Timeout (ms)', 1, 600_000, 1),
    'backoff_initial_ms': ('Initial Backoff (ms)', 10, 10_000, 1),
    'backoff_max_ms': ('Max Backoff (ms)', 100, 300_000, 1),
    'backoff_factor': ('Backoff Factor', 1, 10, 0.5),
    'retry_max_attempts': ('Max Retry Attempts', 0, 20, 1),
}
LIMIT_FIELDS = ('max_concurrency', 'max_queue_size', 'queue_timeout_ms', 'backoff_factor', 'backoff_initial_ms',
                'backoff_max_ms')
COUNTERS = [('admitted', 'Admitted'), ('rejected', 'Rejected (503)'), ('timed_out', 'Timed out in queue'),
            ('peak_in_flight', 'Peak in flight'), ('peak_queued', 'Peak queued')]


def in_range(label: str, low: float, high: float, step: float):
    def check(value: float | None) -> str | None:
        if value is None or not low <= value <= high or (step == 1 and not float(value).is_integer()):
            kind = 'a whole number' if step == 1 else 'a number'
            return f'{label} must be {kind} from {low:,g} to {high:,g}'
        return None
    return check


def number_field(name: str) -> ui.number:
    label, low, high, step = NUMBERS[name]
    return ui.number(label, min=low, max=high, step=step, validation=in_range(label, low, high, step)) \
        .without_auto_validation().classes('w-full').mark(f'bp-{name}')


@dataclass
class Live:
    """What the page shows: the server's config and counters (`fetch`: refetch the counters on the next render)."""
    config: BackpressureConfig = field(default_factory=lambda: BackpressureConfig(enabled=False))
    stats: BackpressureStats = field(default_factory=BackpressureStats)
    fetch: bool = False


def summary(config: BackpressureConfig) -> str:
    return (f'Current effective config: max {config.retry_max_attempts} retries with {config.backoff_initial_ms}ms '
            f'initial backoff (factor {config.backoff_factor:g}), max {config.backoff_max_ms}ms.')


@page('/backpressure', 'Backpressure')
async def backpressure(ctx: PageContext) -> None:
    live = Live()

    header = PageHeader('Backpressure and retry configuration')
    with ui.row().classes('w-full items-center justify-between') as toolbar:
        mode = ui.label('').classes('font-medium').mark('bp-mode')
        with ui.row().classes('gap-2'):
            reset_button = ui.button('Reset counters', icon='restart_alt').props('flat').mark('bp-reset')
            save_button = ui.button('Save', icon='save').mark('bp-save')
    notice = ui.label('').classes('text-sm text-warning').mark('bp-notice')
    notice.set_visibility(False)
    state = StatePanel('bp-state')

    with ui.card().classes('w-full') as live_card:
        ui.label('Write traffic (live)').classes('font-semibold')
        with ui.row().classes('w-full gap-6'):
            with ui.column().classes('grow basis-64 gap-1'):
                ui.label('In flight').classes('text-xs uppercase text-gray-500')
                in_flight = ui.label('0').classes('text-xl font-mono').mark('bp-in-flight')
                in_flight_bar = ui.linear_progress(value=0, show_value=False).props('rounded size=10px')
            with ui.column().classes('grow basis-64 gap-1'):
                ui.label('Queued').classes('text-xs uppercase text-gray-500')
                queued = ui.label('0').classes('text-xl font-mono').mark('bp-queued')
                queued_bar = ui.linear_progress(value=0, show_value=False).props('rounded size=10px')
        with ui.row().classes('w-full gap-6'):
            counters = {}
            for field, label in COUNTERS:
                with ui.column().classes('gap-0'):
                    ui.label(label).classes('text-xs uppercase text-gray-500')
                    counters[field] = ui.label('0').classes('text-lg font-mono').mark(f'bp-{field}')

    with ui.row().classes('w-full gap-4 items-stretch') as config_row:
        with ui.card().classes('grow basis-96'):
            ui.label('Backpressure').classes('font-semibold')
            enabled = ui.switch('Enabled').mark('bp-enabled')
            with ui.grid(columns=2).classes('w-full gap-4'):
                fields = {name: number_field(name) for name in LIMIT_FIELDS}
        with ui.card().classes('grow basis-96'):
            ui.label('Retry Configuration').classes('font-semibold')
            ui.label('Advice sent with every 503 (Retry-After and the body): the server never retries by '
                     'itself.').classes('text-sm text-gray-500')
            fields['retry_max_attempts'] = number_field('retry_max_attempts')
            retry_timeout = ui.switch('Retry on Timeout').mark('bp-retry_on_timeout')
            retry_error = ui.switch('Retry on Error').mark('bp-retry_on_error')
            effective = ui.label('').classes('text-sm').mark('bp-summary')

    def form_config() -> BackpressureConfig | None:
        """The form as a config, or None after marking every field that is wrong (all of them at once)."""
        valid = all([f.validate() for f in fields.values()])
        initial, maximum = fields['backoff_initial_ms'], fields['backoff_max_ms']
        if initial.error is None and maximum.error is None and initial.value > maximum.value:
            initial.error = 'Initial Backoff must not exceed Max Backoff'
            valid = False
        if not valid:
            return None
        values = {name: f.value if name == 'backoff_factor' else int(f.value) for name, f in fields.items()}
        return BackpressureConfig(enabled=enabled.value, retry_on_timeout=retry_timeout.value,
                                  retry_on_error=retry_error.value, **values)

    def fill(config: BackpressureConfig) -> None:
        enabled.value, retry_timeout.value, retry_error.value = (config.enabled, config.retry_on_timeout,
                                                                 config.retry_on_error)
        for name, element in fields.items():
            element.value = getattr(config, name)
            element.error = None
        notice.set_visibility(False)

    def edited() -> bool:
        current = live.config
        return (enabled.value, retry_timeout.value, retry_error.value) != (
            current.enabled, current.retry_on_timeout, current.retry_on_error) or any(
            f.value != getattr(current, name) for name, f in fields.items())

    def draw() -> None:
        config, stats = live.config, live.stats
        mode.text = (f'On: at most {config.max_concurrency:,} writes at once, {config.max_queue_size:,} waiting'
                     if config.enabled else 'Off: writes are counted but never limited')
        mode.classes(replace=f'font-medium {"text-positive" if config.enabled else "text-gray-500"}')
        in_flight.text = f'{stats.in_flight:,} / {config.max_concurrency:,}'
        queued.text = f'{stats.queued:,} / {config.max_queue_size:,}'
        in_flight_bar.value = min(1.0, stats.in_flight / config.max_concurrency)
        queued_bar.value = min(1.0, stats.queued / config.max_queue_size) if config.max_queue_size else 0
        for field, label in counters.items():
            label.text = f'{getattr(stats, field):,}'
        effective.text = summary(config)

    async def render() -> None:
        """The page's one refresher: refetch when asked (keys changed while off), then draw."""
        if live.fetch:
            live.fetch = False
            with ctx.errors() as outcome:
                fresh = await bp.get_state(ctx.api)
            if not outcome.failed:
                live.stats = fresh.stats
        draw()

    refresher = ctx.refresher(render, frame=0.5, burst_frame=1.0)

    async def load() -> None:
        with ctx.errors(state=state, feature='Backpressure') as outcome:
            fresh = await bp.get_state(ctx.api)
        if outcome.failed:
            if isinstance(outcome.error, NotOffered):
                for part in (toolbar, live_card, config_row):
                    part.set_visibility(False)
            return
        state.hide()
        live.config, live.stats = fresh.config(), fresh.stats
        fill(fresh.config())
        draw()
        header.stamp()

    async def save() -> None:
        config = form_config()
        if config is None:
            notify('Fix the highlighted fields first.', 'warning')
            return
        with ctx.errors(success='Backpressure config saved') as outcome:
            fresh = await bp.save_config(ctx.api, config)
        if outcome.failed:
            return
        live.config, live.stats = fresh.config(), fresh.stats
        fill(fresh.config())
        refresher.flush_now()

    async def reset() -> None:
        with ctx.errors(success='Counters reset') as outcome:
            fresh = await bp.reset_stats(ctx.api)
        if not outcome.failed:
            live.stats = fresh.stats
            refresher.flush_now()

    def on_feature(event: FeatureEvent) -> None:
        if event.feature != bp.FEATURE:
            return
        if event.name == 'stats':
            live.stats = BackpressureStats.model_validate(event.data.get('stats') or {})
        elif event.name == 'config':
            config = BackpressureConfig.model_validate(event.data.get('config') or {})
            unsaved = edited()
            if config != live.config and unsaved:
                notice.text = 'Another admin changed these settings; Refresh to load them (your edits are kept ' \
                              'until then).'
                notice.set_visibility(True)
            live.config = config
            if not unsaved:
                fill(config)
        refresher.mark()

    def on_key_change(_event: KeyChangeEvent) -> None:
        if not live.config.enabled:
            live.fetch = True  # no stats events while off: count the writes from REST, throttled
            refresher.mark()

    save_button.on_click(save)
    reset_button.on_click(reset)
    for element in fields.values():
        element.on('keydown.enter', save)
    header.button.on_click(load)
    ctx.on(FeatureEvent, on_feature)
    ctx.on(KeyChangeEvent, on_key_change)
    ctx.on_resync(load)
    state.loading()
    await load()
