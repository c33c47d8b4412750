"""The error hierarchy shared by both codec twins.

Messages are built here from the attributes, so the Cython and the
pure-Python twin cannot word the same failure differently.
"""

from __future__ import annotations

from typing import NamedTuple

from fastseg import _wire

__all__ = [
    "Anomaly",
    "BadDataOffset",
    "BadOption",
    "DecodeError",
    "EncodeError",
    "FastsegError",
    "TruncatedSegment",
]


class FastsegError(Exception):
    """Base class of every error fastseg raises on purpose."""


class DecodeError(FastsegError, ValueError):
    """Bytes that are not a well-formed TCP segment.

    ``offset`` is the byte offset in the segment where the problem lies and
    ``reason`` says what is wrong there.
    """

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(offset, reason)
        self.offset = offset
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} (at byte {self.offset})"

    def __reduce__(self) -> tuple[type[DecodeError], tuple[int, str]]:
        return (type(self), (self.offset, self.reason))


class TruncatedSegment(DecodeError):
    """Fewer than 20 bytes, or a header longer than the buffer."""


class BadDataOffset(DecodeError):
    """A data offset below 5 (a header shorter than its 20 fixed bytes)."""


class BadOption(DecodeError):
    """An option whose length is missing, below 2, past the header or wrong for its kind."""


class EncodeError(FastsegError, ValueError):
    """A Segment that cannot be written: ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def __reduce__(self) -> tuple[type[EncodeError], tuple[str, str]]:
        return (type(self), (self.field, self.reason))


class Anomaly(NamedTuple):
    """A problem lenient decoding found and stepped over; strict decoding raises it."""

    error: type[DecodeError]
    offset: int
    reason: str

    def exception(self) -> DecodeError:
        """The error strict decoding raises for this problem."""
        return self.error(self.offset, self.reason)

    def __str__(self) -> str:
        return str(self.exception())


# Builders of every decoding problem, used by both twins so that wording and offsets agree.

_OPTION_NAMES = {_wire.MSS: "MSS", _wire.WSCALE: "window scale",
                 _wire.SACK_PERMITTED: "SACK-permitted", _wire.SACK: "SACK",
                 _wire.TIMESTAMPS: "timestamps"}


def short_buffer(length: int) -> Anomaly:
    """Fewer than the 20 fixed header bytes."""
    return Anomaly(TruncatedSegment, length, f"fewer than 20 bytes ({length})")


def small_data_offset(data_offset: int) -> Anomaly:
    """A data offset below 5 words."""
    return Anomaly(BadDataOffset, _wire.DATA_OFFSET, f"data offset {data_offset} below 5")


def header_past_buffer(header_len: int, length: int) -> Anomaly:
    """A data offset claiming more header than the buffer holds."""
    return Anomaly(TruncatedSegment, _wire.DATA_OFFSET,
                   f"header length {header_len} exceeds the {length} bytes given")


def missing_option_length(offset: int, kind: int) -> Anomaly:
    """An option kind in the last header byte, with no room for its length."""
    return Anomaly(BadOption, offset, f"option kind {kind} has no length byte")


def small_option_length(offset: int, kind: int, length: int) -> Anomaly:
    """An option length below 2 (it must count its own kind and length bytes)."""
    return Anomaly(BadOption, offset, f"option kind {kind} length {length} below 2")


def option_past_header(offset: int, kind: int, length: int, room: int) -> Anomaly:
    """An option running past the end of the header."""
    return Anomaly(BadOption, offset,
                   f"option kind {kind} length {length} runs past the header ({room} bytes left)")


def wrong_option_length(offset: int, kind: int, length: int) -> Anomaly:
    """A known option whose length its RFC does not allow."""
    expected = "2 + 8n with n >= 1" if kind == _wire.SACK else str(_wire.FIXED_LENGTHS[kind])
    return Anomaly(BadOption, offset,
                   f"{_OPTION_NAMES[kind]} option length {length}, expected {expected}")


def seq_error(name: str, value: object) -> Exception:
    """The error for a sequence-number argument that is not an int in [0, 2**32)."""
    if not isinstance(value, int):
        return TypeError(f"{name} must be an int, not {type(value).__name__}")
    return ValueError(f"{name}={value!r} is outside [0, 2**32)")


def not_a_buffer(value: object) -> TypeError:
    """The error for input that does not support the buffer protocol."""
    return TypeError(f"a bytes-like object is required, not {type(value).__name__!r}")
