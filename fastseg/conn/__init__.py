"""A sans-IO TCP connection state machine (RFC 9293) on top of the fastseg codec,
and a host of many connections (:class:`Host`).

The names below load with the module that holds them, on first use (PEP 562): a
program that needs only :class:`State` (``fastseg analyze`` following connections in
C) does not import the connection and the host."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
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

#: public name -> the module of fastseg.conn that holds it
_HOMES = {
    **dict.fromkeys(["Config", "Endpoint", "rfc6528_isn"], "config"),
    "Connection": "connection",
    **dict.fromkeys(["Closed", "Connected", "ConnectionRefused", "ConnectionReset",
                     "ConnectionTimedOut", "DataReceived", "Event", "PeerFinished",
                     "SegmentRejected", "SendBufferAvailable", "Urgent"], "events"),
    **dict.fromkeys(["Datagram", "Host", "HostEvent"], "host"),
    "Listener": "listener",
    "AddressError": "ports",
    **dict.fromkeys(["TRANSITIONS", "State", "StateError"], "states"),
    "ConnectionStats": "stats",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once: later lookups find it here
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *__all__})
