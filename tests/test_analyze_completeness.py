"""How each connection opened and ended, against tshark's ``tcp.completeness``.

tshark sums up a stream as a bit mask of what it saw (Wireshark 4.0, read
in two passes so every frame carries the stream's final value): SYN (1),
SYN-ACK (2), ACK (4), data (8), FIN (16), RST (32).  fastseg says more (a
handshake that reached ESTABLISHED, who closed, a refusal), so the test
checks that each of fastseg's answers implies the bits tshark saw:

=================  ==========================================================
fastseg says       tshark must have
=================  ==========================================================
complete           SYN, SYN-ACK and ACK
incomplete,        SYN and SYN-ACK
simultaneous-open,
self-connect
unanswered         SYN, no SYN-ACK
refused            SYN and RST, no SYN-ACK
syn-not-captured   SYN-ACK, no SYN
mid-stream         neither SYN nor SYN-ACK
closed, half-      FIN and no RST (tshark cannot tell one FIN from two)
closed, simult.
reset              RST
open, unanswered   neither FIN nor RST
data carried       data, and no data when none was carried
=================  ==========================================================

Where the two differ on purpose, the rule is named in :data:`SYN_ONLY_FIRST`:
tshark counts a SYN only when it is the stream's first frame.  A stray
segment before the SYN (a late ACK of an earlier connection on the same
4-tuple, or a capture started mid-retransmission) hides the SYN from tshark,
while fastseg, which follows the state machine, sees the handshake complete.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from fastseg import Flags, Segment
from fastseg.analyze import analyze_file
from fastseg.capture import Frame, tcp_frame, write_pcap

DATA = Path(__file__).resolve().parent / "data"
CAPTURES = sorted(p for p in DATA.rglob("*.pcap") if p.parent.name != "fuzz")
TSHARK = shutil.which("tshark")
TSHARK_TIMEOUT = 120

SYN, SYN_ACK, ACK, DATA_BIT, FIN, RST = 1, 2, 4, 8, 16, 32
#: tshark sets the SYN bit only for a plain SYN that is the stream's first frame.
SYN_ONLY_FIRST = "tshark counts a SYN only when it is the stream's first frame"

#: fastseg's handshake -> (bits tshark must have, bits it must not have).
OPENED: Dict[str, Tuple[int, int]] = {
    "complete": (SYN | SYN_ACK | ACK, 0),
    "incomplete": (SYN | SYN_ACK, 0),
    "simultaneous-open": (SYN | SYN_ACK, 0),
    "self-connect": (SYN | SYN_ACK, 0),
    "unanswered": (SYN, SYN_ACK),
    "refused": (SYN | RST, SYN_ACK),
    "syn-not-captured": (SYN_ACK, SYN),
    "mid-stream": (0, SYN | SYN_ACK),
}
#: fastseg's end kind -> (bits tshark must have, bits it must not have).
ENDED: Dict[str, Tuple[int, int]] = {
    "closed": (FIN, RST),
    "half-closed": (FIN, RST),
    "simultaneous-close": (FIN, RST),
    "reset": (RST, 0),
    "refused": (RST, 0),
    "open": (0, FIN | RST),
    "unanswered": (0, FIN | RST),
}

#: first frame -> (flags of the first frame, final completeness) per tshark stream.
Streams = Dict[int, Tuple[int, int]]


def tshark_streams(path: Path) -> Streams:
    command = [TSHARK or "tshark", "-2", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields",
               "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.flags",
               "-e", "tcp.completeness"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=TSHARK_TIMEOUT,
                         check=True).stdout
    first: Dict[int, Tuple[int, int]] = {}
    final: Dict[int, int] = {}
    for line in out.splitlines():
        frame, stream, flags, completeness = line.split("\t")
        first.setdefault(int(stream), (int(frame), int(flags, 16)))
        final[int(stream)] = int(completeness)
    return {frame: (flags, final[stream]) for stream, (frame, flags) in first.items()}


def expected_bits(conn: Dict[str, Any], first_flags: int) -> Tuple[int, int]:
    """The bits fastseg's answer says tshark must and must not have."""
    must_open, not_open = OPENED[conn["handshake"]]
    must_end, not_end = ENDED[conn["end"]["kind"]]
    carried = sum(conn["bytes"].values()) > 0
    must = must_open | must_end | (DATA_BIT if carried else 0)
    must_not = not_open | not_end | (0 if carried else DATA_BIT)
    if first_flags & (Flags.SYN | Flags.ACK) != Flags.SYN:
        must &= ~SYN  # SYN_ONLY_FIRST
    return must, must_not


def mismatches(path: Path) -> List[str]:
    streams = tshark_streams(path)
    found = []
    for conn in analyze_file(str(path))["connections"]:
        first_flags, bits = streams[conn["first_frame"]]
        must, must_not = expected_bits(conn, first_flags)
        if bits & must != must or bits & must_not:
            found.append(f"frame {conn['first_frame']}: fastseg {conn['handshake']}/"
                         f"{conn['end']['kind']}, tshark completeness {bits}")
    return found


needs_tshark = pytest.mark.skipif(TSHARK is None,
                                  reason="tshark is not on PATH (apt-get install tshark)")


@needs_tshark
@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}/{p.stem}" for p in CAPTURES])
def test_openings_and_endings_agree_with_tshark(path: Path) -> None:
    assert mismatches(path) == []


A, B = "10.0.0.1", "10.0.0.2"
S, SA, AK, PA = Flags.SYN, Flags.SYN | Flags.ACK, Flags.ACK, Flags.PSH | Flags.ACK
FA, RA, R = Flags.FIN | Flags.ACK, Flags.RST | Flags.ACK, Flags.RST
Step = Tuple[str, int, int, int, bytes]

#: Short stories, each exercising one row of the table (c: client, s: server).
STORIES: Dict[str, List[Step]] = {
    "unanswered": [("c", S, 100, 0, b"")],
    "incomplete": [("c", S, 100, 0, b""), ("s", SA, 500, 101, b"")],
    "refused": [("c", S, 100, 0, b""), ("s", RA, 0, 101, b"")],
    "closed": [("c", S, 100, 0, b""), ("s", SA, 500, 101, b""), ("c", AK, 101, 501, b""),
               ("c", PA, 101, 501, b"x"), ("c", FA, 102, 501, b""), ("s", FA, 501, 103, b""),
               ("c", AK, 103, 502, b"")],
    "closed without data": [("c", S, 100, 0, b""), ("s", SA, 500, 101, b""),
                            ("c", AK, 101, 501, b""), ("c", FA, 101, 501, b""),
                            ("s", FA, 501, 102, b""), ("c", AK, 102, 502, b"")],
    "half-closed": [("c", S, 100, 0, b""), ("s", SA, 500, 101, b""), ("c", AK, 101, 501, b""),
                    ("c", FA, 101, 501, b""), ("s", AK, 501, 102, b"")],
    "syn not captured": [("s", SA, 500, 101, b""), ("c", AK, 101, 501, b""),
                         ("c", PA, 101, 501, b"x"), ("c", FA, 102, 501, b""),
                         ("s", FA, 501, 103, b"")],
    "mid-stream": [("c", PA, 101, 501, b"x"), ("s", AK, 501, 102, b""),
                   ("c", FA, 102, 501, b""), ("s", FA, 501, 103, b"")],
    "reset after the handshake": [("c", S, 100, 0, b""), ("s", SA, 500, 101, b""),
                                  ("c", R, 101, 0, b"")],
    "stray ACK before the SYN": [("c", AK, 101, 501, b""), ("c", S, 100, 0, b""),
                                 ("s", SA, 500, 101, b""), ("c", AK, 101, 501, b"")],
    "data on the SYN": [("c", S, 100, 0, b"abc"), ("s", SA, 500, 104, b"")],
}


def _frame(who: str, flags: int, seq: int, ack: int, data: bytes) -> bytes:
    ports, ends = ((1000, 80), (A, B)) if who == "c" else ((80, 1000), (B, A))
    segment = Segment(src_port=ports[0], dst_port=ports[1], seq=seq,
                      ack=ack if flags & Flags.ACK else 0, flags=flags, window=1000,
                      payload=data)
    return tcp_frame(segment, *ends, fix_checksum=True)


@needs_tshark
@pytest.mark.parametrize("name", sorted(STORIES))
def test_each_rule_against_tshark(name: str, tmp_path: Path) -> None:
    path = tmp_path / "story.pcap"
    write_pcap(path, [Frame(_frame(*step), i * 1000) for i, step in enumerate(STORIES[name])])
    assert mismatches(path) == []

