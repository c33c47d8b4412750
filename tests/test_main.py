"""The ``fastseg`` command: its built-in handshake, bad input, help and subcommands."""

from __future__ import annotations

import json

from fastseg.cli import main


def test_builtin_example(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.count("checksum good, re-encoded bytes identical") == 4
    assert "flags=SYN|ACK" in out and "MSS=1460" in out and "HELLO fastseg" in out


def test_bad_hex_is_one_line_and_exit_1(capsys):
    assert main(["0011", "d516b799"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["1: cannot decode: fewer than 20 bytes (2) (at byte 2)",
                   "2: cannot decode: fewer than 20 bytes (4) (at byte 4)"]


def test_bench_subcommand_writes_figures(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--short", "--count", "300", "--op", "checksum 1500", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    timed = {r["impl"]: r["best_ns"] for r in figures["results"] if r["op"] == "checksum 1500"}
    assert timed["python"] > 0 and timed["python"] > timed.get("cython", 0)
    assert "checksum 1500" in capsys.readouterr().out


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "decode" in out and "bench" in out


def test_python_dash_m_and_decode_subcommand_agree(tmp_path):
    import subprocess
    import sys

    # cwd: away from the source tree, which "python -m" would put first on sys.path
    by_module = subprocess.run([sys.executable, "-m", "fastseg"], capture_output=True, text=True,
                               timeout=60, cwd=tmp_path)
    by_name = subprocess.run([sys.executable, "-m", "fastseg", "decode"], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
    assert by_module.returncode == by_name.returncode == 0
    assert by_module.stdout == by_name.stdout and "checksum good" in by_module.stdout
