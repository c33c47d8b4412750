"""fastseg.capture.columns: both twins give the same arrays, the arrays say what segments() says,
and export writes Parquet, Arrow and CSV that read back to the same values.

The compiled twin is compared with the pure-Python one on every real capture
in tests/data/captures, on synthetic files (every link type, pcapng in both
byte orders, IPv6 extension headers, fragments, snap-length cuts, hostile
options, bad checksums, a file whose row estimate is short) and on
Hypothesis-made frames.  Export tests skip where pyarrow is missing.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pytest
from conftest import compiled_if_built, compiled_twin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastseg
from fastseg import Flags, OptionKind, Segment, capture
from fastseg.capture import CaptureNotFound, CorruptCapture, Frame, NotACapture, columns
from fastseg.capture._columns_py import COLUMNS, IPV4_MAPPED_PREFIX

np = pytest.importorskip("numpy", reason="fastseg.capture.columns needs numpy")

HERE = Path(__file__).resolve().parent
CAPTURES = (sorted((HERE / "data" / "captures").glob("*.pcap"))
            + sorted((HERE / "data" / "encap").glob("*.pcap")))  # TCP inside tunnels
EXAMPLE = HERE.parent / "examples" / "columns_duckdb.py"

try:
    import pyarrow
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover - depends on the environment
    pyarrow = pq = None

requires_pyarrow = pytest.mark.skipif(
    pyarrow is None, reason="pyarrow is not installed (pip install 'fastseg-tcp[arrow]')")


def assert_same(a: Any, b: Any) -> None:
    """Two Columns hold the same arrays (names, dtypes, values) and the same reader facts."""
    assert list(a) == list(b) == [name for name, _, _ in COLUMNS]
    for name in a:
        x, y = a[name], b[name]
        assert x.dtype == y.dtype, name
        assert len(x) == len(y), name
        if not np.array_equal(x, y):
            where = np.nonzero(x != y)[0][:5]
            raise AssertionError(f"column {name} differs at rows {where}: {x[where]} != {y[where]}")
    for fact in ("name", "format", "linktypes", "frames", "cut_short", "rows"):
        assert getattr(a, fact) == getattr(b, fact), fact


def both(path: Any) -> Any:
    """The columns of ``path`` from the Python twin, checked equal to the compiled one's where
    it is built (a failure where it is required but missing).

    The compiled twin runs on one thread, on two, and on two handing over
    chunks of 1 and 3 rows (so a small file goes round the slots many times).
    """
    python = columns.columns(path, implementation="python")
    compiled = compiled_if_built("columns")
    if compiled is not None:
        for threads in (None, 1, 2):
            assert_same(columns.columns(path, implementation="cython", threads=threads), python)
        data = Path(path).read_bytes()
        for chunk in (1, 3):
            assert_same(compiled.decode(data, os.fsdecode(path), 2, chunk=chunk), python)
    return python


def compiled_all_ways(data: bytes, name: str = "<capture>") -> Any:
    """The compiled twin's columns of ``data``, checked the same on one thread and on two,
    whatever the chunk (the walker fills some chunks itself when the filler lags)."""
    module = compiled_twin("columns")
    first = module.decode(data, name, 1)
    for threads, chunk in ((1, 1), (1, 5), (2, 1), (2, 2), (2, 7), (2, 64), (2, module.CHUNK)):
        assert_same(module.decode(data, name, threads, chunk=chunk), first)
    return first


def seg(n: int = 0, payload: bytes = b"", **changes: Any) -> Segment:
    base = Segment(src_port=40000 + n, dst_port=443, seq=1000 + n, ack=7, flags=Flags.ACK | Flags.PSH,
                   window=512, options=[(OptionKind.NOP, None), (OptionKind.NOP, None),
                                        (OptionKind.TIMESTAMPS, (n, 9))], payload=payload)
    return base.replace(**changes) if changes else base


def frame(segment: Any, src: str = "192.0.2.1", dst: str = "198.51.100.7", *,
          linktype: int = 1, fix: bool = True) -> bytes:
    return capture.tcp_frame(segment, src, dst, linktype=linktype, fix_checksum=fix)


def write(path: Path, frames: Sequence[Any], linktype: int = 1, **kwargs: Any) -> Path:
    capture.write_pcap(path, frames, linktype=linktype, **kwargs)
    return path


class Pcapng:
    """A minimal pcapng writer: sections, interfaces and enhanced/simple packet blocks."""

    def __init__(self, order: str = "<") -> None:
        self.order, self.data = order, b""

    def block(self, block_type: int, body: bytes) -> Pcapng:
        body += b"\0" * (-len(body) % 4)
        head = struct.pack(self.order + "II", block_type, len(body) + 12)
        self.data += head + body + struct.pack(self.order + "I", len(body) + 12)
        return self

    def section(self, order: Optional[str] = None) -> Pcapng:
        self.order = order or self.order
        return self.block(0x0A0D0D0A, struct.pack(self.order + "IHHq", 0x1A2B3C4D, 1, 0, -1))

    def interface(self, linktype: int, tsresol: Optional[int] = None,
                  tsoffset: Optional[int] = None) -> Pcapng:
        options = b""
        if tsresol is not None:
            options += struct.pack(self.order + "HHB3x", 9, 1, tsresol)
        if tsoffset is not None:
            options += struct.pack(self.order + "HHq", 14, 8, tsoffset)
        return self.block(1, struct.pack(self.order + "HHI", linktype, 0, 0) + options)

    def epb(self, interface: int, ts: int, data: bytes, orig_len: Optional[int] = None) -> Pcapng:
        return self.block(6, struct.pack(self.order + "IIIII", interface, ts >> 32, ts & 0xFFFFFFFF,
                                         len(data), orig_len or len(data)) + data)

    def spb(self, data: bytes) -> Pcapng:
        return self.block(3, struct.pack(self.order + "I", len(data)) + data)


# ---------------------------------------------------------------- real captures


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_twins_agree_on_real_captures(path: Path) -> None:
    cols = both(path)
    assert cols.rows > 0 and cols.format == "pcap"


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_columns_say_what_segments_says(path: Path) -> None:
    """Each row, field by field, against the TcpRecord the reader yields for the same segment."""
    cols = columns.columns(path)
    records = list(capture.segments(path))
    assert cols.rows == len(records)
    for i, rec in enumerate(records):
        s = rec.segment
        assert cols["frame"][i] == rec.frame
        assert cols["timestamp_ns"][i] == rec.timestamp_ns
        assert cols["timestamp"][i] == rec.timestamp
        assert cols["version"][i] == rec.version
        assert columns.address(cols["src_addr"][i], rec.version) == rec.src_address
        assert columns.address(cols["dst_addr"][i]) == rec.dst_address
        if rec.version == 4:
            assert ipaddress.IPv4Address(int(cols["src_ipv4"][i])) == rec.src_address
        else:
            assert cols["src_ipv4"][i] == cols["dst_ipv4"][i] == 0
        assert (cols["src_port"][i], cols["dst_port"][i], cols["seq"][i], cols["ack"][i]) == \
            (s.src_port, s.dst_port, s.seq, s.ack)
        assert cols["flags"][i] == s.flags and cols["window"][i] == s.window
        assert cols["header_len"][i] == s.header_len
        assert cols["payload_len"][i] == len(s.payload)
        assert cols["mss"][i] == (-1 if s.mss is None else s.mss)
        assert cols["wscale"][i] == (-1 if s.wscale is None else s.wscale)
        assert cols["sack_permitted"][i] == s.sack_permitted
        assert cols["has_timestamps"][i] == (s.timestamps is not None)
        if s.timestamps is not None:
            assert (cols["tsval"][i], cols["tsecr"][i]) == s.timestamps
        assert cols["sack_blocks"][i] == len(s.sack_blocks or ())
        assert cols["checksum_ok"][i] == {True: 1, False: 0, None: -1}[rec.checksum_ok]


def test_known_values_of_a_handshake() -> None:
    cols = columns.columns(HERE / "data" / "captures" / "ipv4_handshake.pcap")
    syn = np.nonzero(cols["flags"] == int(Flags.SYN))[0][0]
    assert cols["mss"][syn] == 1460 and cols["wscale"][syn] == 10
    assert cols["sack_permitted"][syn] and cols["has_timestamps"][syn]
    kinds = int(cols["option_kinds"][syn])
    assert kinds == (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 8)  # NOP MSS WS SACK-P TS
    assert cols["src_addr"][syn].ljust(16, b"\0")[:12] == IPV4_MAPPED_PREFIX
    assert str(columns.address(cols["src_addr"][syn])) == "10.213.0.1"
    assert cols["src_ipv4"][syn] == 0x0AD50001
    assert (cols["checksum_ok"] == 1).all() and not cols["anomaly"].any()
    assert cols["timestamp"].dtype == np.float64 and cols["src_addr"].dtype == np.dtype("S16")


def test_sack_blocks_in_real_loss() -> None:
    cols = both(HERE / "data" / "captures" / "sack_loss_ipv6_nots.pcap")
    assert cols["sack_blocks"].max() == 4
    assert not cols["has_timestamps"].any()
    assert (cols["version"] == 6).all()


# ---------------------------------------------------------------- synthetic captures

HOSTILE = [
    seg(0),
    seg(1, b"payload"),
    seg(2, options=[(OptionKind.MSS, 1200), (OptionKind.MSS, 536), (OptionKind.WSCALE, 14),
                    (OptionKind.SACK_PERMITTED, None), (OptionKind.SACK, ((1, 2), (3, 4)))]),
    seg(3, options=[(OptionKind.MSS, b"\x05"), (OptionKind.WSCALE, b""), (OptionKind.TIMESTAMPS, b"12"),
                    (OptionKind.SACK, b"123"), (OptionKind.SACK_PERMITTED, b"x")]),
    seg(4, options=[(200, b"abc"), (63, b""), (30, b"\x00\x01"), (OptionKind.EOL, b"\x02\x04")]),
    seg(5, options=[(None, b"\x02")], flags=0x1FF, reserved=7),
    seg(6, options=[(None, b"\x08\x00\x01\x02")]),
    seg(7, options=[(None, b"\x05\x0c" + bytes(10))]),
    seg(8, header_len=16, options=[]),
    seg(9, b"abcdef", header_len=60, options=[]),
    seg(10, options=[]),
]


def past_the_end(src: str = "192.0.2.1", dst: str = "198.51.100.7") -> bytes:
    """A segment of 26 bytes whose data offset says 60, with a right checksum."""
    raw = bytearray(fastseg.pack(seg(11, b"abcdef", options=[])))
    raw[12] = 0xF0 | (raw[12] & 0x0F)
    raw[16:18] = fastseg.tcp_checksum(src, dst, bytes(raw)).to_bytes(2, "big")
    return bytes(raw)


def test_twins_agree_on_hostile_options_and_flags(tmp_path: Path) -> None:
    frames = [frame(s) for s in HOSTILE] + [frame(s, fix=False) for s in HOSTILE]
    frames.append(frame(past_the_end()))
    cols = both(write(tmp_path / "hostile.pcap", frames))
    assert cols.rows == 2 * len(HOSTILE) + 1
    assert cols["header_len"][-1] == 60 and cols["anomaly"][-1] and cols["payload_len"][-1] == 0
    assert cols["checksum_ok"][-1] == 1
    assert cols["mss"][2] == 1200 and cols["wscale"][2] == 14 and cols["sack_blocks"][2] == 2
    assert cols["mss"][3] == -1 and cols["wscale"][3] == -1 and cols["anomaly"][3]
    assert not cols["has_timestamps"][3] and not cols["sack_permitted"][3]
    assert int(cols["option_kinds"][4]) == (1 << 63) | (1 << 63) | (1 << 30) | 1
    assert cols["flags"][5] == 0x1FF and cols["reserved"][5] == 7 and cols["anomaly"][5]
    assert cols["header_len"][8] == 16 and cols["anomaly"][8]
    assert cols["header_len"][9] == 60 and not cols["anomaly"][9] and cols["payload_len"][9] == 6
    assert (cols["checksum_ok"][: len(HOSTILE)] == 1).all()
    assert (cols["checksum_ok"][len(HOSTILE):-1] == 0).sum() >= len(HOSTILE) - 1


@pytest.mark.parametrize("linktype", [0, 1, 101, 108, 228, 229])
@pytest.mark.parametrize("version", [4, 6])
def test_twins_agree_on_link_types(tmp_path: Path, linktype: int, version: int) -> None:
    if (linktype, version) in ((228, 6), (229, 4)):
        pytest.skip("that link type carries the other IP version")
    src, dst = ("192.0.2.1", "198.51.100.7") if version == 4 else ("2001:db8::1", "2001:db8::2")
    frames = [Frame(frame(seg(n, b"x" * n), src, dst, linktype=linktype), 10**9 * n + n)
              for n in range(20)]
    cols = both(write(tmp_path / "link.pcap", frames, linktype=linktype, nanosecond=True))
    assert cols.rows == 20 and (cols["version"] == version).all()
    assert list(cols["timestamp_ns"]) == [10**9 * n + n for n in range(20)]
    assert (cols["checksum_ok"] == 1).all()


def test_twins_agree_on_ipv6_extensions_fragments_and_cuts(tmp_path: Path) -> None:
    tcp = fastseg.pack(seg(1, b"data" * 10), src="2001:db8::1", dst="2001:db8::2")
    hop = bytes([6, 0, 1, 4, 0, 0, 0, 0])                    # hop-by-hop with PadN, then TCP
    frag = bytes([6, 0, 0, 8, 0, 0, 0, 1])                   # a non-atomic fragment
    atomic = bytes([6, 0, 0, 0, 0, 0, 0, 1])                  # an atomic fragment: read through
    v6 = [capture.ipv6_packet("2001:db8::1", "2001:db8::2", head + tcp, next_header=nh)
          for head, nh in ((b"", 6), (hop, 0), (frag, 44), (atomic, 44))]
    v4 = capture.ipv4_packet("192.0.2.1", "198.51.100.7",
                             fastseg.pack(seg(2, b"y" * 100), src="192.0.2.1", dst="198.51.100.7"))
    v4_frag = capture.ipv4_packet("192.0.2.1", "198.51.100.7", b"z" * 40, more_fragments=True)
    udp = capture.ipv4_packet("192.0.2.1", "198.51.100.7", b"u" * 20, protocol=17)
    frames: List[Any] = [capture.ethernet_frame(p) for p in (*v6, v4, v4_frag, udp)]
    eth = capture.ethernet_frame(v4)
    frames += [Frame(eth[:70], 5, len(eth)),                 # cut inside the payload
               Frame(eth[:60], 6, len(eth)),                 # cut inside the options
               Frame(eth[:40], 7, len(eth)),                 # cut inside the TCP header: no row
               capture.ethernet_frame(v4, vlans=[5, 7]),
               b"\x01\x02"]
    cols = both(write(tmp_path / "mixed.pcap", frames))
    assert list(cols["frame"]) == [1, 2, 4, 5, 8, 9, 11]
    assert list(cols["checksum_ok"]) == [1, 1, 1, 1, -1, -1, 1]
    assert cols["anomaly"][5] and not cols["anomaly"][4]


def test_twins_agree_on_pcapng(tmp_path: Path) -> None:
    a = frame(seg(1, b"a"))
    b = frame(seg(2, b"bb"), "2001:db8::1", "2001:db8::2", linktype=101)
    png = (Pcapng("<").section().interface(1).interface(101, tsresol=9)
           .epb(0, 1_700_000_000_000_000, a).epb(1, 1_700_000_000_123_456_789, b).spb(a)
           .section(">").interface(1, tsresol=0x80 | 20, tsoffset=100)
           .epb(0, 3 << 20, a, orig_len=len(a) + 10))
    path = tmp_path / "two.pcapng"
    path.write_bytes(png.data + b"\x06\x00")                  # and a cut-short tail
    cols = both(path)
    assert cols.format == "pcapng" and cols.linktypes == [1, 101, 1] and cols.cut_short
    assert list(cols["interface"]) == [0, 1, 0, 0]
    assert list(cols["timestamp_ns"]) == [1_700_000_000_000_000_000, 1_700_000_000_123_456_789,
                                          0, 100 * 10**9 + 3 * 10**9]
    assert list(cols["checksum_ok"]) == [1, 1, 1, 1]     # orig_len says more, but all was there


def test_rows_grow_past_the_estimate(tmp_path: Path) -> None:
    """Big frames first, so the row estimate from the file's start is far too small."""
    big = [Frame(frame(seg(n, bytes(1400))), n) for n in range(400)]
    small = [Frame(frame(seg(n)), n) for n in range(20_000)]
    cols = both(write(tmp_path / "grow.pcap", big + small))
    assert cols.rows == 20_400
    assert list(cols["src_port"][398:402]) == [40398, 40399, 40000, 40001]


def test_empty_capture_and_no_tcp(tmp_path: Path) -> None:
    cols = both(write(tmp_path / "none.pcap", []))
    assert cols.rows == 0 and all(len(a) == 0 for a in cols.values())
    udp = capture.ethernet_frame(capture.ipv4_packet("192.0.2.1", "198.51.100.7", b"u" * 8,
                                                     protocol=17))
    cols = both(write(tmp_path / "udp.pcap", [udp] * 3))
    assert cols.rows == 0 and cols.frames == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([0, 1, 101, 108]),
       st.lists(st.tuples(st.binary(min_size=20, max_size=120), st.integers(0, 200), st.booleans()),
                max_size=12))
def test_twins_agree_on_random_segments(tmp_path: Path, linktype: int, items: List[Any]) -> None:
    frames = []
    for raw, cut, v6 in items:
        src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "198.51.100.7")
        data = frame(raw, src, dst, linktype=linktype)
        frames.append(Frame(data[:max(len(data) - cut, 0)], 0, len(data)))
    both(write(tmp_path / "random.pcap", frames, linktype=linktype))


def test_bench_corpus(tmp_path: Path) -> None:
    from harness import corpus as bench

    corpus = bench.build_corpus(3000, seed=7)
    path = str(tmp_path / "bench.pcap")
    bench.write_pcap(corpus, path)
    cols = both(path)
    assert cols.rows == 3000 and (cols["checksum_ok"] == 1).all()
    assert list(cols["seq"]) == [fields[2] for fields in corpus.fields]
    assert list(cols["payload_len"]) == [len(fields[10]) for fields in corpus.fields]


# ---------------------------------------------------------------- errors and sources


@pytest.mark.parametrize("impl", ["python", "cython"])
def test_errors_match_the_reader(tmp_path: Path, impl: str) -> None:
    if impl == "cython":
        compiled_twin("columns")
    with pytest.raises(CaptureNotFound, match="no such file"):
        columns.columns(tmp_path / "missing.pcap", implementation=impl)
    (tmp_path / "text.txt").write_bytes(b"hello, this is not a capture at all")
    with pytest.raises(NotACapture, match="starts with 68656c6c"):
        columns.columns(tmp_path / "text.txt", implementation=impl)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(NotACapture, match="empty file"):
        columns.columns(tmp_path / "empty", implementation=impl)
    good = write(tmp_path / "good.pcap", [frame(seg(1))]).read_bytes()
    bad = good[:24] + good[24:32] + struct.pack("<I", 100 << 20) + good[36:]
    (tmp_path / "corrupt.pcap").write_bytes(bad + good[24:])
    with pytest.raises(CorruptCapture, match="at byte 24: record of 104857600 bytes"):
        columns.columns(tmp_path / "corrupt.pcap", implementation=impl)
    with pytest.raises(ValueError, match="implementation"):
        columns.columns(tmp_path / "good.pcap", implementation="rust")


def test_file_objects(tmp_path: Path) -> None:
    path = write(tmp_path / "f.pcap", [frame(seg(n)) for n in range(5)])
    with open(path, "rb") as file:
        cols = columns.columns(file)
    assert cols.rows == 5 and cols.name == str(path)


# ---------------------------------------------------------------- export


def corpus_file(tmp_path: Path, name: str = "c.pcap", count: int = 500) -> Path:
    frames = [Frame(frame(seg(n, b"p" * (n % 50)), f"10.0.0.{n % 7 + 1}", "10.0.1.1"), n * 1000)
              for n in range(count)]
    frames += [Frame(frame(seg(n), "2001:db8::1", "2001:db8::" + format(n + 0x100, "x")), 0)
               for n in range(10)]
    return write(tmp_path / name, frames)


@requires_pyarrow
@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_export_reads_back(tmp_path: Path, fmt: str) -> None:
    path = corpus_file(tmp_path)
    out = tmp_path / f"out.{fmt}"
    assert columns.export([path], out) == 510
    table = pq.read_table(out) if fmt == "parquet" else pyarrow.ipc.open_file(out).read_all()
    cols = columns.columns(path)
    assert table.column_names == [name for name, _, _ in COLUMNS]
    for name, dtype, _ in COLUMNS:
        got = table[name].to_pylist()
        if dtype == "S16":
            assert table.schema.field(name).type == pyarrow.binary(16)
            assert got == [bytes(v).ljust(16, b"\0") for v in cols[name]]
            last = "2001:db8::1" if name == "src_addr" else "2001:db8::109"
            assert ipaddress.ip_address(got[-1]) == ipaddress.ip_address(last)
        else:
            assert table.schema.field(name).type == pyarrow.from_numpy_dtype(np.dtype(dtype)), name
            assert got == cols[name].tolist(), name


@requires_pyarrow
def test_export_several_files_with_file_column(tmp_path: Path) -> None:
    a, b = corpus_file(tmp_path, "a.pcap", 30), corpus_file(tmp_path, "b.pcap", 20)
    out = tmp_path / "both.parquet"
    assert columns.export([a, b], out) == 70
    table = pq.read_table(out)
    assert table.column_names[0] == "file"
    assert table["file"].to_pylist() == [str(a)] * 40 + [str(b)] * 30


def test_export_csv(tmp_path: Path) -> None:
    path = corpus_file(tmp_path, count=20)
    out = tmp_path / "out.csv"
    assert columns.export([path], out) == 30
    with open(out, newline="") as file:
        rows = list(csv.DictReader(file))
    cols = columns.columns(path)
    assert len(rows) == 30 and list(rows[0]) == [name for name, _, _ in COLUMNS]
    assert [int(r["seq"]) for r in rows] == cols["seq"].tolist()
    assert [float(r["timestamp"]) for r in rows] == cols["timestamp"].tolist()
    assert ipaddress.ip_address(bytes.fromhex(rows[0]["src_addr"])).ipv4_mapped == \
        ipaddress.IPv4Address("10.0.0.1")
    assert rows[-1]["dst_addr"] == ipaddress.IPv6Address("2001:db8::109").packed.hex()


@requires_pyarrow
def test_duckdb_or_polars_read_the_parquet(tmp_path: Path) -> None:
    path = corpus_file(tmp_path)
    out = str(tmp_path / "q.parquet")
    columns.export([path], out)
    expected = int((columns.columns(path)["payload_len"]).sum())
    try:
        import duckdb
    except ImportError:
        duckdb = None
    if duckdb is not None:
        total, v6 = duckdb.sql(f"SELECT sum(payload_len), count(*) FILTER (version = 6) "
                               f"FROM '{out}'").fetchall()[0]
        assert (total, v6) == (expected, 10)
    try:
        import polars as pl
    except ImportError:
        pl = None
    if pl is not None:
        assert pl.read_parquet(out)["payload_len"].sum() == expected
    if duckdb is None and pl is None:
        pytest.skip("neither duckdb nor polars is installed; pyarrow read-back is tested above")


def test_export_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from fastseg import cli
    from fastseg.cli import export

    path = corpus_file(tmp_path, count=10)
    out = tmp_path / "cli.csv"
    assert cli.main(["export", str(path), "-o", str(out)]) == 0
    assert "20 segments from 1 file" in capsys.readouterr().out
    assert out.read_text().count("\n") == 21
    assert cli.main(["export", str(tmp_path / "nope.pcap"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    monkeypatch.setitem(sys.modules, "pyarrow", None)          # as if pyarrow were missing
    assert export.main([str(path), "-o", str(tmp_path / "x.parquet")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install" in err
    assert not (tmp_path / "x.parquet").exists()


@requires_pyarrow
def test_export_leaves_no_partial_file(tmp_path: Path) -> None:
    good = corpus_file(tmp_path, count=5)
    with pytest.raises(CaptureNotFound):
        columns.export([good, tmp_path / "missing.pcap"], tmp_path / "o.parquet")
    assert os.listdir(tmp_path) == ["c.pcap"]


@requires_pyarrow
def test_example_runs() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                            timeout=120, cwd=str(HERE.parent))
    assert result.returncode == 0, result.stderr
    from fastseg.analyze import SAMPLE

    assert f"exported {len(list(capture.segments(SAMPLE)))} segments" in result.stdout
    assert "engine:" in result.stdout


# ---------------------------------------------------------------- the two threads


def bench_file(tmp_path: Path, count: int, name: str = "bench.pcap", seed: int = 7) -> Path:
    from harness import corpus as bench

    path = tmp_path / name
    bench.write_pcap(bench.build_corpus(count, seed=seed), str(path))
    return path


@pytest.mark.parametrize("count", [0, 1, 2, 5, 63, 64, 65, 1001])
def test_threads_agree_whatever_the_rows(tmp_path: Path, count: int) -> None:
    """Row counts below, at and past a chunk, odd and even, on one thread and on two."""
    compiled_twin("columns")
    path = bench_file(tmp_path, count) if count else write(tmp_path / "bench.pcap", [])
    python = columns.columns(path, implementation="python")
    cols = compiled_all_ways(path.read_bytes(), str(path))
    assert_same(cols, python)
    assert cols.rows == count and (cols["checksum_ok"] == 1).all()


def test_threads_on_a_file_big_enough_for_them(tmp_path: Path) -> None:
    """Past THREAD_MIN_BYTES the default is two threads (where there are two CPUs)."""
    compiled_twin("columns")
    module = compiled_twin("columns")
    data = bench_file(tmp_path, 4000).read_bytes()
    repeat = module.THREAD_MIN_BYTES // (len(data) - 24) + 1
    path = tmp_path / "big.pcap"
    path.write_bytes(data[:24] + data[24:] * repeat)             # the same records over again
    assert path.stat().st_size >= module.THREAD_MIN_BYTES
    default = columns.columns(path)
    assert_same(default, columns.columns(path, threads=1))
    assert_same(default, columns.columns(path, threads=2))
    assert default.rows == 4000 * repeat and (default["checksum_ok"] == 1).all()
    assert (default["frame"] == np.arange(1, 4000 * repeat + 1)).all()


def test_threads_with_a_truncated_last_record(tmp_path: Path) -> None:
    compiled_twin("columns")
    data = bench_file(tmp_path, 300).read_bytes()
    for cut in (1, 15, 16, 17, 60):
        path = tmp_path / f"cut{cut}.pcap"
        path.write_bytes(data[:-cut])
        python = columns.columns(path, implementation="python")
        cols = compiled_all_ways(path.read_bytes(), str(path))
        assert_same(cols, python)
        assert cols.cut_short and cols.rows == 299 and cols.frames == 299


def test_threads_on_pcapng_with_several_interfaces(tmp_path: Path) -> None:
    """Sections in both byte orders, three interfaces, EPB/SPB, frames that are not TCP."""
    compiled_twin("columns")
    png = Pcapng("<").section().interface(1).interface(101, tsresol=9).interface(113)
    udp = capture.ethernet_frame(capture.ipv4_packet("192.0.2.1", "198.51.100.7", b"u" * 8,
                                                     protocol=17))
    for n in range(300):
        png.epb(n % 2, 1_700_000_000_000_000 + n, frame(seg(n, b"a" * (n % 9)))
                if n % 2 == 0 else frame(seg(n), "2001:db8::1", "2001:db8::2", linktype=101))
        if n % 7 == 0:
            png.epb(0, n, udp).spb(frame(seg(n, b"s")))
    png.section(">").interface(1, tsresol=0x80 | 20)
    for n in range(100):
        png.epb(0, n << 20, frame(seg(n, b"b" * n)))
    path = tmp_path / "many.pcapng"
    path.write_bytes(png.data)
    cols = both(path)
    assert_same(compiled_all_ways(path.read_bytes(), str(path)), cols)
    assert cols.rows == 300 + 43 + 100 and set(cols["interface"]) == {0, 1}


def test_threads_with_timestamps_before_1970(tmp_path: Path) -> None:
    """A negative if_tsoffset: nanoseconds below zero round down into whole seconds."""
    compiled_twin("columns")
    png = Pcapng("<").section().interface(1, tsresol=9, tsoffset=-5)
    for n in range(50):
        png.epb(0, n * 123_456_789, frame(seg(n)))
    path = tmp_path / "old.pcapng"
    path.write_bytes(png.data)
    cols = both(path)
    assert cols["timestamp_ns"][0] == -5 * 10**9 and cols["timestamp"][1] < 0
    assert cols["timestamp"][1] == capture._common.split_ns(123_456_789 - 5 * 10**9)


def corrupt_after(tmp_path: Path, count: int, tail: bytes, name: str = "bad.pcap") -> Path:
    """The bench corpus file of ``count`` segments with ``tail`` after it."""
    path = bench_file(tmp_path, count, name)
    path.write_bytes(path.read_bytes() + tail)
    return path


def test_threads_raise_the_same_errors(tmp_path: Path) -> None:
    """An error after many rows, with chunks in flight, is the one the Python twin raises."""
    compiled_twin("columns")
    module = compiled_twin("columns")
    path = corrupt_after(tmp_path, 500, struct.pack("<IIII", 0, 0, 100 << 20, 100 << 20))
    with pytest.raises(CorruptCapture) as expected:
        columns.columns(path, implementation="python")
    data = path.read_bytes()
    for threads, chunk in ((1, 4096), (2, 1), (2, 7), (2, 4096)):
        with pytest.raises(CorruptCapture) as got:
            module.decode(data, str(path), threads, chunk=chunk)
        assert str(got.value) == str(expected.value)
    png = Pcapng("<").section().interface(1, tsresol=0x80 | 1)       # half seconds
    for n in range(200):
        png.epb(0, n, frame(seg(n)))
    png.epb(0, 2**63, frame(seg(1)))                           # past 2262
    path = tmp_path / "late.pcapng"
    path.write_bytes(png.data)
    with pytest.raises(capture.CaptureError, match="out of the int64 nanosecond range") as late:
        columns.columns(path, implementation="python")
    for threads, chunk in ((1, 4096), (2, 3)):
        with pytest.raises(capture.CaptureError) as got_late:
            module.decode(png.data, str(path), threads, chunk=chunk)
        assert str(got_late.value) == str(late.value)


def test_record_length_near_2_to_32_is_refused_not_looped_on(tmp_path: Path) -> None:
    """16 + a captured length of 2**32 - 16 wrapped to 0 in the row estimate: a hang, now an error.

    Run in a child process with a time limit, so that a regression fails instead of hanging.
    """
    good = write(tmp_path / "good.pcap", [frame(seg(1))]).read_bytes()
    path = tmp_path / "wrap.pcap"
    path.write_bytes(good + struct.pack("<IIII", 0, 0, 2**32 - 16, 2**32 - 16) + bytes(64))
    code = ("import sys, fastseg\nfrom fastseg.capture import CorruptCapture, columns\n"
            "for impl in {'python', fastseg.IMPLEMENTATION}:\n"
            "    try:\n        columns.columns(sys.argv[1], implementation=impl)\n"
            "    except CorruptCapture as exc:\n        print(impl, exc)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # cwd: not the source tree
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all("record of 4294967280 bytes" in line for line in lines), done.stdout


def test_threads_are_joined(tmp_path: Path) -> None:
    """No filler thread outlives a call, whether it returns or raises."""
    compiled_twin("columns")
    import threading

    module = compiled_twin("columns")
    good = bench_file(tmp_path, 200).read_bytes()
    bad = good + struct.pack("<IIII", 0, 0, 100 << 20, 0)
    before = threading.active_count()
    for _ in range(20):
        module.decode(good, "good", 2, chunk=3)
        with pytest.raises(CorruptCapture):
            module.decode(bad, "bad", 2, chunk=3)
    assert threading.active_count() == before


@pytest.mark.parametrize("impl", ["python", "cython"])
def test_threads_argument(tmp_path: Path, impl: str) -> None:
    if impl == "cython":
        compiled_twin("columns")
    path = write(tmp_path / "t.pcap", [frame(seg(1))])
    bad: Any
    for bad in (0, -1, "2", 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            columns.columns(path, implementation=impl, threads=bad)
    assert columns.columns(path, implementation=impl, threads=8).rows == 1


def test_chunk_argument_of_the_compiled_twin(tmp_path: Path) -> None:
    path = write(tmp_path / "t.pcap", [frame(seg(1))])
    for bad in (0, 1 << 21, 1.5, AgreeableInt(0), AgreeableInt(2**59)):
        with pytest.raises(ValueError, match="chunk"):
            compiled_twin("columns").decode(path.read_bytes(), "t", 2, chunk=bad)


class AgreeableInt(int):
    """An int whose comparisons say it is in any range: the C code uses its digits."""

    def __le__(self, other: object) -> bool:
        return True

    def __ge__(self, other: object) -> bool:
        return True

    __lt__ = __gt__ = __le__


def test_threads_and_routing_headers(tmp_path: Path) -> None:
    """The checksum of a segment routed through an IPv6 routing header covers its final
    destination (RFC 8200 §8.1): the compiled twin's one-pass sum hands those to _frames."""
    src, via, final = "2001:db8::1", "2001:db8::99", "2001:db8::2"
    packed = ipaddress.IPv6Address(final).packed

    def routed(n: int, routing_type: int, left: int, fix_for: str) -> bytes:
        tcp = fastseg.pack(seg(n, b"r" * n), src=src, dst=fix_for)
        if routing_type == 0:
            head = bytes([6, 2, 0, left, 0, 0, 0, 0]) + packed          # type 0: the last address
        else:
            head = bytes([6, 2, 2, left, 0, 0, 0, 0]) + packed          # type 2: the home address
        return capture.ethernet_frame(capture.ipv6_packet(src, via, head + tcp, next_header=43))

    frames = [routed(n, n % 2 * 2, left, dst) for n in range(40)
              for left, dst in ((1, final), (0, via), (1, via))]
    cols = both(write(tmp_path / "routed.pcap", frames))
    assert cols.rows == 120
    assert list(cols["checksum_ok"][:3]) == [1, 1, 0]
