"""``fastseg bench``: time both twins and the peer libraries on one generated corpus.

Everything here is shared by the command and by the pytest-benchmark suite in
``benchmarks/``: the corpus generator (fixed seed, so every run sees the same
segments), a tiny pcap writer and reader, one *case* per operation and
implementation, and the timeit-style timer the command uses.

A case runs its operation over a whole work set per call (``ops`` operations)
and is checked against the corpus generator's own record of what it built
before anyone times it.  Times are reported per operation, best of several
runs, with the garbage collector paused as ``timeit`` does; the cases of one
operation take their runs in turn, so that load on a shared machine falls on
all of them alike.  The peers (dpkt,
scapy) come from the optional ``bench`` extra and are skipped with a reason
where they are missing; scapy, tens to hundreds of times slower than the
rest, works on the corpus' first 2000 segments (300 in the short mode).

Baselines the issue's targets refer to are timed beside them: ``struct`` (a
bare ``struct.Struct('!HHIIHHHH').unpack_from`` into a tuple) for the
header-only decode, ``empty call`` for the seq comparisons (an empty function
compiled beside them in ``fastseg._seq_c``, called with the same two ints) and
``loop only`` for the pcap reader (the same loop without decoding).  Beside
unpack and pack runs the yardstick the issue measures its targets against,
``minimal``: compiled routines (``fastseg.bench._minimal_c``) that build the
same objects in tuples, with no API around them.
"""

from fastseg.bench.cases import CHECKSUM_SIZES, PLAN, Case, Workload, make_case
from fastseg.bench.command import SHORT_ENV, Result, format_table, main, report, short_requested
from fastseg.bench.corpus import Corpus, build_corpus, ones_sum, read_pcap, write_pcap
from fastseg.bench.peers import Unavailable
from fastseg.bench.targets import TARGETS, evaluate_targets
from fastseg.bench.timing import calibrate, gc_paused, time_cases

__all__ = [
    "CHECKSUM_SIZES", "PLAN", "SHORT_ENV", "TARGETS", "Case", "Corpus", "Result", "Unavailable", "Workload",
    "build_corpus", "calibrate", "evaluate_targets", "format_table", "gc_paused", "main", "make_case",
    "ones_sum", "read_pcap", "report", "short_requested", "time_cases", "write_pcap",
]
