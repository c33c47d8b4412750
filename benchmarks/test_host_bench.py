"""The userspace host (issue 20): the cost of a segment at 10 and at 1,000 open connections,
and throughput through a TUN device with 1, 10 and 100 connections beside the kernel talking
to itself over a veth pair in the same run (root; skipped with the reason without).

Floors in ``check_ratios.py``: ``host segment`` compares the cost at 10 open connections
(baseline ``10 open``) with the cost at 1,000 (``cython``); ``tun N`` compares the kernel's
time per byte (``kernel veth``) with fastseg's (``cython``), each transfer timed by its clients.
"""

from __future__ import annotations

import pytest
from harness import gc_paused, short_requested
from harness.host import segment_cost_setup, tun_echo, unavailable, veth_echo

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is not installed (pip install '.[bench]')")

#: Bytes of the timed transfer per round of the per-segment cost (short mode, full).
COST_BYTES = (1024 * 1024, 8 * 1024 * 1024)
#: Bytes all clients send together in a throughput run (each gets them back too).
THROUGHPUT_BYTES = (4 * 1024 * 1024, 32 * 1024 * 1024)


def short(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--bench-short") or short_requested())


def say(request: pytest.FixtureRequest, line: str) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


@pytest.mark.parametrize("idle", [10, 1000])
def test_segment_cost_does_not_grow_with_open_connections(benchmark, request, idle):
    size = COST_BYTES[not short(request)]
    run = segment_cost_setup(idle, size)
    moved: list[int] = []
    benchmark.group = "host segment"
    with gc_paused():
        benchmark.pedantic(lambda: moved.append(run()), rounds=5 if short(request) else 9,
                           iterations=1)
    impl = "cython" if idle == 1000 else "10 open"
    benchmark.extra_info.update(op="host segment", impl=impl, ops=moved[-1], bytes=size)
    say(request, f"host segment, {idle} open: {benchmark.stats.stats.min / moved[-1] * 1e6:.1f} us "
                 f"per segment ({moved[-1]} segments)")


@pytest.mark.parametrize("count", [1, 10, 100])
@pytest.mark.parametrize("kind", ["cython", "kernel veth"])
def test_throughput_through_tun_beside_the_kernel(benchmark, request, kind, count):
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    size = THROUGHPUT_BYTES[not short(request)] // count
    transfer = benchmark.pedantic(tun_echo if kind == "cython" else veth_echo, args=(count, size),
                                  rounds=1, iterations=1)
    benchmark.group = f"tun {count}"
    benchmark.extra_info.update(op=f"tun {count}", impl=kind, ops=transfer.bytes,
                                bytes=transfer.bytes, seconds=transfer.seconds,
                                segments=transfer.segments)
    say(request, f"tun {count:>3} {kind:<12} {transfer.bytes / transfer.seconds / 1e6:8.1f} MB/s "
                 f"{transfer.segments / transfer.seconds:10.0f} segments/s "
                 f"({transfer.bytes} bytes in {transfer.seconds:.2f} s)")
