"""The kernel as server: userspace clients through fastseg's asyncio face and a TUN device
to a kernel echo server in a private network namespace, plain and impaired."""

from __future__ import annotations

import asyncio
import pathlib
import time
from typing import Optional

import pytest
from aiolink import exchange
from kernel_peer import unavailable_reason
from tunlink import KERNEL4, USER4, in_namespace, namespace, tun_in

from fastseg.conn import Config, Host
from fastseg.net import AsyncStack, ImpairmentSpec

#: Concurrent userspace clients, each sending 64 KiB in random-sized writes.
COUNT = 200
SIZE = 64 * 1024
#: Seconds the whole exchange may take before the test fails.
BOUND = 120.0

needs_root = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=str(unavailable_reason()))

#: The kernel's echo server, run inside the namespace.
KERNEL_ECHO = pathlib.Path(__file__).resolve().parent.parent / "tools" / "kernel_echo.py"


def clients_to_the_kernel(impair: Optional[ImpairmentSpec]) -> tuple[list[bool], AsyncStack]:
    config = Config(msl=0.5, rto_min=0.05, rto_initial=0.2, delayed_ack=0.01)
    with namespace() as ns, tun_in(ns) as tun:
        server = in_namespace(ns, KERNEL_ECHO, KERNEL4, "7")
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"

            async def main() -> tuple[list[bool], AsyncStack]:
                async with AsyncStack(Host([USER4], config=config), tun, impair=impair) as stack:
                    results = await asyncio.wait_for(asyncio.gather(*(
                        exchange(stack.open_connection, KERNEL4, 7, i, SIZE) for i in range(COUNT))),
                        BOUND)
                    started = time.monotonic()
                    while stack.host.connections and time.monotonic() - started < BOUND:
                        await asyncio.sleep(0.05)  # TIME-WAIT, the last ACKs
                    return results, stack

            return asyncio.run(main())
        finally:
            server.kill()
            server.communicate(timeout=10)


@needs_root
def test_userspace_clients_echo_byte_exact_from_the_kernel() -> None:
    results, stack = clients_to_the_kernel(None)
    assert results == [True] * COUNT
    assert stack.host.connections == [] and not stack.host._table


@needs_root
def test_userspace_clients_through_an_impaired_link() -> None:
    spec = ImpairmentSpec(loss=0.02, duplicate=0.01, reorder=0.05, delay=5, jitter=2, seed=2)
    results, stack = clients_to_the_kernel(spec)
    assert results == [True] * COUNT
    assert stack.host.connections == []
    impaired = stack.stack
    assert impaired.inbound is not None and impaired.outbound is not None
    assert impaired.inbound.counts["lost"] and impaired.outbound.counts["lost"]
    assert impaired.retransmissions
