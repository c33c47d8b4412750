"""Speed of ``fastseg.capture.columns``: a capture file to numpy columns, in segments per second.

The bar is 20 million segments a second from a file in the page
cache.  The capture is the corpus of ``harness.corpus`` (the mix
of ACKs, SYNs, data and SACKs, Ethernet/IPv4, checksums right) written ten
times over: a million segments, about 520 MB (five times over, 50 000
segments, in the short mode).  It is read once before the timing so that
it sits in the page cache, and checked against the corpus before anyone
times it.

Each case is one call of ``columns``: from the file (mapped into memory, as
users call it) and from bytes already in memory, with the default threads
(two where the process may use two CPUs) and with one.  The figure is the
segments in the file over the mean time of a call, kept in the case's
``extra_info`` (``segments_per_s``) and printed at the end of the module.
The machine's other load shows in these figures: the two-thread cases need
the second CPU to be free.

    pytest benchmarks/test_columns_bench.py                 # 1M segments, ~1 minute
    pytest benchmarks/test_columns_bench.py --bench-short   # CI: 50k segments, seconds
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Optional

import harness
import pytest

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is not installed (pip install '.[bench]')")
np = pytest.importorskip("numpy", reason="fastseg.capture.columns needs numpy")

from fastseg import _impl  # noqa: E402 - after the skips
from fastseg.capture import columns  # noqa: E402

#: How many times the corpus is written into the capture: full mode, short mode.
REPEAT = 10
SHORT_REPEAT = 5
TARGET = 20e6  # segments per second

_figures: list[tuple[str, int, float, float]] = []  # case, segments, mean, best


class Capture:
    """The capture file, its segment count and what its columns must hold."""

    def __init__(self, path: str, corpus: harness.Corpus, repeat: int) -> None:
        self.path = path
        self.segments = len(corpus.wires) * repeat
        self.size = os.path.getsize(path)
        self.seq = np.tile(np.array([fields[2] for fields in corpus.fields], dtype=np.uint32), repeat)
        self.payload_len = np.tile(np.array([len(fields[10]) for fields in corpus.fields],
                                            dtype=np.uint32), repeat)

    def warm(self) -> bytes:
        """Read the file once (into the page cache) and return its bytes."""
        chunks = []
        with open(self.path, "rb") as file:
            while True:
                chunk = file.read(16 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def mismatch(self, cols: Any) -> Optional[str]:
        if cols.rows != self.segments:
            return f"{cols.rows} rows, expected {self.segments}"
        if not (cols["checksum_ok"] == 1).all():
            return "a checksum does not verify"
        for name in ("seq", "payload_len"):
            if not np.array_equal(cols[name], getattr(self, name)):
                return f"column {name} differs from the corpus"
        if not np.array_equal(cols["frame"], np.arange(1, self.segments + 1)):
            return "frame numbers differ"
        return None


@pytest.fixture(scope="module")
def capture(workload: harness.Workload) -> Capture:
    corpus = workload.corpus
    repeat = SHORT_REPEAT if workload.short else REPEAT
    path = os.path.join(workload.directory, f"fastseg-columns-{len(corpus.wires) * repeat}.pcap")
    if not os.path.exists(path):
        harness.write_pcap(harness.Corpus(corpus.wires * repeat, corpus.addresses * repeat,
                                      corpus.fields * repeat, corpus.kinds * repeat, corpus.blob,
                                      corpus.seed), path)
    return Capture(path, corpus, repeat)


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print segments per second per case once the module is done."""
    yield
    plugins = request.config.pluginmanager
    reporter, capturing = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capturing is None or not _figures:
        return
    lines = [f"columns: segments per second (target {TARGET / 1e6:.0f}M/s from a file in the page "
             f"cache; {os.cpu_count()} CPUs)"]
    lines += [f"  {case:<24} {segments:>9} segments   mean {segments / mean / 1e6:5.1f}M/s   "
              f"best {segments / best / 1e6:5.1f}M/s" for case, segments, mean, best in _figures]
    _figures.clear()
    with capturing.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def _compiled() -> Any:
    """The compiled columns twin, as fastseg._impl loads it; a failure where it is required."""
    try:
        return _impl.twin("columns", "cython")
    except ImportError as exc:
        if os.environ.get("FASTSEG_REQUIRE_EXTENSIONS"):
            pytest.fail(f"compiled columns twin not built: {exc}")
        pytest.skip(f"compiled columns twin not built: {exc}")


CASES: dict[str, Callable[[Capture, bytes], Callable[[], Any]]] = {
    "file, default threads": lambda c, data: lambda: columns.columns(c.path, implementation="cython"),
    "file, one thread": lambda c, data: lambda: columns.columns(c.path, implementation="cython",
                                                                threads=1),
    "memory, default threads": lambda c, data: lambda: _compiled().decode(data, c.path),
    "memory, one thread": lambda c, data: lambda: _compiled().decode(data, c.path, 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_columns(benchmark: Any, workload: harness.Workload, capture: Capture, case: str) -> None:
    _compiled()
    data = capture.warm()
    run = CASES[case](capture, data)
    problem = capture.mismatch(run())
    assert problem is None, f"{case}: {problem}"
    benchmark.group = "columns"
    benchmark.extra_info.update(case=case, segments=capture.segments, bytes=capture.size)
    if benchmark.disabled:
        benchmark(run)
        return
    with harness.gc_paused():
        rounds, iterations = harness.calibrate(run, 2 * workload.budget, workload.min_rounds)
        benchmark.pedantic(run, rounds=rounds, iterations=iterations, warmup_rounds=1)
    stats = benchmark.stats.stats
    benchmark.extra_info["segments_per_s"] = capture.segments / stats.mean
    _figures.append((case, capture.segments, stats.mean, stats.min))
