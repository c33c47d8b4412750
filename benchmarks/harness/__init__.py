"""The benchmark harness: one generated corpus, one case per operation and implementation.

Shared by ``benchmarks/run.py`` and the pytest-benchmark suite beside it: the
corpus generator (fixed seed, so every run sees the same segments), a tiny
pcap writer and reader, one *case* per operation and implementation, and the
timeit-style timer.

A case runs its operation over a whole work set per call (``ops`` operations)
and is checked against the corpus generator's own record of what it built
before anyone times it.  Times are reported per operation, best of several
runs, with the garbage collector paused as ``timeit`` does; the cases of one
operation take their runs in turn, so that load on a shared machine falls on
all of them alike.  The peers (dpkt, scapy) come from the optional ``bench``
extra and are skipped with a reason where they are missing; scapy, tens to
hundreds of times slower than the rest, works on the corpus' first 2000
segments (300 in the short mode).

The compiled baselines (``_minimal_c``, built by ``benchmarks/build.py``) are
timed beside them: ``minimal`` builds the same objects as ``unpack`` and
``pack`` in tuples, ``plain loop`` is RFC 1071's loop in plain C beside
``internet_checksum``, ``empty call`` an empty compiled function beside the
seq comparisons.  ``struct`` (a bare ``struct.Struct('!HHIIHHHH').unpack_from``)
and ``loop only`` (the pcap loop without decoding) are Python baselines.
"""

from harness.cases import CHECKSUM_SIZES, PLAN, Case, Workload, make_case
from harness.corpus import Corpus, build_corpus, ones_sum, read_pcap, write_pcap
from harness.peers import Unavailable
from harness.report import SHORT_ENV, Result, format_table, report, short_requested
from harness.targets import TARGETS, evaluate_targets
from harness.timing import calibrate, gc_paused, time_cases

__all__ = [
    "CHECKSUM_SIZES", "PLAN", "SHORT_ENV", "TARGETS", "Case", "Corpus", "Result", "Unavailable", "Workload",
    "build_corpus", "calibrate", "evaluate_targets", "format_table", "gc_paused", "make_case",
    "ones_sum", "read_pcap", "report", "short_requested", "time_cases", "write_pcap",
]
