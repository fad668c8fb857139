"""Which optional routes the connected server answers: probed once per server, shared by every tab.

A real ApexStore server lacks most of the routes the Angular admin pages call; the navigation groups
those pages under "Not on this server" instead of offering dead ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

from .api import ApexApi, ApiError, NotOffered, Unreachable

log = logging.getLogger(__name__)


class Probe(NamedTuple):
    """The request a page makes first (read-only): answered at all means the server has the feature."""
    method: str
    path: str
    body: Any = None

    def __str__(self) -> str:
        return f'{self.method} {self.path}'


class RouteProbe:
    def __init__(self) -> None:
        self._answers: dict[str, dict[str, bool]] = {}  # server -> route -> offered
        self._probing: dict[str, asyncio.Task[dict[str, bool] | None]] = {}

    def known(self, server: str) -> dict[str, bool] | None:
        return self._answers.get(server)

    def forget(self, server: str) -> None:
        self._answers.pop(server, None)

    async def probe(self, api: ApexApi, needs: Mapping[str, Probe]) -> dict[str, bool] | None:
        """route -> offered, asking each `needs[route]` once per server; None while unreachable."""
        server = api.base_url
        if server in self._answers:
            return self._answers[server]
        task = self._probing.get(server)
        if task is None:
            task = self._probing[server] = asyncio.create_task(self._probe_all(api, dict(needs)))
            task.add_done_callback(lambda _t: self._probing.pop(server, None))
        return await asyncio.shield(task)

    async def _probe_all(self, api: ApexApi, needs: dict[str, Probe]) -> dict[str, bool] | None:
        try:
            answers = await asyncio.gather(*(offered(api, probe) for probe in needs.values()))
        except Unreachable:
            return None  # ask again next time: an unreachable server says nothing about its routes
        result = dict(zip(needs, answers, strict=True))
        self._answers[api.base_url] = result
        log.info('server %s lacks %d of %d optional routes', api.base_url, sum(not ok for ok in result.values()),
                 len(result))
        return result


async def offered(api: ApexApi, probe: Probe) -> bool:
    """A route is offered unless the server says it does not exist (any other answer means it does)."""
    try:
        await api.call(probe.method, probe.path, 'Probe', body=probe.body)
    except NotOffered:
        return False
    except Unreachable:
        raise
    except ApiError:
        return True  # forbidden, bad request, server error: the route exists
    return True


route_probe = RouteProbe()
