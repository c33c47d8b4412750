"""``fastseg fuzz live``: it finds every planted defect, nothing in fastseg's Host, and replays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from planted import PLANTED

from fastseg.conn import Host
from fastseg.live.campaign import Campaign
from fastseg.live.findings import load, replay
from fastseg.live.kernel import kernel_unavailable
from fastseg.live.states import STATES
from fastseg.live.trial import run_trial

HERE = Path(__file__).resolve().parent
TSHARK = shutil.which("tshark")
#: Trials a campaign gets to find one planted defect: the first pass (each attack kind once in
#: each state, 118 trials) and a little more.
BUDGET = 300


def find(factory: Any, oracle: str) -> Campaign:
    campaign = Campaign(factory, seed="0")
    while campaign.report.sequences < BUDGET and not any(
            f.oracle == oracle for f in campaign.report.findings):
        campaign.step()
    return campaign


@pytest.mark.parametrize("defect", list(PLANTED), ids=lambda cls: cls.__name__)
def test_each_planted_defect_is_found(defect: Any) -> None:
    oracle = PLANTED[defect]
    report = find(defect, oracle).report
    found = [f for f in report.findings if f.oracle == oracle]
    assert found, f"{defect.__name__}: no {oracle} finding in {report.sequences} sequences"
    tripped, _ = replay(found[0], defect)
    assert tripped, f"{defect.__name__}: the minimised sequence {found[0].minimised} no longer trips"


def test_fastseg_host_has_no_finding_and_every_state_is_reached() -> None:
    report = Campaign(Host, seed="0").run(iterations=400)
    assert [(f.oracle, f.state, f.message) for f in report.findings] == []
    assert report.states == list(STATES)
    assert len(report.coverage) >= 100 and report.corpus


def test_the_same_seed_gives_the_same_campaign() -> None:
    def campaign() -> Dict[str, Any]:
        record = Campaign(PLANTED_BY_NAME["NoPaws"], seed="x").run(iterations=150).record()
        del record["seconds"]
        return record

    first = campaign()
    assert first["findings"] and first == campaign()


PLANTED_BY_NAME = {cls.__name__: cls for cls in PLANTED}


def test_a_minimised_sequence_keeps_only_what_trips() -> None:
    state, steps = "ESTABLISHED", [("data_in_window", 3), ("rst_in_window", 5), ("mutate", 8)]
    defect = PLANTED_BY_NAME["NoChallengeAck"]
    result = run_trial(defect, state, steps, "m")
    violation = next(v for v in result.violations if v.rule == "rst_in_window: no challenge ACK")
    from fastseg.live.findings import minimise

    kept, small = minimise(defect, state, steps, "m", violation, frozenset())
    assert kept == [("rst_in_window", 5)] and small.frames


def fuzz(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # tests/ for the planted targets, never the checkout: fastseg is the installed one
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "fastseg", "fuzz", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": path})


def test_command_writes_findings_that_replay(tmp_path: Path) -> None:
    out = tmp_path / "found"
    done = fuzz(tmp_path, "live", "--target", "planted:NoChallengeAck", "--iterations", "40",
                "--seed", "3", "-o", str(out), "--json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["states"]["ESTABLISHED"] > 0 and document["coverage"]
    findings: List[Dict[str, Any]] = document["findings"]
    assert {f["oracle"] for f in findings} == {"rfc5961"}
    first = out / "finding-1.json"
    assert load(str(first)).minimised == [tuple(s) for s in findings[0]["minimised"]]
    assert (out / "finding-1.pcap").stat().st_size > 24 and (out / "finding-1-min.pcap").exists()
    again = fuzz(tmp_path, "replay", str(first))
    assert again.returncode == 1 and "still trips rfc5961" in again.stdout, again.stderr
    fixed = fuzz(tmp_path, "replay", str(first), "--target", "fastseg")
    assert fixed.returncode == 0 and "no longer trips" in fixed.stdout, fixed.stderr


@pytest.mark.skipif(TSHARK is None, reason="tshark is not on PATH (apt-get install tshark)")
def test_tshark_reads_a_finding_pcap(tmp_path: Path) -> None:
    done = fuzz(tmp_path, "live", "--target", "planted:AcceptsAnyInWindowRst", "--iterations", "10",
                "-o", str(tmp_path))
    assert done.returncode == 1, done.stderr
    shown = subprocess.run([str(TSHARK), "-n", "-r", str(tmp_path / "finding-1.pcap"), "-T", "fields",
                            "-e", "tcp.flags.str", "-o", "tcp.check_checksum:TRUE",
                            "-e", "tcp.checksum.status"], capture_output=True, text=True, timeout=120)
    lines = shown.stdout.splitlines()
    assert shown.returncode == 0 and len(lines) > 5, shown.stderr
    assert any("R" in line for line in lines)
    assert all(line.split("\t")[1] == "1" for line in lines), lines  # every checksum good (1)


def test_the_unbroken_host_exits_0_with_a_summary(tmp_path: Path) -> None:
    done = fuzz(tmp_path, "live", "--target", "fastseg.conn:Host", "--iterations", "30")
    assert done.returncode == 0, done.stderr
    assert "findings: 0" in done.stdout and "states reached: CLOSED" in done.stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, words", [
    (["live", "--target", "no_such_module:Host", "--iterations", "1"], "cannot import no_such_module"),
    (["live", "--target", "fastseg.conn:Nothing", "--iterations", "1"], "has no callable Nothing"),
    (["live", "--target", "Host", "--iterations", "1"], "neither kernel, fastseg nor MODULE:FACTORY"),
    (["live", "--target", "fastseg", "--seconds", "0"], "must be above 0"),
    (["live", "--target", "fastseg", "--seconds", "1", "--iterations", "1"], "not allowed with"),
    (["live", "--target", "fastseg", "--allow", "nothing"], "unknown deviation 'nothing'"),
    (["replay"], "the following arguments are required: finding"),
])
def test_usage_and_setup_errors_exit_2_in_one_line(tmp_path: Path, args: List[str], words: str) -> None:
    done = fuzz(tmp_path, *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert not done.stdout


@pytest.mark.parametrize("content", ["not json", "[]", '{"format": 1, "oracle": "crash"}'])
def test_a_bad_finding_file_is_one_line_and_exit_1(tmp_path: Path, content: str) -> None:
    (tmp_path / "f.json").write_text(content)
    done = fuzz(tmp_path, "replay", "f.json")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "f.json" in done.stderr, done.stderr


def test_fuzz_pcap_is_the_offline_command(tmp_path: Path) -> None:
    assert fuzz(tmp_path, "pcap", "-o", "a.pcap", "-n", "7", "--seed", "2").returncode == 0
    assert fuzz(tmp_path, "-o", "b.pcap", "-n", "7", "--seed", "2").returncode == 0
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()


KERNEL_UNAVAILABLE = kernel_unavailable()


@pytest.mark.skipif(KERNEL_UNAVAILABLE is None, reason="the kernel target can run here")
def test_the_kernel_target_says_why_it_cannot_run(tmp_path: Path) -> None:
    done = fuzz(tmp_path, "live", "--iterations", "1")
    assert done.returncode == 2 and str(KERNEL_UNAVAILABLE) in done.stderr, done.stderr


def namespaces(pid: int) -> List[str]:
    """The namespaces that process ``pid``'s kernel target made and has not removed."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return [line.split()[0] for line in listed.stdout.splitlines()
            if line.startswith(f"fastseg-fuzz-{pid}-")]


def fuzz_in_background(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    path = os.environ.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "fastseg", "fuzz", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": path})


@pytest.mark.skipif(KERNEL_UNAVAILABLE is not None, reason=str(KERNEL_UNAVAILABLE))
def test_a_short_kernel_campaign(tmp_path: Path) -> None:
    campaign = fuzz_in_background(tmp_path, "live", "--iterations", "15", "--seed", "k", "--json",
                                  "--allow", "challenge-ack-limit,paws-silent", "-o", str(tmp_path / "found"))
    out, err = campaign.communicate(timeout=600)
    assert campaign.returncode in (0, 1) and not err, err
    document = json.loads(out)
    assert document["target"] == "kernel" and document["sequences"] == 15
    assert document["states"]["ESTABLISHED"] > 0 and document["states"]["SYN-RECEIVED"] > 0
    counters = {point[2] for point in document["coverage"] if point[2].startswith("counter ")}
    assert "counter TcpExt.TCPChallengeACK" in counters, counters
    assert namespaces(campaign.pid) == []  # every namespace the campaign made is gone


@pytest.mark.skipif(KERNEL_UNAVAILABLE is not None, reason=str(KERNEL_UNAVAILABLE))
def test_sigterm_ends_a_kernel_campaign_and_removes_its_namespace(tmp_path: Path) -> None:
    campaign = fuzz_in_background(tmp_path, "live", "--seconds", "60")
    made: List[str] = []
    try:
        for _ in range(100):  # up to 10 s for the campaign's first namespace to appear
            made = namespaces(campaign.pid)
            if made:
                break
            subprocess.run(["sleep", "0.1"], timeout=5)
        campaign.terminate()
        assert campaign.wait(timeout=30) == 130
    finally:
        campaign.kill()
    assert made and namespaces(campaign.pid) == []
