"""Hypothesis strategies and buffer helpers for fastseg's property and differential tests.

The option values come from the public ``fastseg.strategies.options()``, but
every expected result here is built without fastseg's encoder: ``option_wire``
and ``encoded_segments`` write the wire bytes with ``struct`` themselves, so a
test that compares fastseg's output with them is not comparing fastseg with
itself.  Inputs that only need to be hostile (``near_valid_bytes``,
``any_bytes``) also draw from the public ``malformed_segments()`` and
``raw_segments()``.

The strategies are written to shrink towards small, readable examples: the
first alternative of every ``one_of`` is the simplest, lists shrink to empty,
and payloads to ``b""``.
"""

from __future__ import annotations

import array
import ctypes
import ipaddress
import os
import struct
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from hypothesis import strategies as st

from fastseg import OptionKind, Segment
from fastseg import segment as segment_module
from fastseg import strategies as public
from fastseg.segment import FIELDS

U16 = 0xFFFF
U32 = 0xFFFFFFFF
MAX_OPTIONS = 40

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, U16)
u32 = st.integers(0, U32)

#: Kinds that decode into something other than raw bytes, or that end the list.
SPECIAL_KINDS = frozenset({0, 1, 2, 3, 4, 5, 8})

Option = Tuple[Any, Any]

#: Multiplies every test's example count: FASTSEG_HYPOTHESIS_SCALE=20 for a long hunt.
SCALE = max(1, int(os.environ.get("FASTSEG_HYPOTHESIS_SCALE", "1") or 1))


def examples(count: int) -> int:
    """``count`` examples, times the scale the environment asks for."""
    return count * SCALE


# ---------------------------------------------------------------- options


def option_wire(kind: int, value: Any) -> bytes:
    """The wire bytes of one option in its decoded form, written independently of fastseg."""
    if kind == 0:
        return b"\0" + value
    if kind == 1:
        return b"\1"
    if kind == 2 and isinstance(value, int):
        return struct.pack("!BBH", 2, 4, value)
    if kind == 3 and isinstance(value, int):
        return struct.pack("!BBB", 3, 3, value)
    if kind == 4 and value is None:
        return b"\4\2"
    if kind == 5 and isinstance(value, tuple):
        edges = [edge for block in value for edge in block]
        return struct.pack(f"!BB{len(edges)}I", 5, 2 + 4 * len(edges), *edges)
    if kind == 8 and isinstance(value, tuple):
        return struct.pack("!BBII", 8, 10, *value)
    return bytes((kind, 2 + len(value))) + bytes(value)


def options_wire(options: List[Option]) -> bytes:
    return b"".join(option_wire(kind, value) for kind, value in options)


#: The public strategy's options, every kind, without the EOL that option_lists adds itself.
options_without_eol = public.options(eol=False)


@st.composite
def option_lists(draw: Any, aligned: bool = False) -> List[Option]:
    """Options of at most 40 bytes in decoded form, EOL (with its trailing bytes) last if present.

    ``aligned`` makes the wire length a multiple of 4, adding an EOL whose trailing
    bytes (any values, not only zeros) fill the gap when needed.
    """
    options: List[Option] = draw(options_without_eol)
    used = len(options_wire(options))
    room = MAX_OPTIONS - used
    if aligned:
        gap = -used % 4
        if gap or (room >= 4 and draw(st.booleans())):
            tail = (gap or 4) - 1
            tail += 4 * draw(st.integers(0, (room - tail - 1) // 4))
            options.append((OptionKind.EOL, draw(st.binary(min_size=tail, max_size=tail))))
    elif room and draw(st.booleans()):
        options.append((OptionKind.EOL, draw(st.binary(max_size=room - 1))))
    return options


# ---------------------------------------------------------------- segments


class Encoded(NamedTuple):
    """A segment three ways: what to pack, its wire bytes, and what ``unpack`` must return."""

    segment: Segment        # as a user would build it: header_len explicit, options unpadded
    data: bytes             # written by this module, not by fastseg
    decoded: Segment        # the padding shows up as (the tail of) an EOL option
    length_offsets: Tuple[int, ...]  # offsets of the options' length bytes in ``data``


FIELD_STRATEGIES = {
    "src_port": u16,
    "dst_port": u16,
    "seq": u32,
    "ack": u32,
    "flags": st.integers(0, 0x1FF),     # every combination, AE included
    "reserved": st.integers(0, 7),
    "window": u16,
    "checksum": u16,
    "urgent": u16,
}

_FIXED = struct.Struct("!HHIIHHHH")


@st.composite
def encoded_segments(draw: Any, aligned: bool = False, max_payload: int = 2000) -> Encoded:
    """A valid segment with its independently written bytes.

    ``aligned`` keeps the header exactly as long as the options (a multiple of
    4), so that decoding gives back the very Segment that was packed.
    Otherwise the header may be longer, up to 60 bytes of zero padding.
    """
    options = draw(option_lists(aligned=aligned))
    wire = options_wire(options)
    shortest = 20 + (len(wire) + 3) // 4 * 4
    header_len = shortest if aligned else 4 * draw(st.integers(shortest // 4, 15))
    fields = {name: draw(strategy) for name, strategy in FIELD_STRATEGIES.items()}
    payload = draw(st.binary(max_size=max_payload))
    padding = header_len - 20 - len(wire)

    offsets: List[int] = []
    position = 20
    for kind, value in options:
        if kind not in (0, 1):
            offsets.append(position + 1)
        position += len(option_wire(kind, value))

    decoded_options = list(options)
    if padding:
        if decoded_options and decoded_options[-1][0] == 0:
            decoded_options[-1] = (OptionKind.EOL, decoded_options[-1][1] + bytes(padding))
        else:
            decoded_options.append((OptionKind.EOL, bytes(padding - 1)))

    offset_flags = (header_len // 4) << 12 | fields["reserved"] << 9 | fields["flags"]
    data = _FIXED.pack(
        fields["src_port"], fields["dst_port"], fields["seq"], fields["ack"], offset_flags,
        fields["window"], fields["checksum"], fields["urgent"],
    ) + wire + bytes(padding) + payload
    segment = Segment(header_len=header_len, options=options, payload=payload, **fields)
    decoded = Segment(header_len=header_len, options=decoded_options, payload=payload, **fields)
    return Encoded(segment, data, decoded, tuple(offsets))


def segments(aligned: bool = False, max_payload: int = 2000) -> st.SearchStrategy[Segment]:
    """Valid Segments, built through the public constructor."""
    if not aligned:
        return encoded_segments(max_payload=max_payload).map(lambda e: e.segment)

    @st.composite
    def derived(draw: Any) -> Segment:
        # header_len left to the constructor: it must come out as 20 + the options.
        fields = {name: draw(strategy) for name, strategy in FIELD_STRATEGIES.items()}
        options = draw(option_lists(aligned=True))
        return Segment(options=options, payload=draw(st.binary(max_size=max_payload)), **fields)

    return derived()


def valid_bytes(max_payload: int = 2000) -> st.SearchStrategy[bytes]:
    """Bytes strict decoding must accept: trailing bytes after EOL, unknown kinds,
    any checksum, reserved bits and AE included."""
    return encoded_segments(max_payload=max_payload).map(lambda e: e.data)


MUTATIONS = ("data_offset", "option_length", "option_kind", "header_byte", "truncate")


def near_valid_bytes(max_payload: int = 200) -> st.SearchStrategy[bytes]:
    """Valid bytes with one thing broken: the data offset, an option length or kind,
    any header byte, or the length of the buffer; or one of the public defects."""
    return st.one_of(mutated_bytes(max_payload), public.malformed_segments())


@st.composite
def mutated_bytes(draw: Any, max_payload: int = 200) -> bytes:
    """Valid bytes with one random mutation of the kinds in MUTATIONS."""
    encoded = draw(encoded_segments(max_payload=max_payload))
    data = bytearray(encoded.data)
    header_len = encoded.segment.header_len
    mutation = draw(st.sampled_from(MUTATIONS))
    if mutation == "data_offset":
        data[12] = draw(st.integers(0, 15)) << 4 | data[12] & 0x0F
    elif mutation == "option_length" and encoded.length_offsets:
        data[draw(st.sampled_from(encoded.length_offsets))] = draw(
            st.one_of(st.integers(0, 12), u8))
    elif mutation == "option_kind" and header_len > 20:
        data[draw(st.integers(20, header_len - 1))] = draw(
            st.one_of(st.sampled_from(sorted(SPECIAL_KINDS)), u8))
    elif mutation == "header_byte":
        data[draw(st.integers(0, header_len - 1))] = draw(u8)
    else:
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


#: Bytes that look like option kinds and lengths more often than uniform bytes do.
_option_ish = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 8, 10, 18]), u8)


@st.composite
def plausible_bytes(draw: Any, min_size: int = 20) -> bytes:
    """Random bytes with a header-like start: a data offset of at least 5 and option-ish bytes."""
    fixed = bytearray(draw(st.binary(min_size=20, max_size=20)))
    fixed[12] = draw(st.integers(5, 15)) << 4 | fixed[12] & 0x0F
    rest = bytes(draw(st.lists(_option_ish, max_size=70)))
    data = bytes(fixed) + rest
    return data if len(data) >= min_size else data + bytes(min_size - len(data))


def any_bytes(max_size: int = 100) -> st.SearchStrategy[bytes]:
    """Valid, near-valid, plausible and plain random bytes, and the public raw segments."""
    return st.one_of(
        st.binary(max_size=max_size),
        valid_bytes(max_payload=max_size),
        near_valid_bytes(max_payload=max_size),
        plausible_bytes(),
        public.raw_segments(max_payload=max_size),
    )


# ---------------------------------------------------------------- addresses

ipv4_packed = st.binary(min_size=4, max_size=4)
ipv6_packed = st.binary(min_size=16, max_size=16)


def _forms(packed: bytes) -> st.SearchStrategy[Any]:
    address = ipaddress.ip_address(packed)
    return st.sampled_from([packed, str(address), address, bytearray(packed), memoryview(packed)])


def address_pairs(version: Optional[int] = None) -> st.SearchStrategy[Tuple[Any, Any]]:
    """(src, dst) of one IP version, each as bytes, str, ipaddress object, bytearray or memoryview."""
    packed = {4: ipv4_packed, 6: ipv6_packed}
    versions = [version] if version else [4, 6]
    return st.sampled_from(versions).flatmap(
        lambda v: st.tuples(packed[v].flatmap(_forms), packed[v].flatmap(_forms)))


#: Addresses that must be refused, and mixes of versions.
BAD_ADDRESS_PAIRS = [
    ("1.2.3", "1.2.3.4"),
    ("1.2.3.4", "::g"),
    ("", "1.2.3.4"),
    (b"\1\2\3\4\5", b"\1\2\3\4\5"),
    (b"", b""),
    (1234, "1.2.3.4"),
    ("1.2.3.4", 1.5),
    ("1.2.3.4", "::1"),
    (b"\1\2\3\4", b"\0" * 16),
    (ipaddress.ip_address("::1"), ipaddress.ip_address("10.0.0.1")),
    (ipaddress.ip_network("10.0.0.0/8"), "10.0.0.1"),
    ("1.2.3.4", None),
    (None, "1.2.3.4"),
    (["1.2.3.4"], "1.2.3.4"),
]


# ---------------------------------------------------------------- buffers

def _strided(data: bytes) -> memoryview:
    backing = bytearray(2 * len(data))
    backing[::2] = data
    backing[1::2] = bytes(0xA5 for _ in data)
    return memoryview(backing)[::2]


def _array_h(data: bytes) -> Optional[array.array]:
    if len(data) % 2:
        return None
    buffer = array.array("H")
    buffer.frombytes(data)
    return buffer


def _two_d(data: bytes) -> Optional[memoryview]:
    if not data:
        return None  # memoryview cannot cast to a shape with a zero in it
    rows = next(r for r in (4, 3, 2, 1) if len(data) % r == 0)
    return memoryview(data).cast("B", (rows, len(data) // rows))


class _BytesSubclass(bytes):
    pass


#: Read-only views of ``data``: each reads as ``data`` through ``memoryview(...).tobytes()``.
#: A maker returns None where its kind cannot hold ``data``.
READ_BUFFERS: List[Tuple[str, Callable[[bytes], Any]]] = [
    ("bytes", bytes),
    ("bytearray", bytearray),
    ("bytes_subclass", _BytesSubclass),
    ("memoryview_slice", lambda d: memoryview(b"\xee\xee\xee" + d + b"\x77" * 5)[3:3 + len(d)]),
    ("memoryview_strided", _strided),
    ("memoryview_reversed", lambda d: memoryview(d[::-1])[::-1]),
    ("memoryview_readonly", lambda d: memoryview(bytearray(d)).toreadonly()),
    ("memoryview_2d", _two_d),
    ("array_B", lambda d: array.array("B", d)),
    ("array_H", _array_h),
    ("ctypes_ubyte", lambda d: (ctypes.c_ubyte * len(d)).from_buffer_copy(d)),
]

try:  # numpy is not a test dependency, but where it is installed its arrays are buffers too
    import numpy
except ImportError:  # pragma: no cover - depends on the environment
    numpy = None


def _numpy_strided(data: bytes) -> Any:
    return numpy.frombuffer(bytes(_strided(data).obj), dtype=numpy.uint8)[::2]


def _numpy_fortran(data: bytes) -> Any:
    """A Fortran-ordered 2-D array (not C-contiguous) whose C-order bytes are ``data``."""
    rows = next((r for r in (4, 3, 2) if len(data) % r == 0 and len(data) // r > 1), None)
    if rows is None:
        return None
    return numpy.asfortranarray(numpy.frombuffer(data, dtype=numpy.uint8).reshape(rows, -1))


if numpy is not None:
    READ_BUFFERS += [
        ("numpy_uint8", lambda d: numpy.frombuffer(d, dtype=numpy.uint8).copy()),
        ("numpy_strided", _numpy_strided),
        ("numpy_fortran", _numpy_fortran),
    ]

#: Objects without the buffer protocol.
NOT_BUFFERS: List[Any] = ["abc", "", 12345, 0, None, [1, 2, 3], (1, 2), 1.5, object, {1: 2}]


class Target:
    """A destination for ``pack_into``: ``buffer`` and the bytes of everything around it.

    ``snapshot()`` reads the whole backing store, so a write outside the
    buffer (or into the gaps of a strided view) shows up too.
    """

    def __init__(self, kind: str, size: int, fill: int) -> None:
        self.kind = kind
        if kind == "array_H":
            size += size % 2
        elif kind == "memoryview_2d":
            size = max(size + size % 2, 2)  # two rows; no zero in the shape
        elif kind == "numpy_fortran":
            size = max(size + size % 2, 4)  # two rows and two columns at least
        content = bytes((fill + 7 * i) & 0xFF for i in range(size))
        self.backing: Any
        self.buffer: Any
        if kind == "bytearray":
            self.backing = self.buffer = bytearray(content)
        elif kind == "memoryview_slice":
            self.backing = bytearray(b"\xee" * 3 + content + b"\x77" * 5)
            self.buffer = memoryview(self.backing)[3:3 + size]
        elif kind == "memoryview_2d":
            self.backing = bytearray(content)
            self.buffer = memoryview(self.backing).cast("B", (2, size // 2))
        elif kind == "array_B":
            self.backing = self.buffer = array.array("B", content)
        elif kind == "array_H":
            self.backing = self.buffer = array.array("H")
            self.backing.frombytes(content)
        elif kind == "ctypes_ubyte":
            self.backing = self.buffer = (ctypes.c_ubyte * size).from_buffer_copy(content)
        elif kind == "bytes":
            self.backing = self.buffer = content
        elif kind == "memoryview_readonly":
            self.backing = bytearray(content)
            self.buffer = memoryview(self.backing).toreadonly()
        elif kind == "memoryview_strided":
            self.backing = bytearray(content * 2)
            self.buffer = memoryview(self.backing)[::2]
        elif kind == "numpy_uint8":
            self.backing = self.buffer = numpy.frombuffer(content, dtype=numpy.uint8).copy()
        elif kind == "numpy_readonly":
            self.backing = self.buffer = numpy.frombuffer(content, dtype=numpy.uint8).copy()
            self.buffer.flags.writeable = False
        elif kind == "numpy_strided":
            self.backing = numpy.frombuffer(content * 2, dtype=numpy.uint8).copy()
            self.buffer = self.backing[::2]
        elif kind == "numpy_fortran":
            self.backing = self.buffer = numpy.asfortranarray(
                numpy.frombuffer(content, dtype=numpy.uint8).reshape(2, -1))
        else:
            raise ValueError(kind)
        self.size = len(self.view_bytes())

    def snapshot(self) -> bytes:
        return memoryview(self.backing).tobytes()

    def view_bytes(self) -> bytes:
        return memoryview(self.buffer).tobytes()


WRITABLE_TARGETS: Tuple[str, ...] = (
    "bytearray", "memoryview_slice", "memoryview_2d", "array_B", "array_H", "ctypes_ubyte")
#: Buffers pack_into must refuse with a TypeError: read-only or not C-contiguous.
UNWRITABLE_TARGETS: Tuple[str, ...] = ("bytes", "memoryview_readonly", "memoryview_strided")
if numpy is not None:
    WRITABLE_TARGETS += ("numpy_uint8",)
    UNWRITABLE_TARGETS += ("numpy_readonly", "numpy_strided", "numpy_fortran")


def shape(value: Any) -> Any:
    """The types of ``value`` and, inside tuples and lists, of everything they hold."""
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(shape(item) for item in value))
    return type(value)


def unchecked(segment: Optional[Segment] = None, **changes: Any) -> Segment:
    """``segment`` (default ``Segment()``) with fields replaced exactly as given, past the
    constructor's coercion."""
    values = dict(zip(FIELDS, (segment or Segment()).fields()), **changes)
    return segment_module._core.new(Segment, *(values[name] for name in FIELDS))  # type: ignore[no-any-return]


__all__ = [
    "BAD_ADDRESS_PAIRS", "MUTATIONS", "NOT_BUFFERS", "READ_BUFFERS", "SPECIAL_KINDS",
    "UNWRITABLE_TARGETS", "WRITABLE_TARGETS", "Encoded", "Target", "address_pairs",
    "any_bytes", "encoded_segments", "examples", "mutated_bytes", "near_valid_bytes", "option_lists",
    "option_wire", "options_wire", "plausible_bytes", "segments", "shape", "u8", "u16", "u32",
    "unchecked", "valid_bytes",
]
