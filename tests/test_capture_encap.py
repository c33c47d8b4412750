"""The capture readers (both twins) open tunnels and encapsulations down to the innermost TCP.

Frames are built here around one TCP segment: GRE (RFC 2784/2890, and
PPTP's version 1), gretap, IP in IP, 6in4, ip6tnl, VXLAN (RFC 7348),
Geneve (RFC 8926), MPLS (RFC 3032), PPPoE (RFC 2516), and the PPP,
PPP-in-HDLC, Cisco HDLC and IPoIB link types.  Each must yield the inner
segment with the inner addresses; every prefix of each frame must be
reported as cut (or, when the frame itself is that short, malformed) the
way a short IPv4 header is; nesting is bounded by MAX_ENCAPSULATIONS; what
is not opened is named.  The twins must agree on all of it and on random
mangled stacks.  tshark's word on real captures of the same encapsulations
is in test_analyze_captures.py.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_capture import A4, A6, B4, B6, read, read_checked, reader, tcp_bytes, twins, write_frames

from fastseg import capture
from fastseg.capture import CaptureError, Frame, Kind, OtherRecord, TcpRecord
from fastseg.capture import _common as c

__all__ = ["reader"]  # the fixture, from test_capture: every test runs on both twins

O4 = ("10.9.0.1", "10.9.0.2")          # outer (tunnel) addresses
O6 = ("fd00:9::1", "fd00:9::2")
PAYLOAD = b"inside the tunnel"

ETHERNET, PPP, PPP_HDLC, IPOIB = 1, 9, 50, 242
TSHARK = shutil.which("tshark")
TSHARK_TIMEOUT = 60


def inner(version: int = 4) -> bytes:
    """The innermost IP packet: one TCP segment with PAYLOAD and a right checksum."""
    if version == 4:
        return capture.ipv4_packet(A4, B4, tcp_bytes(1, A4, B4, PAYLOAD))
    return capture.ipv6_packet(A6, B6, tcp_bytes(1, A6, B6, PAYLOAD))


def ip(version: int, payload: bytes, protocol: int) -> bytes:
    if version == 4:
        return capture.ipv4_packet(*O4, payload, protocol=protocol)
    return capture.ipv6_packet(*O6, payload, next_header=protocol)


def ethertype_of(packet: bytes) -> int:
    return c.ETHERTYPE_IPV6 if packet[0] >> 4 == 6 else c.ETHERTYPE_IPV4


def gre(payload: bytes, protocol_type: int, *, flags: int = 0, version: int = 0,
        fields: int = 0) -> bytes:
    """A GRE header (flags, version, protocol type, then ``fields`` 4-byte fields) and payload."""
    return struct.pack("!HH", flags | version, protocol_type) + b"\x5a" * (4 * fields) + payload


def udp(dst_port: int, payload: bytes, src_port: int = 50000) -> bytes:
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload


def vxlan(frame: bytes) -> bytes:
    return struct.pack("!II", 0x08000000, 42 << 8) + frame


def geneve(payload: bytes, protocol_type: int, options: bytes = b"", version: int = 0) -> bytes:
    return struct.pack("!BBHI", version << 6 | len(options) // 4, 0, protocol_type,
                       42 << 8) + options + payload


def mpls(payload: bytes, labels: int = 2) -> bytes:
    stack = b"".join(struct.pack("!I", (16 + i) << 12 | (0x100 if i == labels - 1 else 0) | 64)
                     for i in range(labels))
    return stack + payload


def ppp(packet: bytes, *, hdlc: bool = True, compressed: bool = False) -> bytes:
    protocol = c.PPP_IPV6 if packet[0] >> 4 == 6 else c.PPP_IPV4
    field = bytes([protocol]) if compressed else struct.pack("!H", protocol)
    return (b"\xff\x03" if hdlc else b"") + field + packet


def pppoe(packet: bytes) -> bytes:
    return struct.pack("!BBHH", 0x11, 0, 7, len(packet) + 2) + ppp(packet, hdlc=False)


def eth(payload: bytes, ethertype: Optional[int] = None, vlans: Tuple[int, ...] = ()) -> bytes:
    return capture.ethernet_frame(payload, ethertype=ethertype, vlans=vlans)


class Case(NamedTuple):
    """A frame around inner(version): its link type, and where its UDP header is, if any."""

    linktype: int
    frame: bytes
    version: int
    udp_at: int = -1


def _with_udp(outer_version: int, build: Callable[[bytes], bytes], inner_frame: bytes) -> Case:
    frame = build(inner_frame)
    return Case(ETHERNET, frame, 0, 14 + (20 if outer_version == 4 else 40))


def cases() -> Dict[str, Case]:
    i4, i6 = inner(4), inner(6)
    ppp_ack = gre(ppp(i4), c.ETHERTYPE_PPP, flags=c.GRE_KEY | c.GRE_SEQUENCE | c.GRE_ACK,
                  version=1, fields=3)
    hop_by_hop = bytes([c.IPPROTO_GRE, 0, 1, 4, 0, 0, 0, 0])
    built = {
        "gre": Case(ETHERNET, eth(ip(4, gre(i4, c.ETHERTYPE_IPV4), c.IPPROTO_GRE)), 4),
        "gre_csum_key_seq_v6": Case(ETHERNET, eth(ip(6, gre(i6, c.ETHERTYPE_IPV6, fields=3, flags=(
            c.GRE_CHECKSUM | c.GRE_KEY | c.GRE_SEQUENCE)), c.IPPROTO_GRE)), 6),
        "gre_after_hop_by_hop": Case(ETHERNET, eth(ip(6, hop_by_hop + gre(i4, c.ETHERTYPE_IPV4),
                                                      c.IPPROTO_HOPOPTS)), 4),
        "gretap_vlan": Case(ETHERNET, eth(ip(4, gre(eth(i6, vlans=(5,)), c.ETHERTYPE_TEB,
                                                    flags=c.GRE_KEY, fields=1), c.IPPROTO_GRE)), 6),
        "pptp_gre_ppp": Case(ETHERNET, eth(ip(4, ppp_ack, c.IPPROTO_GRE)), 4),
        "gre_mpls": Case(ETHERNET, eth(ip(4, gre(mpls(i6), c.ETHERTYPE_MPLS), c.IPPROTO_GRE)), 6),
        "ipip": Case(ETHERNET, eth(ip(4, i4, c.IPPROTO_IPIP)), 4),
        "6in4": Case(ETHERNET, eth(ip(4, i6, c.IPPROTO_IPV6)), 6),
        "ipip6": Case(ETHERNET, eth(ip(6, i4, c.IPPROTO_IPIP)), 4),
        "ip6ip6": Case(ETHERNET, eth(ip(6, i6, c.IPPROTO_IPV6)), 6),
        "mpls": Case(ETHERNET, eth(mpls(i4, 3), c.ETHERTYPE_MPLS), 4),
        "mpls_multicast_v6": Case(ETHERNET, eth(mpls(i6, 1), c.ETHERTYPE_MPLS_MULTICAST), 6),
        "vlan_mpls": Case(ETHERNET, eth(mpls(i4), c.ETHERTYPE_MPLS, vlans=(3, 4)), 4),
        "pppoe": Case(ETHERNET, eth(pppoe(i4), c.ETHERTYPE_PPPOE_SESSION), 4),
        "pppoe_v6": Case(ETHERNET, eth(pppoe(i6), c.ETHERTYPE_PPPOE_SESSION), 6),
        "ppp_link": Case(PPP, ppp(i4), 4),
        "ppp_link_bare_compressed": Case(PPP, ppp(i6, hdlc=False, compressed=True), 6),
        "ppp_hdlc_link": Case(PPP_HDLC, ppp(i6), 6),
        "cisco_hdlc": Case(PPP_HDLC, struct.pack("!BBH", 0x0F, 0, c.ETHERTYPE_IPV4) + i4, 4),
        "ipoib": Case(IPOIB, bytes(40) + struct.pack("!HH", c.ETHERTYPE_IPV4, 0) + i4, 4),
    }
    udp_cases = {
        "vxlan": (4, lambda f: eth(ip(4, udp(4789, vxlan(f)), c.IPPROTO_UDP)), eth(i4)),
        "vxlan_v6_from_4789": (6, lambda f: eth(ip(6, udp(40000, vxlan(f), src_port=4789),
                                                   c.IPPROTO_UDP)), eth(i6)),
        "geneve_options": (4, lambda f: eth(ip(4, udp(6081, geneve(
            f, c.ETHERTYPE_TEB, options=b"\x01\x02\x03\x02" + b"\x07" * 8)), c.IPPROTO_UDP)),
            eth(i6, vlans=(9,))),
        "geneve_ip": (6, lambda f: eth(ip(6, udp(6081, geneve(f, c.ETHERTYPE_IPV4)),
                                          c.IPPROTO_UDP)), i4),
        "vxlan_in_gre_in_mpls": (4, lambda f: eth(mpls(ip(4, gre(ip(4, udp(4789, vxlan(f)),
                                                                     c.IPPROTO_UDP),
                                                                  c.ETHERTYPE_IPV4),
                                                          c.IPPROTO_GRE)), c.ETHERTYPE_MPLS), eth(i4)),
    }
    for name, (outer_version, build, payload) in udp_cases.items():
        case = _with_udp(outer_version, build, payload)
        version = 6 if name in ("vxlan_v6_from_4789", "geneve_options") else 4
        udp_at = case.udp_at if name != "vxlan_in_gre_in_mpls" else 14 + 8 + 20 + 4 + 20
        built[name] = case._replace(version=version, udp_at=udp_at)
    return built


CASES = cases()


def tcp_start(case: Case) -> int:
    """Where the inner segment begins: the inner packet ends the frame."""
    packet = inner(case.version)
    return len(case.frame) - len(packet) + (20 if case.version == 4 else 40)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_innermost_segment_is_found(tmp_path: Path, reader: str, name: str) -> None:
    case = CASES[name]
    path = write_frames(tmp_path / f"{name}.pcap", [case.frame], linktype=case.linktype)
    (record,) = read_checked(path, reader)
    assert isinstance(record, TcpRecord), record
    src, dst = (A4, B4) if case.version == 4 else (A6, B6)
    assert (str(record.src_address), str(record.dst_address)) == (src, dst)
    assert record.version == case.version
    assert record.segment.payload == PAYLOAD and record.checksum_ok is True
    assert record.announced_len == len(case.frame) - tcp_start(case)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_prefix_is_cut_or_malformed_like_a_short_ipv4_header(tmp_path: Path, reader: str,
                                                                   name: str) -> None:
    """Cut by the capture: truncated; as short on the wire: malformed.  A cut UDP header says
    nothing of its ports: an IP packet carrying UDP, as before tunnels were opened."""
    case = CASES[name]
    start = tcp_start(case)
    frames = []
    for size in range(len(case.frame)):
        frames.append(Frame(case.frame[:size], size, len(case.frame)))
        frames.append(Frame(case.frame[:size], size))
    path = write_frames(tmp_path / f"{name}_cut.pcap", frames, linktype=case.linktype,
                        nanosecond=True)
    records = read_checked(path, reader)
    assert len(records) == len(frames)
    for frame, record in zip(frames, records):
        size, cut = len(frame.data), frame.orig_len is not None
        if size >= start + 20:
            assert isinstance(record, TcpRecord) and record.truncated, (size, record)
        elif 0 <= case.udp_at <= size < case.udp_at + 8:
            assert (record.kind, record.protocol) == (Kind.NON_TCP, c.IPPROTO_UDP), (size, record)
        else:
            expected = Kind.TRUNCATED if cut else Kind.MALFORMED
            assert record.kind == expected and "header needs" in record.detail, (size, record)


def nested_gre(levels: int) -> bytes:
    packet = inner(4)
    for _ in range(levels):
        packet = ip(4, gre(packet, c.ETHERTYPE_IPV4), c.IPPROTO_GRE)
    return eth(packet)


def test_nesting_is_bounded(tmp_path: Path, reader: str) -> None:
    bound = c.MAX_ENCAPSULATIONS
    teb_chain = eth(b"", c.ETHERTYPE_TEB)
    for _ in range(1000):  # Ethernet in Ethernet forever: no IP header at all
        teb_chain += struct.pack("!6s6sH", b"\2" * 6, b"\4" * 6, c.ETHERTYPE_TEB)
    frames = [nested_gre(bound), nested_gre(bound + 1), nested_gre(600), teb_chain]
    records = read_checked(write_frames(tmp_path / "deep.pcap", frames), reader)
    assert isinstance(records[0], TcpRecord) and records[0].checksum_ok is True
    for record in records[1:]:
        assert isinstance(record, OtherRecord)
        assert (record.kind, record.detail) == (Kind.MALFORMED, c.depth_detail())
    assert records[1].protocol == c.IPPROTO_GRE and records[1].src == bytes([10, 9, 0, 1])
    assert records[3].version == 0 and records[3].protocol == -1


def test_what_is_not_opened_is_named(tmp_path: Path, reader: str) -> None:
    i4 = inner(4)
    esp = ip(4, b"\0" * 24, 50)
    cases: List[Tuple[bytes, int, Any, str]] = [
        (eth(ip(4, gre(i4, c.ETHERTYPE_IPV4, version=2), c.IPPROTO_GRE)), ETHERNET, Kind.NON_IP,
         "GRE version 2"),
        (eth(ip(4, gre(i4, c.ETHERTYPE_IPV4, flags=c.GRE_ROUTING), c.IPPROTO_GRE)), ETHERNET,
         Kind.NON_IP, "GRE with a routing field (RFC 1701)"),
        (eth(ip(4, gre(b"\0" * 40, 0x88BE, flags=c.GRE_SEQUENCE, fields=1), c.IPPROTO_GRE)),
         ETHERNET, Kind.NON_IP, "ethertype 0x88be"),  # ERSPAN
        (eth(ip(4, udp(6081, geneve(i4, c.ETHERTYPE_IPV4, version=1)), c.IPPROTO_UDP)), ETHERNET,
         Kind.NON_IP, "Geneve version 1"),
        (eth(mpls(b"\0\0\0\0" + eth(i4)), c.ETHERTYPE_MPLS), ETHERNET, Kind.NON_IP,
         "MPLS payload starting with nibble 0, neither IPv4 nor IPv6"),
        (b"\xff\x03\xc0\x21" + b"\1" * 10, PPP, Kind.NON_IP, "PPP protocol 0xc021"),
        (eth(ip(4, udp(1701, b"\0" * 20), c.IPPROTO_UDP)), ETHERNET, Kind.NON_TCP,
         "IP protocol 17"),  # L2TP
        (eth(esp), ETHERNET, Kind.NON_TCP, "IP protocol 50"),
        (eth(ip(6, udp(4789, vxlan(eth(ip(4, udp(53, b""), c.IPPROTO_UDP)))), c.IPPROTO_UDP)),
         ETHERNET, Kind.NON_TCP, "IP protocol 17"),
    ]
    outcomes = []
    for i, (frame, linktype, _, _) in enumerate(cases):
        path = write_frames(tmp_path / f"other{i}.pcap", [frame], linktype=linktype)
        (record,) = read_checked(path, reader)
        outcomes.append((record.kind, record.detail))
        assert not isinstance(record, TcpRecord)
    assert outcomes == [(kind, detail) for _, _, kind, detail in cases]
    path = write_frames(tmp_path / "gre.pcap", [cases[0][0], cases[-1][0]])
    gre_v2, vxlan_udp = read(path, reader)
    assert (gre_v2.version, gre_v2.src, gre_v2.protocol) == (4, bytes([10, 9, 0, 1]),
                                                             c.IPPROTO_GRE)
    assert (vxlan_udp.version, vxlan_udp.src) == (4, bytes([10, 9, 0, 1]))  # the innermost IP


# ---------------------------------------------------------------- both twins on random stacks

LAYERS = ["gre", "gre_flags", "gretap", "ip_in_ip", "vxlan", "geneve"]


def wrap(layer: str, packet: bytes, version: int) -> bytes:
    """The IP packet ``packet`` inside ``layer`` inside an IPv``version`` packet."""
    if layer == "gre":
        return ip(version, gre(packet, ethertype_of(packet)), c.IPPROTO_GRE)
    if layer == "gre_flags":
        return ip(version, gre(packet, ethertype_of(packet), flags=c.GRE_KEY | c.GRE_CHECKSUM,
                               fields=2), c.IPPROTO_GRE)
    if layer == "gretap":
        return ip(version, gre(eth(packet), c.ETHERTYPE_TEB), c.IPPROTO_GRE)
    if layer == "ip_in_ip":
        return ip(version, packet, c.IPPROTO_IPV6 if packet[0] >> 4 == 6 else c.IPPROTO_IPIP)
    if layer == "vxlan":
        return ip(version, udp(4789, vxlan(eth(packet))), c.IPPROTO_UDP)
    return ip(version, udp(6081, geneve(packet, ethertype_of(packet), b"\0" * 4)), c.IPPROTO_UDP)


@st.composite
def stacks(draw: Any) -> bytes:
    packet = inner(draw(st.sampled_from([4, 6])))
    for layer in draw(st.lists(st.sampled_from(LAYERS), max_size=4)):
        packet = wrap(layer, packet, draw(st.sampled_from([4, 6])))
    link = draw(st.sampled_from(["eth", "mpls", "pppoe", "vlan"]))
    if link == "mpls":
        frame = eth(mpls(packet, draw(st.integers(1, 3))), c.ETHERTYPE_MPLS)
    elif link == "pppoe":
        frame = eth(pppoe(packet), c.ETHERTYPE_PPPOE_SESSION)
    else:
        frame = eth(packet, vlans=(7,) if link == "vlan" else ())
    data = bytearray(frame)
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:draw(st.integers(0, len(data)))])


def _outcome(data: bytes, impl: str) -> Any:
    try:
        with capture.open_capture(io.BytesIO(data), include_other=True, implementation=impl) as rd:
            return list(rd)
    except CaptureError as exc:
        return type(exc), str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(stacks(), min_size=1, max_size=4), st.booleans())
def test_twins_agree_on_mangled_stacks(frames: List[bytes], cut: bool) -> None:
    buffer = io.BytesIO()
    capture.write_pcap(buffer, [Frame(f, 0, len(f) + cut) for f in frames])
    results = {impl: _outcome(buffer.getvalue(), impl) for impl in twins()}
    assert repr(results["cython"]) == repr(results["python"])
    assert len(results["python"]) == len(frames)


def test_a_tunnel_ends_where_its_outer_packet_ends(tmp_path: Path, reader: str) -> None:
    """Bytes past the outer packet's total length (an Ethernet trailer) are not the inner's."""
    packet = ip(4, gre(inner(4), c.ETHERTYPE_IPV4), c.IPPROTO_GRE)
    bad_version = packet[:24] + b"\x65" + packet[25:]  # what the trailer holds is not read

    def outer_total(total: int, whole: bytes = packet) -> bytes:
        return eth(whole[:2] + total.to_bytes(2, "big") + whole[4:])

    frames = [
        outer_total(20 + 4 + 20 + 10),    # the outer packet ends 10 bytes into the TCP header
        outer_total(20 + 4 + 12),         # ... 12 bytes into the inner IPv4 header
        outer_total(20 + 4 + 12, bad_version),
        outer_total(len(packet) - 1),     # ... one byte short of the inner's payload
    ]
    records = read_checked(write_frames(tmp_path / "trailer.pcap", frames), reader)
    assert [(r.kind, r.detail) for r in records[:3]] == [
        (Kind.MALFORMED, "TCP header needs 20 bytes, 10 left"),
        (Kind.MALFORMED, "IPv4 header needs 20 bytes, 12 left"),
        (Kind.MALFORMED, "IPv4 header needs 20 bytes, 12 left")]
    assert isinstance(records[3], TcpRecord) and records[3].checksum_ok is None
    assert records[3].segment.payload == PAYLOAD[:-1]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not on PATH (apt-get install tshark)")
@pytest.mark.parametrize("linktype", sorted({case.linktype for case in CASES.values()}))
def test_tshark_finds_the_same_inner_segments(tmp_path: Path, reader: str, linktype: int) -> None:
    """Per frame: the innermost addresses (tshark's Source and Destination columns), ports,
    payload length and checksum verdict."""
    names = sorted(name for name, case in CASES.items() if case.linktype == linktype)
    path = write_frames(tmp_path / "cases.pcap", [CASES[name].frame for name in names],
                        linktype=linktype)
    command = [str(TSHARK), "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE",
               "-o", 'gui.column.format:"Source","%s","Destination","%d"', "-Y", "tcp",
               "-T", "fields", "-E", "separator=,"]
    for field in ("_ws.col.Source", "_ws.col.Destination", "tcp.srcport", "tcp.dstport",
                  "tcp.len", "tcp.checksum.status"):
        command += ["-e", field]
    lines = subprocess.run(command, check=True, capture_output=True, text=True,
                           timeout=TSHARK_TIMEOUT).stdout.splitlines()
    ours = [(str(r.src_address), str(r.dst_address), str(r.segment.src_port),
             str(r.segment.dst_port), str(len(r.segment.payload)), "1" if r.checksum_ok else "0")
            for r in read_checked(path, reader)]
    assert dict(zip(names, (tuple(line.split(",")) for line in lines))) == dict(zip(names, ours))
    assert len(lines) == len(names)
