"""The decoded segment and its vocabulary: Segment, Flags, OptionKind.

These types exist once; both codec twins build and read the same ones.  The
storage under Segment is ``_segment_c`` (options and payload decoded on first
use) or ``_segment_py``, as :mod:`fastseg._impl` chose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from fastseg import _impl, _segment_py, _wire
from fastseg._enums import FIELDS, KIND_OBJECTS, Flags, Option, OptionKind
from fastseg.errors import Anomaly

__all__ = ["FIELDS", "KIND_OBJECTS", "Flags", "Option", "OptionKind", "Segment"]


_core = _impl.storage
_SYN, _FIN = int(Flags.SYN), int(Flags.FIN)

if TYPE_CHECKING:
    _Base = _segment_py.SegmentCore
else:
    _Base = _core.SegmentCore


class Segment(_Base):
    """One TCP segment: the header fields, the options in wire order and the payload.

    Immutable and hashable; ``replace()`` makes edited copies.  ``header_len``
    is in bytes (data offset times 4); left as None it follows from the options,
    padded to a multiple of 4.  ``reserved`` holds the three reserved bits and
    ``anomalies`` what lenient decoding stepped over (empty in strict mode).
    """

    __slots__ = ()

    src_port: int
    dst_port: int
    seq: int
    ack: int
    header_len: int
    flags: Flags
    reserved: int
    window: int
    checksum: int
    urgent: int
    options: tuple[Option, ...]
    payload: bytes
    anomalies: tuple[Anomaly, ...]

    if TYPE_CHECKING:
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
        ) -> Segment: ...

        def replace(self, **changes: Any) -> Segment:
            """A copy with the given fields changed; new options re-derive header_len
            unless it is given too."""
    else:
        # __new__ is SegmentCore's: the compiled twin's runs in C, called by type.__call__
        # itself.  replace is the storage twin's own function, without a Python frame.
        replace = _core.replace

    def fields(self) -> tuple[Any, ...]:
        """The 13 field values in ``FIELDS`` order (decoding options and payload if need be)."""
        return (
            self.src_port, self.dst_port, self.seq, self.ack, self.header_len, self.flags,
            self.reserved, self.window, self.checksum, self.urgent, self.options, self.payload,
            self.anomalies,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash(self.fields())

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self.fields()

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
        flags = int(self.flags)  # int operations: an IntFlag's & runs enum code
        return len(self.payload) + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)

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


def _hex(value: object) -> str:
    return f"{value:#06x}" if isinstance(value, int) else repr(value)


def _option_repr(option: Option) -> str:
    kind, value = option
    name = kind.name if isinstance(kind, OptionKind) else repr(kind)
    if value is None:
        return name
    return f"{name}={value!r}"


_core.adopt(Segment)
