"""Charts people would rather look at than read: write throughput and LSM levels."""

from __future__ import annotations

from typing import Any

from nicegui import ui

LABEL_EVERY = 30  # seconds between the throughput chart's time labels


def patch_echart(chart: ui.echart, series: list[list[Any]], *, categories: list[Any] | None = None,
                 axis: str = 'xAxis') -> None:
    """New data for a shown chart: only the data goes (`setOption` merges it), not the whole chart.

    A whole-element update makes the tab re-merge every option (legend, tooltip, axes) and deep-copy the old
    ones first: in a Chromium profile of ten dashboard tabs it was the tabs' longest work, ~30 ms a redraw.
    The options keep the data too (plain writes, or the observable options would send it all again), so a
    re-sent element starts from it.
    """
    options = chart.options
    if categories is not None:
        dict.__setitem__(options[axis], 'data', categories)
    for line, data in zip(options['series'], series, strict=True):
        dict.__setitem__(line, 'data', data)
    if not chart.client.has_socket_connection:
        chart.update()
        return
    delta: dict[str, Any] = {'series': [{'data': data} for data in series]}
    if categories is not None:
        delta[axis] = {'data': categories}
    chart.run_chart_method('setOption', delta)


class ThroughputChart:
    """Puts and deletes per second over the last `window` seconds."""

    def __init__(self, window: int = 180) -> None:
        self.window = window
        self.chart = ui.echart({
            'animation': False,
            'tooltip': {'trigger': 'axis'},
            'legend': {'data': ['puts/s', 'deletes/s'], 'top': 0, 'textStyle': {'color': '#94a3b8'}},
            'grid': {'left': 40, 'right': 16, 'top': 36, 'bottom': 24},
            # a label and a tick every 30 s: left to itself the chart measures all 180 labels on every redraw
            'xAxis': {'type': 'category', 'data': [], 'boundaryGap': False,
                      'axisLabel': {'color': '#94a3b8', 'interval': LABEL_EVERY - 1},
                      'axisTick': {'interval': LABEL_EVERY - 1}},
            'yAxis': {'type': 'value', 'minInterval': 1, 'axisLabel': {'color': '#94a3b8'}},
            'series': [
                {'name': 'puts/s', 'type': 'line', 'smooth': True, 'showSymbol': False, 'data': [],
                 'itemStyle': {'color': '#f97316'}, 'areaStyle': {'opacity': 0.15}},
                {'name': 'deletes/s', 'type': 'line', 'smooth': True, 'showSymbol': False, 'data': [],
                 'itemStyle': {'color': '#ef4444'}},
            ],
        }).classes('w-full h-56').mark('throughput-chart')

    def show(self, labels: list[str], puts: list[int], deletes: list[int]) -> None:
        patch_echart(self.chart, [puts, deletes], categories=labels)


class LevelChart:
    """SST files and size per LSM level."""

    def __init__(self) -> None:
        self.chart = ui.echart({
            'animation': False,
            'tooltip': {'trigger': 'axis'},
            'legend': {'data': ['files', 'KiB'], 'top': 0, 'textStyle': {'color': '#94a3b8'}},
            'grid': {'left': 48, 'right': 48, 'top': 44, 'bottom': 24},
            'xAxis': {'type': 'category', 'data': [f'L{i}' for i in range(7)], 'axisLabel': {'color': '#94a3b8'}},
            'yAxis': [{'type': 'value', 'name': 'files', 'minInterval': 1},
                      {'type': 'value', 'name': 'KiB'}],
            'series': [
                {'name': 'files', 'type': 'bar', 'data': [0] * 7, 'itemStyle': {'color': '#f97316'}},
                {'name': 'KiB', 'type': 'bar', 'yAxisIndex': 1, 'data': [0] * 7, 'itemStyle': {'color': '#3b82f6'}},
            ],
        }).classes('w-full h-56').mark('level-chart')

    def show(self, files: list[int], kib: list[int]) -> None:
        patch_echart(self.chart, [files, kib])


class HistoryChart:
    """Named series over time (the metrics history): one line each, gaps where a value is not known."""

    COLORS = ['#f97316', '#3b82f6', '#ef4444', '#22c55e', '#a855f7', '#eab308']

    def __init__(self, title: str, series: list[str], marker: str, *, unit: str = '',
                 y_max: float | None = None) -> None:
        self.names = series
        self.chart = ui.echart({
            'animation': False,
            'title': {'text': title, 'left': 0, 'top': 0, 'textStyle': {'fontSize': 13, 'color': '#94a3b8'}},
            'tooltip': {'trigger': 'axis'},
            'legend': {'data': series, 'top': 0, 'right': 0, 'textStyle': {'color': '#94a3b8'}},
            'grid': {'left': 56, 'right': 16, 'top': 40, 'bottom': 24},
            'xAxis': {'type': 'time', 'axisLabel': {'color': '#94a3b8'}},
            'yAxis': {'type': 'value', 'min': 0, **({'max': y_max} if y_max is not None else {}),
                      'axisLabel': {'color': '#94a3b8', 'formatter': f'{{value}}{unit}'}},
            'series': [{'name': name, 'type': 'line', 'showSymbol': False, 'connectNulls': False, 'data': [],
                        'itemStyle': {'color': self.COLORS[i % len(self.COLORS)]}}
                       for i, name in enumerate(series)],
        }).classes('w-full h-56').mark(marker)

    def show(self, times_ms: list[int], values: dict[str, list[float | None]]) -> None:
        """Replace the lines: `values[name][i]` is the value at `times_ms[i]` (None: a gap)."""
        patch_echart(self.chart, [
            [[t, None if v is None else round(v, 3)] for t, v in zip(times_ms, values.get(name, []), strict=False)]
            for name in self.names])

    def points(self, name: str) -> list[list]:
        """The `[time_ms, value]` pairs a series shows (tests read charts through this)."""
        return next(s['data'] for s in self.chart.options['series'] if s['name'] == name)
