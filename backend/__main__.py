"""`python -m backend --port 8081 --data-dir DIR [--no-auth] [--admin-token T] [--compat apexstore]`."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from .config import BackendConfig
from .server import build_server


def parse_args(argv: list[str] | None = None) -> BackendConfig:
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    return BackendConfig(host=args.host, port=args.port, data_dir=args.data_dir, auth=not args.no_auth,
                         admin_token=args.admin_token or os.environ.get('APEXSTORE_ADMIN_TOKEN') or None,
                         compat=args.compat == 'apexstore', dev_faults=args.dev_faults)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    server, _ = build_server(config)
    server.run()


if __name__ == '__main__':
    main()
