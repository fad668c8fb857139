"""A real HTTP receiver for webhook tests: a `http.server` thread on a free loopback port.

It records every POST (path, headers, body) and answers with the status the test sets (or a queue of
statuses). `stop()` makes the port refuse connections, `start()` on the same port brings it back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backend.server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = 'sha256=' + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get('x-apex-signature', ''), expected)


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.status = 200
        self.statuses: deque[int] = deque()  # answered first, one per request, before `status`
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}/hook'

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                with receiver._changed:
                    status = receiver.statuses.popleft() if receiver.statuses else receiver.status
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header('Content-Type', 'text/plain')
                self.end_headers()
                self.wfile.write(b'ok' if status < 300 else b'receiver says no')

            def log_message(self, *_args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f'receiver:{self.port}',
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10.0, event: str | None = None) -> list[Received]:
        """The POSTs received so far once there are `count` (of `event`, when given); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.of(event)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'expected {count} POSTs of {event or "any event"}, got {len(self.of(event))}')
                self._changed.wait(left)
            return self.of(event)

    def of(self, event: str | None) -> list[Received]:
        return [r for r in self.received if event is None or r.headers.get('x-apex-event') == event]

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
