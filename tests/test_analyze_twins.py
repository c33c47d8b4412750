"""fastseg analyze tells one story whichever twins serve: the compiled ones or the pure-Python ones.

The capture reader, the codec, the Segment storage and the sequence arithmetic each have a
compiled and a pure-Python twin (``fastseg._impl``); the tracker and the replicas run on
top of whichever serves.  Every capture in tests/data and synthetic ones (loss, reordering,
capture-point drops and duplicates, sequence numbers wrapping, snap-length cuts) go
through ``python -m fastseg analyze --json`` once per twin, and the outputs must be equal
byte for byte.
"""

from __future__ import annotations

import json
import os
import random
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fastseg
from fastseg import capture

ROOT = Path(__file__).resolve().parent.parent
DATA = [*sorted((ROOT / "tests" / "data").rglob("*.pcap")), Path(fastseg.__file__).parent / "sample.pcap"]
#: Segments and connections open at once in the synthetic mix.
SEGMENTS, OPEN = 1500, 40
#: Where the wrapped captures put each side's first sequence number: this far below 2**32.
BELOW_WRAP = 3000
#: The snap length of the cut capture (Ethernet, IPv4 and TCP headers with timestamps).
SNAP = 96
_MASK = 0xFFFFFFFF


def _synth_write() -> Any:
    """``write`` of tools/synth_capture.py (run as a module, not as a script)."""
    return runpy.run_path(str(ROOT / "tools" / "synth_capture.py"))["write"]


def _frames(records: List[Any]) -> List[capture.Frame]:
    return [capture.Frame(capture.tcp_frame(r.segment, r.src, r.dst, fix_checksum=True),
                          r.timestamp_ns) for r in records]


def _wrapped(records: List[Any]) -> List[Any]:
    """Each side's sequence numbers moved to start BELOW_WRAP under 2**32 (and the peer's
    acknowledgments with them), so every connection's data crosses the wrap."""
    shift: Dict[Tuple[bytes, int, bytes, int], int] = {}  # by direction
    out = []
    for rec in records:
        seg = rec.segment
        ahead, back = (rec.src, seg.src_port, rec.dst, seg.dst_port), (rec.dst, seg.dst_port,
                                                                       rec.src, seg.src_port)
        if seg.flags & fastseg.Flags.SYN:
            shift[ahead] = (-BELOW_WRAP - seg.seq) & _MASK
        ack = (seg.ack + shift.get(back, 0)) & _MASK if seg.flags & fastseg.Flags.ACK else seg.ack
        seg = seg.replace(seq=(seg.seq + shift.get(ahead, 0)) & _MASK, ack=ack)
        out.append(rec._replace(segment=seg))
    return out


def _disturbed(records: List[Any], seed: int) -> List[Any]:
    """Neighbours swapped, frames dropped before the capture point and frames captured twice."""
    rng = random.Random(seed)
    out = list(records)
    for i in range(0, len(out) - 1):
        if rng.random() < 0.03:
            out[i], out[i + 1] = out[i + 1], out[i]
    kept = []
    for rec in out:
        roll = rng.random()
        if roll < 0.01:
            continue
        kept.append(rec)
        if roll > 0.99:
            kept.append(rec)
    return kept


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    directory = tmp_path_factory.mktemp("twins")
    mix = directory / "mix.pcap"
    with open(mix, "wb") as out:
        _synth_write()(out, SEGMENTS, OPEN, seed=5, bulk=0.2, loss=0.05)
    records = list(capture.segments(mix))
    wrap = directory / "wrap.pcap"
    capture.write_pcap(wrap, _frames(_wrapped(records)))
    disturbed = directory / "disturbed.pcap"
    capture.write_pcap(disturbed, _frames(_disturbed(records, seed=6)))
    cut = directory / "cut.pcap"
    capture.write_pcap(cut, [capture.Frame(f.data[:SNAP], f.timestamp_ns, len(f.data))
                             for f in _frames(records)])
    return [mix, wrap, disturbed, cut]


def _analyze(paths: List[Path], implementation: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSEG_")}
    env["FASTSEG_NO_EXTENSIONS" if implementation == "python" else "FASTSEG_REQUIRE_EXTENSIONS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fastseg.__file__).parent.parent),
                                         env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "fastseg", "analyze", "--json", "-j1",
                           *map(str, paths)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_synthetic_captures_are_what_they_claim(synthetic: List[Path]) -> None:
    """The wrapped capture crosses 2**32, the disturbed one holds reordering and loss, the cut
    one is cut: else the comparison below would not cover them."""
    mix, wrap, disturbed, cut = synthetic
    assert any(r.segment.seq > _MASK - BELOW_WRAP and r.segment.flags & fastseg.Flags.SYN
               for r in capture.segments(wrap))
    assert any(r.segment.seq < BELOW_WRAP for r in capture.segments(wrap))
    assert len(list(capture.segments(disturbed))) != len(list(capture.segments(mix)))
    assert sum(r.truncated for r in capture.segments(cut)) > SEGMENTS // 4
    from fastseg.analyze import analyze_file

    stories = {path.name: analyze_file(str(path))["connections"] for path in synthetic}
    kinds = {kind for conn in stories["disturbed.pcap"] for kind in conn["anomalies"]}
    assert {"retransmission", "out_of_order", "not_captured", "duplicate"} <= kinds
    assert stories["wrap.pcap"] == stories["mix.pcap"]  # where the numbers start changes nothing
    assert [c["bytes"] for c in stories["cut.pcap"]] == [c["bytes"] for c in stories["mix.pcap"]]


def test_twins_tell_the_same_story(synthetic: List[Path], tmp_path: Path, twins: Any) -> None:
    """(``twins``: skips, or fails where they are required, when the compiled twins are not built.)"""
    paths = DATA + synthetic
    compiled = _analyze(paths, "cython", tmp_path)
    python = _analyze(paths, "python", tmp_path)
    files = json.loads(compiled)["files"]
    assert [f["file"] for f in files] == [str(p) for p in paths]
    assert all("error" not in f for f in files)
    assert sum(len(f["connections"]) for f in files) > SEGMENTS // 20
    assert compiled == python
