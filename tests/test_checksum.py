"""Known answers and argument handling of the checksum functions, against both twins."""

from __future__ import annotations

import ipaddress

import pytest

from fastseg import EncodeError, Segment, TruncatedSegment
from fastseg._addr import packed


def test_rfc1071_example(impl):
    # RFC 1071 §3: these bytes sum to 0xddf2, so the checksum is its complement.
    assert impl.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert impl.internet_checksum(bytes.fromhex("0001f203f4f5f6f7"), 0x0001) == 0x220C


def test_edges(impl):
    assert impl.internet_checksum(b"") == 0xFFFF
    assert impl.internet_checksum(b"", 0x1234) == 0xEDCB
    assert impl.internet_checksum(b"\x01") == 0xFEFF  # odd byte padded with zero: 0x0100
    assert impl.internet_checksum(b"\xff\xff") == 0x0000
    assert impl.internet_checksum(b"\xff" * 65537) == 0x00FF
    assert impl.internet_checksum(memoryview(b"\x00\x01\x00\x02")[::2]) == 0xFFFF - 0x0000
    assert impl.internet_checksum(bytearray(b"\x12\x34")) == 0xEDCB


@pytest.mark.parametrize("initial", [-1, 0x10000, 1.0, "0"])
def test_bad_initial(impl, initial):
    with pytest.raises(ValueError, match="initial must be an int"):
        impl.internet_checksum(b"ab", initial)


def test_rfc1624_example(impl):
    # RFC 1624 §4: HC 0xdd2f, m 0x5555 -> m' 0x3285 gives 0x0000 by eqn. 3 (not -0).
    assert impl.update_checksum(0xDD2F, b"\x55\x55", b"\x32\x85") == 0x0000


def test_update_matches_recompute_on_port_rewrite(impl):
    seg = Segment(src_port=40000, dst_port=80, seq=1, ack=2, flags=0x18, payload=b"GET /")
    raw = impl.pack(seg, src="192.0.2.1", dst="198.51.100.7")
    rewritten = impl.pack(seg.replace(src_port=12345), src="192.0.2.1", dst="198.51.100.7")
    old_sum = int.from_bytes(raw[16:18], "big")
    assert impl.update_checksum(old_sum, raw[0:2], rewritten[0:2]) == int.from_bytes(rewritten[16:18], "big")
    # Rewriting the IPv4 source address (NAT) touches the pseudo-header only.
    moved = impl.pack(seg, src="203.0.113.9", dst="198.51.100.7")
    new_sum = impl.update_checksum(old_sum, ipaddress.ip_address("192.0.2.1").packed,
                                   ipaddress.ip_address("203.0.113.9").packed)
    assert new_sum == int.from_bytes(moved[16:18], "big")


def test_update_argument_errors(impl):
    with pytest.raises(ValueError, match="differ in length"):
        impl.update_checksum(0, b"ab", b"abc")
    with pytest.raises(ValueError, match="checksum must be an int"):
        impl.update_checksum(0x10000, b"ab", b"cd")


@pytest.mark.parametrize(
    ("src", "dst"),
    [("192.0.2.1", "198.51.100.7"), (b"\xc0\x00\x02\x01", b"\xc6\x33\x64\x07"),
     (ipaddress.ip_address("2001:db8::1"), ipaddress.ip_address("2001:db8::2")),
     ("2001:db8::1", b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02")],
)
def test_tcp_checksum_and_verify(impl, src, dst):
    raw = impl.pack(Segment(src_port=1, dst_port=2, flags=2, payload=b"odd"), src=src, dst=dst)
    assert impl.verify_checksum(src, dst, raw)
    assert impl.tcp_checksum(src, dst, raw) == int.from_bytes(raw[16:18], "big")
    broken = raw[:16] + bytes(2) + raw[18:]
    assert not impl.verify_checksum(src, dst, broken)
    assert impl.tcp_checksum(src, dst, broken) == int.from_bytes(raw[16:18], "big")
    # The pseudo-header sum is symmetric in the addresses, so only other addresses fail.
    assert impl.verify_checksum(dst, src, raw)
    assert not impl.verify_checksum(src, bytes(len(packed(dst, "dst"))), raw)


def test_short_segment_and_jumbogram(impl):
    with pytest.raises(TruncatedSegment):
        impl.tcp_checksum("10.0.0.1", "10.0.0.2", bytes(19))
    jumbo = impl.pack(Segment(payload=b"\x01" * 70000), src="::1", dst="::2")
    assert impl.verify_checksum("::1", "::2", jumbo)
    with pytest.raises(EncodeError, match="65535"):
        impl.tcp_checksum("10.0.0.1", "10.0.0.2", jumbo)


def test_every_summing_loop_matches_the_reference():
    """Each instruction-set variant of the compiled loop (baseline, AVX2, AVX-512) agrees."""
    import random

    from conftest import _cython_or_skip

    _cython_or_skip()
    from fastseg import _checksum_c, reference

    variants = _checksum_c._sum_variants()
    assert variants[0] == "baseline"
    rng = random.Random(1071)
    samples = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (*range(0, 70), 255, 1500, 9001)]
    samples.append(b"\xff" * 70001)
    try:
        for variant in variants:
            _checksum_c._use_sum_variant(variant)
            for data in samples:
                for view in (data, memoryview(data)[1:], memoryview(data)[3:-2]):
                    assert _checksum_c.internet_checksum(view) == reference.internet_checksum(view), (
                        variant, len(view))
    finally:
        _checksum_c._use_sum_variant(variants[-1])
    with pytest.raises(ValueError):
        _checksum_c._use_sum_variant("sse9")
