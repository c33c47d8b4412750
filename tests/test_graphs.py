"""The graph data of ``fastseg.analyze.graphs`` (and its pictures) on captures with known events.

The kernel captures of ``tests/data/captures`` (README there) hold known losses, SACK blocks, a
zero window and resets.  The graph data must mark exactly the analysis' anomaly frames, agree
with tshark on relative sequence and acknowledgment numbers, lengths, scaled windows, SACK
blocks and retransmissions, keep its numbers across a sequence-number wrap, and honour Karn's
rule in its RTT samples.  The pictures (matplotlib, the ``plot`` extra) are checked for the
marks they must show and for the message when matplotlib is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from fastseg import Flags, OptionKind, Segment, capture
from fastseg.analyze import SAMPLE, analyze_file
from fastseg.analyze.graphs import (
    AckPoint,
    ConnectionGraphs,
    DirectionGraphs,
    SegmentPoint,
    _Builder,
    graphs_for_file,
    state_spans,
    thin,
)

DATA = Path(__file__).resolve().parent / "data"
CAPTURES = DATA / "captures"
KNOWN = [CAPTURES / name for name in ("sack_loss_ipv4.pcap", "sack_loss_ipv6_nots.pcap",
                                      "zero_window.pcap", "rst.pcap", "ipv6_handshake.pcap")]
ALL = [*KNOWN, Path(SAMPLE), DATA / "analysis" / "snaplen_echo.pcap",
       DATA / "analysis" / "self_connect.pcap"]
TSHARK = shutil.which("tshark")
REQUIRED = os.environ.get("FASTSEG_REQUIRE_PLOT") == "1"


def _graphs(path: Path) -> Tuple[Dict[str, Any], List[ConnectionGraphs]]:
    result = analyze_file(str(path), all_frames=True)
    return result, graphs_for_file(str(path), result)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_marks_are_the_analysis_frames(path: Path) -> None:
    result, graphs = _graphs(path)
    assert len(graphs) == len(result["connections"])
    for conn, g in zip(result["connections"], graphs):
        assert g.id == conn["id"]
        marked: Dict[str, List[int]] = {}
        for d in g.directions.values():
            frames = [p.frame for p in d.segments]
            assert frames == sorted(frames)
            for p in d.segments:
                for kind in p.marks:
                    marked.setdefault(kind, []).append(p.frame)
        expected = {kind: sorted(entry["frames"]) for kind, entry in conn["anomalies"].items()}
        assert {k: sorted(v) for k, v in marked.items()} == expected
        for role in ("client", "server"):
            if g.directions[role].source != g.directions[role].destination:
                assert len(g.directions[role].segments) == conn["segments"][role]
                assert sum(p.payload for p in g.directions[role].segments) == conn["bytes"][role]


def test_all_frames_lists_more_than_twenty(tmp_path: Path) -> None:
    """The handshake capture with its reply segment sent 30 more times: 30 retransmissions,
    all of them listed and marked with ``all_frames``, 20 without."""
    records = list(capture.segments(str(CAPTURES / "ipv4_handshake.pcap")))
    data = next(r for r in records if len(r.segment.payload) > 100)
    again = [capture.Frame(capture.tcp_frame(data.segment, data.src, data.dst),
                           data.timestamp_ns + n) for n in range(1, 31)]
    path = tmp_path / "again.pcap"
    capture.write_pcap(str(path), [*records[:-1], *again, records[-1]])
    capped = analyze_file(str(path))["connections"][0]["anomalies"]["retransmission"]
    full, (g,) = _graphs(path)
    entry = full["connections"][0]["anomalies"]["retransmission"]
    assert entry["count"] == capped["count"] >= 30
    assert len(entry["frames"]) == entry["count"] and capped["frames"] == entry["frames"][:20]
    server = "server" if data.segment.src_port == full["connections"][0]["server"]["port"] \
        else "client"
    assert g.directions[server].marked("retransmission") == entry["frames"]


def _tshark(path: Path) -> Dict[int, Dict[str, str]]:
    fields = ["frame.number", "tcp.seq", "tcp.len", "tcp.ack", "tcp.window_size",
              "tcp.flags.ack", "tcp.flags.reset", "tcp.options.sack_le", "tcp.options.sack_re",
              "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission"]
    command = [TSHARK or "tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields",
               "-E", "occurrence=a", "-E", "aggregator=,",
               "-o", "tcp.relative_sequence_numbers:TRUE",
               "-o", "tcp.analyze_sequence_numbers:TRUE", "-o", "tcp.desegment_tcp_streams:FALSE"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {}
    for line in out.splitlines():
        values = dict(zip(fields, line.split("\t")))
        rows[int(values["frame.number"])] = values
    return rows


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize("path", KNOWN, ids=lambda p: p.name)
def test_numbers_agree_with_tshark(path: Path) -> None:
    _, graphs = _graphs(path)
    shark = _tshark(path)
    retransmitted = {f for f, row in shark.items()
                     if row["tcp.analysis.retransmission"] or row["tcp.analysis.fast_retransmission"]}
    ours = set()
    acks = sacks = 0
    for g in graphs:
        for d in g.directions.values():
            for p in d.segments:
                row = shark[p.frame]
                assert (p.seq, p.payload) == (int(row["tcp.seq"]), int(row["tcp.len"])), p.frame
                if "retransmission" in p.marks:
                    ours.add(p.frame)
            for a in d.acks:
                row = shark[a.frame]
                assert a.ack == int(row["tcp.ack"]), a.frame
                assert a.window == int(row["tcp.window_size"]), a.frame
                lefts = [int(v) for v in row["tcp.options.sack_le"].split(",") if v]
                rights = [int(v) for v in row["tcp.options.sack_re"].split(",") if v]
                assert list(a.sack) == list(zip(lefts, rights)), a.frame
                acks += 1
                sacks += len(a.sack)
    assert ours == retransmitted
    assert acks > 0
    if "sack" in path.name:
        assert sacks > 0 and len(ours) >= 5


def test_known_events_of_the_lossy_uploads() -> None:
    for name, drops, most_blocks in (("sack_loss_ipv4.pcap", 5, 3),
                                     ("sack_loss_ipv6_nots.pcap", 6, 4)):
        _, (g,) = _graphs(CAPTURES / name)
        upload = g.directions["client"]
        assert len(upload.marked("retransmission")) == drops
        assert not g.directions["server"].marked("retransmission")
        assert max(len(a.sack) for a in upload.acks) == most_blocks
        end = max(p.end for p in upload.segments)
        assert end == 60002  # SYN + 60000 bytes + FIN
        for a in upload.acks:
            for lo, hi in a.sack:
                assert a.ack < lo < hi <= end  # a SACK block lies above the cumulative ACK
        assert [p.flags for p in upload.segments if p.flags] == ["S", "F"]


def test_zero_window_is_on_the_acks_of_the_upload() -> None:
    result, (g,) = _graphs(CAPTURES / "zero_window.pcap")
    frames = result["connections"][0]["anomalies"]["zero_window"]["frames"]
    zero = [a.frame for a in g.directions["client"].acks if a.window == 0]
    assert zero == frames and zero
    assert g.directions["client"].window_scaled


def test_resets_are_flagged() -> None:
    _, graphs = _graphs(CAPTURES / "rst.pcap")
    flagged = sorted(p.frame for g in graphs for d in g.directions.values()
                     for p in d.segments if "R" in p.flags)
    with capture.open_capture(str(CAPTURES / "rst.pcap")) as reader:
        expected = sorted(r.frame for r in reader if r.segment.flags & 0x04)
    assert flagged == expected and len(expected) == 3


def _shifted(path: Path, out: Path, isn: int) -> None:
    """The capture with the client's sequence space moved so that its ISN is ``isn``."""
    records = list(capture.segments(str(path)))
    client = records[0]  # the SYN
    delta = (isn - client.segment.seq) & 0xFFFFFFFF
    frames = []
    for rec in records:
        seg = rec.segment
        if rec.src == client.src and seg.src_port == client.segment.src_port:
            seg = seg.replace(seq=(seg.seq + delta) & 0xFFFFFFFF)
        elif seg.flags & 0x10:
            options = tuple(
                (kind, tuple(((a + delta) & 0xFFFFFFFF, (b + delta) & 0xFFFFFFFF) for a, b in value))
                if kind == OptionKind.SACK else (kind, value) for kind, value in seg.options)
            seg = seg.replace(ack=(seg.ack + delta) & 0xFFFFFFFF, options=options)
        frames.append(capture.Frame(capture.tcp_frame(seg, rec.src, rec.dst, fix_checksum=True),
                                    rec.timestamp_ns))
    capture.write_pcap(str(out), frames)


def test_sequence_wrap_changes_no_number(tmp_path: Path) -> None:
    original = CAPTURES / "sack_loss_ipv4.pcap"
    wrapped = tmp_path / "wrapped.pcap"
    _shifted(original, wrapped, 0xFFFFFFFF - 20000)  # wraps a third of the way through
    (a,), (b,) = _graphs(original)[1], _graphs(wrapped)[1]
    for role in ("client", "server"):
        da, db = a.directions[role], b.directions[role]
        assert [(p.seq, p.length, p.marks) for p in da.segments] == \
               [(p.seq, p.length, p.marks) for p in db.segments]
        assert [(x.ack, x.window_edge, x.sack) for x in da.acks] == \
               [(x.ack, x.window_edge, x.sack) for x in db.acks]
    assert max(p.end for p in b.directions["client"].segments) == 60002


def test_rtt_samples_of_a_connection_without_timestamps() -> None:
    _, (g,) = _graphs(CAPTURES / "sack_loss_ipv6_nots.pcap")  # no timestamps: ACK samples only
    upload = g.directions["client"]
    assert len(upload.rtt) >= 5 and all(source == "ack" for _, _, source in upload.rtt)
    assert all(0 < rtt <= t <= g.duration for t, rtt, _ in upload.rtt)
    ack_times = {a.time for a in upload.acks}
    assert all(t in ack_times for t, _, _ in upload.rtt)


class _Rec:
    """The fields of a capture record the graph builder reads."""

    def __init__(self, frame: int, timestamp: float, segment: Segment) -> None:
        self.frame, self.timestamp, self.segment = frame, timestamp, segment
        self.checksum_ok, self.announced_payload = True, len(segment.payload)


def test_rtt_sample_only_from_segments_sent_once() -> None:
    """Karn: data sent twice gives no sample from its ACK; data sent once does."""
    direction = DirectionGraphs("client", "a", "b", None, False)
    builder = _Builder(direction, 0.0, 0)
    isn = 0xFFFFFF00  # the ACK numbers wrap too
    builder.sent(_Rec(1, 0.0, Segment(seq=isn, flags=Flags.SYN)), ())
    builder.acknowledged(_Rec(2, 0.1, Segment(seq=7, ack=isn + 1, flags=Flags.SYN | Flags.ACK)))
    once = Segment(seq=isn + 1, ack=8, flags=Flags.ACK, payload=bytes(1000))
    builder.sent(_Rec(3, 1.0, once), ())
    builder.acknowledged(_Rec(4, 1.25, Segment(seq=8, ack=(isn + 1001) & 0xFFFFFFFF,
                                               flags=Flags.ACK)))
    twice = Segment(seq=(isn + 1001) & 0xFFFFFFFF, ack=8, flags=Flags.ACK, payload=bytes(1000))
    builder.sent(_Rec(5, 2.0, twice), ())
    builder.sent(_Rec(6, 3.0, twice), ("retransmission",))
    builder.acknowledged(_Rec(7, 3.5, Segment(seq=8, ack=(isn + 2001) & 0xFFFFFFFF,
                                              flags=Flags.ACK)))
    assert [(t, round(r, 9)) for t, r, _ in direction.rtt] == [(0.1, 0.1), (1.25, 0.25)]
    assert [a.ack for a in direction.acks] == [1, 1001, 2001]


def _sack_episode(retransmit: bool, sack: bool = True) -> DirectionGraphs:
    """Three segments, the second missing: the receiver SACKs the third (or, without
    ``sack``, only repeats its ACK); then the second arrives (sent again, or only late) and one
    cumulative ACK covers both."""
    direction = DirectionGraphs("client", "a", "b", None, False)
    builder = _Builder(direction, 0.0, 0)
    builder.sent(_Rec(1, 0.0, Segment(seq=0, flags=Flags.SYN)), ())
    builder.acknowledged(_Rec(2, 0.1, Segment(seq=7, ack=1, flags=Flags.SYN | Flags.ACK)))
    for frame, (t, seq) in enumerate(((1.0, 1), (1.01, 1001), (1.02, 2001)), 3):
        builder.sent(_Rec(frame, t, Segment(seq=seq, ack=8, flags=Flags.ACK,
                                            payload=bytes(1000))), ())
    builder.acknowledged(_Rec(6, 1.1, Segment(seq=8, ack=1001, flags=Flags.ACK)))
    blocks = [(OptionKind.SACK, ((2001, 3001),))] if sack else []
    dup = Segment(seq=8, ack=1001, flags=Flags.ACK, options=blocks)
    builder.acknowledged(_Rec(7, 1.12, dup))
    if retransmit:
        builder.sent(_Rec(8, 2.0, Segment(seq=1001, ack=8, flags=Flags.ACK,
                                          payload=bytes(1000))), ("retransmission",))
    builder.acknowledged(_Rec(9, 2.1, Segment(seq=8, ack=3001, flags=Flags.ACK)))
    return direction


def test_no_rtt_sample_from_an_ack_after_sack_recovery() -> None:
    """RFC 6298 §3: the ACK that ends a SACK recovery covers a retransmission (or, when the
    hole was only late, a segment SACKed long before): no sample, only the earlier ones."""
    for retransmit in (True, False):
        direction = _sack_episode(retransmit)
        assert [(t, round(r, 9)) for t, r, _ in direction.rtt] == [(0.1, 0.1), (1.1, 0.1)]
        # the SACKed segment is not in flight while the hole is (RFC 6675 §2, SACKed bytes)
        assert direction.in_flight[-1][1] == (1000 if retransmit else 3000)
    # Karn alone: the ACK covers a retransmission and a segment sent once, never SACKed
    assert [t for t, _, _ in _sack_episode(True, sack=False).rtt] == [0.1, 1.1]


def test_no_rtt_sample_from_an_ack_inside_a_segment() -> None:
    """An ACK that ends inside a segment was sent for that one (partly taken), not for the
    whole segments before it: no sample timed against them; the next, ending at the
    segment's end, times that segment."""
    direction = DirectionGraphs("client", "a", "b", None, False)
    builder = _Builder(direction, 0.0, 0)
    builder.sent(_Rec(1, 0.0, Segment(seq=0, flags=Flags.SYN)), ())
    builder.acknowledged(_Rec(2, 0.1, Segment(seq=7, ack=1, flags=Flags.SYN | Flags.ACK)))
    for frame, (t, seq) in enumerate(((1.0, 1), (1.5, 1001)), 3):
        builder.sent(_Rec(frame, t, Segment(seq=seq, ack=8, flags=Flags.ACK,
                                            payload=bytes(1000))), ())
    builder.acknowledged(_Rec(5, 1.6, Segment(seq=8, ack=1501, flags=Flags.ACK)))
    builder.acknowledged(_Rec(6, 1.7, Segment(seq=8, ack=2001, flags=Flags.ACK)))
    assert [(t, round(r, 9)) for t, r, _ in direction.rtt] == [(0.1, 0.1), (1.7, 0.2)]


def test_ack_rtt_samples_stay_near_the_timestamp_ones() -> None:
    for path in (CAPTURES / "sack_loss_ipv4.pcap", CAPTURES / "sack_loss_ipv6_nots.pcap"):
        _, (g,) = _graphs(path)
        for d in g.directions.values():
            ts = [r for _, r, source in d.rtt if source == "ts"]
            acks = [r for _, r, source in d.rtt if source == "ack"]
            if ts:
                assert acks and max(acks) <= 3 * max(ts)


def test_in_flight_and_throughput_add_up() -> None:
    result, (g,) = _graphs(CAPTURES / "sack_loss_ipv4.pcap")
    upload = g.directions["client"]
    assert max(b for _, b in upload.in_flight) > 10000
    assert all(b >= 0 for _, b in upload.in_flight)
    width = upload.throughput[1][0] - upload.throughput[0][0]
    sent = result["connections"][0]["bytes"]["client"]
    assert abs(sum(v * width for _, v in upload.throughput) - sent) < 1e-3


class _P:
    def __init__(self, time: float, value: int, marked: bool = False) -> None:
        self.time, self.value, self.marked = time, value, marked


def test_thin_keeps_marks_and_envelope() -> None:
    items = [_P(i / 1000, (i * 7919) % 1000, marked=i % 997 == 0) for i in range(100_000)]
    drawn = thin(items, 1000, lambda p: p.value, keep=lambda p: p.marked)
    assert len(drawn) <= 1000 + sum(p.marked for p in items)
    assert all(p in drawn for p in items if p.marked)
    assert max(p.value for p in drawn) == 999 and min(p.value for p in drawn) == 0
    assert [p.time for p in drawn] == sorted(p.time for p in drawn)
    assert thin(items[:10], 1000, lambda p: p.value) == items[:10]


# ---------------------------------------------------------------- pictures (matplotlib)

def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if REQUIRED:
            raise
        pytest.skip("matplotlib is not installed (pip install 'fastseg-tcp[plot]')")


def _sample_frames(conn: Dict[str, Any]) -> List[Tuple[str, float, Segment]]:
    """(sender role, seconds since the connection's start, segment) of the sample's frames
    of ``conn``."""
    client = conn["client"]["port"]
    with capture.open_capture(SAMPLE) as reader:
        return [("client" if rec.segment.src_port == client else "server",
                 rec.timestamp - conn["start"], rec.segment)
                for rec in reader if conn["first_frame"] <= rec.frame <= conn["last_frame"]]


def _first(frames: List[Tuple[str, float, Segment]], role: str, test: Any) -> Tuple[float, Segment]:
    return next((t, seg) for who, t, seg in frames if who == role and test(seg))


def _has(seg: Segment, flag: Flags) -> bool:
    return bool(seg.flags & flag)


@pytest.mark.parametrize("closer", ["client", "server"])
def test_states_are_entered_at_the_frames_that_cause_them(closer: str) -> None:
    """Each state of the sample's orderly closes is timed by its frame: SYN, SYN-ACK, the third
    ACK, each FIN, and the ACK of each FIN (the receiver's change at the frame's time)."""
    other = "server" if closer == "client" else "client"
    conn = next(c for c in analyze_file(SAMPLE)["connections"]
                if c["end"]["kind"] == "closed" and c["end"]["first_fin"] == closer)
    frames = _sample_frames(conn)
    syn, _ = _first(frames, "client", lambda s: _has(s, Flags.SYN))
    syn_ack, _ = _first(frames, "server", lambda s: _has(s, Flags.SYN))
    third, _ = _first(frames, "client", lambda s: not _has(s, Flags.SYN))
    first_fin, fin1 = _first(frames, closer, lambda s: _has(s, Flags.FIN))
    second_fin, fin2 = _first(frames, other, lambda s: _has(s, Flags.FIN))
    acked1, _ = _first(frames, other, lambda s: s.ack == (fin1.seq + fin1.seg_len) % 2**32)
    acked2, _ = _first(frames, closer, lambda s: s.ack == (fin2.seq + fin2.seg_len) % 2**32)
    opening = {"client": [("CLOSED", syn), ("SYN-SENT", syn), ("ESTABLISHED", syn_ack)],
               "server": [("CLOSED", syn), ("LISTEN", syn), ("SYN-RECEIVED", syn),
                          ("ESTABLISHED", third)]}
    expected = {closer: opening[closer] + [("FIN-WAIT-1", first_fin), ("FIN-WAIT-2", acked1),
                                           ("TIME-WAIT", second_fin)],
                other: opening[other] + [("CLOSE-WAIT", first_fin), ("LAST-ACK", second_fin),
                                         ("CLOSED", acked2)]}
    for role in ("client", "server"):
        got = list(zip(conn["states"][role], conn["state_times"][role]))
        assert [name for name, _ in got] == [name for name, _ in expected[role]]
        assert [t for _, t in got] == pytest.approx([t for _, t in expected[role]], abs=1e-6)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_state_times_are_a_timeline(path: Path) -> None:
    result, graphs = _graphs(path)
    for conn, g in zip(result["connections"], graphs):
        for role in ("client", "server"):
            times = conn["state_times"][role]
            if conn["states"][role] is None:
                assert times is None and g.states[role] is None
                continue
            assert len(times) == len(conn["states"][role])
            assert times == sorted(times) and times[0] >= 0 and times[-1] <= conn["duration"]
            assert g.states[role] == list(zip(times, conn["states"][role]))


def test_state_spans_hold_each_state_until_the_next() -> None:
    path = [(0.0, "CLOSED"), (0.0, "LISTEN"), (0.0, "SYN-RECEIVED"), (0.5, "ESTABLISHED"),
            (2.0, "CLOSE-WAIT"), (2.0, "LAST-ACK"), (2.5, "CLOSED")]
    assert state_spans(path, 3.0) == [(0.0, 0.5, ("CLOSED", "LISTEN", "SYN-RECEIVED")),
                                      (0.5, 2.0, ("ESTABLISHED",)),
                                      (2.0, 2.5, ("CLOSE-WAIT", "LAST-ACK")),
                                      (2.5, 3.0, ("CLOSED",))]
    assert state_spans([(1.0, "SYN-SENT")], 0.5) == [(1.0, 1.0, ("SYN-SENT",))]
    assert state_spans([], 1.0) == []


def test_metrics_picture_draws_the_states_on_the_time_axis() -> None:
    _need_matplotlib()
    from fastseg.analyze.plot import metrics

    _, graphs = _graphs(Path(SAMPLE))
    g = graphs[0]
    svg = metrics(g).decode()
    for role in ("client", "server"):
        for _, _, names in state_spans(g.states[role] or [], g.duration):
            assert f">{chr(0x2192).join(names)}<" in svg
    assert "state in its fastseg.conn replica" in svg


def test_state_names_read_in_time_order() -> None:
    """Names piled up at the right edge read top-down in time order; ESTABLISHED, held most
    of the connection, is named at its middle."""
    _need_matplotlib()
    import re

    from fastseg.analyze.plot import metrics

    _, graphs = _graphs(Path(SAMPLE))
    g = graphs[0]
    svg = metrics(g).decode()
    texts = {name: (anchor, float(x), float(y)) for anchor, x, y, name in re.findall(
        r'text-anchor: (\w+)" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]+)</text>', svg)}
    for role in ("client", "server"):
        spans = state_spans(g.states[role] or [], g.duration)
        late = [chr(0x2192).join(names) for start, _, names in spans if start > 0.8 * g.duration]
        assert len(late) >= 2
        heights = [texts[name][2] for name in late]       # SVG y grows downwards
        assert heights == sorted(heights), (role, late, heights)
    middle, x, _ = texts["ESTABLISHED"]
    opening = chr(0x2192).join(("CLOSED", "LISTEN", "SYN-RECEIVED"))
    assert middle == "middle" and texts["FIN-WAIT-1"][1] > x > texts[opening][1]


def test_time_sequence_picture_shows_the_marks() -> None:
    _need_matplotlib()
    from fastseg.analyze.plot import MARK_COLOURS, time_sequence

    _, (g,) = _graphs(CAPTURES / "sack_loss_ipv4.pcap")
    svg = time_sequence(g.directions["client"], "#1").decode()
    assert svg.count(MARK_COLOURS["retransmission"]) >= 1
    for label in (">retransmission<", ">SACK<", ">ACK<", ">SYN<", ">FIN<", ">window (scaled)<"):
        assert label in svg
    quiet = time_sequence(g.directions["server"], "#1").decode()
    assert ">retransmission<" not in quiet
    assert time_sequence(g.directions["client"], "#1", "png").startswith(b"\x89PNG")


def test_time_sequence_legend_and_layers() -> None:
    """One legend entry per kind (two gaps, two segments after them), SACK blocks drawn
    before (under) the data bars, and a keep-alive of length 0 drawn as a point."""
    _need_matplotlib()
    from fastseg.analyze.plot import MARK_COLOURS, time_sequence

    d = DirectionGraphs("client", "a", "b", 0, False)
    d.segments = [SegmentPoint(1, 0.0, 1, 100, 100, "", ()),
                  SegmentPoint(2, 0.1, 201, 100, 100, "", ("not_captured",)),
                  SegmentPoint(3, 0.2, 401, 100, 100, "", ("not_captured",)),
                  SegmentPoint(4, 0.3, 500, 0, 0, "", ("keep_alive",))]
    d.holes = [(0.1, 101, 201), (0.2, 301, 401)]
    d.acks = [AckPoint(5, 0.05, 101, 1000, 899, ()),
              AckPoint(6, 0.15, 101, 1000, 899, ((201, 301),))]
    svg = time_sequence(d, "#1").decode()
    for label in (">gap<", ">after a gap<", ">keep-alive (no data)<", ">SACK<", ">data<"):
        assert svg.count(label) == 1, label
    assert svg.count(MARK_COLOURS["keep_alive"]) >= 2      # the point and its legend entry
    assert svg.index("stroke: #17becf") < svg.index(f"stroke: {MARK_COLOURS['data']}")


def test_report_bytes_column_says_what_it_counts() -> None:
    from fastseg.analyze.html import render_report

    result = analyze_file(str(CAPTURES / "sack_loss_ipv4.pcap"), all_frames=True)
    (conn,) = result["connections"]
    page = render_report([result], graphs=False)
    assert ">bytes (both ways, with retransmissions)</th>" in page
    both, unique = (sum(conn[key].values()) for key in ("bytes", "unique_bytes"))
    assert both > unique
    assert f'title="{unique} unique bytes (both ways)">{both}</td>' in page


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_plot_and_report_draw_each_figure_once(tmp_path: Path, monkeypatch: Any,
                                               fmt: str) -> None:
    """With both --plot and --report, each capture is read once for its graph data and each
    figure drawn once per format (the report takes the SVG files as they are)."""
    _need_matplotlib()
    from fastseg.analyze import html, pictures, plot

    calls: Dict[str, int] = {"draw": 0, "read": 0}

    def counted(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    for module in (html, pictures):
        monkeypatch.setattr(module, "graphs_for_file", counted("read", graphs_for_file))
    for function in ("time_sequence", "metrics"):
        monkeypatch.setattr(plot, function, counted("draw", getattr(plot, function)))
    results = [analyze_file(str(path)) for path in (CAPTURES / "sack_loss_ipv4.pcap", SAMPLE)]
    written = pictures.write(results, plot_dir=str(tmp_path / "plots"),
                             report=str(tmp_path / "report.html"), fmt=fmt)
    figures = len(written) - 1
    assert figures >= 6 and calls == {"draw": figures * (1 if fmt == "svg" else 2), "read": 2}
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg ") == figures
    if fmt == "svg":
        drawn = (tmp_path / "plots" / "1-conn-1-client.svg").read_text()
        assert drawn[drawn.index("<svg") + len("<svg "):] in page


def test_cli_plot_writes_every_connection(tmp_path: Path) -> None:
    _need_matplotlib()
    from fastseg.cli.analyze import main

    out = tmp_path / "plots"
    rst = str(CAPTURES / "rst.pcap")
    assert main(["--plot", str(out), "--report", str(tmp_path / "r.html"), rst]) == 0
    count = len(analyze_file(rst)["connections"])
    names = sorted(os.listdir(out))
    assert len([n for n in names if n.endswith("-metrics.svg")]) == count
    assert all(n.endswith(".svg") and (out / n).read_bytes().startswith(b"<?xml") for n in names)
    assert (tmp_path / "r.html").read_text().count("<template id=") == count


def test_missing_matplotlib_is_one_line(tmp_path: Path, capsys: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from fastseg.analyze.plot import PlotUnavailable, time_sequence
    from fastseg.cli.analyze import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    _, (g,) = _graphs(CAPTURES / "rst.pcap")[0], _graphs(CAPTURES / "rst.pcap")[1][:1]
    with pytest.raises(PlotUnavailable, match="pip install"):
        time_sequence(g.directions["client"], "#1")
    assert main(["--report", str(tmp_path / "r.html"), str(SAMPLE)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fastseg-tcp[plot]" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_to_overwrite_an_input(tmp_path: Path, capsys: Any) -> None:
    _need_matplotlib()
    from fastseg.cli.analyze import main

    copy = tmp_path / "in.pcap"
    copy.write_bytes(Path(SAMPLE).read_bytes())
    assert main(["--report", str(copy), str(copy)]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert copy.read_bytes() == Path(SAMPLE).read_bytes()


def test_readme_graph_is_committed_and_shows_the_marks() -> None:
    readme = (DATA.parent.parent / "README.md").read_text(encoding="utf-8")
    name = "docs/images/sack_loss_time_sequence.svg"
    assert f"({name})" in readme
    svg = (DATA.parent.parent / name).read_text(encoding="utf-8")
    for label in (">retransmission<", ">SACK<", ">ACK<", "sent by the client"):
        assert label in svg


def test_a_huge_direction_is_thinned_for_drawing_only() -> None:
    _need_matplotlib()
    from fastseg.analyze.graphs import AckPoint, SegmentPoint
    from fastseg.analyze.plot import DRAW_LIMIT, MARK_COLOURS, metrics, time_sequence

    count = 30_000
    d = DirectionGraphs("client", "10.0.0.1:1", "10.0.0.2:2", 0, False)
    for i in range(count):  # every segment truncated (a snap length): not a drawn mark
        marks: Tuple[str, ...] = ("truncated", "retransmission") if i % 10_000 == 7 else ("truncated",)
        d.segments.append(SegmentPoint(i + 1, i * 1e-4, 1 + 1448 * i, 1448, 1448, "", marks))
        d.acks.append(AckPoint(i + 1, i * 1e-4 + 5e-5, 1 + 1448 * i, 1 + 1448 * i + 65535,
                               65535, ()))
        d.in_flight.append((i * 1e-4, 1448 + i % 7))
        d.rtt.append((i * 1e-4, 1e-3 + (i % 5) * 1e-4, "ack"))
    svg = time_sequence(d, "#1").decode()
    assert len(svg) < 1_500_000  # all 30000 bars: 4.5 MB
    assert svg.count(MARK_COLOURS["retransmission"]) >= 2  # the 3 marks survive thinning
    assert len(d.segments) == count  # the numbers are not touched
    g = ConnectionGraphs(1, "#1", count * 1e-4, {"client": [(0.0, "CLOSED")], "server": None},
                         {"client": d, "server": DirectionGraphs("server", "b", "a", None, False)})
    assert len(metrics(g)) < 1_500_000
    assert len(thin(d.rtt, DRAW_LIMIT, lambda s: s[1], when=lambda s: s[0])) <= DRAW_LIMIT


def test_plot_refuses_a_pipe(tmp_path: Path, capsys: Any) -> None:
    _need_matplotlib()
    from fastseg.cli.analyze import main

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert main(["--plot", str(tmp_path / "p"), str(fifo)]) == 2
    err = capsys.readouterr().err
    assert "regular file" in err and err.count("\n") == 1


def test_a_rotated_capture_has_the_graphs_of_the_whole(tmp_path: Path) -> None:
    from test_analyze_rotated import cut

    whole = CAPTURES / "sack_loss_ipv4.pcap"
    pieces = cut(whole, 4, tmp_path)
    _, expected = _graphs(whole)
    result = analyze_file(pieces, all_frames=True)
    assert graphs_for_file(pieces, result) == expected


def test_cli_plots_and_reports_a_rotated_capture(tmp_path: Path) -> None:
    _need_matplotlib()
    from test_analyze_rotated import cut

    from fastseg.cli.analyze import main

    pieces = cut(Path(SAMPLE), 3, tmp_path)
    report, out = tmp_path / "r.html", tmp_path / "plots"
    assert main(["--rotated", "--plot", str(out), "--report", str(report), *pieces]) == 0
    count = len(analyze_file(SAMPLE)["connections"])
    names = os.listdir(out)
    assert len([n for n in names if n.endswith("-metrics.svg")]) == count
    html = report.read_text()
    assert html.count("<template id=") == count and "(+2 pieces)" in html
    # every direction that sent something has its time-sequence graph, in both outputs
    directions = sum(1 for n in names if not n.endswith("-metrics.svg"))
    assert html.count('class="tsg"') == directions == sum(
        1 for c in analyze_file(SAMPLE)["connections"] for n in c["segments"].values() if n)
    assert main(["--rotated", "--report", pieces[1], *pieces]) == 2  # an input is not clobbered
