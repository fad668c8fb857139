"""`python -m backend --port 8081 --data-dir DIR [--no-auth] [--admin-token T] [--compat apexstore]`."""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .config import BackendConfig
from .server import build_server

log = logging.getLogger('backend')
SECRET_ENV = 'APEXSTORE_EMBEDDED_SECRET'
PR_SET_PDEATHSIG = 1
EXIT_GRACE_SECS = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m backend', description='Embedded ApexStore-compatible server.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8081)
    parser.add_argument('--data-dir', type=Path, default=Path('.console-data/backend'))
    parser.add_argument('--no-auth', action='store_true', help='accept any Bearer token (API_AUTH_ENABLED=false)')
    parser.add_argument('--admin-token', default=None,
                        help='install this raw token as an Admin token (or env APEXSTORE_ADMIN_TOKEN)')
    parser.add_argument('--compat', choices=['apexstore'], default=None,
                        help='behave like the current real ApexStore server: no extensions, CDC events only')
    parser.add_argument('--dev-faults', action='store_true', help='expose fault hooks at /_faults (tests only)')
    parser.add_argument('--log-level', default='INFO')
    parser.add_argument('--embedded', action='store_true',
                        help=f'run as the console\'s child: exit with it (parent-death signal, EOF on stdin) and '
                             f'prove identity at /_embedded/identity with the secret in env {SECRET_ENV}')
    parser.add_argument('--parent-pid', type=int, default=None, help='with --embedded: the console\'s pid')
    return parser


def parse_args(argv: list[str] | None = None) -> BackendConfig:
    return config_from(build_parser().parse_args(argv))


def config_from(args: argparse.Namespace) -> BackendConfig:
    logging.basicConfig(level=args.log_level.upper(), format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    return BackendConfig(host=args.host, port=args.port, data_dir=args.data_dir, auth=not args.no_auth,
                         admin_token=args.admin_token or os.environ.get('APEXSTORE_ADMIN_TOKEN') or None,
                         compat=args.compat == 'apexstore', dev_faults=args.dev_faults)


def tie_to_parent(parent_pid: int | None) -> None:
    """Never outlive the console: a killed console must not leave us holding the port.

    Linux delivers SIGTERM when the parent dies (armed here, then checked against a parent that died
    before it was armed); everywhere, EOF on the stdin pipe the console holds means the same.
    """
    if sys.platform.startswith('linux'):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning('could not arm the parent-death signal (errno %d); relying on the stdin pipe',
                        ctypes.get_errno())
    if parent_pid is not None and os.getppid() != parent_pid:
        sys.exit('embedded backend: the console that started it is gone')
    threading.Thread(target=_exit_on_stdin_eof, name='console-pipe', daemon=True).start()


def _exit_on_stdin_eof() -> None:
    """The console never writes to our stdin: EOF means it is gone. Shut down, then make sure of it."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    log.warning('the console is gone (stdin closed): shutting down')
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(EXIT_GRACE_SECS)
    os._exit(1)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from(args)
    secret = None
    if args.embedded:
        secret = os.environ.pop(SECRET_ENV, None)  # popped: worker processes must not inherit it
        os.environ.pop('APEXSTORE_ADMIN_TOKEN', None)
        if not secret:
            sys.exit(f'--embedded needs the identity secret in env {SECRET_ENV}')
        tie_to_parent(args.parent_pid)
    server, _ = build_server(config, identity_secret=secret)
    server.run()


if __name__ == '__main__':
    main()
