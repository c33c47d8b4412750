"""A sans-IO TCP connection state machine (RFC 9293) on top of the fastseg codec,
and a host of many connections (:class:`Host`)."""

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
from fastseg.conn.host import Datagram, Host, HostEvent
from fastseg.conn.listener import Listener
from fastseg.conn.ports import AddressError
from fastseg.conn.states import TRANSITIONS, State, StateError
from fastseg.conn.stats import ConnectionStats

__all__ = [
    "TRANSITIONS",
    "AddressError",
    "Closed",
    "Config",
    "Connected",
    "Connection",
    "ConnectionRefused",
    "ConnectionReset",
    "ConnectionStats",
    "ConnectionTimedOut",
    "DataReceived",
    "Datagram",
    "Endpoint",
    "Event",
    "Host",
    "HostEvent",
    "Listener",
    "PeerFinished",
    "SegmentRejected",
    "SendBufferAvailable",
    "State",
    "StateError",
    "Urgent",
    "rfc6528_isn",
]
