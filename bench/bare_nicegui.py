"""A bare NiceGUI app: one page, one label. The memory baseline of `live_e2e.py --scenario memory`.

Why: "MB per open tab" only means something next to what NiceGUI itself costs per client on the same
machine, in the same run; this is that floor (same NiceGUI, same Python, same reconnect timeout).

Run: `.venv/bin/python bench/bare_nicegui.py --port 8099`.
"""

from __future__ import annotations

import argparse

from nicegui import Client, app, ui


@ui.page('/')
def index() -> None:
    # the navigation scenario times the first `user:NNNNNNN` text, on the console and on this floor alike
    ui.label('user:0000001 (bare NiceGUI page)').props('data-testid=bare-page')


@app.get('/_bench/clients')
def clients() -> dict[str, int]:
    """Live NiceGUI clients, so the bench can wait until closed tabs are really gone."""
    return {'clients': len(Client.instances)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port', type=int, required=True)
    args = parser.parse_args()
    ui.run(host='127.0.0.1', port=args.port, reload=False, show=False, title='bare', storage_secret='bench')


if __name__ in {'__main__', '__mp_main__'}:
    main()
