"""Explicit Congestion Notification (RFC 3168): the IP codepoints and the modes of ``Config.ecn``.

The two ECN bits of the IPv4 TOS octet and of the IPv6 traffic class
(RFC 3168 §5) say whether a packet's transport understands ECN (ECT(0),
ECT(1)) and whether a router on the path marked it as experiencing
congestion (CE).  A :class:`~fastseg.conn.Datagram` names the codepoint its
IP header carries; the I/O layer writes it and reports the one that arrived.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["CE", "ECN_MASK", "ECN_MODES", "ECT_0", "ECT_1", "NOT_ECT", "EcnMode"]

#: RFC 3168 §5: the codepoints of the two ECN bits.
NOT_ECT = 0b00
ECT_1 = 0b01
ECT_0 = 0b10
CE = 0b11
#: The ECN bits: the low two of the IPv4 TOS octet and of the IPv6 traffic class.
ECN_MASK = 0b11

#: ``Config.ecn``: "off" neither asks for ECN nor accepts it; "accept" agrees when the
#: peer's SYN asks (Linux's default, ``tcp_ecn=2``); "request" asks in its own SYN too
#: (``tcp_ecn=1``).
EcnMode = Literal["off", "accept", "request"]
ECN_MODES = ("off", "accept", "request")
