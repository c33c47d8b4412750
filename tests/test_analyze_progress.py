"""The progress bar of ``fastseg analyze``: on large files, on a terminal, never otherwise."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from fastseg import Flags, analyze, capture
from fastseg.cli import analyze as analyze_cli

HERE = Path(__file__).resolve().parent
SMALL = HERE / "data" / "captures" / "ipv4_handshake.pcap"
RECORDS = analyze.PROGRESS_EVERY + 200  # one progress call at the real interval
PAYLOAD = analyze_cli.PROGRESS_MIN // analyze.PROGRESS_EVERY  # so the file passes the size limit


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handshake, then one side's data segments: just over the size and record limits."""
    syn, syn_ack, ack = list(capture.segments(SMALL))[:3]
    frames = [capture.Frame(capture.tcp_frame(r.segment, r.src, r.dst), r.timestamp_ns)
              for r in (syn, syn_ack, ack)]
    for i in range(RECORDS):
        segment = ack.segment.replace(seq=(ack.segment.seq + i * PAYLOAD) & 0xFFFFFFFF,
                                      flags=Flags.PSH | Flags.ACK, payload=bytes(PAYLOAD))
        frames.append(capture.Frame(capture.tcp_frame(segment, ack.src, ack.dst, fix_checksum=True),
                                    ack.timestamp_ns + 1000 * (i + 1)))
    path = tmp_path_factory.mktemp("progress") / "big.pcap"
    capture.write_pcap(path, frames)
    assert path.stat().st_size >= analyze_cli.PROGRESS_MIN
    return path


def test_progress_callback_reports_bytes_read(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyze, "PROGRESS_EVERY", 500)
    calls: List[Tuple[int, int]] = []
    result = analyze.analyze_file(str(big), lambda done, total: calls.append((done, total)))
    assert result["tcp_segments"] == RECORDS + 3
    assert len(calls) == (RECORDS + 3) // 500
    size = big.stat().st_size
    assert all(total == size and 0 < done <= size for done, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_run_draws_and_clears_the_bar(big: Path, capsys: pytest.CaptureFixture[str]) -> None:
    analyze_cli.run([str(big)], 1, progress=True)
    err = capsys.readouterr().err
    assert f"\r{str(big)[-40:]} [" in err and "%" in err
    assert err.endswith("\r\033[K")  # the bar is wiped before the report is printed
    analyze_cli.run([str(SMALL)], 1, progress=True)
    assert capsys.readouterr().err == ""  # small files get no bar


def analyze_on_a_terminal(*args: str, budget: float = 30.0) -> Tuple[int, str, str]:
    """Run ``fastseg analyze ARGS`` with stderr on a pseudo-terminal; (status, stdout, tty)."""
    master, slave = pty.openpty()
    code = "import sys, fastseg.cli.analyze as a; sys.exit(a.main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=slave, cwd=tempfile.gettempdir())  # not the source tree
    os.close(slave)
    tty = bytearray()
    deadline = time.monotonic() + budget
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                tty += chunk
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, out.decode(), tty.decode(errors="replace")


def test_bar_on_a_terminal(big: Path) -> None:
    status, out, tty = analyze_on_a_terminal("-j", "1", str(big))
    assert status == 0 and "1 connection" in out
    assert "big.pcap [" in tty and "%" in tty and tty.endswith("\r\033[K")
    assert "\r" not in out and "%" not in out  # the report itself stays clean


def test_no_progress_flag_on_a_terminal(big: Path) -> None:
    status, out, tty = analyze_on_a_terminal("--no-progress", str(big))
    assert status == 0 and "1 connection" in out and tty == ""
