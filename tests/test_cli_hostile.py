"""The command line under hostile and careless use (issue 17): each row of the issue as a test.

Every subcommand runs in a subprocess here, as a user would run it: exit
statuses 0/1/2 (130 on Ctrl-C, 141 on a closed pipe), at most one line on
stderr and never a traceback, outputs that are atomic or written through,
memory bounded under an address-space limit, workers that die with their
parent.  Ends with a bounded fuzz of argument vectors and hostile captures.
"""

from __future__ import annotations

import gzip
import os
import random
import resource
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from fastseg import Flags, Segment, capture, mutate, pack
from fastseg.capture import columns
from fastseg.capture._common import CaptureError

HERE = Path(__file__).resolve().parent
CAPTURES = HERE / "data" / "captures"
SMALL = CAPTURES / "rst.pcap"

try:
    import pyarrow
except ImportError:  # pragma: no cover - the [test] extra installs it
    pyarrow = None
requires_pyarrow = pytest.mark.skipif(pyarrow is None, reason="needs pyarrow")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")

# Runs the command line, and reports its peak address space when FASTSEG_TEST_VMPEAK names a file.
RUNNER = """
import atexit, os, sys
peak = os.environ.get("FASTSEG_TEST_VMPEAK")
if peak:
    def report():
        with open("/proc/self/status") as status, open(peak, "w") as out:
            out.write(next(line for line in status if line.startswith("VmPeak")).split()[1])
    atexit.register(report)
from fastseg.cli import main
sys.exit(main(sys.argv[1:]))
"""


#: Set by fuzz/sanitize.sh when the compiled twins are built with ASan and UBSan.
SANITIZED = bool(os.environ.get("FASTSEG_ASAN_RUNTIME"))


def env(**extra: str) -> Dict[str, str]:
    # One BLAS thread, and Arrow on malloc: OpenBLAS (per CPU) and mimalloc (1 GB) would
    # reserve address space up front, and RLIMIT_AS limits would measure them, not fastseg.
    return dict(os.environ, OPENBLAS_NUM_THREADS="1", ARROW_DEFAULT_MEMORY_POOL="system", **extra)


def fastseg(*args: object, cwd: Path, address_space: Optional[int] = None,
            file_size: Optional[int] = None, timeout: float = 60,
            stdin: object = None, peak_file: Optional[Path] = None) -> subprocess.CompletedProcess:
    """``fastseg ARGS`` in a subprocess, with optional RLIMIT_AS / RLIMIT_FSIZE (bytes)."""

    def limits() -> None:
        # Under ASan (fuzz/sanitize.sh) the address space is the sanitizer's shadow and
        # allocator reservations: a limit would measure those.  The ordinary runs check it.
        if address_space is not None and not SANITIZED:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    extra = {"FASTSEG_TEST_VMPEAK": str(peak_file)} if peak_file else {}
    return subprocess.run([sys.executable, "-c", RUNNER, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limits,
                          env=env(**extra), stdin=stdin if stdin is not None else subprocess.DEVNULL)


def one_line(proc: subprocess.CompletedProcess, status: int, *words: str) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def peak_plus(args: Sequence[object], tmp_path: Path, extra_mb: int) -> int:
    """The address space ``fastseg ARGS`` peaked at on a small input, plus ``extra_mb``."""
    peak = tmp_path / "vmpeak"
    proc = fastseg(*args, cwd=tmp_path, peak_file=peak)
    assert proc.returncode == 0, proc.stderr
    return int(peak.read_text()) * 1024 + (extra_mb << 20)


def gap_capture(path: Path, jump: int) -> Path:
    """A handshake, then 10 bytes of data ``jump`` bytes past the client's ISN + 1, then its FIN."""
    c, s, isn, isn2 = "10.0.0.1", "10.0.0.2", 1000, 5000

    def frame(seg: Segment, src: str, dst: str, i: int) -> capture.Frame:
        return capture.Frame(capture.tcp_frame(seg, src, dst, fix_checksum=True), i * 1000)

    seq = (isn + 1 + jump) % 2**32
    capture.write_pcap(path, [
        frame(Segment(src_port=40000, dst_port=80, seq=isn, flags=Flags.SYN, window=65535), c, s, 0),
        frame(Segment(src_port=80, dst_port=40000, seq=isn2, ack=isn + 1,
                      flags=Flags.SYN | Flags.ACK, window=65535), s, c, 1),
        frame(Segment(src_port=40000, dst_port=80, seq=isn + 1, ack=isn2 + 1, flags=Flags.ACK,
                      window=65535), c, s, 2),
        frame(Segment(src_port=40000, dst_port=80, seq=seq, ack=isn2 + 1,
                      flags=Flags.ACK | Flags.PSH, window=65535, payload=b"x" * 10), c, s, 3),
        frame(Segment(src_port=40000, dst_port=80, seq=(seq + 10) % 2**32, ack=isn2 + 1,
                      flags=Flags.ACK | Flags.FIN, window=65535), c, s, 4),
    ])
    return path


def big_capture(path: Path, megabytes: int, payload: int = 1400) -> Path:
    """A pcap of ``megabytes`` MiB: one TCP frame repeated (written in a blink)."""
    seg = Segment(src_port=1, dst_port=2, seq=1, ack=1, flags=Flags.ACK, window=100,
                  payload=b"x" * payload)
    frame = capture.tcp_frame(seg, "10.0.0.1", "10.0.0.2")
    record = struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        out.write(record * ((megabytes << 20) // len(record)))
    return path


def json_anomalies(proc: subprocess.CompletedProcess) -> List[Dict[str, object]]:
    import json

    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return [conn["anomalies"] for f in doc["files"] for conn in f["connections"]]


# ---------------------------------------------------------------- rows 1 and 2: analyze


def test_row1_antipode_is_an_anomaly_and_the_others_go_on(tmp_path: Path) -> None:
    antipode = gap_capture(tmp_path / "antipode.pcap", 2**31 - 10)  # data ends 2**31 ahead
    for jobs in ("1", "2"):
        proc = fastseg("analyze", "--json", "-j", jobs, antipode, SMALL, cwd=tmp_path)
        anomalies = json_anomalies(proc)
        assert "not_captured" in anomalies[0] and len(anomalies) == 4  # rst.pcap's 3 as well


def test_row1_seq_shift_fuzz_output_analyses(tmp_path: Path) -> None:
    out = tmp_path / "shifted.pcap"
    assert fastseg("fuzz", CAPTURES / "sack_loss_ipv4.pcap", "--operators", "seq_shift", "-n",
                   "400", "-o", out, cwd=tmp_path).returncode == 0
    proc = fastseg("analyze", "-j", "2", out, SMALL, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_row2_huge_jump_is_not_captured_in_bounded_time_and_memory(tmp_path: Path) -> None:
    limit = peak_plus(["analyze", SMALL], tmp_path, 100)
    jump = gap_capture(tmp_path / "jump.pcap", 2**31 - 100)  # ~2 GiB ahead: 2 GiB of zeros before
    # a hang fails by the timeout; a run that read 2 GiB of zeros, by the address-space limit
    proc = fastseg("analyze", "--json", jump, cwd=tmp_path, address_space=limit, timeout=30)
    anomalies = json_anomalies(proc)
    assert "not replayed" in " ".join(anomalies[0]["not_captured"]["details"])  # type: ignore[index]


def _children(pid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _ignores_sigint(pid: int) -> bool:
    """Whether ``pid`` is a pool worker whose initializer ran (SIGINT ignored)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"spawn_main" not in f.read():  # not the resource tracker
                return False
        with open(f"/proc/{pid}/status") as f:
            mask = next(line for line in f if line.startswith("SigIgn")).split()[1]
    except (OSError, StopIteration):
        return False
    return bool(int(mask, 16) & (1 << (signal.SIGINT - 1)))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _interruptible() -> None:
    """In the child before exec: Ctrl-C does what it does at a terminal.  A test run started in
    the background of a non-interactive shell inherits SIGINT ignored, and Python keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _analyze_blocked_on_fifos(tmp_path: Path) -> tuple:  # type: ignore[type-arg]
    """``fastseg analyze -j 2`` on two FIFOs nobody writes: workers ready and blocked."""
    fifos = [tmp_path / "a.fifo", tmp_path / "b.fifo"]
    for fifo in fifos:
        os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "analyze", "-j", "2", *map(str, fifos)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), preexec_fn=_interruptible)
    deadline = time.monotonic() + 30
    workers: List[int] = []
    while time.monotonic() < deadline:
        workers = [pid for pid in _children(proc.pid) if _ignores_sigint(pid)]
        if len(workers) == 2:
            break
        time.sleep(0.05)
    assert len(workers) == 2, "the workers did not start"
    time.sleep(0.2)  # into the open() of the FIFO
    return proc, workers


def _gone(pids: Sequence[int], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


@linux_only
def test_row2_workers_die_with_their_parent(tmp_path: Path) -> None:
    proc, workers = _analyze_blocked_on_fifos(tmp_path)
    proc.kill()
    proc.wait(10)
    assert _gone(workers), "workers outlived their parent"


@linux_only
def test_row13_ctrl_c_during_analyze_j2_is_130_quietly(tmp_path: Path) -> None:
    proc, workers = _analyze_blocked_on_fifos(tmp_path)
    try:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:  # a failure leaves no analyze (nor its workers, which die with it) behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130 and err == "", err
    assert _gone(workers)


# ---------------------------------------------------------------- rows 3 and 4: outputs


def _null_device(directory: Path) -> Path:
    """A character device to write to: a private null device when root (so a regression cannot
    replace the machine's /dev/null, as the bug did), else /dev/null, which a user cannot replace."""
    if os.geteuid() == 0:
        node = directory / "null"
        try:
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            with open(node, "w") as probe:
                probe.write("x")
            return node
        except OSError:  # a nodev mount
            node.unlink(missing_ok=True)
            pytest.skip("no device node can be made here, and /dev/null is not to be risked")
    return Path(os.devnull)


def test_row3_devices_fifos_and_links_are_written_through(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    device = _null_device(tmp_path / "dev")
    for command in (["export", SMALL, "--format", "csv"], ["fuzz", "-n", "3"]):
        assert fastseg(*command, "-o", device, cwd=tmp_path).returncode == 0
        assert stat.S_ISCHR(os.lstat(device).st_mode)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: List[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert fastseg("export", SMALL, "-o", fifo, "--format", "csv", cwd=tmp_path).returncode == 0
    reader.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and got[0].startswith(b"frame,")
    target = tmp_path / "target.csv"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target.name)
    assert fastseg("export", SMALL, "-o", link, cwd=tmp_path).returncode == 0
    assert link.is_symlink() and target.read_text().startswith("frame,")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    plain = tmp_path / "plain.pcap"
    plain.write_bytes(b"old")
    plain.chmod(0o640)
    assert fastseg("fuzz", "-n", "3", "-o", plain, cwd=tmp_path).returncode == 0
    assert stat.S_IMODE(plain.stat().st_mode) == 0o640 and plain.read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev", "link.csv", "out.fifo", "plain.pcap",
                                                         "target.csv"]  # no temporary left


def test_row4_an_input_is_never_an_output(tmp_path: Path) -> None:
    victim = tmp_path / "v.pcap"
    victim.write_bytes(SMALL.read_bytes())
    alias = tmp_path / "alias.pcap"
    alias.symlink_to(victim.name)
    hard = tmp_path / "hard.pcap"
    os.link(victim, hard)
    for args in (["export", victim, "-o", victim], ["export", SMALL, victim, "-o", alias],
                 ["export", victim, "-o", hard, "--format", "csv"], ["fuzz", victim, "-o", victim],
                 ["fuzz", alias, "-o", "x.pcap", "--log", hard]):
        one_line(fastseg(*args, cwd=tmp_path), 2, "input", "refusing to overwrite")
    assert victim.read_bytes() == SMALL.read_bytes()
    one_line(fastseg("fuzz", "-o", "x.pcap", "--log", "x.pcap", cwd=tmp_path), 2, "same file")
    assert not (tmp_path / "x.pcap").exists()


# ---------------------------------------------------------------- rows 5 to 8: export


@requires_pyarrow
def test_row5_several_files_to_arrow(tmp_path: Path) -> None:
    a, b = CAPTURES / "rst.pcap", CAPTURES / "ecn.pcap"
    proc = fastseg("export", a, b, "-o", "m.arrow", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pyarrow.ipc.open_file(tmp_path / "m.arrow").read_all()
    expected = [str(a)] * columns.columns(a).rows + [str(b)] * columns.columns(b).rows
    assert table["file"].to_pylist() == expected


def test_row6_a_file_truncated_while_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = big_capture(tmp_path / "t.pcap", 1, payload=100)
    pieces = columns.iter_columns(path, piece_size=64 << 10)
    next(pieces)
    os.truncate(path, 100_000)
    with pytest.raises(CaptureError, match="shrank while being read"):
        list(pieces)
    source = Path(columns.__file__).read_text()
    assert "import mmap" not in source  # what is not mapped cannot SIGBUS


def test_row7_pipes_are_read_as_streams(tmp_path: Path) -> None:
    expected = columns.columns(SMALL).rows
    cat = subprocess.Popen(["cat", str(SMALL)], stdout=subprocess.PIPE)  # a pipe, not a file
    proc = fastseg("export", "/dev/stdin", "-o", "o.csv", cwd=tmp_path, stdin=cat.stdout)
    assert cat.wait(30) == 0 and cat.stdout is not None
    cat.stdout.close()
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.csv").read_text().count("\n") == expected + 1
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(SMALL.read_bytes()))
    writer.start()
    proc = fastseg("analyze", fifo, cwd=tmp_path)
    writer.join(30)
    assert proc.returncode == 0 and "3 connections" in proc.stdout, proc.stderr


def test_row8_compression_is_checked_per_format(tmp_path: Path) -> None:
    one_line(fastseg("export", SMALL, "-o", "c.parquet", "--compression", "bogus", cwd=tmp_path),
             2, "--compression", "'bogus'")
    one_line(fastseg("export", SMALL, "-o", "c.csv", "--compression", "zstd", cwd=tmp_path),
             2, "csv takes compression none, gzip")
    assert not list(tmp_path.iterdir())
    assert fastseg("export", SMALL, "-o", "c.csv.gz", cwd=tmp_path).returncode == 0
    with gzip.open(tmp_path / "c.csv.gz", "rt") as text:
        assert text.read().count("\n") == columns.columns(SMALL).rows + 1


# ---------------------------------------------------------------- rows 9 and 10: fuzz


def test_row9_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    keep = tmp_path / "keep.pcap"
    keep.write_bytes(b"the previous file")
    proc = fastseg("fuzz", "-o", keep, "-n", "5000", cwd=tmp_path, file_size=64 << 10)
    one_line(proc, 1, str(keep), "too large")
    assert keep.read_bytes() == b"the previous file"
    proc = fastseg("fuzz", "-o", keep, "--log", tmp_path / "missing" / "log.txt", cwd=tmp_path)
    one_line(proc, 1, "log.txt")
    assert keep.read_bytes() == b"the previous file"
    proc = fastseg("export", CAPTURES / "sack_loss_ipv4.pcap", "-o", "keep.csv", cwd=tmp_path,
                   file_size=4096)
    one_line(proc, 1, "keep.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pcap"]


def test_row10_fuzz_streams_frames_in_bounded_memory(tmp_path: Path) -> None:
    limit = peak_plus(["fuzz", "-o", "small.pcap", "-n", "10"], tmp_path, 40)
    proc = fastseg("fuzz", "-o", "big.pcap", "-n", "40000", cwd=tmp_path, address_space=limit)
    assert proc.returncode == 0, proc.stderr  # holding the frames took ~90 MB for 40,000
    assert sum(1 for _ in capture.records(tmp_path / "big.pcap")) == 40000


# ---------------------------------------------------------------- row 12: export in pieces


@requires_pyarrow
@pytest.mark.parametrize("out, megabytes, payload", [("o.parquet", 120, 0), ("o.csv", 160, 1400)])
def test_row12_export_memory_does_not_grow_with_the_capture(tmp_path: Path, out: str,
                                                            megabytes: int, payload: int) -> None:
    """Parquet of 1.8M bare ACKs took 414 MB resident, CSV of a 160 MB capture 209 MB; in
    pieces, the peak is that of a 1 MB capture plus a piece's worth."""
    if columns.IMPLEMENTATION == "python" and payload == 0:
        pytest.skip("1.8M rows through the pure-Python twin take minutes; the CSV case runs")
    small = big_capture(tmp_path / "small.pcap", 1, payload)
    limit = peak_plus(["export", small, "-o", out], tmp_path, 100)
    big = big_capture(tmp_path / "big.pcap", megabytes, payload)
    proc = fastseg("export", big, "-o", out, cwd=tmp_path, address_space=limit)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{columns.columns(big).rows} segments")


# ---------------------------------------------------------------- rows 13 and 14


def test_row13_closed_and_full_standard_output(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", RUNNER, "--help"], stdout=full, cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=env())
    one_line(proc, 1, "standard output", "No space left")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written: EPIPE, deterministically
    proc = subprocess.run([sys.executable, "-c", RUNNER, "decode"], stdout=write_end, cwd=tmp_path,
                          stderr=subprocess.PIPE, text=True, timeout=60, env=env())
    os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == ""


@pytest.mark.parametrize("args, words", [
    (["fuzz", "-n", "0", "-o", "x.pcap"], ["--count", "at least 1, not 0"]),
    (["fuzz", "--operators", "nope", "-o", "x.pcap"], ["unknown operator 'nope'"]),
    (["fuzz", "--stack", "0", "-o", "x.pcap"], ["--stack", "not 0"]),
    (["fuzz", "--stack", "1000000000", "-n", "1", "-o", "x.pcap"], ["--stack", "1000000000"]),
    (["decode", "--src", "foo"], ["--src"]),
    (["decode", "--src", "foo", "0011"], ["'foo'"]),
    (["analyse", str(SMALL)], ["'analyse'", "did you mean 'analyze'"]),
    (["d516b7992268535c"], ["unknown subcommand", "fastseg decode HEX"]),
    (["export", str(SMALL), "-o", "x.csv", "--format", "xml"], ["'xml'"]),
    (["analyze", "-j", "100000"], ["--jobs", "100000"]),
])
def test_row14_usage_errors_name_the_value(tmp_path: Path, args: List[str], words: List[str]) -> None:
    one_line(fastseg(*args, cwd=tmp_path), 2, *words)
    assert not (tmp_path / "x.pcap").exists()


# ---------------------------------------------------------------- row 15: fuzz/run.py


def test_row15_leak_check_cost_does_not_grow_with_the_corpus(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "atheris", type(sys)("atheris"))  # not needed to replay
    monkeypatch.syspath_prepend(str(HERE.parent / "fuzz"))
    import _common  # fuzz/_common.py

    for i in range(2000):
        (tmp_path / f"{i:05d}").write_bytes(bytes(i % 251) * (i % 7 + 1))
    calls = []

    def slow(data: bytes) -> None:
        calls.append(len(data))
        time.sleep(0.0005)

    assert _common.leak_check(slow, [str(tmp_path)], budget=1.0) == 0
    # 2,000 inputs x 4000 // 2000 passes x 2 rounds + warm-up: 10,000 calls; the sample is 64.
    assert len(set(calls)) <= _common.LEAK_SAMPLE and len(calls) <= 64 * 40


# ---------------------------------------------------------------- every row at once: a fuzz


def _hostile_captures(directory: Path, rng: random.Random) -> List[Path]:
    made = []
    sources = sorted(CAPTURES.glob("*.pcap"))
    for index, source in enumerate(rng.sample(sources, 4)):
        data = bytearray(source.read_bytes())
        cut = directory / f"cut{index}.pcap"
        cut.write_bytes(bytes(data[:rng.randrange(len(data))]))
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        flipped = directory / f"flip{index}.pcap"
        flipped.write_bytes(bytes(data))
        fuzzed = directory / f"fuzzed{index}.pcap"
        inputs = [(r.src, r.dst, pack(r.segment)) for r in capture.segments(source)]
        capture.write_pcap(fuzzed, [frame for frame, _ in mutate.frames(
            inputs, 60, seed=index, stack=3)])
        made += [cut, flipped, fuzzed]
    (directory / "empty.pcap").write_bytes(b"")
    (directory / "noise.pcap").write_bytes(bytes(rng.randrange(256) for _ in range(300)))
    (directory / "huge_record.pcap").write_bytes(SMALL.read_bytes()[:24] + struct.pack(
        "<IIII", 0, 0, 0xFFFFFFF0, 0xFFFFFFF0))
    gap_capture(directory / "gap.pcap", 2**31 - 10)
    return made + [directory / name for name in ("empty.pcap", "noise.pcap", "huge_record.pcap",
                                                 "gap.pcap")]


def _argv(rng: random.Random, files: List[Path], out: Path) -> List[str]:
    pick = rng.choice
    values = ["0", "-1", "1", "3", "99999999999", "x", "", "0x10", "--", "-"]
    name = pick(["decode", "analyze", "fuzz", "export", "analyse", "exprot", "-h", "bogus", ""])
    args: List[str] = [name] if name else []
    files_now = [str(pick(files)) for _ in range(rng.randrange(0, 3))]
    if rng.random() < 0.1:
        files_now.append(str(out / "missing.pcap"))
    if rng.random() < 0.05:
        files_now.append(str(out))
    output = str(out / pick(["o.pcap", "o.csv", "o.parquet", "o.arrow", "o.csv.gz", "o"]))
    if files_now and rng.random() < 0.1:
        output = files_now[0]
    if name == "decode":
        args += [pick(["d516b799", "zz", "0" * 40, "0" * 41]) for _ in range(rng.randrange(3))]
        args += rng.choice([[], ["--src", pick(["10.0.0.1", "::1", "x"])],
                            ["--dst", pick(["10.0.0.2", "300.1.1.1"])]])
    elif name == "analyze":
        args += files_now + rng.choice([[], ["--json"], ["-v"], ["-j", pick(values)]])
    elif name == "fuzz":
        args += [*files_now[:1], "-o", output]
        for option in ("-n", "--stack", "--seed", "--operators", "--checksum", "--link", "--log"):
            if rng.random() < 0.3:
                value = pick(values)
                if option == "-n" and value == "99999999999":
                    value = "2000"
                if option == "--operators":
                    value = pick(["truncate", "nope", "seq_shift,bitflip", ","])
                if option == "--log":
                    value = pick([output, str(out / "log.txt")])
                args += [option, value]
    elif name == "export":
        args += files_now + rng.choice([["-o", output], []])
        for option, choices in (("--format", ["csv", "arrow", "parquet", "xml"]),
                                ("--compression", ["zstd", "gzip", "lz4", "none", "bogus"])):
            if rng.random() < 0.3:
                args += [option, pick(choices)]
    else:
        args += files_now
    return args


#: Command lines the hostile-use campaign runs (a count, so a slow machine runs them all).
CLI_FUZZ_RUNS = 30


@linux_only
def test_cli_fuzz_no_traceback_documented_statuses(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("FASTSEG_CLI_FUZZ_SEED", "17")))
    files = _hostile_captures(tmp_path, rng)
    out = tmp_path / "out"
    out.mkdir()
    limit = peak_plus(["export", SMALL, "-o", out / "probe.parquet"], tmp_path, 200)
    for _ in range(CLI_FUZZ_RUNS):  # each run bounded by its timeout, not by a shared clock
        args = _argv(rng, files, out)
        proc = fastseg(*args, cwd=out, address_space=limit, timeout=30)
        where = f"fastseg {' '.join(args)}"
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, \
            f"{where}\n{proc.stderr}"
        assert proc.returncode in (0, 1, 2), f"{where}: {proc.returncode}\n{proc.stderr}"
        assert len(proc.stderr.splitlines()) <= 3, f"{where}\n{proc.stderr}"  # one a file
        assert not [p for p in out.iterdir() if p.name.endswith(".part")], where


def test_a_bad_input_in_a_compressed_csv_export_is_one_line(tmp_path: Path) -> None:
    """The gzip writer is let go while the output is open: nothing is written to a closed file."""
    bad = tmp_path / "noise.pcap"
    bad.write_bytes(bytes(range(256)))
    proc = fastseg("export", SMALL, bad, "-o", "o.csv.gz", cwd=tmp_path)
    message = one_line(proc, 1, "not a pcap or pcapng capture")
    assert "Exception ignored" not in proc.stderr and message
    assert not (tmp_path / "o.csv.gz").exists()
