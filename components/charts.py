"""Charts people would rather look at than read: write throughput and LSM levels."""

from __future__ import annotations

from nicegui import ui


class ThroughputChart:
    """Puts and deletes per second over the last `window` seconds."""

    def __init__(self, window: int = 180) -> None:
        self.window = window
        self.chart = ui.echart({
            'animation': False,
            'tooltip': {'trigger': 'axis'},
            'legend': {'data': ['puts/s', 'deletes/s'], 'top': 0, 'textStyle': {'color': '#94a3b8'}},
            'grid': {'left': 40, 'right': 16, 'top': 36, 'bottom': 24},
            'xAxis': {'type': 'category', 'data': [], 'axisLabel': {'color': '#94a3b8'}},
            'yAxis': {'type': 'value', 'minInterval': 1, 'axisLabel': {'color': '#94a3b8'}},
            'series': [
                {'name': 'puts/s', 'type': 'line', 'smooth': True, 'showSymbol': False, 'data': [],
                 'itemStyle': {'color': '#f97316'}, 'areaStyle': {'opacity': 0.15}},
                {'name': 'deletes/s', 'type': 'line', 'smooth': True, 'showSymbol': False, 'data': [],
                 'itemStyle': {'color': '#ef4444'}},
            ],
        }).classes('w-full h-56').mark('throughput-chart')

    def show(self, labels: list[str], puts: list[int], deletes: list[int]) -> None:
        options = self.chart.options
        options['xAxis']['data'] = labels
        options['series'][0]['data'] = puts
        options['series'][1]['data'] = deletes
        self.chart.update()


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
        self.chart.options['series'][0]['data'] = files
        self.chart.options['series'][1]['data'] = kib
        self.chart.update()


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
        for series in self.chart.options['series']:
            column = values.get(series['name'], [])
            series['data'] = [[t, None if v is None else round(v, 3)] for t, v in zip(times_ms, column, strict=False)]
        self.chart.update()

    def points(self, name: str) -> list[list]:
        """The `[time_ms, value]` pairs a series shows (tests read charts through this)."""
        return next(s['data'] for s in self.chart.options['series'] if s['name'] == name)
