"""``fastseg fuzz``: repeatable by seed, read by tshark, checksums as asked, errors in one line."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest

import fastseg
from fastseg import capture, cli, mutate
from fastseg.cli import fuzz as fuzzcli

HERE = Path(__file__).resolve().parent
CAPTURE = HERE / "data" / "captures" / "sack_loss_ipv4.pcap"
TSHARK = shutil.which("tshark")

requires_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not on PATH (apt-get install tshark): it is the reference")
TCPREPLAY, TCPCAPINFO, IP = shutil.which("tcpreplay"), shutil.which("tcpcapinfo"), shutil.which("ip")
requires_tcpcapinfo = pytest.mark.skipif(
    TCPCAPINFO is None, reason="tcpcapinfo is not on PATH (apt-get install tcpreplay)")
requires_tcpreplay = pytest.mark.skipif(
    TCPREPLAY is None or IP is None or os.geteuid() != 0,
    reason="replaying needs tcpreplay and ip (apt-get install tcpreplay iproute2) and root, "
           "for a veth pair in a private network namespace")


def run(*args: str) -> int:
    return fuzzcli.main(list(args))


def tshark(path: Path, *fields: str) -> List[str]:
    cmd = [str(TSHARK), "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-T", "fields",
           "-E", "occurrence=l"]
    for field in fields:
        cmd += ["-e", field]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("source", [None, CAPTURE], ids=["builtin", "capture"])
def test_same_seed_same_bytes(tmp_path: Path, source: Path) -> None:
    given = [str(source)] if source else []
    outs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / f"{name}.pcap"
        assert run(*given, "-o", str(out), "--count", "200", "--seed", seed, "--stack", "2") == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_frames_carry_the_mutations_between_the_inputs_addresses(tmp_path: Path) -> None:
    out, log = tmp_path / "o.pcap", tmp_path / "o.txt"
    assert run(str(CAPTURE), "-o", str(out), "-n", "150", "--log", str(log), "--checksum", "fix") == 0
    inputs = fuzzcli.capture_inputs(str(CAPTURE))
    records = list(capture.segments(out))
    assert len(records) == 150
    lines = log.read_text().splitlines()
    assert len(lines) == 150 and lines[0].startswith("1\t1\t")
    for index, rec in enumerate(records):
        src, dst, _ = inputs[index % len(inputs)]
        assert (rec.src, rec.dst) == (src, dst)
        assert rec.checksum_ok is True
        assert rec.timestamp_ns == mutate.FRAME_EPOCH_NS + index * 1000
    mutator = fastseg.mutate.Mutator(0, checksum="fix", src=inputs[3][0], dst=inputs[3][1],
                                     max_len=0xFFFF - 20)
    assert fastseg.pack(records[3].segment) == mutator.mutate(inputs[3][2], index=3).data


def test_operators_restrict_the_mutations(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    assert run("-o", str(tmp_path / "o.pcap"), "-n", "60", "--operators", "truncate,option_remove",
               "--log", str(log)) == 0
    descriptions = [line.split("\t")[2] for line in log.read_text().splitlines()]
    assert all(d.startswith(("truncate", "options: remove", "cut", "raw")) for d in descriptions), \
        descriptions


@requires_tshark
@pytest.mark.parametrize("link", ["ethernet", "raw"])
@pytest.mark.parametrize("source", [None, CAPTURE], ids=["builtin", "capture"])
def test_tshark_reads_every_frame(tmp_path: Path, link: str, source: Path) -> None:
    out = tmp_path / "o.pcap"
    given = [str(source)] if source else []
    assert run(*given, "-o", str(out), "-n", "300", "--link", link, "--stack", "3") == 0
    numbers = tshark(out, "frame.number")
    assert [int(n) for n in numbers] == list(range(1, 301))


@requires_tshark
@pytest.mark.parametrize("source", [None, CAPTURE], ids=["builtin", "capture"])
def test_checksum_fix_is_good_per_tshark(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "o.pcap"
    given = [str(source)] if source else []
    assert run(*given, "-o", str(out), "-n", "300", "--checksum", "fix") == 0
    statuses = [s for s in tshark(out, "tcp.checksum.status")]
    assert len(statuses) == 300
    # tshark gives no status where it cannot take the header apart (a data offset below 5)
    known = [s for s in statuses if s]
    assert len(known) > 250 and set(known) == {"1"}   # 1: good


@requires_tshark
def test_checksum_break_is_bad_per_tshark(tmp_path: Path) -> None:
    out = tmp_path / "o.pcap"
    assert run("-o", str(out), "-n", "100", "--checksum", "break") == 0
    known = [s for s in tshark(out, "tcp.checksum.status") if s]
    assert len(known) > 80 and set(known) == {"0"}    # 0: bad


@pytest.mark.parametrize("args, message, expected", [
    (["--operators", "nonsense"], "unknown operator 'nonsense'", 2),
    ([str(HERE / "missing.pcap")], "no such file", 1),
    ([str(HERE / "data" / "captures" / "README.md")], "not a pcap or pcapng capture", 1),
    (["--checksum", "maybe"], "invalid choice: 'maybe'", 2),
    (["--count", "-1"], "--count: must be at least 1, not -1", 2),
    (["--count", "0"], "--count: must be at least 1, not 0", 2),
    (["--stack", "0"], "--stack: must be at least 1, not 0", 2),
    (["--stack", "1000000000"], f"--stack: must be at most {fuzzcli.MAX_STACK}, not 1000000000", 2),
])
def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: List[str],
                             message: str, expected: int) -> None:
    status = run(*args, "-o", str(tmp_path / "o.pcap"))
    assert status == expected
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastseg fuzz: error:") and message in err, err


def test_no_tcp_in_the_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.pcap"
    capture.write_pcap(empty, [])
    assert run(str(empty), "-o", str(tmp_path / "o.pcap")) == 1
    assert "no TCP segments" in capsys.readouterr().err


def test_through_the_fastseg_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fuzz", "-o", str(tmp_path / "o.pcap"), "-n", "5"]) == 0
    assert "5 frames from 9 input segments" in capsys.readouterr().out
    assert len(list(capture.records(tmp_path / "o.pcap"))) == 5


def frame_lengths(path: Path) -> List[int]:
    """The captured length of every frame of a little-endian microsecond pcap (as written)."""
    data = path.read_bytes()
    lengths, offset = [], 24
    while offset < len(data):
        (caplen,) = struct.unpack_from("<I", data, offset + 8)
        lengths.append(caplen)
        offset += 16 + caplen
    return lengths


@requires_tcpcapinfo
@pytest.mark.parametrize("source", [None, CAPTURE], ids=["builtin", "capture"])
def test_tcpcapinfo_reads_every_frame(tmp_path: Path, source: Path) -> None:
    """tcpcapinfo (4.4.3) misreads frames over 65535 bytes, so ``extend`` (which grows a
    segment to the IP length bound) is left out here; tcpreplay below takes them all."""
    out = tmp_path / "o.pcap"
    given = [str(source)] if source else []
    operators = ",".join(name for name in fastseg.mutate.OPERATORS if name != "extend")
    assert run(*given, "-o", str(out), "-n", "300", "--stack", "3", "--operators", operators) == 0
    result = subprocess.run([str(TCPCAPINFO), str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\d+\t", line)]
    assert [int(row[0]) for row in rows] == list(range(1, 301))
    assert [int(row[1]) for row in rows] == frame_lengths(out)
    assert all(row[-1] == "OK" for row in rows) and "damaged" not in result.stdout


def ip(*args: str) -> str:
    assert IP is not None
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture()
def veth() -> Iterator[str]:
    """A private network namespace holding a veth pair fz0 <-> fz1 (largest MTU, 65535),
    deleted afterwards."""
    namespace = f"fastseg-fuzz-{os.getpid()}"
    ip("netns", "add", namespace)
    try:
        # no IPv6 on the new links: their router solicitations would count as received
        subprocess.run([IP or "ip", "netns", "exec", namespace, "sh", "-c",
                        "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"],
                       capture_output=True, timeout=20)
        ip("netns", "exec", namespace, IP or "ip", "link", "add", "fz0", "mtu", "65535", "type",
           "veth", "peer", "name", "fz1", "mtu", "65535")
        for dev in ("fz0", "fz1"):
            ip("netns", "exec", namespace, IP or "ip", "link", "set", dev, "up")
        yield namespace
    finally:
        subprocess.run([IP or "ip", "netns", "del", namespace], capture_output=True, timeout=20)


def received(namespace: str, dev: str) -> int:
    return int(ip("netns", "exec", namespace, "cat", f"/sys/class/net/{dev}/statistics/rx_packets"))


@requires_tcpreplay
@pytest.mark.parametrize("link", ["ethernet", "raw"])
@pytest.mark.parametrize("source", [None, CAPTURE], ids=["builtin", "capture"])
def test_tcpreplay_sends_every_frame(tmp_path: Path, veth: str, link: str, source: Path) -> None:
    """tcpreplay reads the whole file and puts every frame on the wire, except the frames no
    Ethernet link can carry: an IPv6 segment grown to the 65535-byte payload bound makes a
    65589-byte frame, over the 65535 MTU + 14 that any device takes (EMSGSIZE)."""
    out = tmp_path / "o.pcap"
    given = [str(source)] if source else []
    assert run(*given, "-o", str(out), "-n", "300", "--link", link, "--stack", "3") == 0
    too_long = sum(n > 65535 + 14 for n in frame_lengths(out))  # sent as Ethernet either way
    before = received(veth, "fz1")
    result = subprocess.run([IP or "ip", "netns", "exec", veth, str(TCPREPLAY), "-i", "fz0",
                             "--topspeed", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"(Successful|Failed|Truncated) packets:\s+(\d+)", result.stdout))
    assert counts == {"Successful": str(300 - too_long), "Failed": str(too_long), "Truncated": "0"}
    assert received(veth, "fz1") - before == 300 - too_long  # and the peer end got them
