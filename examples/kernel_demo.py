"""Talk TCP to the Linux kernel with fastseg.conn and print each side's state path.

    sudo python examples/kernel_demo.py        (from a checkout; needs root for the namespace)

A TUN device in a private network namespace stands between this program and
the kernel.  The kernel runs an echo-ish server socket; this program is the
client: a sans-IO Connection whose segments are packed and unpacked by the
fastseg codec and written to / read from the TUN device.  The namespace is
deleted on exit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the TUN harness

from kernel_peer import KernelPeer, unavailable_reason

import fastseg
from fastseg.conn import Config, Connection, DataReceived, State


def main() -> int:
    reason = unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    with KernelPeer() as peer:
        server = peer.server(read=None, send=13, shutdown="end")
        # A short MSL so that TIME-WAIT (2 MSL) ends within the demo.
        conn = Connection((peer.user_addr, 40000), (peer.kernel_addr, server.info["port"]),
                          config=Config(msl=0.5))
        deadline = time.monotonic() + 10

        def flush() -> None:
            for segment in conn.segments_to_send(time.monotonic()):
                print(f"  -> {describe(segment)}")
                peer.send_segment(segment)

        def exchange(done) -> None:
            while not done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stuck in {conn.state.value}")
                flush()
                segment = peer.recv_segment(timeout=0.02)
                if segment is not None:
                    print(f"  <- {describe(segment)}")
                    conn.receive(segment, time.monotonic(), remote_ip=peer.kernel_addr)
                conn.handle_timeout(time.monotonic())
            flush()  # e.g. the ACK that completes the handshake, or the last ACK of the close

        print(f"fastseg {fastseg.__version__} ({fastseg.IMPLEMENTATION} codec) <-> Linux kernel")
        conn.connect(time.monotonic())
        exchange(lambda: conn.state is State.ESTABLISHED)
        conn.send(b"hello, kernel")
        conn.close(time.monotonic())  # FIN after the data; the kernel answers, then closes
        reply = bytearray()

        def closed() -> bool:
            while (event := conn.next_event()) is not None:
                if isinstance(event, DataReceived):
                    reply.extend(event.data)
            return conn.state is State.TIME_WAIT

        exchange(closed)
        exchange(lambda: conn.state is State.CLOSED)  # handle_timeout ends TIME-WAIT
        result = server.result()
        print(f"received {bytes(reply)!r}")
        print(f"kernel received {result['received']} bytes; we received {len(reply)} bytes")
        print("kernel TCP state before close:", result["state"])
        print("our state path:", " -> ".join(state.value for state in conn.history))
    return 0


def describe(segment: fastseg.Segment) -> str:
    return (f"{segment.flags!s:9} seq={segment.seq} ack={segment.ack} "
            f"win={segment.window} len={len(segment.payload)}")


if __name__ == "__main__":
    sys.exit(main())
