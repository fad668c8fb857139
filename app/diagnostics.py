"""`/_console/diagnostics`: event-loop lag, RSS and NiceGUI client count as JSON, for loopback only.

Why: the end-to-end benchmark (`bench/live_e2e.py`) needs to see inside the running console (is the
loop late, how much memory, have closed tabs been dropped) without a debugger. Anyone not on the
console's own machine gets a 404, as if the route did not exist.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from nicegui import Client, app

from services.loop_monitor import LoopLagMonitor, rss_mb

LOOPBACK = frozenset({'127.0.0.1', '::1'})
monitor = LoopLagMonitor()


def snapshot(seconds: float) -> dict[str, object]:
    """What the endpoint answers: lag over the last `seconds`, RSS now, live NiceGUI clients now."""
    return {'loop_lag': monitor.summary(seconds).as_dict(), 'window_secs': seconds, 'rss_mb': rss_mb(),
            'clients': len(Client.instances)}


def register() -> None:
    """Start the sampler with the app and add the route (called by `main.build_app`, once per app)."""
    app.on_startup(monitor.start)
    app.on_shutdown(monitor.stop)

    @app.get('/_console/diagnostics', include_in_schema=False)
    async def diagnostics(request: Request, seconds: float = 10.0) -> Response:
        if request.client is None or request.client.host not in LOOPBACK:
            return Response(status_code=404)
        return JSONResponse(snapshot(max(0.1, min(seconds, monitor.window_secs))))
