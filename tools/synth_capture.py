#!/usr/bin/env python3
"""Write a synthetic but well-formed pcap of many TCP connections, for speed and memory runs.

Usage::

    python3 tools/synth_capture.py OUT.pcap --segments 10000000 [--open 300] [--seed 1]

Each connection is a client on 10.1.x.y talking to a server on 10.2.0.1:80: a three-way
handshake with MSS, window scale, SACK-permitted and timestamps (RFC 9293 §3.5, RFC 7323),
a small request, a reply that is small or bulk (full-sized segments, the client ACKing
every second one, RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2), and a FIN exchange started by
the client.  A fraction of the reply segments are "lost after the capture point" and sent
again later (a retransmission), so the analysis sees some loss.  ``open`` connections run
at once, their segments interleaved; when one closes a new one starts on a new port, so
the number open at once stays bounded however long the file is.

The output is deterministic for a seed.  Segments carry correct checksums.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from typing import BinaryIO, Iterator, List, Optional, Tuple

SERVER = bytes((10, 2, 0, 1))
SERVER_PORT = 80
#: The MSS each side announces (an Ethernet MTU of 1500 less 40 bytes of fixed headers), and
#: the payload of a full segment: the MSS less the 12 bytes of the timestamps option, as Linux
#: sends (RFC 6691 §2: options on a segment come out of the MSS).
MSS = 1460
FULL = MSS - 12
_SYN, _RST, _PSH, _ACK, _FIN = 0x02, 0x04, 0x08, 0x10, 0x01
_TCP = struct.Struct("!HHIIBBHHH")
_IP = struct.Struct("!BBHHHBBH4s4s")
_ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_RECORD = struct.Struct("<IIII")
_FILE_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
#: Options of a SYN: MSS, SACK-permitted, timestamps, NOP, window scale 7 (RFC 7323 Appendix A).
_SYN_OPTS = struct.Struct("!BBHBBBBIIBBBB")
_TS_OPTS = struct.Struct("!BBBBII")


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           window: int, options: bytes, payload_len: int, payload_sum: int) -> bytes:
    """An Ethernet/IPv4/TCP frame; the payload is zeros (its sum is ``payload_sum``: 0)."""
    offset = (20 + len(options)) // 4
    header = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags,
                       window, 0, 0) + options
    tcp_len = len(header) + payload_len
    total = _sum16(src + dst + struct.pack("!HH", 6, tcp_len) + header) + payload_sum
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = ~total & 0xFFFF
    header = header[:16] + struct.pack("!H", checksum) + header[18:]
    ip = _IP.pack(0x45, 0, 20 + tcp_len, 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", ~_sum16(ip) & 0xFFFF) + ip[12:]
    return _ETH + ip + header + bytes(payload_len)


def _connection(rng: random.Random, index: int, bulk: float, loss: float) -> Iterator[bytes]:
    """The frames of one connection, in wire order."""
    client = bytes((10, 1, (index >> 8) & 0xFF, index & 0xFF))
    cport = 1024 + (index * 7919) % 60000
    cs, ss = rng.getrandbits(32), rng.getrandbits(32)
    ts = rng.getrandbits(24)

    def c2s(seq: int, ack: int, flags: int, n: int = 0, opts: bytes = b"") -> bytes:
        return _frame(client, SERVER, cport, SERVER_PORT, seq, ack, flags, 502,
                      opts or _TS_OPTS.pack(1, 1, 8, 10, ts, ts), n, 0)

    def s2c(seq: int, ack: int, flags: int, n: int = 0, opts: bytes = b"") -> bytes:
        return _frame(SERVER, client, SERVER_PORT, cport, seq, ack, flags, 509,
                      opts or _TS_OPTS.pack(1, 1, 8, 10, ts, ts), n, 0)

    yield c2s(cs, 0, _SYN, 0, _SYN_OPTS.pack(2, 4, MSS, 4, 2, 8, 10, ts, 0, 1, 3, 3, 7))
    yield s2c(ss, cs + 1, _SYN | _ACK, 0, _SYN_OPTS.pack(2, 4, MSS, 4, 2, 8, 10, ts, ts, 1, 3, 3, 7))
    cs += 1
    ss += 1
    yield c2s(cs, ss, _ACK)
    request = rng.randint(60, 400)
    yield c2s(cs, ss, _ACK | _PSH, request)
    cs += request
    reply = rng.randint(100 * FULL, 400 * FULL) if rng.random() < bulk else rng.randint(200, 4 * FULL)
    sent = 0
    lost: List[Tuple[int, int]] = []
    unacked = 0
    while sent < reply:
        n = min(FULL, reply - sent)
        if rng.random() < loss:
            lost.append((ss + sent, n))
        else:
            yield s2c(ss + sent, cs, _ACK | (_PSH if sent + n == reply else 0), n)
        sent += n
        unacked += 1
        if unacked == 2 or sent == reply:
            # The client acknowledges what arrived in order: up to the first loss.
            edge = lost[0][0] if lost else ss + sent
            yield c2s(cs, edge, _ACK)
            unacked = 0
        if lost and rng.random() < 0.5:
            seq, n = lost.pop(0)
            yield s2c(seq, cs, _ACK, n)
            yield c2s(cs, lost[0][0] if lost else ss + sent, _ACK)
    for seq, n in lost:
        yield s2c(seq, cs, _ACK, n)
    ss += reply
    yield c2s(cs, ss, _ACK)
    yield c2s(cs, ss, _FIN | _ACK)
    yield s2c(ss, cs + 1, _FIN | _ACK)
    yield c2s(cs + 1, ss + 1, _ACK)


def frames(segments: int, open_at_once: int = 300, seed: int = 1, bulk: float = 0.1,
           loss: float = 0.01, started: Optional[List[int]] = None) -> Iterator[bytes]:
    """About ``segments`` frames (whole connections: a few more), ``open_at_once`` interleaved.
    ``started``, when given, gets the number of connections appended at the end."""
    rng = random.Random(seed)
    running: List[Iterator[bytes]] = []
    count = written = 0
    while True:
        while len(running) < open_at_once and written < segments:
            count += 1
            running.append(_connection(rng, count, bulk, loss))
        if not running:
            break
        i = rng.randrange(len(running))
        frame = next(running[i], None)
        if frame is None:
            running[i] = running[-1]
            running.pop()
            continue
        written += 1
        yield frame
    if started is not None:
        started.append(count)


def write(out: BinaryIO, segments: int, open_at_once: int = 300, seed: int = 1,
          bulk: float = 0.1, loss: float = 0.01) -> Tuple[int, int]:
    """Write the capture to ``out``; return (frames, connections) written."""
    out.write(_FILE_HEADER)
    count = 0
    started: List[int] = []
    for count, frame in enumerate(frames(segments, open_at_once, seed, bulk, loss, started), 1):
        # 1 ms apart: microsecond timestamps.
        out.write(_RECORD.pack(1_700_000_000 + count // 1000, (count % 1000) * 1000,
                               len(frame), len(frame)))
        out.write(frame)
    return count, started[0]


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=300, help="connections open at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bulk", type=float, default=0.1, help="fraction of bulk replies")
    parser.add_argument("--loss", type=float, default=0.01, help="fraction of reply segments lost")
    args = parser.parse_args(argv)
    with open(args.out, "wb") as out:
        n, connections = write(out, args.segments, args.open, args.seed, args.bulk, args.loss)
    print(f"{args.out}: {n} frames, {connections} connections", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
