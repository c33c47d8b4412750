"""What a Connection tells its caller, pulled with ``next_event()``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Closed", "Connected", "ConnectionRefused", "ConnectionReset", "ConnectionTimedOut",
    "DataReceived", "Event", "PeerFinished", "SegmentRejected", "SendBufferAvailable", "Urgent",
]


class Event:
    """Base class of connection events."""


@dataclass(frozen=True)
class Connected(Event):
    """The handshake completed: the connection is ESTABLISHED."""


@dataclass(frozen=True)
class DataReceived(Event):
    """In-order bytes from the peer; consecutive arrivals are merged into one event."""

    data: bytes


@dataclass(frozen=True)
class PeerFinished(Event):
    """The peer's FIN: no more data will come (the local side may still send)."""


@dataclass(frozen=True)
class SendBufferAvailable(Event):
    """Room opened in the send buffer after ``send()`` had taken less than offered."""

    capacity: int


@dataclass(frozen=True)
class ConnectionRefused(Event):
    """The peer answered our SYN with a reset."""


@dataclass(frozen=True)
class ConnectionReset(Event):
    """The peer reset a synchronized connection."""


@dataclass(frozen=True)
class ConnectionTimedOut(Event):
    """Retransmissions were exhausted without an acknowledgment, keep-alives went unanswered,
    or the peer stayed silent in FIN-WAIT-2 (``Config.fin_wait_2_timeout``)."""


@dataclass(frozen=True)
class Closed(Event):
    """The connection reached CLOSED; always the last event."""


@dataclass(frozen=True)
class Urgent(Event):
    """The peer marked urgent data that ends before stream offset ``end`` (bytes counted from
    the first the peer sent); the data itself comes inline in DataReceived (RFC 9293 §3.8.5,
    RFC 6093).  Raised when the urgent pointer first arrives or moves ahead (MUST-32)."""

    end: int


@dataclass(frozen=True)
class SegmentRejected(Event):
    """Diagnostic: an arriving segment was dropped (and maybe answered); ``reason`` says why."""

    reason: str
