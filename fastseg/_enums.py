"""The vocabulary of a segment: the control bits (Flags) and the option kinds (OptionKind).

Kept apart from ``segment`` so that the compiled modules can import them
before the Segment class exists.
"""

from __future__ import annotations

import enum
from typing import Any, Optional, Tuple

from fastseg import _wire

__all__ = ["FIELDS", "FLAG_MEMBERS", "KIND_OBJECTS", "Flags", "Option", "OptionKind"]

#: The fields of a Segment, in wire order.
FIELDS = ("src_port", "dst_port", "seq", "ack", "header_len", "flags", "reserved", "window",
          "checksum", "urgent", "options", "payload", "anomalies")


class Flags(enum.IntFlag):
    """The nine TCP control bits (RFC 9293 §3.1, AE from RFC 9768 / AccECN)."""

    FIN = 0x001
    SYN = 0x002
    RST = 0x004
    PSH = 0x008
    ACK = 0x010
    URG = 0x020
    ECE = 0x040
    CWR = 0x080
    AE = 0x100

    def __str__(self) -> str:
        names = [flag.name for flag in _FLAG_ORDER if self & flag]
        extra = int(self) & ~_wire.FLAG_BITS
        if extra:
            names.append(hex(extra))
        return "|".join(n for n in names if n) or "0"


_FLAG_ORDER = tuple(Flags)
#: ``Flags(bits)`` for every combination of the nine bits, by value (built once, never changed).
FLAG_MEMBERS = tuple(Flags(bits) for bits in range(_wire.FLAG_BITS + 1))


class OptionKind(enum.IntEnum):
    """TCP option kinds with an IANA assignment that fastseg names."""

    EOL = 0
    NOP = 1
    MSS = 2
    WSCALE = 3
    SACK_PERMITTED = 4
    SACK = 5
    ECHO = 6
    ECHO_REPLY = 7
    TIMESTAMPS = 8
    MD5 = 19
    QUICK_START = 27
    USER_TIMEOUT = 28
    TCP_AO = 29
    MPTCP = 30
    FASTOPEN = 34
    ACCECN0 = 172
    ACCECN1 = 174
    EXP1 = 253
    EXP2 = 254


#: The object each kind byte decodes to: its OptionKind member, or the plain int.
KIND_OBJECTS: tuple[int, ...] = tuple(
    OptionKind(k) if k in OptionKind._value2member_map_ else k for k in range(256)
)

#: One option as decoded: ``(kind, value)``; kind None marks raw bytes that did not parse.
Option = Tuple[Optional[int], Any]
