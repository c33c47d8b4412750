"""Known-answer tests: fastseg against tshark on real Linux TCP captures.

Every capture in ``tests/data/captures`` (made by ``tools/make_captures.py``)
is dissected once by tshark; every TCP segment in it is then decoded by each
fastseg implementation and compared with tshark field by field.  The tests also
check that each capture really contains what it was made to show, so that a
broken capture cannot pass silently, and exercise the small pcap reader
(``tests/pcapfile.py``) on byte-order, timestamp-precision and link-layer
variants of the same data.
"""
from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest

try:
    import pcapfile
except ImportError:  # e.g. with --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pcapfile

HERE = Path(__file__).resolve().parent
CAPTURE_DIR = HERE / "data" / "captures"
CAPTURES = sorted(CAPTURE_DIR.glob("*.pcap"))
TSHARK = shutil.which("tshark")

requires_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not on PATH (apt-get install tshark); "
    "the known-answer comparison needs it as the reference decoder"
)

# TCP option kinds, as plain ints (fastseg's OptionKind is an IntEnum).
EOL, NOP, MSS, WSCALE, SACK_PERMITTED, SACK, TIMESTAMPS = 0, 1, 2, 3, 4, 5, 8
MD5, TCP_AO, MPTCP, FASTOPEN, EXP1, EXP2 = 19, 29, 30, 34, 253, 254
KNOWN_KINDS = (EOL, NOP, MSS, WSCALE, SACK_PERMITTED, SACK, TIMESTAMPS, MD5, TCP_AO,
               MPTCP, FASTOPEN, EXP1, EXP2)

# Flag bits as fastseg.Flags numbers them (bit 8 is AE, once NS).
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100
FLAG_FIELDS = (("fin", FIN), ("syn", SYN), ("reset", RST), ("push", PSH), ("ack", ACK),
               ("urg", URG), ("ece", ECE), ("cwr", CWR), ("ae", AE))

# Checksum status values of Wireshark's PROTO_CHECKSUM_E_* enum, as printed
# by ``-T fields`` with tcp.check_checksum on.
CHECKSUM_BAD, CHECKSUM_GOOD = 0, 1

FIELDS = [
    "frame.number",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.ack", "tcp.seq_raw", "tcp.ack_raw",
    "tcp.hdr_len", "tcp.flags", "tcp.flags.res",
] + ["tcp.flags." + name for name, _ in FLAG_FIELDS] + [
    "tcp.window_size_value", "tcp.checksum", "tcp.checksum.status",
    "tcp.checksum_calculated", "tcp.urgent_pointer", "tcp.len", "tcp.payload",
    "tcp.options", "tcp.option_kind", "tcp.option_len",
    "tcp.options.mss_val", "tcp.options.wscale.shift",
    "tcp.options.sack_le", "tcp.options.sack_re", "tcp.options.sack.count",
    "tcp.options.sack.dsack_le", "tcp.options.sack.dsack_re",
    "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
    "tcp.options.md5.digest", "tcp.options.tfo.cookie", "tcp.options.unknown.payload",
    "tcp.options.mptcp.subtype",
    "ipv6.hopopts.nxt", "ipv6.dstopts.nxt",
]


def tshark_cmd(path: Path) -> List[str]:
    cmd = [
        TSHARK or "tshark", "-n", "-r", str(path),
        "-o", "tcp.check_checksum:TRUE",
        "-o", "tcp.relative_sequence_numbers:FALSE",
        # One segment, one dissection: no reassembly across frames.
        "-o", "tcp.desegment_tcp_streams:FALSE",
        "-Y", "tcp",
        "-T", "fields", "-E", "header=n", "-E", "separator=/t", "-E", "quote=n",
        "-E", "occurrence=a", "-E", "aggregator=,",
    ]
    for name in FIELDS:
        cmd += ["-e", name]
    return cmd


class Row:
    """One tshark output line: every field as a list of its occurrences."""

    def __init__(self, line: str) -> None:
        cols = line.rstrip("\n").split("\t")
        assert len(cols) == len(FIELDS), f"tshark gave {len(cols)} columns: {line!r}"
        self.values: Dict[str, List[str]] = {
            name: (col.split(",") if col else []) for name, col in zip(FIELDS, cols)
        }
        self.frame = int(self.one("frame.number"))

    def all(self, name: str) -> List[str]:
        return self.values[name]

    def ints(self, name: str) -> List[int]:
        """Every occurrence as an int (tshark prints hex fields as 0x...)."""
        return [int(v, 0) for v in self.values[name]]

    def one(self, name: str) -> str:
        vals = self.values[name]
        assert len(vals) == 1, f"frame field {name}: expected one value, got {vals}"
        return vals[0]

    def int(self, name: str) -> int:
        return int(self.one(name), 0)

    def opt_int(self, name: str) -> Optional[int]:
        vals = self.values[name]
        assert len(vals) <= 1, f"field {name}: expected at most one value, got {vals}"
        return int(vals[0], 0) if vals else None

    def flag(self, name: str) -> bool:
        """A boolean flag field; tshark 4 prints 1/0 (older versions True/False)."""
        v = self.one(name)
        assert v in ("0", "1", "True", "False"), f"{name}: odd boolean {v!r}"
        return v in ("1", "True")

    def bytes_(self, name: str) -> bytes:
        """A bytes field (hex, possibly with ':' separators), b'' if absent."""
        vals = self.values[name]
        assert len(vals) <= 1, f"field {name}: expected at most one value, got {vals}"
        return bytes.fromhex(vals[0].replace(":", "")) if vals else b""


def run_tshark(path: Path) -> Dict[int, Row]:
    res = subprocess.run(tshark_cmd(path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"tshark failed on {path}: {res.stderr}"
    rows = [Row(line) for line in res.stdout.splitlines() if line.strip()]
    return {row.frame: row for row in rows}


@dataclass
class Capture:
    """A capture file with tshark's dissection and the pcap reader's records."""

    path: Path
    header: pcapfile.PcapHeader
    frames: List[pcapfile.Frame]
    records: List[pcapfile.TcpRecord]
    rows: Dict[int, Row]

    @property
    def name(self) -> str:
        return self.path.stem

    def pairs(self) -> List[Tuple[pcapfile.TcpRecord, Row]]:
        return [(rec, self.rows[rec.frame]) for rec in self.records]


def load_capture(path: Path) -> Capture:
    header, frames = pcapfile.read_frames(path)
    records = list(pcapfile.tcp_records(header, frames))
    return Capture(path, header, frames, records, run_tshark(path))


@pytest.fixture(scope="module", params=CAPTURES, ids=[p.stem for p in CAPTURES])
def capture(request: Any) -> Capture:
    """One capture, dissected by tshark once for the whole module."""
    if TSHARK is None:
        pytest.skip("tshark is not on PATH (apt-get install tshark)")
    return load_capture(request.param)


class Mismatches:
    """Collects field disagreements so one run reports all of them."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: List[str] = []
        self.checked = 0

    def eq(self, frame: int, name: str, ours: Any, theirs: Any) -> None:
        self.checked += 1
        if ours != theirs:
            self.items.append(f"frame {frame} {name}: {_show(ours, theirs)}")

    def verify(self) -> None:
        assert self.checked > 0, f"{self.what}: nothing was compared"
        if self.items:
            shown = "\n  ".join(self.items[:40])
            more = f"\n  ... and {len(self.items) - 40} more" if len(self.items) > 40 else ""
            pytest.fail(f"{self.what}: {len(self.items)} disagreements with tshark:\n  "
                        f"{shown}{more}")


def _show(ours: Any, theirs: Any) -> str:
    """Both values, long byte strings shortened around their first difference."""
    if isinstance(ours, (bytes, bytearray)) and isinstance(theirs, (bytes, bytearray)) \
            and max(len(ours), len(theirs)) > 48:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                  min(len(ours), len(theirs)))
        lo = max(0, at - 8)
        return (f"lengths fastseg={len(ours)} tshark={len(theirs)}, first difference at "
                f"byte {at}: fastseg[{lo}:]={bytes(ours[lo:at + 8]).hex()} "
                f"tshark[{lo}:]={bytes(theirs[lo:at + 8]).hex()}")
    return f"fastseg={ours!r} tshark={theirs!r}"


def expected_checksum(calculated: int) -> int:
    """The checksum field value for tshark's tcp.checksum_calculated.

    When the one's-complement sum of pseudo-header and segment (checksum field
    zeroed) is 0xFFFF, RFC 1071's checksum is its complement 0x0000, which is
    what Linux (csum_fold) and fastseg put in the field.  tshark instead
    derives the value from the received field (in_cksum_shouldbe) and reports
    0xFFFF, one's-complement "negative zero": the same number, which verifies
    just as well.  This is the only case where the two spellings differ.
    """
    return 0 if calculated == 0xFFFF else calculated


# --------------------------------------------------------------------------
# Option helpers: tshark's view of the option list
# --------------------------------------------------------------------------


def tshark_options(row: Row) -> List[Tuple[int, Optional[bytes]]]:
    """(kind, raw option data) in wire order, as tshark cut the option area.

    tshark lists every option's kind (tcp.option_kind) and, for options that
    have one, its length byte (tcp.option_len); the raw option area is
    tcp.options.  The data of each option is cut out of the area with those
    kinds and lengths: NOP has none (None), EOL owns the rest of the area.
    """
    area = row.bytes_("tcp.options")
    kinds = row.ints("tcp.option_kind")
    lens = row.ints("tcp.option_len")
    out: List[Tuple[int, Optional[bytes]]] = []
    pos = 0
    li = 0
    for kind in kinds:
        if kind == EOL:
            out.append((kind, area[pos + 1:]))
            pos = len(area)
        elif kind == NOP:
            out.append((kind, None))
            pos += 1
        else:
            assert li < len(lens), f"frame {row.frame}: kind {kind} without a length"
            assert area[pos] == kind, f"frame {row.frame}: kind {kind} at {pos} of {area.hex()}"
            length = lens[li]
            li += 1
            out.append((kind, area[pos + 2:pos + length]))
            pos += length
    assert li == len(lens), f"frame {row.frame}: unused option lengths {lens[li:]}"
    return out


def tshark_sack_blocks(row: Row, option_len: int) -> List[Tuple[int, int]]:
    """SACK blocks of a segment's (single) SACK option, raw edges, in order.

    tshark may report a first block that is a D-SACK (RFC 2883) in separate
    tcp.options.sack.dsack_le/re fields; whether it also repeats it in
    sack_le/re is decided from the option length, so either way the list
    holds exactly the blocks on the wire.
    """
    les = row.ints("tcp.options.sack_le")
    res = row.ints("tcp.options.sack_re")
    assert len(les) == len(res), f"frame {row.frame}: unpaired SACK edges"
    blocks = list(zip(les, res))
    on_wire = (option_len - 2) // 8
    dles = row.ints("tcp.options.sack.dsack_le")
    dres = row.ints("tcp.options.sack.dsack_re")
    if dles and len(blocks) == on_wire - 1:
        blocks.insert(0, (dles[0], dres[0]))
    return blocks


def option_area(segment: bytes) -> bytes:
    return segment[20:(segment[12] >> 4) * 4]


# --------------------------------------------------------------------------
# The capture files themselves
# --------------------------------------------------------------------------

EXPECTED_CAPTURES = {
    "ipv4_handshake", "ipv6_handshake", "ipv6_exthdr", "sack_loss_ipv4",
    "sack_loss_ipv6_nots", "zero_window", "rst", "md5sig", "fastopen", "urgent",
    "ecn", "mptcp",
}


def test_captures_present() -> None:
    names = {p.stem for p in CAPTURES}
    assert names == EXPECTED_CAPTURES, (
        f"tests/data/captures holds {sorted(names)}; expected {sorted(EXPECTED_CAPTURES)} "
        "(regenerate with tools/make_captures.py and update EXPECTED_CAPTURES)"
    )
    for path in CAPTURES:
        assert 0 < path.stat().st_size <= 256 * 1024, f"{path.name}: unexpected size"


def _flags(row: Row) -> int:
    return row.int("tcp.flags")


def _syns(cap: Capture) -> List[Row]:
    return [r for _, r in cap.pairs() if _flags(r) & SYN and not _flags(r) & ACK]


def _synacks(cap: Capture) -> List[Row]:
    return [r for _, r in cap.pairs() if _flags(r) & (SYN | ACK) == SYN | ACK]


def _kinds(row: Row) -> List[int]:
    return row.ints("tcp.option_kind")


def _handshake_options(cap: Capture) -> None:
    for rows in (_syns(cap), _synacks(cap)):
        assert rows, "no SYN / SYN-ACK"
        for r in rows:
            assert {MSS, SACK_PERMITTED, TIMESTAMPS, WSCALE} <= set(_kinds(r)), _kinds(r)
    assert any(_flags(r) & FIN for _, r in cap.pairs()), "no FIN"


def _max_sack_blocks(cap: Capture) -> int:
    return max((len(r.ints("tcp.options.sack_le")) for _, r in cap.pairs()), default=0)


def _contents_ipv4_handshake(cap: Capture) -> None:
    assert {rec.version for rec in cap.records} == {4}
    _handshake_options(cap)
    assert any(r.int("tcp.len") > 1000 for _, r in cap.pairs()), "no full-sized segment"


def _contents_ipv6_handshake(cap: Capture) -> None:
    assert {rec.version for rec in cap.records} == {6}
    assert cap.header.nanosecond, "this one was recorded with nanosecond timestamps"
    _handshake_options(cap)


def _contents_ipv6_exthdr(cap: Capture) -> None:
    assert {rec.version for rec in cap.records} == {6}
    for rec, row in cap.pairs():
        # Ethernet 14 + IPv6 40 + hop-by-hop 8 + destination options 8.
        assert rec.offset == 14 + 40 + 8 + 8, rec.offset
        assert row.ints("ipv6.hopopts.nxt") == [60] and row.ints("ipv6.dstopts.nxt") == [6]
    _handshake_options(cap)


def _contents_sack_loss_ipv4(cap: Capture) -> None:
    assert {rec.version for rec in cap.records} == {4}
    assert _max_sack_blocks(cap) == 3, "expected ACKs with 3 SACK blocks (timestamps on)"
    assert sum(1 for _, r in cap.pairs() if SACK in _kinds(r)) >= 5


def _contents_sack_loss_ipv6_nots(cap: Capture) -> None:
    assert {rec.version for rec in cap.records} == {6}
    assert _max_sack_blocks(cap) == 4, "expected ACKs with 4 SACK blocks (no timestamps)"
    assert not any(TIMESTAMPS in _kinds(r) for _, r in cap.pairs())


def _contents_zero_window(cap: Capture) -> None:
    assert any(r.int("tcp.window_size_value") == 0 for _, r in cap.pairs()), "no window 0"
    assert any(r.ints("tcp.options.wscale.shift") == [0] for r in _synacks(cap)), \
        "SYN-ACK should advertise window scale 0 (tiny SO_RCVBUF)"


def _contents_rst(cap: Capture) -> None:
    rsts = [(rec, r) for rec, r in cap.pairs() if _flags(r) & RST]
    assert len(rsts) >= 3, "expected two RST+ACK (closed port) and one abortive RST"
    assert {rec.version for rec, r in rsts if _flags(r) & ACK and r.int("tcp.seq") == 0} \
        == {4, 6}, "RST+ACK from a closed port over IPv4 and IPv6"


def _contents_md5sig(cap: Capture) -> None:
    assert {rec.version for rec in cap.records} == {4, 6}
    for rec, row in cap.pairs():
        assert MD5 in _kinds(row), f"frame {rec.frame} lacks the MD5 option"
        assert len(row.bytes_("tcp.options.md5.digest")) == 16


def _contents_fastopen(cap: Capture) -> None:
    tfo = [(r, data) for _, r in cap.pairs() for kind, data in tshark_options(r)
           if kind == FASTOPEN]
    assert any(_flags(r) == SYN and data == b"" for r, data in tfo), "no cookie request"
    assert any(_flags(r) == SYN | ACK and len(data) >= 4 for r, data in tfo), \
        "no cookie in a SYN-ACK"
    assert any(_flags(r) == SYN and len(data) >= 4 and r.int("tcp.len") > 0
               for r, data in tfo), "no SYN carrying a cookie and data"


def _contents_urgent(cap: Capture) -> None:
    urg = [r for _, r in cap.pairs() if _flags(r) & URG]
    assert urg and all(r.int("tcp.urgent_pointer") > 0 for r in urg), "no URG segment"


def _contents_ecn(cap: Capture) -> None:
    flags = [_flags(r) for _, r in cap.pairs()]
    assert SYN | ECE | CWR in flags, "no ECN-setup SYN"
    assert SYN | ACK | ECE in flags, "no ECN-setup SYN-ACK"
    assert ACK | ECE in flags, "no ACK echoing ECE"
    assert any(f & CWR and not f & SYN for f in flags), "no CWR"


def _contents_mptcp(cap: Capture) -> None:
    with_mptcp = [r for _, r in cap.pairs() if MPTCP in _kinds(r)]
    assert len(with_mptcp) >= 5
    assert 0 in {int(v) for r in with_mptcp for v in r.all("tcp.options.mptcp.subtype")}, \
        "no MP_CAPABLE"


CONTENTS: Dict[str, Callable[[Capture], None]] = {
    "ipv4_handshake": _contents_ipv4_handshake,
    "ipv6_handshake": _contents_ipv6_handshake,
    "ipv6_exthdr": _contents_ipv6_exthdr,
    "sack_loss_ipv4": _contents_sack_loss_ipv4,
    "sack_loss_ipv6_nots": _contents_sack_loss_ipv6_nots,
    "zero_window": _contents_zero_window,
    "rst": _contents_rst,
    "md5sig": _contents_md5sig,
    "fastopen": _contents_fastopen,
    "urgent": _contents_urgent,
    "ecn": _contents_ecn,
    "mptcp": _contents_mptcp,
}


@requires_tshark
def test_capture_contents(capture: Capture) -> None:
    """Each capture shows what it was made for, and only good checksums."""
    assert capture.records, "no TCP segment"
    assert capture.header.linktype == pcapfile.LINKTYPE_ETHERNET
    assert capture.name in CONTENTS, f"no content check for {capture.name}"
    CONTENTS[capture.name](capture)
    statuses = {r.int("tcp.checksum.status") for _, r in capture.pairs()}
    assert statuses == {CHECKSUM_GOOD}, (
        "the kernel computed every checksum in software (offload off), so tshark "
        f"must call them all good; got statuses {statuses}")


@requires_tshark
def test_reader_agrees_with_tshark(capture: Capture) -> None:
    """pcapfile finds exactly tshark's TCP frames, with the same addresses and lengths."""
    assert [rec.frame for rec in capture.records] == sorted(capture.rows)
    assert len(capture.records) < len(capture.frames), \
        "the captures also hold ARP / ICMPv6 frames, which the reader must skip"
    for rec, row in capture.pairs():
        fam = "ip" if rec.version == 4 else "ipv6"
        other = "ipv6" if rec.version == 4 else "ip"
        assert row.all(other + ".src") == []
        assert ipaddress.ip_address(rec.src) == ipaddress.ip_address(row.one(fam + ".src"))
        assert ipaddress.ip_address(rec.dst) == ipaddress.ip_address(row.one(fam + ".dst"))
        assert len(rec.segment) == row.int("tcp.hdr_len") + row.int("tcp.len")
        assert option_area(rec.segment) == row.bytes_("tcp.options")


# --------------------------------------------------------------------------
# fastseg against tshark
# --------------------------------------------------------------------------


def compare_segment(impl: Any, rec: pcapfile.TcpRecord, row: Row, out: Mismatches) -> None:
    """Decode one segment and compare every field with tshark's row."""
    seg = impl.unpack(rec.segment)
    f = rec.frame
    # Segments from a real kernel are well formed: lenient decoding finds
    # nothing to step over and gives the same result as strict decoding.
    lenient = impl.unpack(rec.segment, strict=False)
    out.eq(f, "anomalies (strict=False)", tuple(lenient.anomalies), ())
    out.eq(f, "strict=False decode == strict decode", lenient, seg)
    out.eq(f, "src_port", seg.src_port, row.int("tcp.srcport"))
    out.eq(f, "dst_port", seg.dst_port, row.int("tcp.dstport"))
    # Relative sequence numbers are off, so tcp.seq/tcp.ack are the raw
    # values too; compare with both spellings.
    out.eq(f, "seq", seg.seq, row.int("tcp.seq_raw"))
    out.eq(f, "seq", seg.seq, row.int("tcp.seq"))
    out.eq(f, "ack", seg.ack, row.int("tcp.ack_raw"))
    out.eq(f, "ack", seg.ack, row.int("tcp.ack"))
    out.eq(f, "header_len", seg.header_len, row.int("tcp.hdr_len"))

    # tcp.flags is the 12 bits after the data offset: 3 reserved bits
    # (0x0E00), AE (0x100), then CWR..FIN.  fastseg keeps the reserved bits
    # apart (Segment.reserved, 0..7) from Flags, so rebuild the 12 bits.
    flags = int(seg.flags)
    out.eq(f, "flags|reserved<<9", flags | (seg.reserved << 9), row.int("tcp.flags"))
    out.eq(f, "reserved", seg.reserved, (row.int("tcp.flags") >> 9) & 7)
    # tcp.flags.res is one boolean for the three reserved bits together.
    out.eq(f, "reserved!=0", seg.reserved != 0, row.flag("tcp.flags.res"))
    for name, bit in FLAG_FIELDS:
        out.eq(f, "flag " + name, bool(flags & bit), row.flag("tcp.flags." + name))
    out.eq(f, "flags has no bits above AE", flags & ~0x1FF, 0)

    out.eq(f, "window (raw, unscaled)", seg.window, row.int("tcp.window_size_value"))
    out.eq(f, "checksum", seg.checksum, row.int("tcp.checksum"))
    out.eq(f, "urgent", seg.urgent, row.int("tcp.urgent_pointer"))
    out.eq(f, "payload length", len(seg.payload), row.int("tcp.len"))
    # tcp.payload is only present when there is a payload.
    out.eq(f, "payload", bytes(seg.payload), row.bytes_("tcp.payload"))
    out.eq(f, "payload is the segment's tail", bytes(seg.payload),
           rec.segment[seg.header_len:])

    compare_options(seg, row, out)


def compare_options(seg: Any, row: Row, out: Mismatches) -> None:
    f = row.frame
    theirs = tshark_options(row)
    ours = list(seg.options)
    out.eq(f, "option kinds", [int(k) for k, _ in ours], [k for k, _ in theirs])
    out.eq(f, "option kinds (tcp.option_kind)", [int(k) for k, _ in ours],
           row.ints("tcp.option_kind"))
    if [int(k) for k, _ in ours] != [k for k, _ in theirs]:
        return  # the per-option comparison below would only repeat this

    import fastseg

    mss_vals = row.ints("tcp.options.mss_val")
    shifts = row.ints("tcp.options.wscale.shift")
    tsvals = row.ints("tcp.options.timestamp.tsval")
    tsecrs = row.ints("tcp.options.timestamp.tsecr")
    digests = [bytes.fromhex(v.replace(":", "")) for v in row.all("tcp.options.md5.digest")]
    cookies = [bytes.fromhex(v.replace(":", "")) for v in row.all("tcp.options.tfo.cookie")]
    seen: Dict[int, int] = {}
    cookie_idx = 0
    exp_mss = exp_wscale = exp_ts = None
    exp_sack_perm = False
    exp_blocks: Optional[Tuple[Tuple[int, int], ...]] = None
    for (kind, value), (tkind, data) in zip(ours, theirs):
        n = seen.get(tkind, 0)
        seen[tkind] = n + 1
        label = f"option #{sum(seen.values())} kind {tkind}"
        if tkind in KNOWN_KINDS:
            out.eq(f, label + " is an OptionKind", isinstance(kind, fastseg.OptionKind), True)
        if tkind == EOL:
            out.eq(f, label + " (bytes after EOL)", bytes(value), data)
        elif tkind == NOP:
            out.eq(f, label, value, None)
        elif tkind == MSS:
            out.eq(f, label + " mss", value, mss_vals[n])
            exp_mss = mss_vals[n] if exp_mss is None else exp_mss
        elif tkind == WSCALE:
            out.eq(f, label + " shift", value, shifts[n])
            exp_wscale = shifts[n] if exp_wscale is None else exp_wscale
        elif tkind == SACK_PERMITTED:
            out.eq(f, label, value, None)
            out.eq(f, label + " length", data, b"")
            exp_sack_perm = True
        elif tkind == SACK:
            assert data is not None
            blocks = tshark_sack_blocks(row, len(data) + 2)
            out.eq(f, label + " blocks", tuple(tuple(b) for b in value), tuple(blocks))
            out.eq(f, label + " count", len(value), row.int("tcp.options.sack.count"))
            exp_blocks = tuple(blocks) if exp_blocks is None else exp_blocks
        elif tkind == TIMESTAMPS:
            out.eq(f, label + " tsval/tsecr", tuple(value), (tsvals[n], tsecrs[n]))
            exp_ts = (tsvals[n], tsecrs[n]) if exp_ts is None else exp_ts
        else:
            # Every other kind is kept as its raw data (no kind/length bytes).
            out.eq(f, label + " raw data", bytes(value), data)
            if tkind == MD5:
                out.eq(f, label + " md5 digest", bytes(value), digests[n])
            elif tkind == FASTOPEN and data:
                # An empty option is a cookie request, which tshark shows as
                # tcp.options.tfo.request (no value); only options that carry
                # a cookie have a tcp.options.tfo.cookie occurrence.
                out.eq(f, label + " tfo cookie", bytes(value), cookies[cookie_idx])
                cookie_idx += 1
    # Convenience properties: first occurrence of each, None when absent.
    out.eq(f, "mss property", seg.mss, exp_mss)
    out.eq(f, "wscale property", seg.wscale, exp_wscale)
    out.eq(f, "sack_permitted property", seg.sack_permitted, exp_sack_perm)
    out.eq(f, "sack_blocks property",
           None if seg.sack_blocks is None else tuple(tuple(b) for b in seg.sack_blocks),
           exp_blocks)
    out.eq(f, "timestamps property",
           None if seg.timestamps is None else tuple(seg.timestamps), exp_ts)


@requires_tshark
def test_fields_match_tshark(impl: Any, capture: Capture) -> None:
    out = Mismatches(f"{capture.name}: header and option fields")
    for rec, row in capture.pairs():
        compare_segment(impl, rec, row, out)
    out.verify()


@requires_tshark
def test_checksums_match_tshark(impl: Any, capture: Capture) -> None:
    out = Mismatches(f"{capture.name}: checksums")
    check_checksums(impl, capture, out)
    out.verify()


def check_checksums(impl: Any, capture: Capture, out: Mismatches) -> None:
    for rec, row in capture.pairs():
        f = rec.frame
        status = row.int("tcp.checksum.status")
        assert status in (CHECKSUM_BAD, CHECKSUM_GOOD), f"frame {f}: status {status}"
        good = status == CHECKSUM_GOOD
        out.eq(f, "verify_checksum", impl.verify_checksum(rec.src, rec.dst, rec.segment), good)
        computed = impl.tcp_checksum(rec.src, rec.dst, rec.segment)
        if good:
            out.eq(f, "tcp_checksum == checksum field", computed,
                   struct.unpack_from("!H", rec.segment, 16)[0])
        # tshark's calculated checksum is the value the field should hold.
        calc = row.opt_int("tcp.checksum_calculated")
        if calc is not None:
            out.eq(f, "tcp_checksum == tshark's calculated", computed,
                   expected_checksum(calc))


@requires_tshark
def test_round_trip(impl: Any, capture: Capture) -> None:
    """pack(unpack(b)) == b, and pack with addresses rebuilds good checksums."""
    out = Mismatches(f"{capture.name}: round trip")
    for rec, row in capture.pairs():
        seg = impl.unpack(rec.segment)
        out.eq(rec.frame, "pack(unpack(b))", impl.pack(seg), rec.segment)
        if row.int("tcp.checksum.status") == CHECKSUM_GOOD:
            out.eq(rec.frame, "pack(seg, src, dst)",
                   impl.pack(seg, src=rec.src, dst=rec.dst), rec.segment)
    out.verify()


# --------------------------------------------------------------------------
# Bad checksums: a corrupted copy of each capture, judged by tshark again
# --------------------------------------------------------------------------


def corrupt(capture: Capture, path: Path) -> Dict[int, Tuple[str, bytes]]:
    """Write a copy of ``capture`` with every TCP segment damaged.

    Segments with a payload get their last payload byte flipped; the others
    get their checksum field changed (XOR 0x0101, which never turns 0x0000
    into its one's-complement twin 0xFFFF).  Returns, per frame, what was
    damaged ("payload" or "checksum") and the original segment.
    """
    damage: Dict[int, Tuple[str, bytes]] = {}
    by_frame = {rec.frame: rec for rec in capture.records}
    frames = []
    for fr in capture.frames:
        rec = by_frame.get(fr.number)
        if rec is not None:
            data = bytearray(fr.data)
            if len(rec.segment) > (rec.segment[12] >> 4) * 4:
                data[rec.offset + len(rec.segment) - 1] ^= 0xFF
                damage[fr.number] = ("payload", rec.segment)
            else:
                data[rec.offset + 16] ^= 0x01
                data[rec.offset + 17] ^= 0x01
                damage[fr.number] = ("checksum", rec.segment)
            fr = pcapfile.Frame(fr.number, fr.ts_sec, fr.ts_frac, fr.orig_len, bytes(data))
        frames.append(fr)
    pcapfile.write_pcap(path, frames, capture.header.linktype,
                        capture.header.byteorder, capture.header.nanosecond)
    return damage


@requires_tshark
def test_bad_checksums_match_tshark(impl: Any, capture: Capture, tmp_path: Path) -> None:
    path = tmp_path / (capture.name + "-damaged.pcap")
    damage = corrupt(capture, path)
    bad = load_capture(path)
    assert [r.frame for r in bad.records] == [r.frame for r in capture.records]
    statuses = {r.int("tcp.checksum.status") for _, r in bad.pairs()}
    assert statuses == {CHECKSUM_BAD}, f"tshark should flag every damaged segment: {statuses}"
    out = Mismatches(f"{bad.name}: damaged segments")
    check_checksums(impl, bad, out)
    for rec, row in bad.pairs():
        seg = impl.unpack(rec.segment)
        # Still a lossless round trip: the wrong checksum is kept as it is.
        out.eq(rec.frame, "pack(unpack(b))", impl.pack(seg), rec.segment)
        what, original = damage[rec.frame]
        if what == "checksum":
            # Packing with the addresses computes the checksum afresh, which
            # restores the segment the kernel sent.
            expected = original
        else:
            # The payload is wrong now, so the fresh checksum is the one
            # tshark calculates for the damaged bytes.
            fresh = expected_checksum(row.int("tcp.checksum_calculated"))
            expected = rec.segment[:16] + struct.pack("!H", fresh) + rec.segment[18:]
        out.eq(rec.frame, f"pack(seg, src, dst) after {what} damage",
               impl.pack(seg, src=rec.src, dst=rec.dst), expected)
    out.verify()


# --------------------------------------------------------------------------
# The pcap reader on variants of the same data (no tshark needed)
# --------------------------------------------------------------------------


def _key(records: Sequence[pcapfile.TcpRecord]) -> List[Tuple[int, bytes, bytes, bytes]]:
    return [(r.frame, r.src, r.dst, r.segment) for r in records]


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_reader_byte_orders_and_precisions(tmp_path: Path, byteorder: str,
                                           nanosecond: bool) -> None:
    src = CAPTURE_DIR / "ipv6_handshake.pcap"  # recorded with nanosecond stamps
    header, frames = pcapfile.read_frames(src)
    assert header.byteorder == "<" and header.nanosecond
    out = tmp_path / "variant.pcap"
    scaled = [pcapfile.Frame(fr.number, fr.ts_sec,
                             fr.ts_frac if nanosecond else fr.ts_frac // 1000,
                             fr.orig_len, fr.data) for fr in frames]
    pcapfile.write_pcap(out, scaled, header.linktype, byteorder, nanosecond)
    raw = out.read_bytes()
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    assert raw[:4] == struct.pack(byteorder + "I", magic)
    h2, f2 = pcapfile.read_frames(out)
    assert (h2.byteorder, h2.nanosecond, h2.linktype) == (byteorder, nanosecond, 1)
    assert [(f.ts_sec, f.ts_frac, f.data) for f in f2] == \
        [(f.ts_sec, f.ts_frac, f.data) for f in scaled]
    assert _key(pcapfile.read_tcp(out)) == _key(pcapfile.read_tcp(src))


def _to_sll(frame: bytes) -> bytes:
    # Linux cooked v1: packet type, ARPHRD_ETHER, address length, address
    # (padded to 8), protocol.
    return struct.pack("!HHH8sH", 4, 1, 6, frame[6:12], struct.unpack("!H", frame[12:14])[0]) \
        + frame[14:]


def _to_sll2(frame: bytes) -> bytes:
    # Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet
    # type, address length, address (padded to 8).
    return struct.pack("!HHIHBB8s", struct.unpack("!H", frame[12:14])[0], 0, 2, 1, 4, 6,
                       frame[6:12]) + frame[14:]


def _to_vlan(frame: bytes) -> bytes:
    # 802.1ad outer tag (S-tag) and 802.1Q inner tag (C-tag).
    return frame[:12] + struct.pack("!HHHH", 0x88A8, 100, 0x8100, 7) + frame[12:]


def _to_raw(frame: bytes) -> bytes:
    return frame[14:]


@pytest.mark.parametrize("linktype,convert", [
    (pcapfile.LINKTYPE_LINUX_SLL, _to_sll),
    (pcapfile.LINKTYPE_LINUX_SLL2, _to_sll2),
    (pcapfile.LINKTYPE_ETHERNET, _to_vlan),
    (pcapfile.LINKTYPE_RAW, _to_raw),
], ids=["sll", "sll2", "vlan", "raw"])
def test_reader_link_types(tmp_path: Path, linktype: int,
                           convert: Callable[[bytes], bytes]) -> None:
    for name in ("ipv4_handshake", "ipv6_exthdr"):
        src = CAPTURE_DIR / (name + ".pcap")
        _, frames = pcapfile.read_frames(src)
        ip_frames = [fr for fr in frames if fr.data[12:14] in (b"\x08\x00", b"\x86\xdd")]
        # Raw IP has no room for ARP; keep only IP frames for that one.
        keep = ip_frames if linktype == pcapfile.LINKTYPE_RAW else frames
        renumbered = [pcapfile.Frame(i + 1, fr.ts_sec, fr.ts_frac, fr.orig_len,
                                     convert(fr.data)) for i, fr in enumerate(keep)]
        out = tmp_path / f"{name}-{linktype}.pcap"
        pcapfile.write_pcap(out, renumbered, linktype)
        numbering = {fr.number: i + 1 for i, fr in enumerate(keep)}
        expected = [(numbering[r.frame], r.src, r.dst, r.segment)
                    for r in pcapfile.read_tcp(src)]
        assert expected, name
        assert _key(pcapfile.read_tcp(out)) == expected


def _eth(ethertype: int, payload: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02" + \
        struct.pack("!H", ethertype) + payload


def _ipv4(payload: bytes, proto: int = 6, frag: int = 0x4000, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload),
                       1, frag, 64, proto, 0, bytes([10, 0, 0, 1]),
                       bytes([10, 0, 0, 2])) + options + payload


def _ipv6(payload: bytes, nxt: int = 6, ext: bytes = b"") -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(ext) + len(payload), nxt, 64,
                       bytes(15) + b"\x01", bytes(15) + b"\x02") + ext + payload


TCP_SEG = struct.pack("!HHIIHHHH", 1234, 80, 1, 0, 0x5002, 1024, 0, 0) + b"data"


def test_reader_decapsulation_rules(tmp_path: Path) -> None:
    """IHL honoured, padding trimmed, fragments and non-TCP skipped, IPv6 ext headers walked."""
    frames_data = [
        # 1: IPv4 with 4 bytes of IP options and Ethernet padding after it.
        _eth(0x0800, _ipv4(TCP_SEG, options=b"\x01\x01\x01\x00") + b"\x00" * 6),
        # 2: IPv4 first fragment (MF set): skipped.
        _eth(0x0800, _ipv4(TCP_SEG, frag=0x2000)),
        # 3: IPv4 later fragment (offset 8): skipped.
        _eth(0x0800, _ipv4(TCP_SEG, frag=0x0001)),
        # 4: IPv4 UDP: skipped.
        _eth(0x0800, _ipv4(TCP_SEG, proto=17)),
        # 5: IPv6 with hop-by-hop, routing (type 0, segments left 0) and
        #    destination options before TCP.
        _eth(0x86DD, _ipv6(TCP_SEG, nxt=0, ext=bytes([43, 0, 1, 4, 0, 0, 0, 0])
                            + bytes([60, 0, 0, 0, 0, 0, 0, 0])
                            + bytes([6, 0, 1, 4, 0, 0, 0, 0]))),
        # 6: IPv6 fragment header: skipped.
        _eth(0x86DD, _ipv6(TCP_SEG, nxt=44, ext=bytes([6, 0, 0, 1, 0, 0, 0, 9]))),
        # 7: ARP: skipped.
        _eth(0x0806, bytes(28)),
        # 8: plain IPv6 TCP with padding after it.
        _eth(0x86DD, _ipv6(TCP_SEG) + b"\xee\xee"),
    ]
    frames = [pcapfile.Frame(i + 1, 0, 0, len(d), d) for i, d in enumerate(frames_data)]
    path = tmp_path / "synthetic.pcap"
    pcapfile.write_pcap(path, frames, pcapfile.LINKTYPE_ETHERNET)
    recs = pcapfile.read_tcp(path)
    assert [(r.frame, r.version, r.segment, r.offset) for r in recs] == [
        (1, 4, TCP_SEG, 14 + 24),
        (5, 6, TCP_SEG, 14 + 40 + 24),
        (8, 6, TCP_SEG, 14 + 40),
    ]
    assert recs[0].src == bytes([10, 0, 0, 1]) and recs[0].dst == bytes([10, 0, 0, 2])
    assert recs[1].dst == bytes(15) + b"\x02"


def test_reader_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(ValueError):
        pcapfile.read_frames(path)
