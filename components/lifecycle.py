"""Start client-side work once the browser is connected, without holding the page back.

A `ui.timer` (or any JavaScript call) made while a page is built makes NiceGUI send the page at once,
before the build has finished: everything the build still adds (the first rows of a table) then waits
for the socket to connect, ~200 ms more per navigation here (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui


def when_connected(host: ui.element, start: Callable[[], object]) -> None:
    """Call `start` once, in `host`'s parent slot, when the page's browser has connected."""
    client = host.client
    started = False

    def go() -> None:
        nonlocal started
        if started or host.is_deleted or host.parent_slot is None:
            return
        started = True
        with host.parent_slot:
            start()

    client.on_connect(go)
