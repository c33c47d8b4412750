"""Header prediction changes nothing but speed: the same traffic, the same everything.

Two connections exchange data both ways over a link that loses, duplicates and
reorders segments (seeded, so both runs see the same link).  Run once with
``Connection.header_prediction`` on and once with every segment taken through
the step-by-step checks of RFC 9293 §3.10.7.4, the two runs must put out the
same segments, raise the same events and pass through the same states, and the
first run must really have taken segments by prediction.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, List, Tuple

import pytest

import fastseg
from fastseg.conn import Config, Connection, DataReceived, State

CONFIG = Config(msl=1.0, rto_initial=0.3, rto_min=0.2, rto_max=2.0, retries=40, syn_retries=40,
                receive_buffer=6000, send_buffer=20000, mss=700, delayed_ack=0.04)
A, B = ("10.2.0.1", 3333), ("10.2.0.2", 4444)
SIZE = 30_000
STEPS = 20_000


def run(seed: int, prediction: bool, sack: bool) -> Tuple[List[Any], int]:
    """Everything observable of one transfer, and how many segments prediction took."""
    rng = random.Random(seed)
    config = replace(CONFIG, sack=sack)
    a = Connection(A, B, config=config, iss=rng.getrandbits(32))
    b = Connection(B, config=config, iss=rng.getrandbits(32))
    predicted = 0
    for conn in (a, b):
        conn.header_prediction = prediction
        original = conn._predicted

        def counting(segment: Any, now: float, original: Any = original) -> bool:
            nonlocal predicted
            taken = original(segment, now)
            predicted += taken
            return bool(taken)

        conn._predicted = counting  # type: ignore[method-assign]
    b.listen()
    now = 0.0
    a.connect(now)
    data = {id(a): bytes(rng.getrandbits(8) for _ in range(SIZE)), id(b): bytes(range(256)) * 100}
    offered = {id(a): 0, id(b): 0}
    got = {id(a): bytearray(), id(b): bytearray()}
    flight: List[Tuple[Connection, Connection, bytes]] = []
    log: List[Any] = []
    for _ in range(STEPS):
        for conn, peer in ((a, b), (b, a)):
            if conn.state is State.ESTABLISHED and offered[id(conn)] < len(data[id(conn)]):
                chunk = rng.randint(1, 3000)
                start = offered[id(conn)]
                offered[id(conn)] += conn.send(data[id(conn)][start:start + chunk])
            for segment in conn.segments_to_send(now):
                raw = fastseg.pack(segment, src=conn.local[0], dst=peer.local[0])
                log.append((conn.local, raw))
                roll = rng.random()
                if roll < 0.05:
                    continue  # lost
                copies = 2 if roll > 0.97 else 1
                for _ in range(copies):
                    flight.insert(rng.randint(max(0, len(flight) - 3), len(flight)), (conn, peer, raw))
        if flight:
            sender, receiver, raw = flight.pop(0)
            receiver.receive(fastseg.unpack(raw), now, remote_ip=sender.local[0])
        else:
            now += 0.05
            for conn in (a, b):
                conn.handle_timeout(now)
        for conn in (a, b):
            while (event := conn.next_event()) is not None:
                log.append((conn.local, type(event).__name__, getattr(event, "data", None)))
                if isinstance(event, DataReceived):
                    got[id(conn)] += event.data
        if all(bytes(got[id(c)]) == data[id(p)] for c, p in ((a, b), (b, a))):
            break
    else:
        raise AssertionError("the transfer did not finish")
    log.append((a.history, b.history, a.snd_nxt, b.snd_nxt, a.rcv_nxt, b.rcv_nxt))
    return log, predicted


@pytest.mark.parametrize("sack", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_prediction_changes_nothing_but_speed(seed, sack):
    """With SACK, segments carrying SACK blocks (most, on this lossy link) go step by step."""
    predicted_log, predicted = run(seed, prediction=True, sack=sack)
    checked_log, none = run(seed, prediction=False, sack=sack)
    assert none == 0 and predicted > (0 if sack else 20)
    assert predicted_log == checked_log


NOP, TS = fastseg.OptionKind.NOP, fastseg.OptionKind.TIMESTAMPS


@pytest.mark.parametrize("options", [
    [(NOP, None), (NOP, None), (TS, (5, 6))],  # the layout read directly
    [(TS, (5, 6))],
    [(NOP, None), (TS, (1, 2)), (TS, (5, 6))],  # three options, the first timestamps counts
    [(TS, (1, 2)), (NOP, None), (TS, (5, 6))],
    [(NOP, None), (NOP, None), (TS, b"\x00" * 8)],  # not well-formed: the property decides
    [(NOP, None), (NOP, None), (NOP, None)],
    [],
])
def test_prediction_reads_timestamps_as_the_segment_does(options):
    from fastseg.conn.arrival import _timestamps

    wire = fastseg.pack(fastseg.Segment(options=options), src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02")
    for segment in (fastseg.Segment(options=options), fastseg.unpack(wire, strict=False)):
        assert _timestamps(segment) == segment.timestamps
