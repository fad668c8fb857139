"""ApexStore Console: settings -> embedded backend if no URL -> pages -> ui.run (browser or --native)."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from pathlib import Path

from services.settings import Settings, settings

# NiceGUI reads its storage path once, at import: keep per-browser storage in the private data dir, never in
# ./.nicegui (app.security.use_private_storage applies the final path once flags are read)
os.environ['NICEGUI_STORAGE_PATH'] = str(settings.browser_storage_dir)

from nicegui import app, ui  # noqa: E402

ROOT = Path(__file__).resolve().parent
log = logging.getLogger('console')
CSS_VERSION = hashlib.sha256((ROOT / 'app' / 'static' / 'tailwind.css').read_bytes()).hexdigest()[:12]  # cache busting


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    fields = Settings.model_fields
    parser = argparse.ArgumentParser(
        prog='python main.py', description='ApexStore Console. Every flag also reads an environment variable.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Environment variables:\n' + '\n'.join(
            f'  {name.upper():<28} {info.description}' for name, info in fields.items()))
    for name in ('console_host', 'console_port', 'apexstore_url', 'embedded_backend_port', 'console_data_dir',
                 'console_log_level'):
        parser.add_argument('--' + name.replace('_', '-'), dest=name, default=None,
                            help=f'{fields[name].description} (env {name.upper()})')
    parser.add_argument('--native', action='store_true', help='open as a desktop window (pywebview)')
    return parser.parse_args(argv)


def apply_args(args: argparse.Namespace) -> None:
    """Flags win over environment variables: write them into the environment, then re-read it."""
    for name, value in vars(args).items():
        if name != 'native' and value is not None:
            os.environ[name.upper()] = str(value)
    fresh = Settings()
    for name in Settings.model_fields:
        setattr(settings, name, getattr(fresh, name))


def serve_tailwind_css() -> None:
    """Tailwind compiled ahead of time (`make css`): NiceGUI's in-browser Tailwind cost ~300 ms per page load."""
    app.add_static_files('/console-static', ROOT / 'app' / 'static', max_cache_age=3600)
    ui.add_head_html(f'<link rel="stylesheet" href="/console-static/tailwind.css?v={CSS_VERSION}">', shared=True)


def tell_browser_clock() -> None:
    """Every page sets the browser's timezone and language as cookies (components/clock.py formats with them)."""
    from components.clock import BROWSER_CLOCK_SCRIPT

    ui.add_head_html(BROWSER_CLOCK_SCRIPT, shared=True)


def build_app() -> None:
    """Register pages and lifecycle hooks (also what the test fixtures run)."""
    from app import pages  # noqa: F401 - importing collects every page
    from app.auth import close_all, expire_idle_sessions, refused_token
    from app.diagnostics import register as register_diagnostics
    from app.live import reclaim_soon
    from app.security import install as install_security
    from app.shell import register_pages
    from services.events import event_service
    from services.runtime import tune_gc

    install_security()  # Host check, security headers, private per-browser storage
    register_pages()
    serve_tailwind_css()
    tell_browser_clock()
    register_diagnostics()  # loopback-only /_console/diagnostics (loop lag, RSS, clients) for bench/live_e2e.py

    @ui.page('/')
    def index():
        ui.navigate.to('/dashboard')

    async def expire() -> None:
        await expire_idle_sessions(settings.console_session_idle_secs)

    app.timer(60, expire)  # one global timer, not one per browser
    app.on_startup(tune_gc)  # see services/runtime.py and bench/README.md
    app.on_delete(reclaim_soon)  # closed tabs give their memory back
    app.on_shutdown(close_all)
    event_service().on_auth_failed(refused_token)  # a revoked token signs its sessions out (drafts kept)
    app.on_shutdown(lambda: event_service().close())


def start_embedded_backend() -> None:
    """Start the supervised embedded backend; refuse to run (with the reason) when it cannot be ours."""
    from app.auth import issue_login_link
    from services.embedded import EmbeddedBackend, EmbeddedBackendError, console_admin_token, policy_from_settings
    from services.events import event_service

    token = settings.apexstore_token.get_secret_value() if settings.apexstore_token else \
        console_admin_token(settings.console_data_dir)
    backend = EmbeddedBackend(settings.console_data_dir, settings.embedded_backend_port, token, ROOT,
                              policy=policy_from_settings())
    try:
        backend.start()
    except EmbeddedBackendError as exc:
        sys.exit(f'ApexStore Console: the embedded backend did not start: {exc}')
    event_service().guard(backend)  # no token goes to the port while the backend is down or not ours
    app.on_shutdown(backend.stop)
    link = issue_login_link(token)
    print(f'\n  ApexStore Console: {link}\n  (one-time sign-in link; it works once, for 15 minutes)\n', flush=True)


if __name__ in {'__main__', '__mp_main__'}:
    arguments = parse_args([] if 'pytest' in sys.modules else None)  # the test fixtures run this file too
    apply_args(arguments)
    logging.basicConfig(level=settings.console_log_level.upper(),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    logging.getLogger('httpx').setLevel(logging.WARNING)  # one line per request is noise, not news
    build_app()
    if settings.embedded and __name__ == '__main__' and 'pytest' not in sys.modules:
        start_embedded_backend()
    ui.run(host=settings.console_host, port=settings.console_port, title='ApexStore Console',
           storage_secret=settings.storage_secret(), reload=False, show=False, favicon='⚡',
           native=arguments.native, dark=None, language='en-US',  # <html lang="en-US"> for screen readers
           # NiceGUI's 3 s drops a tab frozen for ~6 s (its pings go unanswered) and reloads it, losing what
           # was typed: a 10 MB paste freezes a tab that long on a loaded machine
           reconnect_timeout=settings.console_reconnect_timeout,
           session_middleware_kwargs={'same_site': settings.console_cookie_samesite,
                                      'https_only': settings.console_cookie_samesite == 'none'},
           # no permessage-deflate on the browser sockets: its zlib state costs ~300 KB per open tab and
           # CPU per message, while live pages now send small deltas (bench/README.md)
           ws_per_message_deflate=False, tailwind=False)
