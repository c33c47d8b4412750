"""Unit tests of unpack / pack / pack_into, run against both twins."""

from __future__ import annotations

import array
import ipaddress
import itertools
import struct

import pytest
from segment_gen import unchecked

from fastseg import (
    BadDataOffset,
    BadOption,
    DecodeError,
    EncodeError,
    FastsegError,
    Flags,
    OptionKind,
    Segment,
    TruncatedSegment,
)


def header(*, doff: int = 5, flags: int = 0x18, reserved: int = 0, options: bytes = b"",
           payload: bytes = b"", checksum: int = 0xBEEF) -> bytes:
    """A segment built by hand with struct, independent of the codec under test."""
    word = doff << 12 | reserved << 9 | flags
    fixed = struct.pack("!HHIIHHHH", 40000, 80, 0xFFFFFFF0, 0x12345678, word, 502, checksum, 7)
    return fixed + options + payload


SYN_OPTIONS = bytes.fromhex("020405b4" "0402" "080a0001e2400000000001" "030307")[:20]


def test_fixed_fields(impl):
    seg = impl.unpack(header(flags=0x1FF, reserved=5, payload=b"data"))
    assert (seg.src_port, seg.dst_port, seg.seq, seg.ack) == (40000, 80, 0xFFFFFFF0, 0x12345678)
    assert (seg.header_len, seg.window, seg.checksum, seg.urgent) == (20, 502, 0xBEEF, 7)
    assert seg.flags == Flags(0x1FF) and isinstance(seg.flags, Flags)
    assert seg.flags & Flags.AE and seg.flags & Flags.FIN
    assert seg.reserved == 5
    assert seg.options == () and seg.payload == b"data" and seg.anomalies == ()


@pytest.mark.parametrize("bit", range(12))
def test_every_bit_after_data_offset(impl, bit):
    word = 1 << bit
    raw = header(flags=word & 0x1FF, reserved=word >> 9)
    seg = impl.unpack(raw)
    assert int(seg.flags) | seg.reserved << 9 == word
    assert impl.pack(seg) == raw


def test_syn_options(impl):
    options = bytes.fromhex("020405b4 0402 080a 0001e240 00000000 01 030307".replace(" ", ""))
    seg = impl.unpack(header(doff=10, flags=0x02, options=options))
    assert seg.options == (
        (OptionKind.MSS, 1460), (OptionKind.SACK_PERMITTED, None),
        (OptionKind.TIMESTAMPS, (123456, 0)), (OptionKind.NOP, None), (OptionKind.WSCALE, 7),
    )
    assert all(type(kind) is OptionKind for kind, _ in seg.options)
    assert (seg.mss, seg.wscale, seg.sack_permitted, seg.timestamps) == (1460, 7, True, (123456, 0))
    assert seg.sack_blocks is None
    assert seg.seg_len == 1


def test_sack_blocks(impl):
    sack = bytes.fromhex("0101 051a".replace(" ", "")) + struct.pack("!6I", 1, 2, 3, 4, 0xFFFFFFFF, 0)
    seg = impl.unpack(header(doff=12, options=sack))
    assert seg.sack_blocks == ((1, 2), (3, 4), (0xFFFFFFFF, 0))
    assert seg.options[2][0] is OptionKind.SACK
    assert seg.mss is None and seg.wscale is None and seg.timestamps is None
    assert not seg.sack_permitted


# Either side of the 30-bit digit boundary of CPython's ints, and the ends of the range.
EDGES = (0, 1, 255, 2**30 - 1, 2**30, 2**31, 2**32 - 2, 2**32 - 1)


@pytest.mark.parametrize("sack", [False, True])
@pytest.mark.parametrize("layout", ["0101080a", "080a0101", "01010101080a0101"])
def test_32_bit_values_decode_exactly(impl, layout, sack):
    """seq, ack, timestamps and SACK edges either side of the digit boundary, with
    the timestamps alone in RFC 7323's aligned layout (a fast path) and otherwise."""
    before, after = bytes.fromhex(layout).split(bytes.fromhex("080a"))
    for low, high in itertools.combinations(EDGES, 2):
        options = before + bytes.fromhex("080a") + struct.pack("!II", high, low) + after
        if sack:
            options += bytes.fromhex("0101050a") + struct.pack("!II", low, high)
        raw = struct.pack("!HHIIHHHH", 1, 2, low, high, (5 + len(options) // 4) << 12 | 0x10, 3, 0, 0)
        seg = impl.unpack(raw + options)
        values = (seg.seq, seg.ack, *seg.timestamps, *(seg.sack_blocks[0] if sack else (low, high)))
        assert values == (low, high, high, low, low, high)
        assert all(type(value) is int for value in values)
        assert len(seg.options) == len(before) + 1 + len(after) + 3 * sack


def test_unknown_kinds_keep_raw_data(impl):
    md5 = bytes([19, 18]) + bytes(range(16))
    other = bytes([99, 4, 0xAB, 0xCD])
    seg = impl.unpack(header(doff=11, options=md5 + other + b"\x01\x01"))
    assert seg.options[0] == (OptionKind.MD5, bytes(range(16)))
    assert seg.options[1] == (99, b"\xab\xcd") and type(seg.options[1][0]) is int


def test_eol_keeps_what_follows(impl):
    raw = header(doff=7, options=bytes.fromhex("010100ff00000011"))
    seg = impl.unpack(raw)
    assert seg.options == ((OptionKind.NOP, None), (OptionKind.NOP, None),
                           (OptionKind.EOL, bytes.fromhex("ff00000011")))
    assert impl.pack(seg) == raw


def test_eol_last_byte(impl):
    seg = impl.unpack(header(doff=6, options=bytes.fromhex("01010100")))
    assert seg.options[-1] == (OptionKind.EOL, b"")


@pytest.mark.parametrize(
    ("raw", "error", "offset", "reason"),
    [
        (bytes(19), TruncatedSegment, 19, "fewer than 20 bytes (19)"),
        (b"", TruncatedSegment, 0, "fewer than 20 bytes (0)"),
        (header(doff=4), BadDataOffset, 12, "data offset 4 below 5"),
        (header(doff=0), BadDataOffset, 12, "data offset 0 below 5"),
        (header(doff=6), TruncatedSegment, 12, "header length 24 exceeds the 20 bytes given"),
        (header(doff=6, options=b"\x01\x01\x01\x02"), BadOption, 23,
         "option kind 2 has no length byte"),
        (header(doff=6, options=b"\x01\x1e\x01\x01"), BadOption, 21,
         "option kind 30 length 1 below 2"),
        (header(doff=6, options=b"\x01\x1e\x00\x01"), BadOption, 21,
         "option kind 30 length 0 below 2"),
        (header(doff=6, options=b"\x01\x22\x04\x00"), BadOption, 21,
         "option kind 34 length 4 runs past the header (3 bytes left)"),
        (header(doff=6, options=b"\x02\x03\x05\x00"), BadOption, 20,
         "MSS option length 3, expected 4"),
        (header(doff=6, options=b"\x03\x04\x05\x00"), BadOption, 20,
         "window scale option length 4, expected 3"),
        (header(doff=6, options=b"\x04\x03\x00\x00"), BadOption, 20,
         "SACK-permitted option length 3, expected 2"),
        (header(doff=6, options=b"\x05\x02\x00\x00"), BadOption, 20,
         "SACK option length 2, expected 2 + 8n with n >= 1"),
        (header(doff=8, options=b"\x05\x0c" + bytes(10)), BadOption, 20,
         "SACK option length 12, expected 2 + 8n with n >= 1"),
        (header(doff=8, options=b"\x08\x0c" + bytes(10)), BadOption, 20,
         "timestamps option length 12, expected 10"),
    ],
)
def test_strict_errors(impl, raw, error, offset, reason):
    with pytest.raises(error) as info:
        impl.unpack(raw)
    exc = info.value
    assert type(exc) is error
    assert isinstance(exc, DecodeError) and isinstance(exc, ValueError)
    assert isinstance(exc, FastsegError)
    assert (exc.offset, exc.reason) == (offset, reason)
    assert str(exc) == f"{reason} (at byte {offset})"
    if len(raw) >= 20:
        lenient = impl.unpack(raw, strict=False)
        assert lenient.anomalies[0].exception().args == exc.args
        assert lenient.anomalies[0].error is error


def test_lenient_keeps_everything(impl):
    # A wrong MSS length is kept raw and the walk goes on; an overrun ends it.
    options = b"\x02\x03\x05" + b"\x01" + b"\x03\x03\x07" + b"\x01" + b"\x22\x09\xaa\xbb"
    raw = header(doff=8, options=options, payload=b"xyz")
    seg = impl.unpack(raw, strict=False)
    assert seg.options == (
        (OptionKind.MSS, b"\x05"), (OptionKind.NOP, None), (OptionKind.WSCALE, 7),
        (OptionKind.NOP, None), (None, b"\x22\x09\xaa\xbb"),
    )
    assert [a.error for a in seg.anomalies] == [BadOption, BadOption]
    assert [a.offset for a in seg.anomalies] == [20, 28]
    assert seg.wscale == 7 and seg.mss is None
    assert seg.payload == b"xyz"
    assert impl.pack(seg) == raw


def test_lenient_truncated_header(impl):
    raw = header(doff=15, options=b"\x02\x04\x05\xb4\x01\x08\x0a\x00")
    seg = impl.unpack(raw, strict=False)
    assert seg.header_len == 60 and seg.payload == b""
    assert seg.options[:2] == ((OptionKind.MSS, 1460), (OptionKind.NOP, None))
    assert seg.options[2] == (None, b"\x08\x0a\x00")
    assert [a.error for a in seg.anomalies] == [TruncatedSegment, BadOption]


def test_lenient_small_data_offset(impl):
    raw = header(doff=2, payload=b"abc")
    seg = impl.unpack(raw, strict=False)
    assert seg.header_len == 8 and seg.options == () and seg.payload == b"abc"
    assert seg.anomalies[0].error is BadDataOffset
    assert impl.pack(seg) == raw


def test_lenient_short_still_raises(impl):
    with pytest.raises(TruncatedSegment):
        impl.unpack(bytes(10), strict=False)


def test_wrong_checksum_survives(impl):
    raw = header(checksum=0x0BAD, payload=b"p")
    assert impl.pack(impl.unpack(raw)) == raw
    assert not impl.verify_checksum("10.0.0.1", "10.0.0.2", raw)


@pytest.mark.parametrize(
    "make",
    [bytes, bytearray, memoryview, lambda b: array.array("B", b),
     lambda b: memoryview(b"??" + b + b"!!")[2:-2], lambda b: memoryview(bytearray(b)).toreadonly()],
    ids=["bytes", "bytearray", "memoryview", "array", "slice", "readonly"],
)
def test_buffer_types(impl, make):
    raw = header(doff=6, options=b"\x02\x04\x05\xb4", payload=b"hello")
    assert impl.unpack(make(raw)) == impl.unpack(raw)


def test_non_contiguous_buffer_reads_logical_order(impl):
    raw = header(payload=b"0123456789")
    doubled = bytes(b for pair in zip(raw, b"?" * len(raw)) for b in pair)
    assert impl.unpack(memoryview(doubled)[::2]) == impl.unpack(raw)
    two_d = memoryview(bytearray(raw)).cast("B", (3, len(raw) // 3))
    assert impl.unpack(two_d) == impl.unpack(raw)


@pytest.mark.parametrize("junk", ["text", 42, None, [1, 2]])
def test_not_a_buffer(impl, junk):
    with pytest.raises(TypeError, match="a bytes-like object is required"):
        impl.unpack(junk)


# ---------------------------------------------------------------- pack


def test_constructor_defaults_and_header_len():
    seg = Segment()
    assert (seg.src_port, seg.seq, seg.flags, seg.window, seg.header_len) == (0, 0, Flags(0), 65535, 20)
    seg = Segment(flags=0x12, options=[(2, 1460), (4, None), (1, None)])
    assert seg.flags is Flags.SYN | Flags.ACK
    assert seg.header_len == 28  # 7 option bytes padded to 8
    assert seg.options[0] == (OptionKind.MSS, 1460) and type(seg.options[0][0]) is OptionKind
    assert seg.replace(options=()).header_len == 20
    assert seg.replace(options=(), header_len=24).header_len == 24
    assert seg.replace(seq=5).header_len == 28 and seg.replace(seq=5).seq == 5
    with pytest.raises(TypeError, match="no field 'sequence'"):
        seg.replace(sequence=1)
    with pytest.raises(TypeError):
        Segment(payload=5)  # bytes(5) would silently be five zero bytes
    assert Segment(payload=memoryview(b"abcdef")[::2]).payload == b"ace"


def test_equality_hash_repr():
    a = Segment(src_port=1, dst_port=2, flags=Flags.SYN, options=[(2, 1460)], payload=b"x" * 40)
    b = Segment(src_port=1, dst_port=2, flags=2, options=((2, 1460),), payload=bytearray(b"x" * 40))
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(window=1)
    text = repr(a)
    assert text.startswith("Segment(src_port=1, dst_port=2,") and "flags=SYN" in text
    assert "MSS=1460" in text and "(40 bytes)" in text


def test_pack_pads_options(impl):
    seg = Segment(src_port=1, dst_port=2, options=[(OptionKind.MSS, 536), (OptionKind.WSCALE, 2)])
    raw = impl.pack(seg)
    assert len(raw) == 28 and raw[12] >> 4 == 7
    assert raw[20:] == bytes.fromhex("0204021803030200")


def test_pack_explicit_header_len(impl):
    raw = impl.pack(Segment(header_len=32, payload=b"p"))
    assert raw[12] >> 4 == 8 and raw[20:32] == bytes(12) and raw[32:] == b"p"


def test_pack_into(impl):
    seg = Segment(src_port=7, options=[(2, 1400)], payload=b"abc")
    buffer = bytearray(b"\xee" * 40)
    assert impl.pack_into(buffer, 5, seg) == 27
    assert bytes(buffer[5:32]) == impl.pack(seg)
    assert buffer[:5] == b"\xee" * 5 and buffer[32:] == b"\xee" * 8
    before = bytes(buffer)
    with pytest.raises(EncodeError) as info:
        impl.pack_into(buffer, 20, seg)
    assert info.value.field == "buffer" and bytes(buffer) == before
    with pytest.raises(TypeError):
        impl.pack_into(bytes(40), 0, seg)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"src_port": 65536}, "src_port"), ({"dst_port": -1}, "dst_port"),
        ({"seq": 2**32}, "seq"), ({"ack": 1.5}, "ack"), ({"flags": 0x200}, "flags"),
        ({"reserved": 8}, "reserved"), ({"window": 70000}, "window"),
        ({"checksum": 2**16}, "checksum"), ({"urgent": "1"}, "urgent"),
        ({"header_len": 64}, "header_len"), ({"header_len": 22}, "header_len"),
        ({"options": [(2, 1460)], "header_len": 20}, "header_len"),
        ({"options": [(2, 70000)]}, "options[0]"), ({"options": [(1, None), (3, 256)]}, "options[1]"),
        ({"options": [(256, b"")]}, "options[0]"), ({"options": [(8, (1,))]}, "options[0]"),
        ({"options": [(5, ())]}, "options[0]"), ({"options": [(19, 5)]}, "options[0]"),
        ({"options": [(19, bytes(254))]}, "options[0]"),
        ({"options": [(1, None)] * 41, "header_len": 60}, "options"),
        ({"options": [(5, ((1, 2),) * 32)], "header_len": 60}, "options[0]"),
    ],
)
def test_pack_errors_name_the_field(impl, changes, field):
    seg = unchecked(**changes)
    with pytest.raises(EncodeError) as info:
        impl.pack(seg)
    assert info.value.field == field
    assert isinstance(info.value, ValueError) and isinstance(info.value, FastsegError)
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize("value", [2**30 - 1, 2**30, 2**31, 2**32 - 1, 2**32, 2**60 - 1, 2**60, 2**64,
                                   -1, -(2**30), -(2**60)])
def test_pack_int_digit_edges(impl, value):
    """seq around CPython's 30-bit int digit edges: encoded when in range, refused when not."""
    seg = unchecked(seq=value, ack=IntSubclass(value) if 0 <= value < 2**32 else 0)
    if 0 <= value < 2**32:
        back = impl.unpack(impl.pack(seg))
        assert (back.seq, back.ack) == (value, value)
    else:
        with pytest.raises(EncodeError) as info:
            impl.pack(seg)
        assert info.value.field == "seq"


class IntSubclass(int):
    """An int subclass, whose digits the compiled twin reads as an int's."""


@pytest.mark.parametrize(
    ("src", "dst", "field"),
    [("10.0.0.1", None, "dst"), (None, "::1", "src"), ("10.0.0.1", "::1", "dst"),
     ("nonsense", "10.0.0.1", "src"), (b"\x01\x02\x03", b"\x01\x02\x03", "src"), (1, 2, "src")],
)
def test_pack_address_errors(impl, src, dst, field):
    with pytest.raises(EncodeError) as info:
        impl.pack(Segment(), src=src, dst=dst)
    assert info.value.field == field


class LongPackedV4(ipaddress.IPv4Address):
    """An IPv4 address whose ``packed`` is 4 KiB long."""

    @property
    def packed(self) -> bytes:
        return bytes(4096)


class ShortPackedV6(ipaddress.IPv6Address):
    """An IPv6 address whose ``packed`` is 4 bytes, as if it were IPv4."""

    @property
    def packed(self) -> bytes:
        return bytes(4)


class ShortBytes(bytes):
    """Bytes that call themselves 16 long, whatever they hold."""

    def __bytes__(self) -> bytes:
        return self

    def __len__(self) -> int:
        return 16


@pytest.mark.parametrize(("src", "dst", "message"), [
    (LongPackedV4("10.0.0.1"), LongPackedV4("10.0.0.2"), "packed is not the address's"),
    (ShortPackedV6("::1"), "10.0.0.2", "packed is not the address's"),
    (ShortBytes(b"\1" * 4000), ShortBytes(b"\2" * 4000), "4 or 16 bytes, got 4000"),
])
def test_addresses_that_lie_about_their_size_are_refused(impl, src, dst, message):
    # The compiled twins copy an address's bytes into a fixed-size pseudo-header.
    wire = impl.pack(Segment())
    calls = (lambda: impl.pack(Segment(), src=src, dst=dst),
             lambda: impl.pack_into(bytearray(40), 0, Segment(), src=src, dst=dst),
             lambda: impl.tcp_checksum(src, dst, wire), lambda: impl.verify_checksum(src, dst, wire))
    for call in calls:
        with pytest.raises(EncodeError, match=message) as info:
            call()
        assert info.value.field == "src"


def test_pack_ipv4_length_limit(impl):
    with pytest.raises(EncodeError, match="65535"):
        impl.pack(Segment(payload=bytes(65536)), src="10.0.0.1", dst="10.0.0.2")
    raw = impl.pack(Segment(payload=bytes(65536)), src="fe80::1", dst="fe80::2")
    assert impl.verify_checksum("fe80::1", "fe80::2", raw)


def test_constructor_rejects_unencodable_options_like_pack(impl):
    with pytest.raises(EncodeError) as built:
        Segment(options=[(1, None), (2, 70000)])
    with pytest.raises(EncodeError) as packed:
        impl.pack(unchecked(options=((1, None), (2, 70000))))
    assert built.value.args == packed.value.args == ("options[1]", "must be an int in [0, 65535], got 70000")
