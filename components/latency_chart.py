"""Latency per route at a glance: p50 and p95 side by side, one pair of bars per route."""

from __future__ import annotations

from nicegui import ui

from .charts import patch_echart


class LatencyChart:
    """Horizontal bars (ms) for the busiest routes; labels are route templates, never request data."""

    def __init__(self, marker: str = 'latency-chart') -> None:
        self.chart = ui.echart({
            'animation': False,
            'tooltip': {'trigger': 'axis', 'axisPointer': {'type': 'shadow'}},
            'legend': {'data': ['p50 ms', 'p95 ms'], 'top': 0, 'textStyle': {'color': '#94a3b8'}},
            'grid': {'left': 8, 'right': 24, 'top': 28, 'bottom': 8, 'containLabel': True},
            'xAxis': {'type': 'value', 'name': 'ms', 'axisLabel': {'color': '#94a3b8'}},
            'yAxis': {'type': 'category', 'inverse': True, 'data': [],
                      'axisLabel': {'color': '#94a3b8', 'fontFamily': 'JetBrains Mono, monospace'}},
            'series': [
                {'name': 'p50 ms', 'type': 'bar', 'data': [], 'itemStyle': {'color': '#3b82f6'}},
                {'name': 'p95 ms', 'type': 'bar', 'data': [], 'itemStyle': {'color': '#f97316'}},
            ],
        }).classes('w-full h-72').mark(marker)

    def show(self, labels: list[str], p50: list[float], p95: list[float]) -> None:
        options = self.chart.options
        if options['yAxis']['data'] == labels and options['series'][0]['data'] == p50 \
                and options['series'][1]['data'] == p95:
            return  # nothing changed: send nothing
        patch_echart(self.chart, [p50, p95], categories=labels, axis='yAxis')

    def labels(self) -> list[str]:
        """The routes the chart shows (tests read charts through this)."""
        return list(self.chart.options['yAxis']['data'])
