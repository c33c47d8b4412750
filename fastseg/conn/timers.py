"""The timers of one connection, by name; their deadlines live in the TCB."""

from __future__ import annotations

import enum

__all__ = ["DELAYED_ACK", "KEEPALIVE", "PERSIST", "RETRANSMIT", "TIME_WAIT", "Timer"]


class Timer(str, enum.Enum):
    """A connection timer.  Timers due at the same moment run in the order of their values."""

    #: Send the ACK held back for a second segment (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2).
    DELAYED_ACK = "delayed_ack"
    #: Give up on a peer silent in FIN-WAIT-2 for ``Config.fin_wait_2_timeout`` (Linux's
    #: tcp_fin_timeout; RFC 9293 §3.6 sets no limit).
    FIN_WAIT_2 = "fin_wait_2"
    #: Probe a peer idle for ``Config.keepalive_idle`` (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).
    KEEPALIVE = "keepalive"
    #: Probe a zero window (RFC 9293 §3.8.6.1).
    PERSIST = "persist"
    #: Retransmit the oldest unacknowledged segment (RFC 6298).
    RETRANSMIT = "retransmit"
    #: Leave TIME-WAIT after 2 MSL (RFC 9293 §3.4.2, §3.10.7.4 eighth check).
    TIME_WAIT = "time_wait"


# The members again as module constants, which the connection names.  On CPython 3.11 a
# member read through its class goes through EnumType's __getattr__ hook (some ten times
# an attribute read), and timers are named on every segment.
DELAYED_ACK = Timer.DELAYED_ACK
KEEPALIVE = Timer.KEEPALIVE
PERSIST = Timer.PERSIST
RETRANSMIT = Timer.RETRANSMIT
TIME_WAIT = Timer.TIME_WAIT
FIN_WAIT_2 = Timer.FIN_WAIT_2
