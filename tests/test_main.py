"""The ``fastseg`` command: its built-in handshake, bad input, help and subcommands."""

from __future__ import annotations

import importlib
from pathlib import Path

import fastseg.cli
from fastseg.cli import SUBCOMMANDS, main


def test_builtin_example(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.count("checksum good, re-encoded bytes identical") == 4
    assert "flags=SYN|ACK" in out and "MSS=1460" in out and "HELLO fastseg" in out


def test_bad_hex_is_one_line_and_exit_1(capsys):
    assert main(["decode", "0011", "d516b799"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["1: cannot decode: fewer than 20 bytes (2) (at byte 2)",
                   "2: cannot decode: fewer than 20 bytes (4) (at byte 4)"]


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in SUBCOMMANDS)


def test_every_subcommand_is_a_module_of_fastseg_cli():
    """One module per subcommand, in fastseg/cli/, and nothing else there but the dispatcher."""
    here = Path(fastseg.cli.__file__).parent
    modules = {p.stem for p in here.glob("*.py")} - {"__init__"}
    assert modules == set(SUBCOMMANDS)
    for name, (module, _) in SUBCOMMANDS.items():
        assert module == f"fastseg.cli.{name}"
        assert callable(importlib.import_module(module).main)


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
