"""A sans-IO TCP connection state machine (RFC 9293) on top of the fastseg codec."""

from fastseg.conn.config import Config, Endpoint, rfc6528_isn
from fastseg.conn.connection import Connection
from fastseg.conn.events import (
    Closed,
    Connected,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimedOut,
    DataReceived,
    Event,
    PeerFinished,
    SegmentRejected,
    SendBufferAvailable,
    Urgent,
)
from fastseg.conn.states import TRANSITIONS, State, StateError

__all__ = [
    "TRANSITIONS", "Closed", "Config", "Connected", "Connection", "ConnectionRefused",
    "ConnectionReset", "ConnectionTimedOut", "DataReceived", "Endpoint", "Event", "PeerFinished",
    "SegmentRejected", "SendBufferAvailable", "State", "StateError", "Urgent", "rfc6528_isn",
]
