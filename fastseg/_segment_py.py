"""The storage of a Segment in pure Python: one slot per field, all filled when it is built.

The twin of ``_segment_c``, chosen by ``segment`` under the same rule as the
codec twins.  Here nothing is decoded lazily: the reference ``unpack`` builds
every field at once.
"""

from __future__ import annotations

from typing import Any, NoReturn, Optional

from fastseg._enums import FIELDS

__all__ = ["SegmentCore", "adopt", "new"]


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
