"""Per-operation timings of both twins on segments the Linux kernel sent.

Run: ``pytest benchmarks --benchmark-group-by=group,param:twin``.  The full
corpus and peer libraries (dpkt, scapy) belong to the speed issue; these
cases keep a first, honest comparison of the twins in one run.
"""

from __future__ import annotations

import pytest

from fastseg import reference

# A data segment with timestamps and a SYN with the usual four options (Linux 6.18).
DATA = bytes.fromhex(
    "d516b7992268535db182f01a8018003f8ebe00000101080a27b2cd351de0832a48454c4c4f20666173747365670a"
)
SYN = bytes.fromhex("d516b7992268535c00000000a002faf040040000020405b40402080a27b2cd34000000000103030a")
SRC, DST = bytes([10, 213, 0, 1]), bytes([10, 213, 0, 2])


@pytest.mark.parametrize(("kind", "raw"), [("data", DATA), ("syn", SYN)])
def test_unpack(benchmark, twin, kind, raw):
    benchmark.group = f"unpack {kind}"
    assert benchmark(twin.unpack, raw) == reference.unpack(raw)


def test_pack_with_checksum(benchmark, twin):
    benchmark.group = "pack with IPv4 checksum"
    segment = reference.unpack(DATA)
    assert benchmark(lambda: twin.pack(segment, src=SRC, dst=DST)) == DATA


@pytest.mark.parametrize("size", [20, 1500, 65536])
def test_internet_checksum(benchmark, twin, size):
    benchmark.group = f"internet_checksum {size} B"
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert benchmark(twin.internet_checksum, data) == reference.internet_checksum(data)


def test_verify_checksum(benchmark, twin):
    benchmark.group = "verify_checksum"
    assert benchmark(twin.verify_checksum, SRC, DST, DATA) is True


def test_seq_lt(benchmark, twin):
    benchmark.group = "seq_lt"
    assert benchmark(twin.seq_lt, 2**32 - 1, 5) is True
