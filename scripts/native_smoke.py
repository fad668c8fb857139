"""Desktop-mode smoke test: open the console in a real pywebview (Qt) window and read the page back.

`make native-smoke` installs the native extras and runs this headless (Qt offscreen). Not part of
`make test`: ui.run forces native=False under pytest, and Qt WebEngine is ~700 MB.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('PYWEBVIEW_GUI', 'qt')
os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
os.environ.setdefault('QTWEBENGINE_DISABLE_SANDBOX', '1')  # required as root
os.environ.setdefault('CONSOLE_DATA_DIR', tempfile.mkdtemp(prefix='console-native-'))
os.environ.setdefault('EMBEDDED_BACKEND_PORT', '18181')
os.environ.setdefault('APEXSTORE_TOKEN', 'apx_native-smoke-token')  # desktop use: local sign-in is automatic

from nicegui import app, ui  # noqa: E402

import main  # noqa: E402
from services.settings import settings  # noqa: E402

RESULT: dict[str, str] = {}


async def read_window() -> None:
    """Wait for the window, then read what it shows via JavaScript."""
    for _ in range(120):
        await asyncio.sleep(0.5)
        try:
            title = await app.native.main_window.evaluate_js('document.title')
            text = await app.native.main_window.evaluate_js('document.body.innerText')
        except Exception as exc:  # noqa: BLE001 - the window is still starting
            RESULT['last_error'] = repr(exc)
            continue
        RESULT['last_seen'] = f'{title!r}: {(text or "")[:80]!r}'
        if 'Dashboard' in (title or '') and 'memtable' in (text or '').lower() and 'Live' in (text or ''):
            RESULT['title'] = title
            break
    app.shutdown()


if __name__ == '__main__':
    main.build_app()
    main.start_embedded_backend()
    app.on_startup(read_window)
    ui.run(host='127.0.0.1', port=18180, native=True, reload=False, show=False, title='ApexStore Console',
           storage_secret=settings.storage_secret(), window_size=(1200, 800))
    if 'title' not in RESULT:
        print(f'native smoke: FAILED (the window never showed the dashboard): {RESULT}')
        sys.exit(1)
    print(f'native smoke: OK (window title {RESULT["title"]!r})')
