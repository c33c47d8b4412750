"""benchmarks/check_ratios.py: CI's guard against a lost fast path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

_SCRIPT = Path(__file__).resolve().parent / "check_ratios.py"


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("check_ratios", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_ratios = _module()


def _report(tmp_path: Path, times: dict[tuple[str, str], float]) -> str:
    """A ``benchmarks/run.py --json`` report with these best times in ns."""
    path = tmp_path / "bench.json"
    results = [{"op": op, "impl": impl, "best_ns": ns} for (op, impl), ns in times.items()]
    path.write_text(json.dumps({"results": results}))
    return str(path)


def _healthy() -> dict[tuple[str, str], float]:
    """Every floored ratio at twice its floor."""
    times = {}
    for (op, baseline), floor in check_ratios.FLOORS.items():
        times[(op, "cython")] = 100.0
        times[(op, baseline)] = 200.0 * floor
    return times


def test_healthy_figures_pass(tmp_path, capsys):
    assert check_ratios.main([_report(tmp_path, _healthy())]) == 0
    assert "ratio check passed" in capsys.readouterr().out


@pytest.mark.parametrize("pair", [("unpack", "minimal"), ("pack checksum", "minimal"),
                                  ("checksum 1500", "python")])
def test_a_ratio_under_its_floor_fails(tmp_path, capsys, pair):
    times = _healthy()
    times[(pair[0], "cython")] = times[pair] / check_ratios.FLOORS[pair] * 1.25
    assert check_ratios.main([_report(tmp_path, times)]) == 1
    assert f"{pair[0]}: {pair[1]} time / Cython time" in capsys.readouterr().err


def test_a_missing_measurement_fails(tmp_path, capsys):
    times = _healthy()
    del times[("unpack", "minimal")]
    assert check_ratios.main([_report(tmp_path, times)]) == 1
    assert "unpack: not measured for cython and minimal" in capsys.readouterr().err


def test_an_optional_peer_may_be_missing_but_not_slow(tmp_path, capsys):
    times = _healthy()
    del times[("analyze", "tshark")]
    assert check_ratios.main([_report(tmp_path, times)]) == 0
    assert "skipped (tshark not run)" in capsys.readouterr().out
    times = _healthy()
    times[("analyze", "cython")] = times[("analyze", "tshark")] / check_ratios.FLOORS[
        ("analyze", "tshark")] * 1.25
    assert check_ratios.main([_report(tmp_path, times)]) == 1
    assert "analyze: tshark time / Cython time" in capsys.readouterr().err
