"""Encoding TCP options in pure Python (reference twin), shared by ``pack`` and ``Segment``.

The option formats are RFC 9293 §3.2 (EOL, NOP, MSS), RFC 7323 (window scale,
timestamps) and RFC 2018 (SACK-permitted, SACK).
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Optional

from fastseg import _wire
from fastseg.errors import EncodeError

__all__ = ["bytes_field", "pack_options", "uint_field"]

_MAX_SACK_BLOCKS = (0xFF - 2) // 8  # 31


def pack_options(options: Iterable[Any]) -> bytes:
    """The wire bytes of ``(kind, value)`` pairs, unpadded; errors name ``options[i]``."""
    return b"".join(
        _pack_option(kind, value, f"options[{index}]") for index, (kind, value) in enumerate(options)
    )


def uint_field(value: Any, field: str, limit: int) -> int:
    """``value`` when it is an int in [0, limit], else the EncodeError naming ``field``."""
    number = _wire.uint(value, limit)
    if number is None:
        raise EncodeError(field, f"must be an int in [0, {limit}], got {value!r}")
    return number


def bytes_field(value: Any, field: str) -> bytes:
    """``value`` as bytes when it is bytes-like, else the EncodeError naming ``field``."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(field, f"must be bytes, not {type(value).__name__}")
    return bytes(value)


def _pack_option(kind: Any, value: Any, field: str) -> bytes:
    """The wire bytes of one ``(kind, value)`` pair."""
    if kind is None:
        return bytes_field(value, field)
    kind = uint_field(kind, field, 0xFF)
    if kind == _wire.EOL:
        return b"\0" + (b"" if value is None else bytes_field(value, field))
    if kind == _wire.NOP:
        if value is not None:
            raise EncodeError(field, f"a NOP has no value, got {value!r}")
        return b"\x01"
    if kind == _wire.SACK_PERMITTED and value is None:
        return b"\x04\x02"
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)  # a memoryview's len() counts items, not bytes
        if len(data) > 253:
            raise EncodeError(field, f"{len(data)} data bytes exceed the 253 an option holds")
        return bytes((kind, 2 + len(data))) + data
    if kind == _wire.MSS:
        return struct.pack("!BBH", kind, 4, uint_field(value, field, _wire.U16))
    if kind == _wire.WSCALE:
        return struct.pack("!BBB", kind, 3, uint_field(value, field, 0xFF))
    if kind == _wire.TIMESTAMPS:
        return struct.pack("!BBII", kind, 10, *_pairs(value, field, 1)[0])
    if kind == _wire.SACK:
        blocks = _pairs(value, field, None)
        if len(blocks) > _MAX_SACK_BLOCKS:
            raise EncodeError(field, f"{len(blocks)} SACK blocks exceed the {_MAX_SACK_BLOCKS} an option's "
                              "length byte counts")
        edges = [edge for block in blocks for edge in block]
        return struct.pack(f"!BB{len(edges)}I", kind, 2 + 4 * len(edges), *edges)
    raise EncodeError(field, f"kind {kind} takes bytes, got {type(value).__name__}")


def _pairs(value: Any, field: str, count: Optional[int]) -> list[tuple[int, int]]:
    """Pairs of 32-bit numbers: exactly one when ``count`` is 1, else at least one."""
    try:
        pairs = [(a, b) for a, b in ((value,) if count == 1 else value)]
    except (TypeError, ValueError):
        raise EncodeError(field, f"expected pairs of 32-bit ints, got {value!r}") from None
    if not pairs:
        raise EncodeError(field, "a SACK option needs at least one block")
    return [(uint_field(a, field, _wire.U32), uint_field(b, field, _wire.U32)) for a, b in pairs]
