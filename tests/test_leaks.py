"""No memory growth over many calls, on success and on every error path."""

from __future__ import annotations

import contextlib
import sys

from segment_gen import unchecked

from fastseg import DecodeError, EncodeError

GOOD = bytes.fromhex(
    "d516b7992268535db182f01a8018003f8ebe00000101080a27b2cd351de0832a48454c4c4f20666173747365670a"
)
SACK = bytes.fromhex("d516b7992268535db182f01a8010003f00000000" "0101051a") + bytes(24)
SACK = SACK[:12] + bytes([0xC0]) + SACK[13:]
BAD = [bytes(10), GOOD[:12] + b"\x40" + GOOD[13:], GOOD[:12] + b"\xf0" + GOOD[13:],
       GOOD[:20] + b"\x02\x03\x05\x01" + GOOD[24:], GOOD[:20] + b"\x08\x01" + GOOD[22:]]
UNENCODABLE = [unchecked(seq=2**32), unchecked(options=((2, 2**20),))]


def _cycle(impl) -> None:
    for raw in (GOOD, SACK):
        assert impl.unpack(raw).seq == impl.unpack(bytearray(raw)).seq  # options never decoded
        assert impl.unpack(raw).payload == raw[impl.unpack(raw).header_len:]  # one of the two
        segment = impl.unpack(memoryview(raw))
        impl.pack(segment, src=b"\x0a\x00\x00\x01", dst="10.0.0.2")
        impl.pack_into(bytearray(200), 3, segment)
        impl.verify_checksum("10.0.0.1", "10.0.0.2", bytearray(raw))
    for raw in BAD:
        with contextlib.suppress(DecodeError):
            impl.unpack(raw)
        if len(raw) >= 20:
            impl.unpack(raw, strict=False)
    for segment in UNENCODABLE:
        with contextlib.suppress(EncodeError):
            impl.pack(segment)
    impl.update_checksum(0x1234, GOOD[:6], GOOD[6:12])
    impl.seq_add(2**32 - 1, 2**70)


def test_no_growth(impl):
    for _ in range(2000):  # warm caches (flag objects, interned strings)
        _cycle(impl)
    before = sys.getallocatedblocks()
    for _ in range(20000):
        _cycle(impl)
    grown = sys.getallocatedblocks() - before
    assert grown < 200, f"{grown} blocks more after 20000 cycles"
