"""The decoded segment and its vocabulary: Segment, Flags, OptionKind.

These types exist once; both codec twins build and read the same ones.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple, Optional, Tuple, Union

from fastseg import _wire
from fastseg._options_py import pack_options
from fastseg.errors import Anomaly

__all__ = ["Flags", "Option", "OptionKind", "Segment"]


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


class _SegmentFields(NamedTuple):
    src_port: int = 0
    dst_port: int = 0
    seq: int = 0
    ack: int = 0
    header_len: int = _wire.HEADER_LEN
    flags: Flags = Flags(0)
    reserved: int = 0
    window: int = 0xFFFF
    checksum: int = 0
    urgent: int = 0
    options: tuple[Option, ...] = ()
    payload: bytes = b""
    anomalies: tuple[Anomaly, ...] = ()


class Segment(_SegmentFields):
    """One TCP segment: the header fields, the options in wire order and the payload.

    Immutable and hashable; ``replace()`` makes edited copies.  ``header_len``
    is in bytes (data offset times 4); left as None it follows from the options,
    padded to a multiple of 4.  ``reserved`` holds the three reserved bits and
    ``anomalies`` what lenient decoding stepped over (empty in strict mode).
    """

    __slots__ = ()

    def __new__(
        cls,
        src_port: int = 0,
        dst_port: int = 0,
        seq: int = 0,
        ack: int = 0,
        header_len: Optional[int] = None,
        flags: Union[Flags, int] = 0,
        reserved: int = 0,
        window: int = 0xFFFF,
        checksum: int = 0,
        urgent: int = 0,
        options: Any = (),
        payload: Any = b"",
        anomalies: Any = (),
    ) -> Segment:
        options = tuple(_normalize(option) for option in options)
        if header_len is None:
            header_len = _wire.HEADER_LEN + (len(pack_options(options)) + 3) // 4 * 4
        if not isinstance(flags, Flags):
            flags = Flags(flags)
        return tuple.__new__(cls, (
            src_port, dst_port, seq, ack, header_len, flags, reserved, window,
            checksum, urgent, options, _as_bytes(payload), tuple(anomalies),
        ))

    def replace(self, **changes: Any) -> Segment:
        """A copy with the given fields changed; new options re-derive header_len
        unless it is given too."""
        fields = self._asdict()
        unknown = changes.keys() - fields.keys()
        if unknown:
            raise TypeError(f"Segment has no field {sorted(unknown)[0]!r}")
        if "options" in changes and "header_len" not in changes:
            changes["header_len"] = None
        fields.update(changes)
        return Segment(**fields)

    def _first(self, kind: int, kinds: type) -> Any:
        for option_kind, value in self.options:
            if option_kind == kind and isinstance(value, kinds):
                return value
        return None

    @property
    def mss(self) -> Optional[int]:
        """The first well-formed MSS option's value, or None."""
        return self._first(_wire.MSS, int)  # type: ignore[no-any-return]

    @property
    def wscale(self) -> Optional[int]:
        """The first well-formed window scale shift count, or None."""
        return self._first(_wire.WSCALE, int)  # type: ignore[no-any-return]

    @property
    def sack_permitted(self) -> bool:
        """Whether a well-formed SACK-permitted option is present."""
        return any(k == _wire.SACK_PERMITTED and v is None for k, v in self.options)

    @property
    def sack_blocks(self) -> Optional[tuple[tuple[int, int], ...]]:
        """The first well-formed SACK option's (left, right) edges, or None."""
        return self._first(_wire.SACK, tuple)  # type: ignore[no-any-return]

    @property
    def timestamps(self) -> Optional[tuple[int, int]]:
        """The first well-formed timestamps option's (TSval, TSecr), or None."""
        return self._first(_wire.TIMESTAMPS, tuple)  # type: ignore[no-any-return]

    @property
    def seg_len(self) -> int:
        """Sequence space taken: payload bytes plus one each for SYN and FIN."""
        return len(self.payload) + bool(self.flags & Flags.SYN) + bool(self.flags & Flags.FIN)

    def __repr__(self) -> str:
        parts = [
            f"src_port={self.src_port}", f"dst_port={self.dst_port}",
            f"seq={self.seq}", f"ack={self.ack}", f"flags={self.flags!s}",
            f"window={self.window}", f"checksum={_hex(self.checksum)}",
            f"header_len={self.header_len}",
        ]
        if self.reserved:
            parts.append(f"reserved={self.reserved}")
        if self.urgent:
            parts.append(f"urgent={self.urgent}")
        if self.options:
            parts.append("options=[" + ", ".join(map(_option_repr, self.options)) + "]")
        if self.payload:
            head = self.payload[:16]
            more = "..." if len(self.payload) > 16 else ""
            parts.append(f"payload={head!r}{more} ({len(self.payload)} bytes)")
        if self.anomalies:
            parts.append("anomalies=[" + "; ".join(map(str, self.anomalies)) + "]")
        return "Segment(" + ", ".join(parts) + ")"


def _as_bytes(payload: Any) -> bytes:
    """The payload's bytes; unlike ``bytes(n)`` an int is refused, not zero-filled."""
    if type(payload) is bytes:
        return payload
    with memoryview(payload) as view:
        return view.tobytes()


def _normalize(option: Any) -> Option:
    kind, value = option
    if type(kind) is int and 0 <= kind <= 255:
        kind = KIND_OBJECTS[kind]
    return (kind, value)


def _hex(value: object) -> str:
    return f"{value:#06x}" if isinstance(value, int) else repr(value)


def _option_repr(option: Option) -> str:
    kind, value = option
    name = kind.name if isinstance(kind, OptionKind) else repr(kind)
    if value is None:
        return name
    return f"{name}={value!r}"
