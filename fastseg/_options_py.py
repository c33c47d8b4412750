"""TCP options in pure Python, the reference twin of ``_options_c``: walk, validate, decode, encode.

The option formats are RFC 9293 §3.2 (EOL, NOP, MSS), RFC 7323 (window scale,
timestamps) and RFC 2018 (SACK-permitted, SACK).  Decoding serves
``unpack``; encoding serves ``pack`` and ``Segment``.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Iterable, Optional

from fastseg import _wire, errors
from fastseg._enums import KIND_OBJECTS, Option
from fastseg.errors import Anomaly, EncodeError

__all__ = ["bytes_field", "misfit", "option_value", "pack_options", "uint_field", "unpack_options"]


# ---------------------------------------------------------------- walk, validate, decode

def unpack_options(raw: bytes, end: int, problem: Callable[[Anomaly], None]) -> tuple[Option, ...]:
    """Walk the options in ``raw[20:end]``: every length is checked before it is used.

    ``problem`` is called with each anomaly (and raises it in strict mode); an
    unwalkable tail is kept raw as a ``(None, bytes)`` option.
    """
    options: list[Option] = []
    i = _wire.HEADER_LEN
    while i < end:
        kind = raw[i]
        if kind == _wire.EOL:
            options.append((KIND_OBJECTS[kind], raw[i + 1 : end]))
            break
        if kind == _wire.NOP:
            options.append((KIND_OBJECTS[kind], None))
            i += 1
            continue
        if i + 1 >= end:
            problem(errors.missing_option_length(i, kind))
        elif raw[i + 1] < _wire.OPTION_HEAD_LEN:
            problem(errors.small_option_length(i, kind, raw[i + 1]))
        elif i + raw[i + 1] > end:
            problem(errors.option_past_header(i, kind, raw[i + 1], end - i))
        else:
            length = raw[i + 1]
            options.append((KIND_OBJECTS[kind], option_value(raw, i, length, problem)))
            i += length
            continue
        options.append((None, raw[i:end]))
        break
    return tuple(options)


def misfit(kind: int, length: int) -> bool:
    """Whether a known kind has a total length its format does not allow."""
    if kind == _wire.SACK:
        return length < _wire.MIN_SACK_LEN or (length - _wire.OPTION_HEAD_LEN) % _wire.SACK_BLOCK_LEN != 0
    return kind in _wire.FIXED_LENGTHS and length != _wire.FIXED_LENGTHS[kind]


def option_value(raw: bytes, i: int, length: int, problem: Callable[[Anomaly], None]) -> Any:
    """The value of the well-delimited option at ``raw[i : i + length]``."""
    kind = raw[i]
    body = raw[i + _wire.OPTION_HEAD_LEN : i + length]
    if misfit(kind, length):
        problem(errors.wrong_option_length(i, kind, length))
        return body
    if kind == _wire.SACK:
        edges = struct.unpack(f"!{len(body) // 4}I", body)
        return tuple(zip(edges[::2], edges[1::2]))
    if kind == _wire.MSS:
        return int.from_bytes(body, "big")
    if kind == _wire.WSCALE:
        return body[0]
    if kind == _wire.TIMESTAMPS:
        return struct.unpack("!II", body)
    if kind == _wire.SACK_PERMITTED:
        return None  # it carries no data
    return body


# ---------------------------------------------------------------- encode


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
    kind = uint_field(kind, field, _wire.U8)
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
        if len(data) > _wire.MAX_OPTION_DATA:
            raise EncodeError(field, f"{len(data)} data bytes exceed the {_wire.MAX_OPTION_DATA} an "
                              "option holds")
        return bytes((kind, _wire.OPTION_HEAD_LEN + len(data))) + data
    if kind == _wire.MSS:
        return struct.pack("!BBH", kind, _wire.MSS_LEN, uint_field(value, field, _wire.U16))
    if kind == _wire.WSCALE:
        return struct.pack("!BBB", kind, _wire.WSCALE_LEN, uint_field(value, field, _wire.U8))
    if kind == _wire.TIMESTAMPS:
        return struct.pack("!BBII", kind, _wire.TIMESTAMPS_LEN, *_pairs(value, field, 1)[0])
    if kind == _wire.SACK:
        blocks = _pairs(value, field, None)
        if len(blocks) > _wire.MAX_SACK_BLOCKS:
            raise EncodeError(field, f"{len(blocks)} SACK blocks exceed the {_wire.MAX_SACK_BLOCKS} an "
                              "option's length byte counts")
        edges = [edge for block in blocks for edge in block]
        return struct.pack(f"!BB{len(edges)}I", kind, _wire.OPTION_HEAD_LEN + 4 * len(edges), *edges)
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
