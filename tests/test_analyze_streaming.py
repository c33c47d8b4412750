"""``fastseg analyze`` in one pass: finished connections are reported and freed while the capture
is read, memory follows the connections open at once, and ``--json`` streams (issue 18, item 4)."""

from __future__ import annotations

import functools
import json
import tracemalloc
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from conftest import synth_capture

from fastseg import capture
from fastseg.analyze import analyze_file, tracker
from fastseg.cli.analyze import main

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = [*sorted((ROOT / "tests" / "data").glob("*/*.pcap")), ROOT / "fastseg" / "sample.pcap"]



def _sequential(path: Path, segments: int, open_at_once: int = 4) -> int:
    """Short connections, a few at a time, some loss; the number of connections written."""
    with open(path, "wb") as out:
        _frames, connections = synth_capture().write(out, segments, open_at_once, seed=3, bulk=0.0,
                                              loss=0.05)
    return int(connections)


def _peak(path: Path) -> tuple[int, int]:
    """(connections reported, peak bytes traced) of a streamed analysis of ``path``."""
    count = 0

    def each(report: Dict[str, Any]) -> None:
        nonlocal count
        count += 1

    tracemalloc.start()
    try:
        analyze_file(str(path), each=each)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_capture(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Few finished connections wait for late segments (more than are open at once, so that
    # each still takes its last ACK), so the bound shows on a small capture.
    monkeypatch.setattr(tracker, "LINGER_CONNECTIONS", 32)
    # Every connection comes from a new client address: the cache of address texts has a
    # bound of its own, made small here.
    monkeypatch.setattr(tracker, "_NAMES_KEPT", 16)
    # The reader's buffer (a chunk of the file, up to both files' size) is not the analysis'.
    monkeypatch.setattr("fastseg.analyze.capture.open_capture",
                        functools.partial(capture.open_capture, chunk_size=1 << 15))
    short, long = tmp_path / "short.pcap", tmp_path / "long.pcap"
    wrote_short, wrote_long = _sequential(short, 2000, 16), _sequential(long, 8000, 16)
    # Bounded caches shared by every analysis (fastseg._addr's parsed addresses) fill up
    # once: a first pass over the long capture, untraced, leaves them as full as it needs.
    analyze_file(str(long), each=lambda report: None)
    (seen_short, peak_short), (seen_long, peak_long) = _peak(short), _peak(long)
    assert (seen_short, seen_long) == (wrote_short, wrote_long)
    # Four times the connections, one at a time: held, they would take about four times the
    # memory; released, the peak stays where the short capture's was.
    assert peak_long < 1.3 * peak_short, (peak_short, peak_long)


class _Counting:
    """A capture reader that counts the records it has handed out."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.format = reader.format
        self.read = 0

    def __iter__(self) -> Iterator[Any]:
        for rec in self._reader:
            self.read += 1
            yield rec

    @property
    def frames(self) -> int:
        return int(self._reader.frames)


def test_connections_are_reported_while_the_capture_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "seq.pcap"
    written = _sequential(path, 600)
    readers: List[_Counting] = []
    real_open = capture.open_capture

    def counting_open(*args: Any, **kwargs: Any) -> _Counting:
        readers.append(_Counting(real_open(*args, **kwargs)))
        return readers[-1]

    monkeypatch.setattr("fastseg.analyze.capture.open_capture", counting_open)
    monkeypatch.setattr(tracker, "LINGER_CONNECTIONS", 4)
    read_when_reported: List[int] = []
    result = analyze_file(str(path), each=lambda report: read_when_reported.append(readers[0].read))
    assert len(read_when_reported) == written
    assert result["connections"] == []
    frames = result["frames"]
    # Most connections were reported long before the end of the capture.
    assert sum(read < frames for read in read_when_reported) > written // 2


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_releasing_changes_nothing_on_the_real_captures(path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    streamed: List[Dict[str, Any]] = []
    analyze_file(str(path), each=streamed.append)
    monkeypatch.setattr(tracker, "LINGER_CONNECTIONS", 1 << 30)  # nothing released before the end
    held = analyze_file(str(path))["connections"]
    assert sorted(streamed, key=lambda c: int(c["id"])) == held


def test_a_late_segment_still_belongs_to_its_finished_connection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In the generated captures the last ACK follows both FINs: the connection has finished
    # when it comes, and must still take it rather than start a "mid-stream" one.
    path = tmp_path / "seq.pcap"
    written = _sequential(path, 300)
    monkeypatch.setattr(tracker, "LINGER_CONNECTIONS", 4)
    conns = analyze_file(str(path))["connections"]
    assert len(conns) == written
    assert {c["handshake"] for c in conns} == {"complete"}
    assert {c["end"]["kind"] for c in conns} == {"closed"}


def test_json_streams_the_same_document(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "seq.pcap"
    _sequential(path, 600)
    monkeypatch.setattr(tracker, "LINGER_CONNECTIONS", 4)
    sample = str(ROOT / "fastseg" / "sample.pcap")
    missing = str(tmp_path / "missing.pcap")
    assert main(["--json", "-j1", str(path), missing, sample]) == 1
    streamed = json.loads(capsys.readouterr().out)
    assert main(["--json", "-j2", str(path), missing, sample]) == 1
    whole = json.loads(capsys.readouterr().out)
    assert streamed["schema"] == whole["schema"]
    assert [set(f) for f in streamed["files"]] == [set(f) for f in whole["files"]]
    for mine, theirs in zip(streamed["files"], whole["files"]):
        if "connections" in mine:
            mine["connections"].sort(key=lambda c: c["id"])
        assert mine == theirs
    # Streamed, connections come in the order they ended, not in id order.
    ids = [c["id"] for c in json.loads(_streamed_text(path, capsys))["files"][0]["connections"]]
    assert ids != sorted(ids) and sorted(ids) == list(range(1, len(ids) + 1))


def _streamed_text(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--json", str(path)]) == 0
    return str(capsys.readouterr().out)
