"""pytest-benchmark over the harness: every implementation of an operation in one run.

The corpus, the pcap file and the cases come from ``harness`` (which
``benchmarks/run.py`` runs too), so both report the same operations.  Each case is
checked against the corpus generator's own record before it is timed; an
implementation that is not installed is skipped with the reason.

    pytest benchmarks                     # 100k segments: about 2 minutes on 2 cores
    pytest benchmarks --bench-short --benchmark-json=bench.json   # CI: 10k segments, ~15 s
    python benchmarks/check_ratios.py bench.json   # the ratio floors

``--bench-short`` (or ``FASTSEG_BENCH_SHORT=1``) selects the short mode.  The
rounds of each case are set by the mode's time budget, not by
``--benchmark-max-time``; pytest-benchmark's own table is per call of a case
(a pass over the work set), so the session ends with a per-operation table,
ratios to the Cython twin and the bars.
"""

from __future__ import annotations

from typing import Callable

import harness
import pytest

_results: list[harness.Result] = []
_skipped: dict[str, str] = {}
_workload: list[harness.Workload] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-short", action="store_true", default=False,
                     help=f"short benchmark mode for CI (also {harness.SHORT_ENV}=1)")


@pytest.fixture(scope="session")
def workload(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> harness.Workload:
    short = request.config.getoption("--bench-short") or harness.short_requested()
    made = harness.Workload.create(short, str(tmp_path_factory.mktemp("bench")))
    _workload.append(made)
    return made


@pytest.fixture
def timed(benchmark, workload: harness.Workload) -> Callable[[str, str], None]:
    """Check, then time, one operation by one implementation (group: the operation)."""

    def run(op: str, impl: str) -> None:
        try:
            case = harness.make_case(workload, op, impl)
        except harness.Unavailable as exc:
            _skipped[impl] = str(exc)
            pytest.skip(str(exc))
        problem = case.mismatch()
        assert problem is None, problem
        benchmark.group = op
        benchmark.extra_info.update(op=op, impl=impl, ops=case.ops, bytes=case.nbytes)
        if benchmark.disabled:
            benchmark(case.run)
            return
        with harness.gc_paused():
            rounds, iterations = harness.calibrate(case.run, workload.budget, workload.min_rounds)
            benchmark.pedantic(case.run, rounds=rounds, iterations=iterations)
        seconds = benchmark.stats.stats.data  # per call of case.run, one figure per round
        _results.append(harness.Result(op, impl, case.ops, case.nbytes, [t / case.ops for t in seconds]))

    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _results:
        return
    order = {op: number for number, op in enumerate(harness.PLAN)}
    results = sorted(_results, key=lambda r: (order[r.op], harness.PLAN[r.op][1].index(r.impl)))
    terminalreporter.section("fastseg per-operation figures")
    for line in harness.report(results, _workload[0], _skipped):
        terminalreporter.write_line(line)
