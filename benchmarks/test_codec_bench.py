"""Speed of each codec operation, every implementation side by side.

The implementations of an operation (``harness.PLAN``): the Cython twin, the
pure-Python twin, the peers dpkt and scapy where they do the same work, and
the baselines the bars refer to (see ``harness``): ``minimal``, ``plain loop``
and ``empty call`` compiled in ``_minimal_c``; ``struct`` and ``loop only`` in
Python.
"""

from __future__ import annotations

import harness
import pytest

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is not installed (pip install '.[bench]')")


def impls(op: str) -> list[str]:
    return list(harness.PLAN[op][1])


@pytest.mark.parametrize("impl", impls("unpack"))
def test_unpack(timed, impl):
    """Decode a segment with every field and option materialised."""
    timed("unpack", impl)


@pytest.mark.parametrize("impl", impls("unpack header"))
def test_unpack_header(timed, impl):
    """Decode, then read only the eight fixed-header fields."""
    timed("unpack header", impl)


@pytest.mark.parametrize("impl", impls("pack checksum"))
def test_pack_with_checksum(timed, impl):
    """Encode a segment held in the library's own object, with the IPv4 pseudo-header checksum."""
    timed("pack checksum", impl)


@pytest.mark.parametrize("impl", impls("checksum 1500"))
@pytest.mark.parametrize("size", harness.CHECKSUM_SIZES)
def test_internet_checksum(timed, size, impl):
    timed(f"checksum {size}", impl)


@pytest.mark.parametrize("impl", impls("verify_checksum"))
def test_verify_checksum(timed, impl):
    timed("verify_checksum", impl)


@pytest.mark.parametrize("impl", impls("update_checksum"))
def test_update_checksum(timed, impl):
    """RFC 1624 update after a NAT rewrote the source port."""
    timed("update_checksum", impl)


@pytest.mark.parametrize("impl", impls("seq_lt"))
@pytest.mark.parametrize("name", ["seq_lt", "seq_le", "seq_gt", "seq_ge"])
def test_seq_comparison(timed, name, impl):
    """Every segment's seq against its ack."""
    timed(name, impl)


@pytest.mark.parametrize("impl", impls("pcap"))
def test_pcap_to_segments(timed, impl):
    """Read the corpus' pcap file (Ethernet/IPv4) into a list of decoded segments."""
    timed("pcap", impl)


@pytest.mark.parametrize("impl", impls("build pack"))
def test_build_and_pack(timed, impl):
    """Segment(...) from typed fields and options, then pack with the IPv4 checksum."""
    timed("build pack", impl)


@pytest.mark.parametrize("impl", impls("pack text"))
def test_pack_with_text_addresses(timed, impl):
    """pack with the addresses as text, beside pack with bytes addresses."""
    timed("pack text", impl)


@pytest.mark.parametrize("impl", impls("connection"))
def test_connection_per_segment(timed, impl):
    """A bulk transfer between two Connections, per segment carried, beside the codec alone."""
    timed("connection", impl)


@pytest.mark.parametrize("impl", impls("analyze"))
def test_analyze(timed, impl):
    """fastseg analyze end to end on a generated mix of connections, and tshark's conversations."""
    timed("analyze", impl)
