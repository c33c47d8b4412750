"""A listening endpoint of a :class:`~fastseg.conn.host.Host`: its backlog and accept queue."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Optional

from fastseg.conn.config import Endpoint
from fastseg.conn.connection import Connection
from fastseg.conn.states import StateError

if TYPE_CHECKING:
    from fastseg.conn.host import Host

__all__ = ["Listener"]


class Listener:
    """Passive opens on ``address`` (``(ip, port)``, ``ip`` "" for every owned address).

    Every SYN makes a new :class:`Connection` in SYN-RECEIVED; the listener
    itself keeps listening.  At most ``backlog`` of them are half-open at once
    (the host answers further SYNs with SYN cookies, RFC 4987 §3.6), and at
    most ``backlog`` established ones wait for :meth:`accept` (further
    handshakes completed by cookies are dropped until the caller accepts).
    """

    def __init__(self, host: Host, address: Endpoint, backlog: int) -> None:
        self.address = address
        self.backlog = backlog
        self._host = host
        self.half_open: set[Connection] = set()
        self._ready: deque[Connection] = deque()
        self.closed = False

    @property
    def queued(self) -> int:
        """How many established connections wait for :meth:`accept`."""
        return len(self._ready)

    def accept(self) -> Optional[Connection]:
        """The oldest established connection not yet accepted, or None.

        It may since have been reset or closed by its peer: its events say so.
        StateError once the listener is closed.
        """
        if self.closed:
            raise StateError("the listener is closed")
        return self._ready.popleft() if self._ready else None

    def close(self, now: float) -> None:
        """Stop listening; connections not yet accepted are aborted (RST).

        StateError when already closed.
        """
        if self.closed:
            raise StateError("the listener is already closed")
        self.closed = True
        self._host._unlisten(self, now)

    def _established(self, conn: Connection) -> None:
        self.half_open.discard(conn)
        self._ready.append(conn)

    def _abandoned(self) -> list[Connection]:
        """Every connection the listener still holds (closing it aborts them)."""
        held = [*self.half_open, *self._ready]
        self.half_open.clear()
        self._ready.clear()
        return held
