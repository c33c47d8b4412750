"""fastseg analyze: connection stories from real kernel captures, checked against tshark.

The captures in tests/data/captures were made by Linux (see their README); the
built-in sample (fastseg/sample.pcap) merges three of them with a
recording of a server-first and a simultaneous close.  Where tshark is
missing, the comparisons skip with a reason; the stories and state paths are
checked without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fastseg
from fastseg import capture
from fastseg.analyze import SAMPLE, SCHEMA, analyze_file
from fastseg.analyze.tracker import ANOMALY_KINDS
from fastseg.cli.analyze import main, run

CAPTURES = Path(__file__).parent / "data" / "captures"
FILES = sorted(CAPTURES.glob("*.pcap"))
TSHARK = shutil.which("tshark")
requires_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not on PATH (apt-get install tshark): it is the reference")

CLIENT_FIRST = ["CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"]
PASSIVE_CLOSE = ["CLOSED", "LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK",
                 "CLOSED"]


def conns(path: Any) -> List[Dict[str, Any]]:
    return analyze_file(str(path))["connections"]


# ---------------------------------------------------------------- tshark


def tshark_fields(path: Path, *fields: str, extra: Tuple[str, ...] = ()) -> List[List[str]]:
    assert TSHARK is not None
    cmd = [TSHARK, "-r", str(path), "-n", *extra, "-Y", "tcp", "-T", "fields", "-E",
           "separator=\t", "-E", "occurrence=f"]
    for field in fields:
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def tshark_streams(path: Path) -> Dict[int, Dict[str, Any]]:
    """Per tcp.stream: the first sender's endpoint, payload bytes and flagged frames per direction."""
    rows = tshark_fields(path, "tcp.stream", "frame.number", "ip.src", "ipv6.src",
                         "tcp.srcport", "tcp.len", "tcp.analysis.retransmission",
                         "tcp.analysis.out_of_order", "tcp.analysis.zero_window",
                         "tcp.analysis.keep_alive", "tcp.flags.syn", "tcp.flags.ack")
    streams: Dict[int, Dict[str, Any]] = {}
    for stream, frame, ip4, ip6, port, length, retx, ooo, zero, keep, syn, ack in rows:
        s = streams.setdefault(int(stream), {"bytes": defaultdict(int), "frames": [],
                                             "retransmission": [], "out_of_order": [],
                                             "zero_window": [], "keep_alive": [],
                                             "client": None})
        sender = (ip4 or ip6, int(port))
        if syn == "1" and ack == "0" and s["client"] is None:
            s["client"] = sender
        s["bytes"][sender] += int(length or 0)
        s["frames"].append(int(frame))
        for name, flag in (("retransmission", retx), ("out_of_order", ooo),
                           ("zero_window", zero), ("keep_alive", keep)):
            if flag:
                s[name].append(int(frame))
    return streams


def endpoint(ep: Dict[str, Any]) -> Tuple[str, int]:
    return (ep["address"], ep["port"])


def frames_of(conn: Dict[str, Any], kind: str) -> List[int]:
    """The frames of an anomaly kind (every one: the report keeps 20, these files have fewer)."""
    entry = conn["anomalies"].get(kind)
    if entry is None:
        return []
    assert entry["count"] == len(entry["frames"]), "more than 20: compare counts instead"
    return sorted(entry["frames"])


@requires_tshark
@pytest.mark.parametrize("path", [*FILES, Path(SAMPLE)], ids=lambda p: p.name)
def test_agrees_with_tshark(path: Path) -> None:
    """Connections, payload bytes each way and the per-frame analysis flags are tshark's.

    Differences in vocabulary, explained: tshark's "fast retransmission" is a
    retransmission here too; tshark flags "window full", "dup ACK" and "window
    update", which are ordinary flow control and not reported.
    """
    streams = tshark_streams(path)
    ours = conns(path)
    assert len(ours) == len(streams)
    for conn, (index, stream) in zip(ours, sorted(streams.items())):
        client, server = endpoint(conn["client"]), endpoint(conn["server"])
        assert stream["client"] in (client, None)
        assert conn["first_frame"] == min(stream["frames"])
        assert conn["last_frame"] == max(stream["frames"])
        assert conn["segments"]["client"] + conn["segments"]["server"] == len(stream["frames"])
        assert conn["bytes"] == {"client": stream["bytes"][client],
                                 "server": stream["bytes"][server]}, index
        for kind in ("retransmission", "out_of_order", "zero_window", "keep_alive"):
            assert frames_of(conn, kind) == stream[kind], (index, kind)


@requires_tshark
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checksum_verdicts_agree_with_tshark(path: Path) -> None:
    """Every real capture's checksums verify, for tshark as for fastseg (offloads were off)."""
    rows = tshark_fields(path, "frame.number", "tcp.checksum.status",
                         extra=("-o", "tcp.check_checksum:TRUE"))
    bad_tshark = sorted(int(frame) for frame, status in rows if status == "0")
    bad_ours = sorted(f for c in conns(path) for f in frames_of(c, "bad_checksum"))
    assert bad_ours == bad_tshark == []


@pytest.fixture()
def damaged(tmp_path: Path) -> Path:
    """ipv4_handshake.pcap with two checksums broken and one option made malformed."""
    records = list(capture.segments(CAPTURES / "ipv4_handshake.pcap"))
    out = []
    for i, rec in enumerate(records):
        seg = rec.segment
        if i in (3, 5):  # the HELLO line and the first reply segment: checksum off by one
            seg = seg.replace(checksum=(seg.checksum + 1) & 0xFFFF)
            out.append(capture.Frame(capture.tcp_frame(seg, rec.src, rec.dst), rec.timestamp_ns))
            continue
        if i == 0:  # the SYN: MSS option with length 3
            raw = bytearray(fastseg.pack(seg))
            mss_at = 20 + bytes(raw[20:]).index(b"\x02\x04")
            raw[mss_at + 1] = 3
            raw[16:18] = b"\0\0"
            raw[16:18] = fastseg.tcp_checksum(rec.src, rec.dst, bytes(raw)).to_bytes(2, "big")
            out.append(capture.Frame(capture.tcp_frame(bytes(raw), rec.src, rec.dst),
                                     rec.timestamp_ns))
            continue
        out.append(capture.Frame(capture.tcp_frame(seg, rec.src, rec.dst), rec.timestamp_ns))
    path = tmp_path / "damaged.pcap"
    capture.write_pcap(path, out)
    return path


def test_bad_checksums_and_malformed_options(damaged: Path) -> None:
    (conn,) = conns(damaged)
    assert frames_of(conn, "bad_checksum") == [4, 6]
    assert conn["anomalies"]["bad_checksum"]["client"] == 1
    assert conn["anomalies"]["bad_checksum"]["server"] == 1
    assert frames_of(conn, "malformed_options") == [1]
    assert "MSS option length 3" in conn["anomalies"]["malformed_options"]["details"][0]


@requires_tshark
def test_damaged_checksums_agree_with_tshark(damaged: Path) -> None:
    rows = tshark_fields(damaged, "frame.number", "tcp.checksum.status",
                         extra=("-o", "tcp.check_checksum:TRUE"))
    bad_tshark = sorted(int(frame) for frame, status in rows if status == "0")
    (conn,) = conns(damaged)
    assert frames_of(conn, "bad_checksum") == bad_tshark == [4, 6]


# ---------------------------------------------------------------- stories and state paths


def test_ipv4_handshake_story() -> None:
    (conn,) = conns(CAPTURES / "ipv4_handshake.pcap")
    assert conn["client"] == {"address": "10.213.0.1", "port": 47992}
    assert conn["server"] == {"address": "10.213.0.2", "port": 47001}
    assert conn["opened_by"] == "client" and conn["handshake"] == "complete"
    # The capture: client FIN (frame 15), server FIN+ACK acknowledging it (16), ACK (17).
    assert conn["states"] == {"client": CLIENT_FIRST, "server": PASSIVE_CLOSE}
    assert conn["end"]["kind"] == "closed" and conn["end"]["by"] == "client"
    assert conn["options"]["client"] == {"mss": 1460, "wscale": 10, "sack_permitted": True,
                                         "timestamps": True}
    assert conn["negotiated"] == {"mss": {"client": 1460, "server": 1460},
                                  "window_scaling": True, "sack": True, "timestamps": True}
    assert conn["bytes"] == conn["unique_bytes"] == {"client": 18, "server": 3000}
    assert conn["anomalies"] == {} and conn["rejected"] == {}


def test_state_times_are_the_frames_that_made_them() -> None:
    """Each state is stamped with the capture time of the frame that made its side enter it:
    a user call replayed (connect, close) with the segment's own, a delivery with that of the
    segment delivered.  The server's LISTEN is replayed when its SYN-ACK is seen, just before
    the client's SYN (frame 3) is delivered to it: both carry the SYN's time."""
    path = CAPTURES / "ipv4_handshake.pcap"
    times = {rec.frame: rec.timestamp for rec in capture.segments(path)}
    (conn,) = conns(path)

    def since(*frames: int) -> List[float]:
        return [round(times[frame] - times[3], 9) for frame in frames]

    assert conn["state_times"] == {"client": since(3, 3, 4, 15, 16, 16),
                                   "server": since(3, 3, 3, 5, 15, 16, 17)}


def test_sack_loss_unique_bytes() -> None:
    """60000 bytes uploaded; the retransmitted segments count in bytes, not in unique_bytes."""
    for name in ("sack_loss_ipv4.pcap", "sack_loss_ipv6_nots.pcap"):
        (conn,) = conns(CAPTURES / name)
        assert conn["unique_bytes"]["client"] == 60000
        assert conn["bytes"]["client"] > 60000
        assert conn["states"] == {"client": CLIENT_FIRST, "server": PASSIVE_CLOSE}
        # The retransmissions arrive below RCV.NXT of the server's replica: rejected there
        # as old, counted once, as retransmissions (not as outside the window).
        assert "outside_window" not in conn["anomalies"]


def test_zero_window_story() -> None:
    (conn,) = conns(CAPTURES / "zero_window.pcap")
    assert frames_of(conn, "zero_window") == [10, 12]
    assert conn["anomalies"]["zero_window"]["server"] == 2
    assert frames_of(conn, "keep_alive") == [11, 17]
    assert conn["negotiated"]["window_scaling"] and conn["options"]["server"]["wscale"] == 0


def test_rst_capture_stories() -> None:
    refused_v4, refused_v6, aborted = conns(CAPTURES / "rst.pcap")
    for conn in (refused_v4, refused_v6):
        assert conn["handshake"] == "refused" and conn["end"]["kind"] == "refused"
        assert conn["states"] == {"client": ["CLOSED", "SYN-SENT", "CLOSED"],
                                  "server": ["CLOSED"]}
    assert ":" in refused_v6["client"]["address"]
    assert aborted["end"]["kind"] == "reset" and aborted["end"]["by"] == "client"
    assert aborted["end"]["detail"] == "reset by the client"  # the server's replica took it
    assert aborted["states"]["client"] == ["CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"]
    assert aborted["states"]["server"] == ["CLOSED", "LISTEN", "SYN-RECEIVED", "ESTABLISHED",
                                           "CLOSED"]


def test_fast_open_is_followed() -> None:
    """Data in a SYN (TFO), acknowledged by the SYN-ACK: fastseg.conn queues it like any text
    in a SYN (RFC 9293 §3.10.7.2), so both connections are followed to the end."""
    cookie, with_data = conns(CAPTURES / "fastopen.pcap")
    for conn in (cookie, with_data):
        assert conn["states"] == {"client": CLIENT_FIRST, "server": PASSIVE_CLOSE}
        assert conn["anomalies"] == {} and conn["rejected"] == {}
    assert with_data["bytes"] == with_data["unique_bytes"] == {"client": 24, "server": 28}


def tfo_records() -> List[Any]:
    """The second connection of fastopen.pcap: SYN with 24 bytes, SYN-ACK, ACK, reply, close."""
    return [rec for rec in capture.segments(CAPTURES / "fastopen.pcap") if rec.frame >= 13]


def write(path: Path, records: List[Any]) -> Path:
    capture.write_pcap(path, [capture.Frame(capture.tcp_frame(r.segment, r.src, r.dst,
                                                              fix_checksum=True), r.timestamp_ns)
                              for r in records])
    return path


def test_syn_data_not_taken_is_sent_again(tmp_path: Path) -> None:
    """A server without Fast Open acknowledges only the SYN; the client sends the data again."""
    syn, syn_ack, first_ack, *rest = tfo_records()
    iss = syn.segment.seq
    syn_ack = syn_ack._replace(segment=syn_ack.segment.replace(ack=(iss + 1) & 0xFFFFFFFF))
    resend = first_ack._replace(segment=first_ack.segment.replace(
        seq=(iss + 1) & 0xFFFFFFFF, flags=fastseg.Flags.PSH | fastseg.Flags.ACK,
        payload=syn.segment.payload))
    (conn,) = conns(write(tmp_path / "no_tfo.pcap", [syn, syn_ack, resend, *rest]))
    assert conn["states"] == {"client": CLIENT_FIRST, "server": PASSIVE_CLOSE}
    assert conn["bytes"]["client"] == 48 and conn["unique_bytes"]["client"] == 24
    assert set(conn["anomalies"]) == {"retransmission"}
    assert frames_of(conn, "retransmission") == [3] and conn["rejected"] == {}


def test_syn_ack_data_is_reported_not_followed(tmp_path: Path) -> None:
    """Data in a SYN-ACK is outside what the replicas model: flagged instead of guessed."""
    records = list(capture.segments(CAPTURES / "ipv4_handshake.pcap"))
    records[1] = records[1]._replace(segment=records[1].segment.replace(payload=b"hi"))
    (conn,) = conns(write(tmp_path / "syn_ack_data.pcap", records))
    assert frames_of(conn, "syn_data") == [2]
    assert conn["anomalies"]["syn_data"]["server"] == 1


def test_tracker_keeps_to_the_public_api() -> None:
    """The replicas are driven through fastseg.conn's public API only."""
    import re

    from fastseg.analyze import tracker

    source = Path(tracker.__file__).read_text()
    assert not re.search(r"replica\._|opened\._", source)
    assert "replay=True" in source


def test_builtin_sample_tells_every_story() -> None:
    stories = conns(SAMPLE)
    by_kind = defaultdict(list)
    for conn in stories:
        by_kind[(conn["end"]["kind"], conn["end"]["by"])].append(conn)
    assert len(by_kind[("closed", "client")]) == 1
    assert len(by_kind[("closed", "server")]) == 1
    assert len(by_kind[("simultaneous-close", None)]) == 1
    assert len(by_kind[("reset", "client")]) == 1
    assert len(by_kind[("refused", "server")]) == 2
    (server_first,) = by_kind[("closed", "server")]
    assert server_first["states"]["server"] == ["CLOSED", "LISTEN", "SYN-RECEIVED",
                                                "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2",
                                                "TIME-WAIT"]
    assert server_first["states"]["client"] == ["CLOSED", "SYN-SENT", "ESTABLISHED",
                                                "CLOSE-WAIT", "LAST-ACK", "CLOSED"]
    (simultaneous,) = by_kind[("simultaneous-close", None)]
    for role in ("client", "server"):
        assert simultaneous["states"][role][-3:] == ["FIN-WAIT-1", "CLOSING", "TIME-WAIT"]
    assert all(c["anomalies"] == {} for c in stories)
    assert sum(c["handshake"] == "complete" for c in stories) == 4


def test_sample_is_small_and_real() -> None:
    size = Path(SAMPLE).stat().st_size
    assert 2_000 < size < 50_000
    with capture.open_capture(SAMPLE) as reader:
        assert reader.format == "pcap" and list(reader.linktypes) == [capture.LINKTYPE_ETHERNET]
        assert all(rec.checksum_ok for rec in reader)


def test_mid_stream_capture(tmp_path: Path) -> None:
    """A capture that starts after the handshake: bytes and anomalies, no state paths."""
    records = list(capture.segments(CAPTURES / "ipv4_handshake.pcap"))[3:]
    path = tmp_path / "mid.pcap"
    capture.write_pcap(path, records)
    (conn,) = conns(path)
    assert conn["handshake"] == "mid-stream" and conn["opened_by"] is None
    assert conn["states"] == {"client": None, "server": None}
    assert conn["client"]["port"] == 47992  # the higher port is taken as the client
    assert conn["bytes"] == {"client": 18, "server": 3000}
    assert conn["end"]["kind"] == "closed" and conn["end"]["by"] == "client"


def test_new_incarnation_after_close(tmp_path: Path) -> None:
    """The same 4-tuple twice in a row: two connections, each followed from its own SYN."""
    records = list(capture.segments(CAPTURES / "ipv4_handshake.pcap"))
    later = [rec._replace(timestamp_ns=rec.timestamp_ns + 10**10,
                          segment=rec.segment.replace(seq=(rec.segment.seq + 10**6) & 0xFFFFFFFF))
             if rec.src == records[0].src else
             rec._replace(timestamp_ns=rec.timestamp_ns + 10**10,
                          segment=rec.segment.replace(ack=(rec.segment.ack + 10**6) & 0xFFFFFFFF
                                                      if rec.segment.ack else 0))
             for rec in records]
    path = tmp_path / "twice.pcap"
    capture.write_pcap(path, [capture.Frame(capture.tcp_frame(r.segment, r.src, r.dst,
                                                              fix_checksum=True), r.timestamp_ns)
                              for r in records + later])
    first, second = conns(path)
    assert first["states"] == second["states"] == {"client": CLIENT_FIRST,
                                                   "server": PASSIVE_CLOSE}
    assert second["first_frame"] == len(records) + 1


# ---------------------------------------------------------------- output, errors, parallelism


TOP_KEYS = {"file", "format", "frames", "tcp_segments", "other", "connections"}
CONN_KEYS = {"id", "client", "server", "opened_by", "first_frame", "last_frame", "start",
             "duration", "handshake", "options", "negotiated", "segments", "bytes",
             "unique_bytes", "end", "states", "state_times", "anomalies", "rejected"}


def test_json_schema_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", str(CAPTURES / "rst.pcap"), str(CAPTURES / "zero_window.pcap")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == SCHEMA == "fastseg-analyze/1"
    assert [f["file"] for f in doc["files"]] == [str(CAPTURES / "rst.pcap"),
                                                 str(CAPTURES / "zero_window.pcap")]
    for result in doc["files"]:
        assert set(result) == TOP_KEYS
        for conn in result["connections"]:
            assert set(conn) == CONN_KEYS
            assert set(conn["end"]) == {"kind", "by", "first_fin", "detail"}
            assert set(conn["states"]) == {"client", "server"}
            for kind, entry in conn["anomalies"].items():
                assert kind in ANOMALY_KINDS
                assert set(entry) == {"count", "client", "server", "frames", "details"}


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "6 connections" in out
    for text in ("FIN (client first)", "FIN (server first)", "FIN (simultaneous)", "RST by client",
                 "refused"):
        assert text in out
    assert main(["-v"]) == 0
    verbose = capsys.readouterr().out
    assert "FIN-WAIT-1 → CLOSING → TIME-WAIT" in verbose
    assert "MSS 1460, wscale 10, SACK, timestamps" in verbose


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.pcap", "no such file"),
    (lambda d: (d / "text.pcap", (d / "text.pcap").write_text("hello"))[0],
     "not a pcap or pcapng capture"),
    (lambda d: (d / "empty.pcap", (d / "empty.pcap").write_bytes(b""))[0], "empty file"),
    (lambda d: (d / "wifi.pcap", capture.write_pcap(d / "wifi.pcap", [], linktype=105))[0],
     "unsupported link type 105"),
    (lambda d: d, "is a directory"),
])
def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any,
                             message: str) -> None:
    path = make(tmp_path)
    assert main([str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastseg analyze: error: ")
    assert message in lines[0] and "Traceback" not in captured.err


def test_error_does_not_hide_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-j", "1", str(tmp_path / "nope.pcap"), str(CAPTURES / "rst.pcap")]) == 1
    captured = capsys.readouterr()
    assert "3 connections" in captured.out and "nope.pcap: no such file" in captured.err


def test_command_line_runs_without_traceback(tmp_path: Path) -> None:
    import sys

    code = "import sys, fastseg.cli.analyze as a; sys.exit(a.main(sys.argv[1:]))"
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 10)
    proc = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # away from the source tree
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_parallel_equals_serial() -> None:
    paths = [str(p) for p in FILES] + [SAMPLE]
    serial = run(paths, 1, progress=False)
    parallel = run(paths, 2, progress=False)
    assert parallel == serial
    assert [r["file"] for r in parallel] == paths


def test_bad_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-j", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
