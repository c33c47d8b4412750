"""An RFC 862 echo service over a :class:`~fastseg.conn.Host`: every byte received is sent back."""

from __future__ import annotations

from typing import Dict

from fastseg.conn.connection import Connection
from fastseg.conn.events import Closed, DataReceived, PeerFinished
from fastseg.conn.host import Host
from fastseg.conn.states import State

__all__ = ["EchoService"]


class EchoService:
    """Accepts every connection of the host's listeners and echoes it; closes after the peer.

    Call :meth:`serve` between rounds of the I/O loop.  Bytes the send
    buffer cannot take yet wait here until it has room.
    """

    def __init__(self, host: Host) -> None:
        self.host = host
        self._waiting: Dict[Connection, bytearray] = {}
        self._finished: set[Connection] = set()
        self.connections = 0
        self.bytes = 0

    def serve(self, now: float) -> None:
        for listener in self.host.listeners:
            while listener.accept() is not None:
                self.connections += 1
        for conn in list(self._waiting):
            self._push(conn, now)
        while (tagged := self.host.next_event()) is not None:
            conn, event = tagged
            if isinstance(event, DataReceived):
                self._waiting.setdefault(conn, bytearray()).extend(event.data)
                self.bytes += len(event.data)
                self._push(conn, now)
            elif isinstance(event, PeerFinished):
                self._finished.add(conn)
                self._push(conn, now)
            elif isinstance(event, Closed):
                self._waiting.pop(conn, None)
                self._finished.discard(conn)

    def _push(self, conn: Connection, now: float) -> None:
        waiting = self._waiting.get(conn)
        if waiting and conn.state in (State.ESTABLISHED, State.CLOSE_WAIT):
            del waiting[: conn.send(waiting)]
        if not waiting:
            self._waiting.pop(conn, None)
            if conn in self._finished and conn.state is State.CLOSE_WAIT:
                self._finished.discard(conn)
                conn.close(now)
