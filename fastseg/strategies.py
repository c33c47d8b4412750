"""Hypothesis strategies for TCP segments: valid, malformed, random and window-aware.

Use them to test your own TCP code (parsers, middleboxes, stacks)::

    from hypothesis import given
    from fastseg import strategies as fs

    @given(fs.segment_bytes(src="10.0.0.1", dst="10.0.0.2", flags=fs.Flags.SYN))
    def test_my_parser(data): ...

Hypothesis is an optional dependency: ``pip install "fastseg-tcp[fuzz]"``.

========================  =============================================================
``segments()``            valid :class:`~fastseg.Segment` objects, every field and option
``options()``             valid option lists that fit the 40 option bytes
``segment_bytes()``       packed segments with a correct, wrong or generated checksum
``malformed_segments()``  near-valid bytes with exactly one defect from :data:`DEFECTS`
``raw_segments()``        random bytes behind a plausible header (parser robustness)
``window_segments()``     segments aimed at a live :class:`~fastseg.conn.Connection`'s
                          windows, in the RFC 5961 / RFC 7323 :data:`WINDOW_CATEGORIES`
========================  =============================================================

Every strategy shrinks towards small, readable examples: zero fields, no
options, empty payloads, the first (simplest) choice of every alternative.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple, Type, TypeVar, Union

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fastseg.strategies needs Hypothesis: pip install 'fastseg-tcp[fuzz]'"
    ) from exc

from fastseg import _wire
from fastseg._addr import Address
from fastseg._options_py import pack_options
from fastseg.checksum import tcp_checksum, verify_checksum
from fastseg.codec import pack as _codec_pack
from fastseg.errors import BadDataOffset, BadOption, DecodeError, TruncatedSegment
from fastseg.segment import Flags, Option, OptionKind, Segment
from fastseg.seq import seq_add, seq_diff

if TYPE_CHECKING:
    from fastseg.conn import Connection

__all__ = [
    "DEFECTS",
    "DEFECT_ERRORS",
    "SEGMENT_FIELDS",
    "WINDOW_CATEGORIES",
    "Flags",
    "OptionKind",
    "malformed_segments",
    "options",
    "raw_segments",
    "segment_bytes",
    "segments",
    "window_segments",
]

T = TypeVar("T")
#: A fixed value or a strategy for it.
Constraint = Union[T, "st.SearchStrategy[T]"]
#: A payload size: the largest, or an inclusive (smallest, largest) range.
Size = Union[int, Tuple[int, int]]

U16 = 0xFFFF
U32 = 0xFFFFFFFF
MAX_OPTIONS = _wire.MAX_OPTIONS_LEN
#: The largest window a peer can announce (65535 << 14, RFC 7323 §2.3): MAX.SND.WND never exceeds it.
_LARGEST_WINDOW = 0xFFFF << 14

_u8 = st.integers(0, 0xFF)
_u16 = st.integers(0, U16)
_u32 = st.integers(0, U32)


def _pack(segment: Segment) -> bytes:
    """``fastseg.pack`` without addresses: the checksum as the segment holds it."""
    data: bytes = _codec_pack(segment)
    return data


def _constraint(value: Any) -> st.SearchStrategy[Any]:
    """A strategy as given, or a fixed value as a strategy."""
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _size_range(size: Size, name: str) -> Tuple[int, int]:
    low, high = (0, size) if isinstance(size, int) else size
    if not 0 <= low <= high:
        raise InvalidArgument(f"{name} must be a size >= 0 or a range (min, max), got {size!r}")
    return low, high


# ---------------------------------------------------------------- options

#: Kinds that decode to something other than raw data bytes.
_SPECIAL = frozenset({_wire.EOL, _wire.NOP, _wire.MSS, _wire.WSCALE, _wire.SACK_PERMITTED,
                      _wire.SACK, _wire.TIMESTAMPS})
#: Every kind whose data fastseg keeps as raw bytes: named ones and unassigned ones.
_RAW_KINDS = tuple(kind for kind in range(6, 256) if kind not in _SPECIAL)
#: Kinds IANA has not assigned (nor marked obsolete) at the time of writing.
_UNASSIGNED = tuple(kind for kind in range(35, 253) if kind not in (69, 70, 76, 77, 78, 172, 174))


def _wire_len(option: Option) -> int:
    """Bytes ``option`` takes on the wire, for the option values this module generates."""
    kind, value = option
    if kind == _wire.EOL:
        return 1 + len(value or b"")
    if kind == _wire.NOP:
        return 1
    if kind == _wire.SACK_PERMITTED and value is None:
        return 2
    if isinstance(value, bytes):
        return 2 + len(value)
    if kind == _wire.SACK:
        return 2 + _wire.SACK_BLOCK_LEN * len(value)
    return _wire.FIXED_LENGTHS[kind]  # type: ignore[index]


def _with(kind: int) -> Any:
    return lambda value: (kind, value)


def _concat(*parts: Any) -> bytes:
    return b"".join(bytes([p]) if isinstance(p, int) else p for p in parts)


#: One option of each named kind, simplest first; none is longer than 40 bytes.
_ONE_OPTION: st.SearchStrategy[Option] = st.one_of(
    st.builds(_with(OptionKind.MSS), _u16),
    st.just((OptionKind.NOP, None)),
    st.builds(_with(OptionKind.WSCALE), st.one_of(st.integers(0, 14), _u8)),
    st.just((OptionKind.SACK_PERMITTED, None)),
    st.builds(_with(OptionKind.TIMESTAMPS), st.tuples(_u32, _u32)),
    st.builds(_with(OptionKind.SACK), st.lists(st.tuples(_u32, _u32), min_size=1, max_size=4).map(tuple)),
    # RFC 2385: a 16-byte digest.
    st.builds(_with(OptionKind.MD5), st.binary(min_size=16, max_size=16)),
    # RFC 5925: KeyID, RNextKeyID and a MAC (12 bytes for HMAC-SHA-1-96, 16 for AES-128-CMAC).
    st.builds(lambda key, rnext, mac: (OptionKind.TCP_AO, _concat(key, rnext, mac)),
              _u8, _u8, st.one_of(st.binary(min_size=12, max_size=12), st.binary(max_size=16))),
    # RFC 8684: a subtype nibble and version/flags nibble, then subtype-specific bytes.
    st.builds(lambda subtype, low, rest: (OptionKind.MPTCP, _concat(subtype << 4 | low, rest)),
              st.integers(0, 15), st.integers(0, 15), st.binary(max_size=24)),
    # RFC 7413: an empty cookie requests one; cookies are 4 to 16 bytes.
    st.builds(_with(OptionKind.FASTOPEN), st.one_of(st.just(b""), st.binary(min_size=4, max_size=16))),
    # RFC 5482: the G bit and a 15-bit timeout.
    st.builds(_with(OptionKind.USER_TIMEOUT), st.binary(min_size=2, max_size=2)),
    # RFC 6994: a 16-bit experiment identifier, then the experiment's data.
    st.builds(lambda kind, exid, data: (kind, struct.pack("!H", exid) + data),
              st.sampled_from((OptionKind.EXP2, OptionKind.EXP1)), _u16, st.binary(max_size=16)),
    st.builds(lambda kind, data: (kind, data), st.sampled_from(_UNASSIGNED), st.binary(max_size=16)),
    # Any kind kept as raw data, with any length that fits (ECHO, QUICK_START, ACCECN, ...).
    st.builds(lambda kind, data: (kind, data), st.sampled_from(_RAW_KINDS), st.binary(max_size=38)),
)


@st.composite
def _option_lists(draw: st.DrawFn, max_bytes: int, aligned: bool, eol: bool) -> List[Option]:
    chosen: List[Option] = []
    used = 0
    for option in draw(st.lists(_ONE_OPTION, max_size=12)):
        size = _wire_len(option)
        if used + size <= max_bytes:  # options that do not fit are left out
            chosen.append(option)
            used += size
    if eol and used < max_bytes and draw(st.booleans()):
        padding = draw(st.integers(0, max_bytes - used - 1))
        chosen.append((OptionKind.EOL, bytes(padding)))
        used += 1 + padding
    gap = -used % 4
    if aligned and gap:
        if not eol:
            chosen += [(OptionKind.NOP, None)] * gap
        elif chosen and chosen[-1][0] == _wire.EOL:
            chosen[-1] = (OptionKind.EOL, chosen[-1][1] + bytes(gap))
        else:
            chosen.append((OptionKind.EOL, bytes(gap - 1)))
    return chosen


def options(*, max_bytes: int = MAX_OPTIONS, aligned: bool = False,
            eol: bool = True) -> st.SearchStrategy[List[Option]]:
    """Valid option lists, as ``(kind, value)`` pairs in the form ``unpack`` returns them.

    Every kind appears: MSS, NOP, window scale, SACK-permitted, timestamps,
    SACK with 1 to 4 blocks, MD5 (RFC 2385), TCP-AO (RFC 5925), MPTCP
    (RFC 8684), Fast Open (RFC 7413), user timeout, the experimental kinds
    253/254 (RFC 6994), unassigned kinds and any other kind with raw data,
    and EOL, last, followed by zero padding.  The list takes at most
    ``max_bytes`` (at most 40) on the wire.

    ``aligned=True`` makes the wire length a multiple of 4, padding with an
    EOL and zeros (or, with ``eol=False``, NOPs), so that a Segment with
    these options decodes back to exactly the same options.  ``eol=False``
    leaves EOL out.
    """
    if not 0 <= max_bytes <= MAX_OPTIONS:
        raise InvalidArgument(f"max_bytes must be in [0, {MAX_OPTIONS}], got {max_bytes!r}")
    if aligned and max_bytes % 4:
        raise InvalidArgument(f"aligned options need max_bytes a multiple of 4, got {max_bytes}")
    return _option_lists(max_bytes, aligned, eol)


def _options_wire(option_list: Iterable[Option]) -> bytes:
    return pack_options(option_list)


# ---------------------------------------------------------------- valid segments

#: Header fields ``segments()`` takes as keyword constraints, with their default strategies.
SEGMENT_FIELDS: Dict[str, st.SearchStrategy[int]] = {
    "src_port": _u16,
    "dst_port": _u16,
    "seq": _u32,
    "ack": _u32,
    "flags": st.integers(0, _wire.FLAG_BITS),   # all 512 combinations, AE included
    "reserved": st.just(0),
    "window": _u16,
    "checksum": _u16,
    "urgent": _u16,
}


def segments(*, options: Optional[Constraint[Iterable[Option]]] = None, payload_size: Size = 100,
             **fields: Any) -> st.SearchStrategy[Segment]:
    """Valid Segments: strict ``unpack(pack(s))`` gives ``s`` back, equal field for field.

    Constraints, each a fixed value or a strategy:

    - any header field of :data:`SEGMENT_FIELDS` by name: ``src_port``,
      ``dst_port``, ``seq``, ``ack``, ``flags`` (default: any of the 512
      combinations, contradictory ones included), ``reserved`` (default 0),
      ``window``, ``checksum``, ``urgent``;
    - ``options``: default :func:`options` with ``aligned=True``; a list you
      give that is not a multiple of 4 bytes decodes with padding added;
    - ``payload_size``: the largest payload, or an inclusive ``(min, max)``.

    ``header_len`` follows from the options.  "Valid" means what the codec
    accepts; a TCP stack may still find the segment odd (SYN with FIN, say).
    """
    unknown = sorted(fields.keys() - SEGMENT_FIELDS.keys())
    if unknown:
        raise InvalidArgument(f"segments() has no constraint {unknown[0]!r}; "
                              f"fields are {', '.join(SEGMENT_FIELDS)}")
    low, high = _size_range(payload_size, "payload_size")
    chosen = {name: _constraint(fields[name]) if name in fields else default
              for name, default in SEGMENT_FIELDS.items()}
    option_strategy = _option_lists(MAX_OPTIONS, True, True) if options is None else _constraint(options)
    return st.builds(_segment, options=option_strategy,
                     payload=st.binary(min_size=low, max_size=high), **chosen)


def _segment(**fields: Any) -> Segment:
    # Not st.builds(Segment): that would infer strategies for header_len and anomalies too.
    return Segment(**fields)


CHECKSUM_MODES = ("correct", "wrong", "as_generated")


def _wrong_checksum(data: bytes, src: Address, dst: Address, step: int) -> bytes:
    """``data`` with a checksum that does not verify: off by ``step``, and never the
    one's-complement twin (0x0000 / 0xFFFF) of the right one."""
    right = tcp_checksum(src, dst, data)
    wrong = (right + step) & U16
    while True:
        out = data[:_wire.CHECKSUM] + struct.pack("!H", wrong) + data[_wire.CHECKSUM + 2:]
        if not verify_checksum(src, dst, out):
            return out
        wrong = (wrong + 1) & U16


def _with_checksum(data: bytes, src: Address, dst: Address) -> bytes:
    right = tcp_checksum(src, dst, data)
    return data[:_wire.CHECKSUM] + struct.pack("!H", right) + data[_wire.CHECKSUM + 2:]


def segment_bytes(*, checksum: Optional[str] = None, src: Optional[Constraint[Address]] = None,
                  dst: Optional[Constraint[Address]] = None, **constraints: Any) -> st.SearchStrategy[bytes]:
    """Packed :func:`segments` (same keyword constraints), with a checksum mode.

    - ``"correct"``: right for ``src`` and ``dst`` (IPv4 or IPv6 addresses, or
      strategies for them); the default when addresses are given;
    - ``"wrong"``: fails :func:`fastseg.verify_checksum` for those addresses
      (off by a small amount first, when shrinking);
    - ``"as_generated"``: the segment's own ``checksum`` field; the default
      without addresses.
    """
    mode = checksum or ("as_generated" if src is None and dst is None else "correct")
    if mode not in CHECKSUM_MODES:
        raise InvalidArgument(f"checksum must be one of {CHECKSUM_MODES}, got {checksum!r}")
    if mode != "as_generated" and (src is None or dst is None):
        raise InvalidArgument(f"checksum={mode!r} needs both src and dst")
    packed = segments(**constraints).map(_pack)
    if mode == "as_generated":
        return packed
    addresses = (_constraint(src), _constraint(dst))
    if mode == "correct":
        return st.builds(_with_checksum, packed, *addresses)
    return st.builds(_wrong_checksum, packed, *addresses, st.integers(1, U16))


# ---------------------------------------------------------------- malformed segments

#: The defects :func:`malformed_segments` makes, each alone in otherwise valid bytes, and
#: what strict ``unpack`` does with them: the DecodeError subclass it raises, or None
#: where the bytes decode (these are not codec errors, only unusual or wrong for TCP).
DEFECT_ERRORS: Dict[str, Optional[Type[DecodeError]]] = {
    # Data offset 0..4: the header would be shorter than its 20 fixed bytes (at byte 12).
    "data_offset_below_5": BadDataOffset,
    # A data offset claiming more header than the buffer holds; no payload (at byte 12).
    "data_offset_past_buffer": TruncatedSegment,
    # Fewer than 20 bytes; lenient decoding raises too (at the buffer's length).
    "truncated_fixed_header": TruncatedSegment,
    # The buffer ends inside the options (at byte 12); lenient decoding may list a
    # second anomaly for an option the cut runs through.
    "truncated_options": TruncatedSegment,
    # An option other than EOL/NOP with length 0 or 1 (at the option's kind byte).
    "option_length_0": BadOption,
    "option_length_1": BadOption,
    # An option kind in the last header byte, with no room for its length byte.
    "option_length_missing": BadOption,
    # An option whose length runs past the end of the header.
    "option_past_header": BadOption,
    # More than 40 option bytes: a 60-byte header (data offset 15) whose last option
    # claims more than fits, its remaining bytes following in the payload.
    "options_over_40": BadOption,
    # MSS, window scale, SACK-permitted, timestamps or SACK with a length its RFC forbids.
    "wrong_option_length": BadOption,
    # Non-zero bytes after EOL: kept as the EOL option's value.
    "bytes_after_eol": None,
    # Any of the three reserved bits set: kept in ``reserved``.
    "reserved_bits": None,
    # Two or three of SYN, FIN and RST together (with any other flags).
    "contradictory_flags": None,
    # A checksum that does not verify; needs addresses (src and dst).
    "bad_checksum": None,
}
DEFECTS: Tuple[str, ...] = tuple(DEFECT_ERRORS)

_CONTRADICTIONS = (Flags.SYN | Flags.FIN, Flags.SYN | Flags.RST, Flags.FIN | Flags.RST,
                   Flags.SYN | Flags.FIN | Flags.RST)
_SYN_FIN_RST = int(Flags.SYN | Flags.FIN | Flags.RST)
#: Flags without a contradiction: at most one of SYN, FIN and RST.
_SANE_FLAGS = st.builds(lambda one, rest: Flags(one | rest & ~_SYN_FIN_RST),
                        st.sampled_from((0, Flags.SYN, Flags.FIN, Flags.RST)),
                        st.integers(0, _wire.FLAG_BITS))
#: Option kinds the length check applies to, and a kind that takes any length.
_LENGTH_KINDS = st.one_of(st.sampled_from((_wire.MSS, _wire.WSCALE, _wire.SACK_PERMITTED,
                                           _wire.TIMESTAMPS, _wire.SACK)), st.integers(2, 255))


def _base(draw: st.DrawFn, *, flags: Any = None, reserved: int = 0, option_list: Any = None,
          payload: Size = 16) -> Segment:
    """A valid segment free of every defect: sane flags, reserved bits 0, zero padding."""
    return draw(segments(
        flags=_SANE_FLAGS if flags is None else flags, reserved=reserved, payload_size=payload,
        options=option_list,
    ))


def _assemble(segment: Segment, area: bytes, payload: bytes, data_offset: Optional[int] = None) -> bytes:
    """The segment's fixed header with ``area`` as its options and the given payload."""
    fixed = bytearray(_pack(segment.replace(options=(), header_len=20, payload=b"")))
    if data_offset is None:
        data_offset = (20 + len(area)) // 4
    fixed[12] = data_offset << 4 | fixed[12] & 0x0F
    return bytes(fixed) + area + payload


def _align(area: bytes, filler: bytes) -> bytes:
    """``area`` padded to a multiple of 4 with (the start of) ``filler``."""
    gap = -len(area) % 4
    return area + (filler + bytes(gap))[:gap]


@st.composite
def _defect_bytes(draw: st.DrawFn, defect: str) -> bytes:
    if defect == "data_offset_below_5":
        data = bytearray(_pack(_base(draw)))
        data[12] = draw(st.integers(0, 4)) << 4 | data[12] & 0x0F
        return bytes(data)
    if defect == "data_offset_past_buffer":
        data = bytearray(_pack(_base(draw, option_list=options(max_bytes=36, aligned=True), payload=0)))
        data[12] = draw(st.integers(len(data) // 4 + 1, 15)) << 4 | data[12] & 0x0F
        return bytes(data)
    if defect == "truncated_fixed_header":
        packed = _pack(_base(draw))
        return packed[:draw(st.integers(0, 19))]
    if defect == "truncated_options":
        segment = _base(draw, payload=0)
        if not segment.options:
            segment = segment.replace(options=[(OptionKind.NOP, None)] * 4)
        packed = _pack(segment)
        return packed[:draw(st.integers(20, len(packed) - 1))]
    if defect in ("option_length_0", "option_length_1", "option_past_header"):
        segment = _base(draw)
        prefix = _options_wire(draw(options(max_bytes=38, eol=False)))
        kind = draw(_LENGTH_KINDS)
        after = draw(st.binary(max_size=8))[:MAX_OPTIONS - len(prefix) - 2]
        area = _align(prefix + bytes(2) + after, draw(st.binary(max_size=3)))
        if defect == "option_past_header":
            room = len(area) - len(prefix)
            length = draw(st.integers(room + 1, 255))
        else:
            length = int(defect[-1])
        area = area[:len(prefix)] + bytes((kind, length)) + area[len(prefix) + 2:]
        return _assemble(segment, area, segment.payload)
    if defect == "option_length_missing":
        segment = _base(draw)
        prefix = _options_wire(draw(options(max_bytes=39, eol=False)))
        nops = b"\x01" * (-(len(prefix) + 1) % 4)
        area = prefix + nops + bytes((draw(_LENGTH_KINDS),))
        return _assemble(segment, area, segment.payload)
    if defect == "options_over_40":
        segment = _base(draw)
        prefix = _options_wire(draw(options(max_bytes=37, eol=False)))
        room = MAX_OPTIONS - len(prefix)
        kind = draw(st.one_of(st.just(_wire.SACK), _LENGTH_KINDS))
        length = draw(st.integers(room + 1, 255))
        body = draw(st.binary(min_size=length - 2, max_size=length - 2))
        spilled = prefix + bytes((kind, length)) + body
        return _assemble(segment, spilled[:MAX_OPTIONS], spilled[MAX_OPTIONS:] + segment.payload, 15)
    if defect == "wrong_option_length":
        segment = _base(draw)
        prefix = _options_wire(draw(options(max_bytes=28, eol=False)))
        kind = draw(st.sampled_from((_wire.MSS, _wire.WSCALE, _wire.SACK_PERMITTED,
                                     _wire.TIMESTAMPS, _wire.SACK)))
        room = MAX_OPTIONS - len(prefix)
        length = draw(st.sampled_from([n for n in range(2, room + 1) if not _length_ok(kind, n)]))
        body = draw(st.binary(min_size=length - 2, max_size=length - 2))
        suffix = draw(options(max_bytes=room - length))
        # Zeros to the next 4-byte boundary: an EOL and its padding, or more of the suffix's.
        area = _align(prefix + bytes((kind, length)) + body + _options_wire(suffix), b"")
        return _assemble(segment, area, segment.payload)
    if defect == "bytes_after_eol":
        segment = _base(draw)
        prefix = _options_wire(draw(options(max_bytes=35, eol=False)))
        size = -(len(prefix) + 1) % 4 or 4
        size += 4 * draw(st.integers(0, (MAX_OPTIONS - len(prefix) - 1 - size) // 4))
        tail = bytearray(draw(st.binary(min_size=size, max_size=size)))
        tail[draw(st.integers(0, size - 1))] = draw(st.integers(1, 255))
        return _assemble(segment, prefix + b"\0" + bytes(tail), segment.payload)
    if defect == "reserved_bits":
        return _pack(_base(draw, reserved=draw(st.integers(1, _wire.RESERVED_BITS))))
    if defect == "contradictory_flags":
        flags = st.builds(lambda bad, rest: Flags(bad | rest), st.sampled_from(_CONTRADICTIONS),
                          st.integers(0, _wire.FLAG_BITS))
        return _pack(_base(draw, flags=flags))
    if defect == "bad_checksum":
        return _pack(_base(draw))  # the checksum is broken by the caller, who has the addresses
    raise AssertionError(defect)  # pragma: no cover - names are checked up front


def _length_ok(kind: int, length: int) -> bool:
    if kind == _wire.SACK:
        return length >= 10 and (length - 2) % _wire.SACK_BLOCK_LEN == 0
    return length == _wire.FIXED_LENGTHS[kind]


@st.composite
def _malformed(draw: st.DrawFn, pool: Tuple[str, ...], src: Any, dst: Any) -> bytes:
    defect = draw(st.sampled_from(pool))
    data = draw(_defect_bytes(defect))
    if src is None:
        return data
    source, destination = draw(_constraint(src)), draw(_constraint(dst))
    if defect == "bad_checksum":
        return _wrong_checksum(data, source, destination, draw(st.integers(1, U16)))
    if len(data) < _wire.HEADER_LEN:
        return data  # no checksum field to put right
    return _with_checksum(data, source, destination)


def malformed_segments(defect: Union[str, Iterable[str], None] = None, *,
                       src: Optional[Constraint[Address]] = None,
                       dst: Optional[Constraint[Address]] = None) -> st.SearchStrategy[bytes]:
    """Near-valid segment bytes with exactly one defect named in :data:`DEFECTS`.

    ``defect`` picks one name, several (an iterable), or (None) any of them;
    :data:`DEFECT_ERRORS` says which DecodeError strict ``unpack`` raises for
    each, or None where the bytes decode.  Where strict decoding raises,
    lenient decoding (``strict=False``) lists the same problem as its first
    anomaly (the only one, except after ``truncated_options``), and it raises
    the same TruncatedSegment for ``truncated_fixed_header``.

    With ``src`` and ``dst`` (addresses or strategies for them) every
    segment carries the checksum that is right for its bytes, except for the
    ``bad_checksum`` defect, which needs them; without addresses the
    checksum is random and ``defect=None`` leaves ``bad_checksum`` out.
    """
    if (src is None) != (dst is None):
        raise InvalidArgument("src and dst go together")
    if defect is None:
        pool = tuple(d for d in DEFECTS if src is not None or d != "bad_checksum")
    else:
        pool = (defect,) if isinstance(defect, str) else tuple(defect)
    for name in pool:
        if name not in DEFECT_ERRORS:
            raise InvalidArgument(f"unknown defect {name!r}; defects are {', '.join(DEFECTS)}")
        if name == "bad_checksum" and src is None:
            raise InvalidArgument("the bad_checksum defect needs src and dst")
    if not pool:
        raise InvalidArgument("no defect to choose from")
    return _malformed(pool, src, dst)


# ---------------------------------------------------------------- random headers

#: Option-like byte runs: a NOP or EOL, or a kind, a length (often a right one) and data.
_OPTION_ISH = st.one_of(
    st.sampled_from((b"\x01", b"\x00")),
    st.builds(lambda kind, data: bytes((kind, 2 + len(data))) + data,
              st.sampled_from((2, 3, 4, 5, 8, 19, 30, 34, 254)), st.binary(max_size=12)),
    st.builds(lambda kind, length, data: bytes((kind, length)) + data,
              st.one_of(st.sampled_from(sorted(_SPECIAL)), _u8),
              st.one_of(st.integers(0, 12), _u8), st.binary(max_size=12)),
)


@st.composite
def _raw(draw: st.DrawFn, max_payload: int) -> bytes:
    area = b"".join(draw(st.lists(_OPTION_ISH, max_size=8)))[:MAX_OPTIONS]
    area = _align(area, draw(st.binary(min_size=3, max_size=3)))
    payload = draw(st.binary(max_size=max_payload))
    matching = 5 + len(area) // 4
    data_offset = draw(st.one_of(st.just(matching), st.integers(5, 15), st.integers(0, 15)))
    fixed = bytearray(draw(st.binary(min_size=20, max_size=20)))
    fixed[12] = data_offset << 4 | fixed[12] & 0x0F
    return bytes(fixed) + area + payload


def raw_segments(*, max_payload: int = 64) -> st.SearchStrategy[bytes]:
    """Random bytes behind a plausible header, to test that a parser never breaks.

    At least 20 bytes: random fixed fields, then option-like bytes (kinds
    that mean something, lengths that are often right, sometimes 0, 1 or
    too long) up to 40 bytes and a payload of up to ``max_payload``.  The
    data offset usually matches the option bytes, sometimes it is any value
    from 5 to 15 and sometimes below 5.  Most of these do not decode
    strictly; lenient decoding takes them all.
    """
    if max_payload < 0:
        raise InvalidArgument(f"max_payload must be >= 0, got {max_payload!r}")
    return _raw(max_payload)


# ---------------------------------------------------------------- window-aware segments

#: The categories of :func:`window_segments`, and what RFC 9293 with RFC 5961 and
#: RFC 7323 (as fastseg.conn implements them) make of each in a synchronized state:
WINDOW_CATEGORIES: Tuple[str, ...] = (
    "rst_exact",          # RST at RCV.NXT: the connection is reset (CLOSED)
    "rst_in_window",      # RST in the window, not at RCV.NXT: challenge ACK, state kept
    "rst_out_of_window",  # RST outside the window: dropped silently
    "syn_in_window",      # SYN (or SYN,ACK) in the window: challenge ACK, state kept
    "ack_too_old",        # ACK below SND.UNA - MAX.SND.WND: ACK sent, segment dropped
    "ack_unsent",         # ACK above SND.NXT, of data never sent: ACK sent, segment dropped
    "data_in_window",     # acceptable ACK and data inside the window: accepted
    "stale_timestamp",    # TSval older than TS.Recent (PAWS): ACK sent, segment dropped
    "antipodal",          # SEQ or ACK exactly 2**31 from RCV.NXT / SND.NXT: ACK sent, dropped
)


def _check_window(conn: Connection, category: str, ts_recent: Optional[int]) -> None:
    if not conn.state.synchronized or conn.remote is None:
        raise InvalidArgument(f"window_segments needs a synchronized connection, not {conn.state.value}")
    if category == "stale_timestamp" and ts_recent is None:
        raise InvalidArgument("stale_timestamp needs ts_recent (the peer's last TSval)")
    if category == "rst_in_window" and conn.rcv_wnd < 2:
        raise InvalidArgument(f"no in-window RST but the exact one: RCV.WND is {conn.rcv_wnd}")
    if category == "data_in_window" and conn.rcv_wnd < 1:
        raise InvalidArgument("no data fits in a zero receive window")


@st.composite
def _window_segment(draw: st.DrawFn, conn: Connection, categories: Tuple[str, ...],
                    payload_size: Tuple[int, int], max_snd_wnd: Optional[int],
                    ts_recent: Optional[int]) -> Segment:
    category = draw(st.sampled_from(categories))
    _check_window(conn, category, ts_recent)
    assert conn.remote is not None
    rcv_nxt, rcv_wnd, snd_una, snd_nxt = conn.rcv_nxt, conn.rcv_wnd, conn.snd_una, conn.snd_nxt

    def offset(low: int, high: int) -> int:
        return draw(st.integers(low, max(low, high)))

    fields: Dict[str, Any] = {"src_port": conn.remote[1], "dst_port": conn.local[1],
                              "seq": rcv_nxt, "ack": snd_nxt, "flags": Flags.ACK}
    if category.startswith("rst"):
        fields["flags"] = draw(st.sampled_from((Flags.RST, Flags.RST | Flags.ACK)))
        fields["window"] = 0
        if not fields["flags"] & Flags.ACK:
            fields["ack"] = 0
        if category == "rst_in_window":
            fields["seq"] = seq_add(rcv_nxt, offset(1, rcv_wnd - 1))
        elif category == "rst_out_of_window":
            away = draw(st.one_of(
                st.sampled_from((rcv_wnd, -1, 2**31)),
                st.integers(rcv_wnd, 2**31),
                st.integers(1, 2**31).map(lambda n: -n),
            ))
            fields["seq"] = seq_add(rcv_nxt, max(away, 1) if away >= 0 else away)
        return Segment(**fields)

    low, high = payload_size
    if category == "syn_in_window":
        fields["flags"] = draw(st.sampled_from((Flags.SYN, Flags.SYN | Flags.ACK)))
        if fields["flags"] == Flags.SYN:
            fields["ack"] = 0
        fields["seq"] = seq_add(rcv_nxt, offset(0, rcv_wnd - 1))
        size = 0
    else:
        if category == "data_in_window":
            low = max(low, 1)
        size = min(draw(st.integers(low, max(low, high))), rcv_wnd)
        # In the window: the last byte of data, or an empty segment's SEQ itself, below
        # RCV.NXT + RCV.WND (RFC 9293 §3.10.7.4).
        fields["seq"] = seq_add(rcv_nxt, offset(0, rcv_wnd - max(size, 1)))
        fields["flags"] = Flags.ACK | (Flags.PSH if size and draw(st.booleans()) else 0)
    fields["window"] = draw(st.one_of(st.just(U16), _u16))

    if category == "ack_too_old":
        largest = _LARGEST_WINDOW if max_snd_wnd is None else max_snd_wnd
        flight = seq_diff(snd_nxt, snd_una)
        fields["ack"] = seq_add(snd_una, -offset(largest + 1, 2**31 - 1 - flight))
    elif category == "ack_unsent":
        fields["ack"] = seq_add(snd_nxt, offset(1, 2**31 - 1))
    elif category == "data_in_window":
        fields["ack"] = seq_add(snd_nxt, -offset(0, seq_diff(snd_nxt, snd_una)))
    elif category == "antipodal":
        which = draw(st.sampled_from(("seq", "ack", "both")))
        if which != "ack":
            fields["seq"] = seq_add(rcv_nxt, 2**31)
        if which != "seq":
            fields["ack"] = seq_add(snd_nxt, 2**31)

    if ts_recent is not None:
        if category == "stale_timestamp":
            tsval = seq_add(ts_recent, -offset(1, 2**31 - 1))
        else:
            tsval = seq_add(ts_recent, offset(0, 2**31 - 1))
        fields["options"] = ((OptionKind.NOP, None), (OptionKind.NOP, None),
                             (OptionKind.TIMESTAMPS, (tsval, 0)))
    fields["payload"] = draw(st.binary(min_size=size, max_size=size))
    return Segment(**fields)


def window_segments(conn: Connection, category: Union[str, Iterable[str], None] = None, *,
                    payload_size: Size = 16, max_snd_wnd: Optional[int] = None,
                    ts_recent: Optional[int] = None) -> st.SearchStrategy[Segment]:
    """Segments from ``conn``'s peer aimed at its windows, in one of :data:`WINDOW_CATEGORIES`.

    ``conn`` is a :class:`fastseg.conn.Connection` in a synchronized state
    (ESTABLISHED and later); its public ``rcv_nxt``, ``rcv_wnd``, ``snd_una``,
    ``snd_nxt``, ``local`` and ``remote`` are read when each example is drawn,
    so draw after bringing the connection into the state to attack.  Send the
    segments from ``conn.remote`` to ``conn.local``.  ``category`` picks one
    name, several, or (None) any but ``stale_timestamp`` unless ``ts_recent``
    is given.

    Two quantities the RFCs use are not public, so they are bounded or passed in:

    - ``max_snd_wnd`` (MAX.SND.WND, RFC 5961 §5.2): the largest window the peer
      announced.  Without it ``ack_too_old`` stays below SND.UNA - 2**30,
      past any window a peer can announce.
    - ``ts_recent`` (TS.Recent, RFC 7323): in practice the TSval of the last
      in-order segment the peer sent (the connection echoes it as TSecr in what
      it sends next).  Given, every segment but a RST carries a timestamps
      option with TSval at or after it (so that PAWS passes it), except
      ``stale_timestamp``'s, whose TSval is before it; that category needs it.

    ``ack_unsent`` uses SND.NXT as the highest sequence number sent; after a
    retransmission timeout has moved SND.NXT back, ACKs just above it are
    acceptable, so draw when nothing is outstanding.  ``payload_size`` (the
    largest, or ``(min, max)``) sizes the data of the non-RST, non-SYN
    categories, capped by RCV.WND; ``data_in_window`` has at least one byte.
    """
    if category is None:
        pool = tuple(c for c in WINDOW_CATEGORIES if ts_recent is not None or c != "stale_timestamp")
    else:
        pool = (category,) if isinstance(category, str) else tuple(category)
    for name in pool:
        if name not in WINDOW_CATEGORIES:
            raise InvalidArgument(f"unknown category {name!r}; categories are {', '.join(WINDOW_CATEGORIES)}")
    if not pool:
        raise InvalidArgument("no category to choose from")
    if max_snd_wnd is not None and not 0 <= max_snd_wnd <= _LARGEST_WINDOW:
        raise InvalidArgument(f"max_snd_wnd must be in [0, {_LARGEST_WINDOW}], got {max_snd_wnd!r}")
    return _window_segment(conn, pool, _size_range(payload_size, "payload_size"), max_snd_wnd, ts_recent)
