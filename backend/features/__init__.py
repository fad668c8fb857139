"""Backend extensions behind the Angular pages the real server lacks (Webhooks, Quotas, SQL, ...).

One module per feature in this package, found at start-up (never in `--compat apexstore` mode). A
module may define:

- `routes`: a list of Starlette routes it serves;
- `install(backend)`: called once when the app is built; it keeps its state with
  `backend.feature_state(name, factory)` and hooks into the backend:
  - `backend.request_guards.append(guard)`: `guard(scope, token) -> Response | None` runs for every
    authenticated request and WebSocket upgrade after the token is checked (a Response refuses it);
  - `backend.write_guards.append(guard)`: `guard(cf, items)` runs before every write with the
    `(key, value | None, ttl)` items; it raises `backend.http.ApiError` to refuse the whole write
    (the caller's token is `backend.http.current_token()`);
  - `backend.request_limiters.append(limiter)`: `limiter(scope, token)` is an async context manager
    entered around every authenticated request (after the guards); it may wait (a concurrency limit)
    and yields None to let the request run or a Response to refuse it;
  - `backend.request_observers.append(observer)`: `observer(scope, status, seconds)` after every HTTP
    request (request log, latency, usage);
  - `backend.feature_tasks.append(factory)`: `factory() -> coroutine` started with the backend and
    cancelled when it stops;
  - `backend.publish_feature(feature, name, data)`: a `feature_event` on the event streams of Admin
    tokens, or of every token with `backend.feature_readers[feature]` (e.g. Permission.Read).

Each route is documented in `backend/README.md` under "Extensions".
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from starlette.routing import BaseRoute


def feature_modules() -> list[ModuleType]:
    """Every feature module of this package, in name order (stable route order)."""
    return [importlib.import_module(f'{__name__}.{info.name}')
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
            if not info.name.startswith('_')]


def install_features(backend) -> list[BaseRoute]:
    """Install every feature into `backend` and return their routes."""
    routes: list[BaseRoute] = []
    for module in feature_modules():
        install = getattr(module, 'install', None)
        if install is not None:
            install(backend)
        routes.extend(getattr(module, 'routes', []))
    return routes
