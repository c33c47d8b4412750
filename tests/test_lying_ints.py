"""Int subclasses whose comparisons and arithmetic lie: both twins read the number itself.

The compiled twin reads an int's digits and never calls its methods; the
reference reads every int argument through ``int.__index__`` before it
compares or computes (``_wire.exact_int``), so the two agree on such values:
an in-range liar encodes as its number would, an out-of-range one is refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from segment_gen import unchecked

from fastseg import EncodeError, Segment


def _lie(*_args: Any) -> Any:
    return True


def _zero(*_args: Any) -> int:
    return 0


class LyingInt(int):
    """An int that says it lies in every range, and whose arithmetic gives 0."""

    __lt__ = __le__ = __gt__ = __ge__ = _lie
    __add__ = __radd__ = __sub__ = __rsub__ = __and__ = __rand__ = __or__ = __ror__ = _zero
    __mod__ = __floordiv__ = __rshift__ = __lshift__ = __mul__ = __rmul__ = __neg__ = _zero
    __invert__ = __index__ = __int__ = _zero


SEGMENT = Segment(src_port=40000, dst_port=443, seq=3_000_000_000, ack=123_456_789, flags=0x18,
                  window=29200, urgent=7, options=[(2, 1460), (3, 7), (8, (2**32 - 1, 5)),
                                                   (5, ((2**31, 2**31 + 1448),))],
                  payload=b"lying ints")
SRC, DST = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"

FIELDS = {"src_port": 2**16, "dst_port": 2**16, "seq": 2**32, "ack": 2**32, "reserved": 8,
          "window": 2**16, "checksum": 2**16, "urgent": 2**16}


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_header_fields(impl, field):
    value = getattr(SEGMENT, field)
    liar = unchecked(SEGMENT, **{field: LyingInt(value)})
    assert impl.pack(liar, src=SRC, dst=DST) == impl.pack(SEGMENT, src=SRC, dst=DST)
    with pytest.raises(EncodeError) as info:
        impl.pack(unchecked(SEGMENT, **{field: LyingInt(FIELDS[field])}))
    assert info.value.field == field


def test_header_len(impl):
    expected = impl.pack(SEGMENT)
    assert impl.pack(unchecked(SEGMENT, header_len=LyingInt(SEGMENT.header_len))) == expected
    for bad in (64, SEGMENT.header_len + 2):
        with pytest.raises(EncodeError) as info:
            impl.pack(unchecked(SEGMENT, header_len=LyingInt(bad)))
        assert info.value.field == "header_len"


@pytest.mark.parametrize(
    ("index", "liar", "bad"),
    [(0, (LyingInt(2), LyingInt(1460)), (2, LyingInt(2**16))),
     (1, (3, LyingInt(7)), (3, LyingInt(256))),
     (2, (8, (LyingInt(2**32 - 1), LyingInt(5))), (8, (LyingInt(2**32), 5))),
     (3, (5, ((LyingInt(2**31), LyingInt(2**31 + 1448)),)), (5, ((1, LyingInt(-1)),)))],
)
def test_option_values(impl, index, liar, bad):
    options = list(SEGMENT.options)
    options[index] = liar
    assert impl.pack(unchecked(SEGMENT, options=tuple(options))) == impl.pack(SEGMENT)
    options[index] = bad
    with pytest.raises(EncodeError) as info:
        impl.pack(unchecked(SEGMENT, options=tuple(options)))
    assert info.value.field == f"options[{index}]"


def test_pack_into_offset(impl):
    size = len(impl.pack(SEGMENT))
    buffer = bytearray(size + 8)
    assert impl.pack_into(buffer, LyingInt(8), SEGMENT) == size
    assert bytes(buffer[8:]) == impl.pack(SEGMENT)
    with pytest.raises(EncodeError) as info:
        impl.pack_into(bytearray(size), LyingInt(size + 1), SEGMENT)
    assert info.value.field == "offset"


def test_checksum_arguments(impl):
    data = impl.pack(SEGMENT)
    assert impl.internet_checksum(data, LyingInt(0x1234)) == impl.internet_checksum(data, 0x1234)
    assert (impl.update_checksum(LyingInt(0xBEEF), b"\x01\x02", b"\x03\x04")
            == impl.update_checksum(0xBEEF, b"\x01\x02", b"\x03\x04"))
    with pytest.raises(ValueError, match="initial"):
        impl.internet_checksum(data, LyingInt(2**16))
    with pytest.raises(ValueError, match="checksum"):
        impl.update_checksum(LyingInt(-1), b"\x01\x02", b"\x03\x04")


@pytest.mark.parametrize(("a", "b"), [(5, 2**32 - 3), (2**31, 0), (7, 7), (1, 2**31 + 2)])
def test_seq_comparisons(impl, a, b):
    for name in ("seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_diff"):
        function = getattr(impl, name)
        expected = function(a, b)
        assert function(LyingInt(a), b) == expected
        assert function(a, LyingInt(b)) == expected
        assert function(LyingInt(a), LyingInt(b)) == expected
    assert impl.seq_in_window(LyingInt(a), LyingInt(b), LyingInt(2**31)) == impl.seq_in_window(a, b, 2**31)
    with pytest.raises(ValueError):
        impl.seq_lt(LyingInt(2**32 + a), b)


@pytest.mark.parametrize("n", [1, -(2**31), 2**64 + 3, -(2**70)])
def test_seq_add(impl, n):
    assert impl.seq_add(LyingInt(2**32 - 1), LyingInt(n)) == (2**32 - 1 + n) % 2**32
