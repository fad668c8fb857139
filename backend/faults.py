"""Fault hooks for tests, the way RoSys simulations carry them: real sockets, injected misbehaviour.

The WebSocket protocol subclass registers every live connection so a fault can stall it (swallow all
incoming bytes, pings included, so no pong ever comes back) or drop it (abort the TCP connection).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from pydantic import BaseModel
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

SEND_BATCH = 'apex.websocket.send_batch'  # ASGI extension: our protocol writes many frames at once


class FaultState(BaseModel):
    refuse_upgrades: bool = False
    block_sse: bool = False
    stalled: bool = False
    failing_probes: list[str] = []
    slow_ms: int = 0


@dataclass
class Faults:
    refuse_upgrades: bool = False
    block_sse: bool = False  # answer SSE with 404, as a proxy that strips streams would
    stalled: bool = False
    failing_probes: set[str] = field(default_factory=set)
    slow_ms: int = 0
    drops: int = 0  # bumped on every drop so long-lived streams (SSE, long-poll) end too
    connections: weakref.WeakSet = field(default_factory=weakref.WeakSet)

    def state(self) -> FaultState:
        return FaultState(refuse_upgrades=self.refuse_upgrades, block_sse=self.block_sse, stalled=self.stalled,
                          failing_probes=sorted(self.failing_probes), slow_ms=self.slow_ms)

    def drop_sockets(self) -> int:
        self.drops += 1
        dropped = 0
        for conn in list(self.connections):
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.abort()
                dropped += 1
        return dropped

    def reset(self) -> None:
        self.refuse_upgrades = False
        self.block_sse = False
        self.stalled = False
        self.failing_probes.clear()
        self.slow_ms = 0


def websocket_protocol(faults: Faults) -> type[WebSocketsSansIOProtocol]:
    """uvicorn's sans-I/O WebSocket protocol, plus registration and a stall switch for `faults`."""

    class FaultableWebSocketProtocol(WebSocketsSansIOProtocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            faults.connections.add(self)

        def data_received(self, data: bytes) -> None:
            if faults.stalled and self.handshake_complete:
                return
            super().data_received(data)

        def handle_connect(self, event) -> None:
            super().handle_connect(event)
            if getattr(self, 'scope', None) is not None:
                self.scope['extensions'][SEND_BATCH] = {}

        async def send(self, message) -> None:
            """Many text frames, one transport write: the event pump's fast path."""
            if message['type'] != SEND_BATCH:
                await super().send(message)
                if message['type'] == 'websocket.http.response.body' and not message.get('more_body'):
                    self.handshake_complete = True  # uvicorn forgets this after a denial response
                return
            await self.writable.wait()
            if self.disconnected or self.close_sent:
                raise ClientDisconnected()
            for text in message['texts']:
                self.conn.send_text(text.encode())
            self.transport.write(b''.join(self.conn.data_to_send()))

    return FaultableWebSocketProtocol
