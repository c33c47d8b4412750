"""The storage of a Segment in pure Python, and its construction: the twin of ``_segment_c``.

Chosen by ``segment`` under the same rule as the codec twins.  One slot per
field, all filled when the segment is built: the reference ``unpack`` builds
every field at once.

:func:`fields_of` is the specification of ``Segment(...)``: what it
normalises (option kinds, flags, payload, anomalies), what it derives
(``header_len`` from the options, RFC 9293 §3.1: the data offset counts
32-bit words, so the options are padded to a multiple of 4) and what it
refuses.  The compiled ``build`` takes the common cases itself and hands every
other one to it, so both raise the same errors by construction.

:class:`SegmentCore`'s ``__new__`` is :func:`build`, as the compiled
SegmentCore's C ``tp_new`` is, so that ``Segment`` needs none of its own.
"""

from __future__ import annotations

from typing import Any, NoReturn, Optional

from fastseg import _wire
from fastseg._enums import FIELDS, FLAG_MEMBERS, KIND_OBJECTS, Flags, Option
from fastseg._options_py import pack_options

__all__ = ["SegmentCore", "adopt", "build", "fields_of", "new", "replace"]


class SegmentCore:
    """The fields of a Segment; use :class:`fastseg.Segment`, which builds on it."""

    __slots__ = FIELDS

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Segment is immutable: use replace() to change {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Segment is immutable: cannot delete {name!r}")


_SETTERS = tuple(getattr(SegmentCore, name).__set__ for name in FIELDS)
_adopted: Optional[type] = None


def adopt(cls: type) -> None:
    """Check that ``cls`` can hold a Segment, as the compiled twin does; slots need no set-up."""
    global _adopted
    if not (type(cls) is type and cls.__bases__ == (SegmentCore,)
            and cls.__basicsize__ == SegmentCore.__basicsize__):
        raise TypeError("adopt() takes a direct subclass of SegmentCore with __slots__ = ()")
    if _adopted is not None and cls is not _adopted:
        raise TypeError(f"SegmentCore already serves {_adopted!r}")
    _adopted = cls


def new(cls: type, *values: Any) -> Any:
    """A ``cls`` instance holding exactly these 13 values (``Segment.__new__`` checks them first)."""
    if not (isinstance(cls, type) and issubclass(cls, SegmentCore)):
        raise TypeError(f"new() needs a subclass of SegmentCore, got {cls!r}")
    if len(values) != len(FIELDS):
        raise TypeError(f"new() takes {len(FIELDS)} field values, got {len(values)}")
    segment: Any = object.__new__(cls)
    for set_field, value in zip(_SETTERS, values):
        set_field(segment, value)
    return segment


def fields_of(
    src_port: Any = 0, dst_port: Any = 0, seq: Any = 0, ack: Any = 0, header_len: Any = None,
    flags: Any = 0, reserved: Any = 0, window: Any = 0xFFFF, checksum: Any = 0, urgent: Any = 0,
    options: Any = (), payload: Any = b"", anomalies: Any = (),
) -> tuple[Any, ...]:
    """The 13 values, in ``FIELDS`` order, that ``Segment(...)`` of these arguments holds.

    Option kinds and flags given as plain ints become the OptionKind and Flags
    members ``unpack`` gives; ``header_len`` left as None follows from the
    options; the numbers are kept as given (``pack`` checks them).
    """
    options = tuple(_normalize(option) for option in options)
    if header_len is None:
        header_len = _wire.HEADER_LEN + (len(pack_options(options)) + 3) // 4 * 4
    if type(flags) is int and 0 <= flags <= _wire.FLAG_BITS:
        flags = FLAG_MEMBERS[flags]  # what Flags(flags) returns, without enum's lookup
    elif not isinstance(flags, Flags):
        flags = Flags(flags)
    return (src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum, urgent,
            options, _as_bytes(payload), tuple(anomalies))


def build(
    cls: type, src_port: Any = 0, dst_port: Any = 0, seq: Any = 0, ack: Any = 0,
    header_len: Any = None, flags: Any = 0, reserved: Any = 0, window: Any = 0xFFFF,
    checksum: Any = 0, urgent: Any = 0, options: Any = (), payload: Any = b"", anomalies: Any = (),
) -> Any:
    """``Segment.__new__``: a ``cls`` holding :func:`fields_of` these arguments."""
    return new(cls, *fields_of(src_port, dst_port, seq, ack, header_len, flags, reserved, window,
                               checksum, urgent, options, payload, anomalies))


# Segment(...), as the compiled SegmentCore's tp_new: every subclass's __new__.
SegmentCore.__new__ = staticmethod(build)  # type: ignore[method-assign]


def replace(segment: Any, **changes: Any) -> Any:
    """``Segment.replace``: a Segment of ``segment``'s fields with ``changes``; new options
    re-derive header_len unless it is given too."""
    fields = dict(zip(FIELDS, segment.fields()))
    unknown = changes.keys() - fields.keys()
    if unknown:
        raise TypeError(f"Segment has no field {sorted(unknown)[0]!r}")
    if "options" in changes and "header_len" not in changes:
        changes["header_len"] = None
    fields.update(changes)
    if _adopted is None:
        raise TypeError("replace() needs the Segment class, which adopt() was not given")
    return _adopted(**fields)


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
