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
