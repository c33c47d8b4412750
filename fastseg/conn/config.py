"""Connection settings and the RFC 6528 initial sequence number generator."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Tuple

from fastseg.conn.ecn import ECN_MODES, EcnMode

__all__ = ["Config", "Endpoint", "IsnGenerator", "rfc6528_isn"]

#: An (IP address, port) pair; the address is a str as ``ipaddress`` spells it.
Endpoint = Tuple[str, int]
#: ``(now, local, remote) -> ISN`` in [0, 2**32).
IsnGenerator = Callable[[float, Endpoint, Endpoint], int]


def rfc6528_isn(secret: bytes) -> IsnGenerator:
    """RFC 6528: ISN = M + F(local, remote, secret), M a 4-microsecond clock.

    F is keyed BLAKE2s over the connection's endpoints, so ISNs of different
    connections are unrelated while one connection's successive incarnations
    still advance with the clock (which protects against old duplicates).
    """

    def isn(now: float, local: Endpoint, remote: Endpoint) -> int:
        ident = f"{local[0]}|{local[1]}|{remote[0]}|{remote[1]}".encode()
        offset = int.from_bytes(hashlib.blake2s(ident, key=secret, digest_size=4).digest(), "big")
        return (int(now * 250_000) + offset) & 0xFFFFFFFF

    return isn


def _default_isn() -> IsnGenerator:
    return rfc6528_isn(os.urandom(16))


@dataclass(frozen=True)
class Config:
    """Settings of one connection; times are in seconds, sizes in bytes.

    ``mss`` is the largest segment this side will accept (announced in its SYN);
    ``window_scale`` None derives the smallest shift that lets the window cover
    ``receive_buffer`` (RFC 7323 §2.3).  ``nagle`` holds a small segment back
    while data is unacknowledged (RFC 9293 §3.7.4, RFC 896); False is what
    ``TCP_NODELAY`` asks of a socket.  ``sack`` offers and accepts SACK-permitted
    (RFC 2018): our ACKs then report the blocks held above a gap (the SACK
    blocks a peer sends are not yet used for our own retransmissions).

    Keep-alives (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6) are off unless
    ``keepalive_idle`` is set: after that many seconds without a segment from
    the peer, a probe goes every ``keepalive_interval`` seconds, and after
    ``keepalive_count`` unanswered probes the connection ends with
    ``ConnectionTimedOut`` (Linux's defaults: 7200, 75 and 9).
    ``challenge_ack_limit`` caps the challenge ACKs sent per second
    (RFC 5961 §7).

    ``ecn`` is Explicit Congestion Notification (RFC 3168 §6.1): "off" (the default)
    neither asks for it nor accepts it; "accept" agrees when the peer's SYN asks
    (Linux's default, ``tcp_ecn=2``); "request" also asks in its own SYN
    (``tcp_ecn=1``).  Once both sides agree, new data goes out as ECT(0), a
    congestion mark (CE) is echoed with ECE until the peer answers with CWR, and an
    ECE halves the congestion window once per window of data.  A handshake a
    host's listener completes by SYN cookie has no ECN: the cookie cannot keep the
    peer's request (nor timestamps, whose low bits Linux uses for it).

    ``fin_wait_2_timeout``: seconds a connection waits in FIN-WAIT-2 without
    a segment from the peer before it ends with ``ConnectionTimedOut``
    (None: forever, as RFC 9293 §3.6 allows, since the peer may still send).
    Linux's ``tcp_fin_timeout`` (60 s) is the reference; Linux applies it to
    orphaned sockets only and does not restart it, while a sans-IO connection
    cannot tell an orphan, so every segment from the peer starts it again:
    a half-closed transfer that still flows is never cut.
    """

    mss: int = 1460
    receive_buffer: int = 256 * 1024
    send_buffer: int = 256 * 1024
    window_scale: int | None = None
    timestamps: bool = True
    msl: float = 30.0
    rto_initial: float = 1.0
    rto_min: float = 0.2
    rto_max: float = 60.0
    delayed_ack: float = 0.04
    syn_retries: int = 6
    retries: int = 12
    nagle: bool = True
    sack: bool = True
    keepalive_idle: float | None = None
    keepalive_interval: float = 75.0
    keepalive_count: int = 9
    challenge_ack_limit: int = 100
    fin_wait_2_timeout: float | None = 60.0
    ecn: EcnMode = "off"
    isn: IsnGenerator = field(default_factory=_default_isn, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.mss <= 0xFFFF:
            raise ValueError(f"mss must be in [1, 65535], got {self.mss}")
        if self.window_scale is not None and not 0 <= self.window_scale <= 14:
            raise ValueError(f"window_scale must be in [0, 14], got {self.window_scale}")
        if not 0 < self.rto_min <= self.rto_initial <= self.rto_max:
            raise ValueError("need 0 < rto_min <= rto_initial <= rto_max")
        if self.receive_buffer < 1 or self.send_buffer < 1:
            raise ValueError("buffers must hold at least one byte")
        if self.keepalive_idle is not None and not (
                self.keepalive_idle > 0 and self.keepalive_interval > 0 and self.keepalive_count >= 1):
            raise ValueError("keep-alives need idle and interval times > 0 and a count >= 1")
        if self.fin_wait_2_timeout is not None and not self.fin_wait_2_timeout > 0:
            raise ValueError(f"fin_wait_2_timeout must be > 0 or None, got {self.fin_wait_2_timeout}")
        if self.challenge_ack_limit < 0:
            raise ValueError(f"challenge_ack_limit must be >= 0, got {self.challenge_ack_limit}")
        if self.ecn not in ECN_MODES:
            raise ValueError(f"ecn must be one of {ECN_MODES}, got {self.ecn!r}")
        if self.receive_buffer > 0xFFFF << 14:
            raise ValueError("receive_buffer exceeds what window scaling can advertise (2**30)")

    @property
    def receive_shift(self) -> int:
        """The window scale shift this side announces."""
        if self.window_scale is not None:
            return self.window_scale
        return max(0, math.ceil(math.log2(self.receive_buffer / 0xFFFF)))
