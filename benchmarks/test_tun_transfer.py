"""fastseg against the Linux kernel through a TUN device, beside the kernel with itself over veth.

Byte-exact both ways or the transfer raises; the figures are printed, and the
slower way of fastseg's transfer must keep a floor against the slower way of
the kernel's own (a ratio of one run, so a busy machine slows both): measured
0.05-0.16x on the 2-core machine, the floor a third of the lowest.  Skipped,
with the reason, without root.
"""

from __future__ import annotations

import pytest
from harness.report import short_requested
from harness.tun import unavailable_reason
from tun_transfer import SHORT_SIZE, SIZE, measure

#: The least (fastseg MB/s) / (kernel over veth MB/s), each the slower way of its run.
FLOOR = 0.02

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


def test_kernel_transfer_through_tun(request: pytest.FixtureRequest) -> None:
    short = request.config.getoption("--bench-short") or short_requested()
    best = measure(SHORT_SIZE if short else SIZE, runs=1)
    print(f"\nMB/s each way: fastseg {best['fastseg']}, kernel over veth {best['veth']}")
    assert min(best["fastseg"].values()) >= FLOOR * min(best["veth"].values())
