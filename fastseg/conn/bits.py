"""The control bits as plain ints, for the connection's per-segment tests.

``Flags`` members are an ``IntFlag``: each ``&`` or ``|`` on them runs enum
code in Python.  The connection reads a segment's flags once with ``int()``
and tests them against these (RFC 9293 §3.1 bit values, taken from ``Flags``).
"""

from __future__ import annotations

from fastseg.segment import Flags

__all__ = ["ACK", "ACK_PSH", "CWR", "ECE", "FIN", "PSH", "RST", "SYN", "URG"]

FIN = int(Flags.FIN)
SYN = int(Flags.SYN)
RST = int(Flags.RST)
PSH = int(Flags.PSH)
ACK = int(Flags.ACK)
URG = int(Flags.URG)
#: A data segment's usual flags: ACK, and PSH on the last of the data queued (RFC 9293 §3.9.1).
ACK_PSH = ACK | PSH
ECE = int(Flags.ECE)
CWR = int(Flags.CWR)
