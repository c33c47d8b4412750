"""Fail when the Cython twin has lost a fast path: its lead over the pure-Python twin under a floor.

    python benchmarks/check_ratios.py BENCH.json

BENCH.json is pytest-benchmark's ``--benchmark-json`` output of ``pytest
benchmarks`` (or what ``fastseg bench --json`` writes).  For every operation
timed by both twins the script prints pure-Python time / Cython time per
operation (best round of each, both from the one run, so a slow or busy
machine slows both alike), and exits 1 when an operation listed in FLOORS is
under its floor or was not measured.

The floors sit far below what a healthy build measures on the project's
2-core machine (measured: short mode, as CI runs it / the full corpus,
over several runs), so noise does not trip them; what does is a hot loop
falling back to Python objects or to the reference twin, which brings a ratio
near 1:

    operation        floor   measured               guards
    checksum 1500      20x   159-171x / 165-168x    the summing loop in C
    checksum 65536     20x   227-233x / 243-245x
    verify_checksum    10x     60-62x / 29-31x      pseudo-header and sum without Python bytes
    update_checksum     4x       23x / 21-22x
    unpack              4x   9.4-9.9x / 7.9-8.4x    header and options read in C
    unpack header       3x     7-8.3x / 6.2-6.7x
    pack checksum       5x     21-36x / 22x         the fast encoding path, not the reference fallback
    seq_lt/le/gt/ge   1.5x   5.1-5.4x / 5.2-5.5x    no Python int arithmetic
"""

from __future__ import annotations

import json
import sys

FLOORS = {
    "checksum 1500": 20.0,
    "checksum 65536": 20.0,
    "verify_checksum": 10.0,
    "update_checksum": 4.0,
    "unpack": 4.0,
    "unpack header": 3.0,
    "pack checksum": 5.0,
    "seq_lt": 1.5,
    "seq_le": 1.5,
    "seq_gt": 1.5,
    "seq_ge": 1.5,
}


def best_times(report: dict) -> dict[tuple[str, str], float]:
    """(operation, implementation) -> best seconds per operation, from either JSON format."""
    if "benchmarks" in report:  # pytest-benchmark: stats per call of a case, which does `ops` operations
        return {
            (b["extra_info"]["op"], b["extra_info"]["impl"]): b["stats"]["min"] / b["extra_info"]["ops"]
            for b in report["benchmarks"]
            if "op" in b.get("extra_info", {})
        }
    return {(r["op"], r["impl"]): r["best_ns"] * 1e-9 for r in report["results"]}  # fastseg bench --json


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python benchmarks/check_ratios.py BENCH.json", file=sys.stderr)
        return 2
    with open(argv[0]) as handle:
        best = best_times(json.load(handle))
    ops = [op for op, impl in best if impl == "cython" and (op, "python") in best]
    ops += [op for op in FLOORS if op not in ops]
    failures = []
    print(f"{'operation':<18} {'python/cython':>13} {'floor':>7}")
    for op in ops:
        floor = FLOORS.get(op)
        floor_text = f"{floor:g}x" if floor else ""
        if (op, "cython") not in best or (op, "python") not in best:
            print(f"{op:<18} {'-':>13} {floor_text:>7}  NOT MEASURED")
            failures.append(f"{op}: not measured for both twins")
            continue
        ratio = best[(op, "python")] / best[(op, "cython")]
        verdict = ""
        if floor:
            verdict = "ok" if ratio >= floor else "UNDER THE FLOOR"
            if ratio < floor:
                failures.append(f"{op}: the Cython twin is {ratio:.2f}x the pure-Python speed, "
                                f"floor {floor:g}x")
        print(f"{op:<18} {ratio:12.2f}x {floor_text:>7}  {verdict}")
    if failures:
        print("\nratio check failed (a lost fast path?):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("\nratio check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
