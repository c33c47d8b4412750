"""One trial: a fresh target, a connection brought into a state, a sequence of attacks, the oracles.

A trial is a pure function of the target factory, the state, the steps and
the trial's seed (for in-process targets, whose clock is virtual): the same
arguments give the same answers, coverage and violations, which is what
makes findings replayable and minimisable.  After the attacks the
connection is continued (held segments released, the application reading
again, more data, an orderly close), then a fresh connection probes the
service (liveness) and time runs on until every connection is gone
(resources).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional, Sequence, Set, Tuple

from fastseg.capture import Frame
from fastseg.codec import unpack
from fastseg.live.attacks import View, build
from fastseg.live.exchange import Exchange, Peer
from fastseg.live.oracles import Violation, check_answer, shape
from fastseg.live.states import CHUNK, KINDS, SETTLE, Position, enter
from fastseg.live.stream import stream_bytes
from fastseg.live.target import Factory, InProcessTarget, Target, TargetCrash
from fastseg.segment import Flags
from fastseg.seq import seq_add, seq_diff, seq_gt

__all__ = ["MEMORY_SLACK", "Step", "TrialResult", "run_trial"]

#: One step of a sequence: an attack kind and the index that seeds its random choices.
Step = Tuple[str, int]
#: A coverage point: (state, attack kind, answer shape).
Point = Tuple[str, str, str]

#: Virtual seconds the continued connection has to deliver, echo and close.
_CONTINUE_TIME = 120.0
#: The same when an injected segment may legitimately have cut the connection short.
_CUT_TIME = 10.0
#: Virtual seconds the liveness probe has to connect and echo.
_PROBE_TIME = 30.0
#: Bytes of the liveness probe.
_PROBE = 64
#: Virtual seconds after which every connection must be gone (2 MSL, retries, backoff).
_RESOURCE_TIME = 1200.0
#: Growth of the memory an in-process target holds that is not a leak: hash tables and
#: counters keep their size (fastseg's Host grows 6-11 KiB in a trial).
MEMORY_SLACK = 64 * 1024
#: The most stream bytes the peer sends to catch up with a target that took injected ones.
_LARGEST_AHEAD = 1 << 20
_ENDING = int(Flags.SYN | Flags.FIN | Flags.RST)
_ACK = int(Flags.ACK)


@dataclass
class TrialResult:
    """What one trial did and found."""

    state: str
    steps: Tuple[Step, ...]
    reached: bool = False
    violations: List[Violation] = field(default_factory=list)
    coverage: Set[Point] = field(default_factory=set)
    descriptions: List[str] = field(default_factory=list)
    frames: List[Frame] = field(default_factory=list)


def trial_key(seed: str) -> bytes:
    """The 16-byte key of a trial's ISNs, ports and stream."""
    return hashlib.blake2s(seed.encode(), digest_size=16, person=b"fuzzlive").digest()


def _view(ex: Exchange, position: Position, rng: random.Random) -> Optional[View]:
    peer = position.peer
    if peer is None:
        return View(src_port=rng.randint(20000, 29999), dst_port=position.dst_port, rcv_nxt=0, rcv_wnd=0,
                    snd_una=0, snd_max=0, next_seq=0, base=0)
    seen = ex.seen_for(peer.port)
    if seen.rcv_nxt is None or seen.right is None or seen.snd_max is None or seen.syn_ack is None:
        return None
    return View(src_port=peer.port, dst_port=position.dst_port, rcv_nxt=seen.rcv_nxt,
                rcv_wnd=max(0, seq_diff(seen.right, seen.rcv_nxt)),
                snd_una=seen.syn_ack.seq if seen.acked is None else seen.acked, snd_max=seen.snd_max,
                next_seq=peer.conn.snd_nxt, base=peer.base,
                ts_recent=seen.peer_tsval if seen.syn_ack.timestamps is not None else None,
                tsecr=seen.tsval, peer_fin=seen.peer_fin)


def _applies(kind: str, view: View) -> bool:
    if kind == "stale_timestamp":
        return view.ts_recent is not None
    if kind == "fin_again":
        return view.peer_fin is not None
    return True


def _handshake(ex: Exchange, position: Position) -> List[Violation]:
    """SYN and FIN take one sequence number each (RFC 9293 §3.4), as the wire saw it."""
    peer = position.peer
    if peer is None:
        return []
    seen = ex.seen_for(peer.port)
    found = []
    if seen.syn_ack is not None and seen.syn_seq is not None and seen.syn_ack.ack != seq_add(seen.syn_seq, 1):
        found.append(Violation("rfc9293", "SYN takes one sequence number",
                               f"the SYN,ACK acknowledges {seen.syn_ack.ack}, not the SYN's "
                               f"{seen.syn_seq} + 1"))
    if seen.peer_fin is not None and seen.rcv_nxt is not None and seq_gt(seen.rcv_nxt, seen.peer_fin) \
            and seen.rcv_nxt != seq_add(seen.peer_fin, 1):
        found.append(Violation("rfc9293", "FIN takes one sequence number",
                               f"the peer's FIN at {seen.peer_fin} is acknowledged with {seen.rcv_nxt}"))
    return found


def _harmless(data: bytes, view: View) -> bool:
    """Whether an injected segment cannot legitimately end or cut the connection: no SYN, FIN or
    RST, no acknowledgment of target data the peer has not acknowledged, no TSval ahead of the
    peer's (an acceptable one becomes TS.Recent, and PAWS then drops the peer's own segments,
    RFC 7323 §5.3), and no bytes beyond those the peer sent (a target that takes them acknowledges
    data the peer has not sent, and the peer drops those ACKs: RFC 9293 §3.10.7.4)."""
    if len(data) < 20:
        return True
    segment = unpack(data, strict=False)
    flags = int(segment.flags)
    ahead = seq_gt(seq_add(segment.seq, len(segment.payload)), view.next_seq)
    stamps = segment.timestamps
    future = stamps is not None and (view.ts_recent is None or seq_gt(stamps[0], view.ts_recent))
    return not flags & _ENDING and not (flags & _ACK and seq_gt(segment.ack, view.snd_una)) \
        and not future and not ahead


def _catch_up(ex: Exchange, peer: Peer) -> None:
    """When the target took stream bytes ahead of the peer (injected, the stream's own), the peer
    sends up to there, so that the two agree again."""
    seen = ex.seen_for(peer.port)
    if seen.rcv_nxt is not None:
        ahead = seq_diff(seen.rcv_nxt, peer.base) - peer.sent
        if 0 < ahead < _LARGEST_AHEAD:
            peer.send(ahead)


def _continue(ex: Exchange, peer: Peer, harmless: bool) -> List[Violation]:
    """Release what was held, let the application read and the peer finish; check the stream."""
    target = ex.target
    ex.release()
    target.reading = True
    target.close_on_fin = True
    _catch_up(ex, peer)
    peer.send(CHUNK)
    app = target.apps.get(peer.port)

    def delivered() -> bool:
        if peer.conn.state.value == "CLOSED":  # reset: nothing more will come
            return True
        return app is not None and len(app.received) >= peer.sent and len(peer.received) >= app.echoed

    waiting = _CONTINUE_TIME if harmless else _CUT_TIME  # cut short, it is not checked
    ex.run_until(delivered, waiting)
    if peer.conn.state.value in ("ESTABLISHED", "CLOSE-WAIT"):
        peer.conn.close(ex.now)
    ex.run_until(lambda: peer.conn.state.value in ("CLOSED", "TIME-WAIT") and target.state(peer.port) in
                 (None, "TIME-WAIT"), waiting)
    found = []
    got = bytes(app.received) if app is not None else b""
    if got != stream_bytes(ex.key, 0, len(got)):
        bad = next(i for i, (a, b) in enumerate(zip(got, stream_bytes(ex.key, 0, len(got)))) if a != b)
        found.append(Violation("integrity", "bytes the peer never sent delivered",
                               f"the target delivered a byte at stream offset {bad} that the peer "
                               "never sent"))
    echoed = bytes(peer.received)
    if echoed != got[: len(echoed)]:
        found.append(Violation("integrity", "echo differs", "the peer read bytes the application never sent"))
    if harmless and not found and not ex.jammed:
        if len(got) < peer.sent:
            found.append(Violation("integrity", "stream cut short",
                                   f"the target delivered {len(got)} of the {peer.sent} bytes the peer sent"))
        elif app is not None and len(echoed) < app.echoed:
            found.append(Violation("integrity", "echo cut short",
                                   f"the peer read {len(echoed)} of the {app.echoed} bytes the target sent"))
    return found


def _probe(ex: Exchange) -> List[Violation]:
    """Liveness: a fresh connection completes and echoes."""
    peer = ex.connect()
    peer.send(_PROBE)
    if not ex.run_until(lambda: len(peer.received) >= _PROBE, _PROBE_TIME):
        state = ex.target.state(peer.port)
        return [Violation("liveness", "no echo on a fresh connection",
                          f"a fresh connection got {len(peer.received)} of {_PROBE} bytes echoed in "
                          f"{_PROBE_TIME:g} s (target side: {state or 'no connection'})")]
    peer.conn.close(ex.now)
    return []


def _play(ex: Exchange, result: TrialResult, seed: str, deviations: FrozenSet[str]) -> None:
    """Enter the state, run the steps, continue the connection and check the oracles."""
    state = result.state
    baseline = ex.target.memory()
    position = enter(ex, state)
    before = ex.target.state(position.peer.port) if position.peer is not None else None
    result.reached = before == position.expected
    if not result.reached:
        return
    result.violations += _handshake(ex, position)
    harmless = True
    for number, (kind, index) in enumerate(result.steps):
        rng = random.Random(f"fastseg.live:{seed}:{number}:{kind}:{index}")
        ex.advance(SETTLE)  # delayed ACKs go out: the wire shows the target's RCV.NXT
        view = _view(ex, position, rng)
        if view is None or kind not in KINDS[state] or not _applies(kind, view):
            continue
        attack = build(kind, rng, view, ex.key)
        result.descriptions.append(attack.description)
        harmless = harmless and not attack.poison and _harmless(attack.data, view)
        port = view.src_port
        before = ex.target.state(port) if position.peer is not None else None
        counted = ex.target.counters()
        answers = [s for s in ex.inject(attack.data) if s.dst_port == port]
        after = ex.target.state(port) if position.peer is not None else None
        result.coverage.add((state, kind, shape(answers, before, after)))
        result.coverage.update((state, kind, f"counter {name}")  # the kernel's TCP counters that moved
                               for name, value in ex.target.counters().items()
                               if value != counted.get(name, value))
        if before == position.expected:  # an earlier step may have ended or moved the connection
            result.violations += check_answer(attack, answers, before, after, deviations)
        if position.peer is not None:
            _catch_up(ex, position.peer)
        ex.pump()
    if position.peer is not None:
        result.violations += _continue(ex, position.peer, harmless)
    if ex.jammed:  # the wire gave up: liveness and resources cannot be told
        return
    result.violations += _probe(ex)
    if harmless and baseline is not None:  # in process: bounded resources
        ex.advance(_RESOURCE_TIME)
        left = ex.target.connection_count()
        if left:
            result.violations.append(Violation(
                "resources", "connections left",
                f"{left} connection{'s' * (left != 1)} still held {_RESOURCE_TIME:g} s after every "
                "connection closed (baseline 0)"))
        grown = (ex.target.memory() or 0) - baseline
        if grown > MEMORY_SLACK:
            result.violations.append(Violation(
                "resources", "memory held",
                f"the target holds {grown} bytes more than before the trial once every connection "
                f"closed (more than the {MEMORY_SLACK} allowed for tables that do not shrink)"))


def run_trial(factory: Factory, state: str, steps: Sequence[Step], seed: str,
              deviations: FrozenSet[str] = frozenset()) -> TrialResult:
    """Run one trial against a fresh target made by ``factory``."""
    result = TrialResult(state, tuple(steps))
    ex: Optional[Exchange] = None
    try:
        target: Target = factory() if getattr(factory, "kernel", False) else InProcessTarget(factory)
        try:
            ex = Exchange(target, trial_key(seed))
            _play(ex, result, seed, deviations)
        finally:
            target.close()
    except TargetCrash as crash:
        result.reached = True
        result.violations.append(Violation("crash", str(crash).split(" raised ")[0] + " raised", str(crash)))
    if ex is not None:
        result.frames = ex.frames
    result.violations = list(dict.fromkeys(result.violations))
    return result
