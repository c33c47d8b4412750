"""fastseg against the Linux kernel through a TUN device, beside the kernel with itself over veth.

    python benchmarks/tun_transfer.py                 # 8 MiB each way at once, 3 runs each
    python benchmarks/tun_transfer.py --short --runs 1   # 1 MiB each way, as CI runs it

Needs root (network namespaces, a TUN device, a veth pair); without it the
reason is printed and the exit status is 0.  Each run is checked byte for
byte; the figures are MB/s (10**6 bytes a second) each way, the best of the
runs, timed at the receiving end (see ``harness/tun.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from harness.report import short_requested
from harness.tun import fastseg_transfer, unavailable_reason, veth_transfer

#: Bytes each way: the issue's 8 MiB, and the short mode's 1 MiB.
SIZE, SHORT_SIZE = 8 << 20, 1 << 20
#: The issue's bar: MB/s each way for fastseg against the kernel.
TARGET_MBPS = 20.0


def measure(size: int, runs: int) -> dict[str, dict[str, float]]:
    """The best MB/s each way of ``runs`` transfers of each kind, taken in turn."""
    best: dict[str, dict[str, float]] = {"fastseg": {}, "veth": {}}
    for _ in range(runs):
        for kind, transfer in (("fastseg", fastseg_transfer), ("veth", veth_transfer)):
            for way, rate in transfer(size).items():
                best[kind][way] = max(best[kind].get(way, 0.0), rate)
    return best


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="1 MiB each way (also FASTSEG_BENCH_SHORT=1)")
    parser.add_argument("--runs", type=int, default=3, choices=range(1, 21), metavar="1-20",
                        help="transfers of each kind, the best reported (default 3)")
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    size = SHORT_SIZE if args.short or short_requested() else SIZE
    best = measure(size, args.runs)
    fast, veth = best["fastseg"], best["veth"]
    print(f"{size / 2**20:g} MiB each way at once, best of {args.runs}, MB/s")
    print(f"  fastseg behind TUN: kernel -> fastseg {fast['to_fastseg']:7.1f}   "
          f"fastseg -> kernel {fast['to_kernel']:7.1f}")
    print(f"  kernel over veth:   client -> server  {veth['to_server']:7.1f}   "
          f"server -> client  {veth['to_client']:7.1f}")
    slower = min(fast.values())
    verdict = "met" if slower >= TARGET_MBPS else "MISSED"
    print(f"  bar: >= {TARGET_MBPS:g} MB/s each way: {slower:.1f} ({verdict}; "
          f"{slower / min(veth.values()):.3f}x the kernel over veth)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"size": size, "runs": args.runs, **best}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
