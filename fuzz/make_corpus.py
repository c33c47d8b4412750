"""Write the seed corpora of the fuzz targets from the real captures in tests/data/captures.

    python fuzz/make_corpus.py [--out fuzz/corpus]

Deterministic: the same captures give the same files (named by content hash, as
libFuzzer names its own), so the committed corpus only changes with the captures.
Kept small: segments are deduplicated by shape (data offset, flags, option
layout, payload present) and payloads cut to 32 bytes, except for the checksum
seeds, which keep whole segments so that their checksums verify.

    unpack, roundtrip, pack   TCP segments as captured (pack reads them as
                              FuzzedDataProvider input: any bytes do)
    checksum                  address form, both addresses, a 16-bit value, a
                              span byte, then the segment (fuzz_checksum.py)
    conn                      each captured flow replayed to a Connection taking
                              the server's or the client's place (fuzz_conn.py)

Files named ``regress-*`` are minimal reproducers of bugs the fuzzers found;
they are written from the list at the end of this file, not from captures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from pcapfile import read_frames, tcp_records  # noqa: E402

from fastseg import reference  # noqa: E402

CAPTURES = os.path.join(ROOT, "tests", "data", "captures")
SYN, ACK, RST = 0x02, 0x10, 0x04
PAYLOAD_CUT = 32
PER_SHAPE = 2


def shape(segment: bytes) -> Tuple[object, ...]:
    decoded = reference.unpack(segment, strict=False)
    kinds = tuple(kind if kind is None else int(kind) for kind, _ in decoded.options)
    return (decoded.header_len, int(decoded.flags), decoded.reserved, kinds, bool(decoded.payload))


def flows() -> List[Tuple[str, list]]:
    """(capture name, [(time, src, dst, segment bytes), ...]) per capture, in order."""
    result = []
    for name in sorted(os.listdir(CAPTURES)):
        if not name.endswith(".pcap"):
            continue
        header, frames = read_frames(os.path.join(CAPTURES, name))
        scale = 1e-9 if header.nanosecond else 1e-6
        times = {f.number: f.ts_sec + f.ts_frac * scale for f in frames}
        records = [(times[r.frame], r.src, r.dst, r.segment) for r in tcp_records(header, frames)]
        result.append((name, records))
    return result


def segment_seeds(captured: List[Tuple[str, list]]) -> List[bytes]:
    seen: Dict[Tuple[object, ...], int] = {}
    seeds = []
    for _, records in captured:
        for _, _, _, segment in records:
            key = shape(segment)
            if seen.get(key, 0) >= PER_SHAPE:
                continue
            seen[key] = seen.get(key, 0) + 1
            header_len = (segment[12] >> 4) * 4
            seeds.append(segment[:header_len + PAYLOAD_CUT])
    return seeds


def checksum_seeds(captured: List[Tuple[str, list]]) -> List[bytes]:
    seeds = []
    for _, records in captured:
        kept: Dict[Tuple[object, ...], int] = {}
        for index, (_, src, dst, segment) in enumerate(records):
            key = shape(segment)
            if kept.get(key) or len(segment) > 600:
                continue
            kept[key] = 1
            form = 0 if len(src) == 4 else 1
            seeds.append(bytes([form]) + src + dst + struct.pack("!HB", index * 7919 & 0xFFFF,
                                                                 index & 0xFF) + segment)
    return seeds


def conn_seed(records: list, server: Tuple[bytes, int], client: Tuple[bytes, int],
              isn: int, passive: bool, timestamps: bool) -> bytes:
    """One flow as fuzz_conn input, our side being the server (passive) or the client."""
    ours, theirs = (server, client) if passive else (client, server)
    mode = (1 if passive else 0) | (2 if timestamps else 0) | (0x10 if len(ours[0]) == 16 else 0)
    out = bytearray([mode]) + struct.pack("!HHIB", ours[1], theirs[1], isn, 0xFF)
    last = records[0][0]
    for when, src, _dst, segment in records:
        sport = struct.unpack_from("!H", segment)[0]
        if (src, sport) not in (server, client):
            continue
        step = min(int((when - last) * 1000), 0xFFFF)
        last = when
        if step:
            out += bytes([2]) + struct.pack("!H", step)  # TIME
        if (src, sport) == theirs:
            out += bytes([0]) + struct.pack("!H", len(segment)) + segment  # RAW
        else:
            out += bytes([7, 8])  # OUTPUT, EVENTS: our own segment is due about now
        if len(out) > 6000:
            break
    return bytes(out)


def conn_seeds(captured: List[Tuple[str, list]]) -> List[bytes]:
    seeds = []
    for _, records in captured:
        syns = {}
        for _, src, dst, segment in records:
            flags = segment[13]
            sport, dport, seq = struct.unpack_from("!HHI", segment)
            if flags & (SYN | ACK | RST) == SYN:
                syns[((src, sport), (dst, dport))] = None
            elif flags & (SYN | ACK | RST) == SYN | ACK and ((dst, dport), (src, sport)) in syns:
                syns[((dst, dport), (src, sport))] = (seq, segment)
        for (client, server), answer in list(syns.items())[:3]:
            if answer is None:
                continue
            server_isn, syn_ack = answer
            flow = [r for r in records if {(r[1], struct.unpack_from("!H", r[3])[0]),
                                           (r[2], struct.unpack_from("!H", r[3], 2)[0])}
                    == {client, server}]
            client_isn = next(struct.unpack_from("!I", r[3], 4)[0] for r in flow
                              if r[3][13] & (SYN | ACK) == SYN)
            timestamps = reference.unpack(syn_ack, strict=False).timestamps is not None
            seeds.append(conn_seed(flow, server, client, server_isn, True, timestamps))
            seeds.append(conn_seed(flow, server, client, client_isn, False, timestamps))
    return seeds


def _syn(src_port: int, dst_port: int, seq: int) -> bytes:
    return struct.pack("!HHIIHHHH", src_port, dst_port, seq, 0, 0x5000 | SYN, 64240, 0, 0)


#: Minimal reproducers of what the fuzzers found: (target, name, input).
REGRESSIONS = [
    # Passive open, SYN received, close() in SYN-RECEIVED, the SYN,ACK and FIN go out, the
    # retransmission timer fires (FIN-WAIT-1 rolls SND.NXT back to SND.UNA = ISS, before the
    # first data byte): segments_to_send() then emits empty segments forever.
    ("conn", "regress-finwait1-rto-hang",
     bytes([1]) + struct.pack("!HHIB", 80, 1000, 1000, 0xFF)
     + bytes([0]) + struct.pack("!H", 20) + _syn(1000, 80, 5000)  # RAW: the SYN
     + bytes([5, 7, 3, 7])),  # CLOSE, OUTPUT, DUE (the RTO), OUTPUT
]


def write(out: str, target: str, seeds: List[bytes], prefix: str = "") -> int:
    directory = os.path.join(out, target)
    os.makedirs(directory, exist_ok=True)
    for seed in seeds:
        name = prefix or hashlib.sha1(seed).hexdigest()
        with open(os.path.join(directory, name), "wb") as f:
            f.write(seed)
    return len(seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = parser.parse_args()
    captured = flows()
    segments = segment_seeds(captured)
    counts = {target: write(args.out, target, segments)
              for target in ("unpack", "roundtrip", "pack")}
    counts["checksum"] = write(args.out, "checksum", checksum_seeds(captured))
    counts["conn"] = write(args.out, "conn", conn_seeds(captured))
    for target, name, data in REGRESSIONS:
        write(args.out, target, [data], prefix=name)
    print("seeds written:", ", ".join(f"{t} {n}" for t, n in counts.items()),
          f"+ {len(REGRESSIONS)} regression input(s), under {args.out}")


if __name__ == "__main__":
    main()
