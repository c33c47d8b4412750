"""Fail when the Cython twin has lost a fast path: its lead over a baseline under a floor.

    python benchmarks/check_ratios.py BENCH.json

BENCH.json is pytest-benchmark's ``--benchmark-json`` output of ``pytest
benchmarks`` (or what ``python benchmarks/run.py --json`` writes).  For every operation
timed by both twins the script prints pure-Python time / Cython time per
operation (best round of each, both from the one run, so a slow or busy
machine slows both alike), and exits 1 when a ratio listed in FLOORS is
under its floor or was not measured.

The floors sit far below what a healthy build measures on the project's
2-core machine (measured: two runs in short mode, as CI runs it / one run on
the full corpus, all of one build), so noise does not trip them; what does is
a hot loop falling back to Python objects or to the reference twin, which
brings a ratio near 1:

    operation        floor   measured               guards
    checksum 1500      20x   289-308x / 271x        the summing loop in C
    checksum 65536     20x   475-478x / 518x
    verify_checksum    10x     76-77x / 64x         pseudo-header and sum without Python bytes
    update_checksum     4x     25-26x / 21x
    unpack              4x  11.7-12.0x / 11.7x      header and options read in C
    unpack header       3x  23.0-23.2x / 22.9x
    pack checksum       5x     57-70x / 44x         the fast encoding path, not the reference fallback
    seq_lt/le/gt/ge   1.5x   26-28x / 25x           no Python int arithmetic

More floors compare the Cython twin with the compiled baselines of
``_minimal_c`` (baseline time / Cython time): ratios that do not depend on
how fast the machine runs Python code, so they guard the layers around the C
itself (the bars in ``harness/targets.py`` are the tight form of the same
ratios, judged by people over several runs rather than by CI):

    unpack           0.4x   minimal: a Segment built in C, options and payload lazy
    unpack header    0.4x
    pack checksum    0.4x   minimal: fields read without a Python call
    checksum 20      0.4x   plain loop: argument parsing and the pseudo-header-free path
    checksum 1500    0.4x   plain loop: the vectorised summing loop
    checksum 65536   0.4x
    seq_lt           0.4x   empty call: no Python int arithmetic

The paths around the codec (issue 19's table) have floors at about half of
what was measured (building and text addresses: two short runs and one full
run, after both were compiled; the connection: three full and one short run
of that operation alone, after the TCB's variables went into slots), so that
a 2x regression trips them:

    build pack       7x     python;  0.2x   minimal (14.5x and 0.40x measured, a full run
                                               after Segment's tp_new went to C)
    pack text        20x    python;  0.45x  bytes addresses (43x and 0.89x measured)
    connection       2.5x   python;  0.05x  codec (7.5-7.7x and 0.099-0.102x measured)

``pack text`` was measured again after its addresses were read in place (one full run of
the pack operations on a loaded machine, 2026-12-08; three short runs at load 5 gave
0.70-1.24x, the spread a floor at about half of the full run's figure has to allow).

The transfer against the kernel through TUN has its floor in
``test_tun_transfer.py`` (MB/s against the kernel over veth, not a time per
operation).

``fastseg analyze`` end to end (issue 18; with the compiled follower, a short run of 6k
segments measured 9.8x the pure-Python twin and 1.70x tshark -q -z conv,tcp, a full run
19.0x and 1.92x; see benchmarks/README.md): floors at about half of the short run, that
catch the follower falling back to replicas and a 2x regression.  tshark is an optional
peer: its floor is checked only when the run measured it.

    analyze          4x     python;  0.8x  tshark (when installed)

The userspace host (issue 20; ``test_host_bench.py``).  ``host segment`` is the cost of a
segment with 10 open connections over its cost with 1,000 (about 1x when the cost does not grow
with the count; 0.02x when every call visited every connection, as before the deadline heap).
``tun N`` is the kernel's time per byte over a veth pair over fastseg's through TUN, N
connections at once, each timed by its kernel clients (measured: 0.09-0.25x, noisy as the
kernel's runs are short); without root neither side runs and the floors are reported as skipped.

    host segment     0.4x   10 open
    tun 1            0.02x  kernel veth
    tun 10           0.02x  kernel veth
    tun 100          0.02x  kernel veth
"""

from __future__ import annotations

import json
import sys

#: (operation, baseline implementation) -> the least baseline time / Cython time.
FLOORS = {
    ("checksum 1500", "python"): 20.0,
    ("checksum 65536", "python"): 20.0,
    ("verify_checksum", "python"): 10.0,
    ("update_checksum", "python"): 4.0,
    ("unpack", "python"): 4.0,
    ("unpack header", "python"): 3.0,
    ("pack checksum", "python"): 5.0,
    ("seq_lt", "python"): 1.5,
    ("seq_le", "python"): 1.5,
    ("seq_gt", "python"): 1.5,
    ("seq_ge", "python"): 1.5,
    ("unpack", "minimal"): 0.4,
    ("unpack header", "minimal"): 0.4,
    ("pack checksum", "minimal"): 0.4,
    ("checksum 20", "plain loop"): 0.4,
    ("checksum 1500", "plain loop"): 0.4,
    ("checksum 65536", "plain loop"): 0.4,
    ("seq_lt", "empty call"): 0.4,
    # About half of what this build measures: a 2x regression trips them.
    ("build pack", "python"): 7.0,
    ("build pack", "minimal"): 0.2,
    ("pack text", "python"): 20.0,
    ("pack text", "bytes addresses"): 0.45,
    ("connection", "python"): 2.5,
    ("connection", "codec"): 0.05,
    ("analyze", "python"): 4.0,
    ("analyze", "tshark"): 0.8,
    ("host segment", "10 open"): 0.4,
    ("tun 1", "kernel veth"): 0.02,
    ("tun 10", "kernel veth"): 0.02,
    ("tun 100", "kernel veth"): 0.02,
}
#: Baselines that may be missing from a run (a tool not installed): their floors are then
#: reported as skipped, not failed.
OPTIONAL = frozenset({"tshark", "kernel veth"})


def best_times(report: dict) -> dict[tuple[str, str], float]:
    """(operation, implementation) -> best seconds per operation, from either JSON format."""
    if "benchmarks" in report:  # pytest-benchmark: stats per call of a case, which does `ops` operations
        return {
            # a case timed by its own clients (the host's throughput) reports its seconds
            (b["extra_info"]["op"], b["extra_info"]["impl"]):
                b["extra_info"].get("seconds", b["stats"]["min"]) / b["extra_info"]["ops"]
            for b in report["benchmarks"]
            if "op" in b.get("extra_info", {})
        }
    return {(r["op"], r["impl"]): r["best_ns"] * 1e-9 for r in report["results"]}  # benchmarks/run.py --json


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python benchmarks/check_ratios.py BENCH.json", file=sys.stderr)
        return 2
    with open(argv[0]) as handle:
        best = best_times(json.load(handle))
    pairs = [(op, "python") for op, impl in best if impl == "cython" and (op, "python") in best]
    pairs += [pair for pair in FLOORS if pair not in pairs]
    failures = []
    print(f"{'operation':<18} {'baseline':<8} {'baseline/cython':>15} {'floor':>7}")
    for op, baseline in pairs:
        floor = FLOORS.get((op, baseline))
        floor_text = f"{floor:g}x" if floor else ""
        if baseline in OPTIONAL and (op, baseline) not in best:
            print(f"{op:<18} {baseline:<8} {'-':>15} {floor_text:>7}  skipped ({baseline} not run)")
            continue
        if (op, "cython") not in best or (op, baseline) not in best:
            print(f"{op:<18} {baseline:<8} {'-':>15} {floor_text:>7}  NOT MEASURED")
            failures.append(f"{op}: not measured for cython and {baseline}")
            continue
        ratio = best[(op, baseline)] / best[(op, "cython")]
        verdict = ""
        if floor:
            verdict = "ok" if ratio >= floor else "UNDER THE FLOOR"
            if ratio < floor:
                failures.append(f"{op}: {baseline} time / Cython time is {ratio:.2f}x, floor {floor:g}x")
        print(f"{op:<18} {baseline:<8} {ratio:14.2f}x {floor_text:>7}  {verdict}")
    if failures:
        print("\nratio check failed (a lost fast path?):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("\nratio check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
