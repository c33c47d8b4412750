"""An :class:`asyncio.Transport` over one :class:`~fastseg.conn.Connection` of an
:class:`~fastseg.net.AsyncStack`, so that asyncio's own protocols and streams run on it.

Flow control follows asyncio's contract.  Writing: what ``write`` is given
waits here until the connection's send buffer takes it; above the high-water
mark the protocol is told ``pause_writing`` (a ``StreamWriter.drain()``
waits), below the low-water mark ``resume_writing``.  Reading:
``pause_reading`` holds the connection's events in the host
(:meth:`~fastseg.conn.Host.hold`), so the data stays unread in the
connection and its receive window closes (RFC 9293 §3.8.6.2): the peer is
held back, nothing piles up here.  (A protocol may get past the point where
it pauses by one event's data: at most the connection's receive buffer.)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Optional, Tuple, Union

from fastseg.conn.connection import Connection
from fastseg.conn.events import (
    Closed,
    ConnectionReset,
    ConnectionTimedOut,
    DataReceived,
    Event,
    PeerFinished,
    SendBufferAvailable,
)
from fastseg.conn.states import State

if TYPE_CHECKING:
    from fastseg.net.aio import AsyncStack

__all__ = ["ConnectionTransport"]

#: asyncio's default write buffer limits (its selector transports use the same).
HIGH_WATER = 64 * 1024
#: States in which the connection's send buffer takes data.
_SENDING = (State.ESTABLISHED, State.CLOSE_WAIT)


class ConnectionTransport(asyncio.Transport):
    """The transport of one established connection; made by the stack, not by callers.

    ``get_extra_info`` knows ``peername``, ``sockname`` and ``connection``
    (the :class:`~fastseg.conn.Connection` itself).
    """

    def __init__(self, stack: AsyncStack, conn: Connection, protocol: asyncio.BaseProtocol) -> None:
        super().__init__({"peername": conn.remote, "sockname": conn.local, "connection": conn})
        self._stack, self._conn, self._protocol = stack, conn, protocol
        self._pending = bytearray()  # written, not yet taken by the send buffer
        self._high, self._low = HIGH_WATER, HIGH_WATER // 4
        self._writing_paused = False
        self._reading = True
        self._eof = False  # write_eof() or close(): a FIN after what is pending
        self._closing = False  # close() or abort(): connection_lost follows
        self._lost = False

    # ------------------------------------------------------------ asyncio.Transport

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if self._reading and not self._lost:
            self._reading = False
            self._stack.host.hold(self._conn)

    def resume_reading(self) -> None:
        if not self._reading and not self._lost:
            self._reading = True
            self._stack.host.release(self._conn)
            self._stack._wake()

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        high = HIGH_WATER if high is None else high
        low = high // 4 if low is None else low
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._water()

    def get_write_buffer_limits(self) -> Tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        return len(self._pending)

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        if self._eof and not self._closing:
            raise RuntimeError("cannot write after write_eof()")
        if self._closing or not data:
            return  # as asyncio's transports: writes after close() go nowhere
        self._pending += data
        self._push()

    def write_eof(self) -> None:
        if not self._eof:
            self._eof = True
            self._push()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        """Send what is pending, then a FIN; ``connection_lost(None)`` once it is handed over."""
        if self._closing:
            return
        self._closing = self._eof = True
        self.resume_reading()
        self._push()

    def abort(self) -> None:
        """Reset the connection now (RFC 9293 §3.10.5), dropping what is pending."""
        if self._lost:
            return
        self._closing = True
        self._pending.clear()
        if self._conn.state is not State.CLOSED:
            self._conn.abort(self._stack.loop.time())
            self._stack._wake()
        self._lose(None)

    # ------------------------------------------------------------ the stack's side

    def _event(self, event: Event) -> None:
        """One event of the connection, as the stack takes it from the host."""
        if isinstance(event, DataReceived):
            if not self._closing:
                self._protocol.data_received(event.data)  # type: ignore[attr-defined]
        elif isinstance(event, PeerFinished):
            if not self._closing and not self._protocol.eof_received():  # type: ignore[attr-defined]
                self.close()
        elif isinstance(event, SendBufferAvailable):
            self._push()
        elif isinstance(event, ConnectionReset):
            self._lose(ConnectionResetError(f"connection reset by {self._peer()}"))
        elif isinstance(event, ConnectionTimedOut):
            self._lose(TimeoutError(f"connection to {self._peer()} timed out"))
        elif isinstance(event, Closed):
            self._lose(None)

    def _push(self) -> None:
        """Hand what is pending to the send buffer, the FIN after it; tell the protocol."""
        conn = self._conn
        if self._pending and conn.state in _SENDING:
            del self._pending[: conn.send(self._pending)]
            self._stack._wake()
        if self._eof and not self._pending and conn.state in _SENDING:
            conn.close(self._stack.loop.time())
            self._stack._wake()
        if self._closing and not self._pending:
            self._lose(None)
        else:
            self._water()

    def _water(self) -> None:
        size = len(self._pending)
        if not self._writing_paused and size > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()
        elif self._writing_paused and size <= self._low:
            self._writing_paused = False
            self._protocol.resume_writing()

    def _lose(self, error: Optional[Exception]) -> None:
        """The protocol hears ``connection_lost`` once (soon, as asyncio calls it)."""
        if self._lost:
            return
        self._lost = self._closing = True
        self._pending.clear()
        if not self._reading:
            self._stack.host.release(self._conn)
        self._stack._detach(self)
        self._stack.loop.call_soon(self._protocol.connection_lost, error)

    def _peer(self) -> str:
        remote: Any = self._conn.remote
        return f"{remote[0]} port {remote[1]}" if remote else "the peer"
