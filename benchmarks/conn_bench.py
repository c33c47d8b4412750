"""Per-segment cost of fastseg.conn: a bulk transfer between two Connections in memory.

The client sends ``--mib`` MiB to the server; every segment either side puts
out goes through ``fastseg.pack`` (with a checksum) and ``fastseg.unpack``
to the other side's ``receive``, and the server's application reads at once.
The figure printed is the process's CPU time (so that other processes on a
shared machine count less) over segments moved (data and ACKs alike), the
best of ``--repeat`` runs, beside the baseline: the codec's own ``pack``
(addresses as bytes) and ``unpack`` of the very segments the transfer
carried, timed in the same run.  It times whichever fastseg is imported, so
to compare two trees run it once with each on ``PYTHONPATH``::

    python benchmarks/conn_bench.py
    PYTHONPATH=/tmp/old-tree python benchmarks/conn_bench.py
"""

from __future__ import annotations

import argparse
import ipaddress
import time

import fastseg
from fastseg.conn import Config, Connection, State

CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 80)
PACKED = {ip: ipaddress.ip_address(ip).packed for ip in (CLIENT[0], SERVER[0])}


def transfer(size: int, carried: list | None = None) -> tuple[float, int]:
    """Seconds and segments to move ``size`` bytes from a client to a server; the segments
    carried (with their packed addresses) are appended to ``carried`` when given."""
    config = Config(receive_buffer=1 << 20, send_buffer=1 << 20)
    client = Connection(CLIENT, SERVER, config=config, iss=2**32 - 5000)
    server = Connection(SERVER, config=config, iss=7)
    server.listen()
    sides = ((client, server), (server, client))
    now, moved, sent, got = 0.0, 0, 0, 0
    chunk = bytes(range(256)) * 4096
    client.connect(now)
    start = time.process_time()
    while got < size:
        if sent < size:
            sent += client.send(chunk[: size - sent])
        quiet = True
        for sender, receiver in sides:
            for segment in sender.segments_to_send(now):
                raw = fastseg.pack(segment, src=sender.local[0], dst=receiver.local[0])
                if carried is not None:
                    carried.append((segment, PACKED[sender.local[0]], PACKED[receiver.local[0]]))
                receiver.receive(fastseg.unpack(raw), now, remote_ip=sender.local[0])
                moved += 1
                quiet = False
        while (event := server.next_event()) is not None:
            got += len(getattr(event, "data", b""))
        while client.next_event() is not None:
            pass
        if quiet:
            now += config.delayed_ack
            client.handle_timeout(now)
            server.handle_timeout(now)
    elapsed = time.process_time() - start
    if client.state is not State.ESTABLISHED or server.rcv_nxt != (client.snd_nxt):
        raise AssertionError("the transfer did not complete cleanly")
    return elapsed, moved


def codec(carried: list, repeat: int) -> float:
    """Seconds (CPU, best of ``repeat``) for the codec alone to pack and unpack ``carried``."""
    pack, unpack = fastseg.pack, fastseg.unpack
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for segment, src, dst in carried:
            unpack(pack(segment, src=src, dst=dst))
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    size = int(args.mib * (1 << 20))
    carried: list = []
    transfer(size, carried)
    runs = [transfer(size) for _ in range(args.repeat)]
    elapsed, moved = min(runs)
    alone = codec(carried, args.repeat)
    where = fastseg.__file__.rsplit("/fastseg/", 1)[0]
    per_segment, baseline = elapsed / moved, alone / len(carried)
    print(f"{fastseg.IMPLEMENTATION} {where}: {moved} segments, "
          f"{per_segment * 1e9:.0f} ns per segment (best of {args.repeat}); the codec's "
          f"pack+unpack of them {baseline * 1e9:.0f} ns: {per_segment / baseline:.1f}x")


if __name__ == "__main__":
    main()
