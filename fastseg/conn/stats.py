"""What a connection's congestion control has done: a read-only view for users and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["ConnectionStats", "Counts"]


class Counts:
    """The running counts behind :class:`ConnectionStats`, kept in the TCB."""

    __slots__ = ("challenge_acks", "dsacks", "ece_reductions", "fast_retransmits", "probes",
                 "rto_expiries", "sack_recoveries")

    def __init__(self) -> None:
        self.fast_retransmits = 0
        self.sack_recoveries = 0
        self.rto_expiries = 0
        self.dsacks = 0
        self.challenge_acks = 0
        self.probes = 0
        self.ece_reductions = 0


@dataclass(frozen=True)
class ConnectionStats:
    """A snapshot of one connection's congestion state (``Connection.stats``).

    ``cwnd`` and ``ssthresh`` in bytes (RFC 5681); ``srtt`` (None before the first
    sample), ``rttvar`` and ``rto`` in seconds (RFC 6298).  Counts since the
    connection opened: ``fast_retransmits``, NewReno recoveries entered on the third
    duplicate ACK (RFC 5681 §3.2, RFC 6582); ``sack_recoveries``, RFC 6675
    recoveries entered (when both sides agreed to SACK); ``rto_expiries``,
    retransmission timeouts; ``dsacks``, D-SACK blocks received (RFC 2883);
    ``challenge_acks``, challenge ACKs sent (RFC 5961); ``probes``, zero-window
    probes sent (RFC 9293 §3.8.6.1); ``ece_reductions``, times an ECE from the peer
    halved the congestion window (RFC 3168 §6.1.2).
    """

    cwnd: int
    ssthresh: int
    srtt: Optional[float]
    rttvar: float
    rto: float
    fast_retransmits: int
    sack_recoveries: int
    rto_expiries: int
    dsacks: int
    challenge_acks: int
    probes: int
    ece_reductions: int
