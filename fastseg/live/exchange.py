"""The wire between the fuzzer's peer (fastseg.conn, the model) and a target, on a virtual clock.

Every datagram either way goes through the codec (packed with its checksum,
decoded again) and into :attr:`Exchange.frames`, the pcap of the whole
exchange.  Predicates hold datagrams back in either direction, which is how
a campaign keeps data in flight or a FIN unacknowledged; :class:`Seen` is
what the wire saw of the target's side of each connection, the numbers a
blind attacker in the middle would know.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from fastseg.capture import Frame, tcp_frame
from fastseg.capture._common import LINKTYPE_RAW
from fastseg.codec import pack, unpack
from fastseg.conn.config import Config, rfc6528_isn
from fastseg.conn.connection import Connection
from fastseg.conn.events import DataReceived
from fastseg.conn.host import Datagram, Host
from fastseg.errors import FastsegError
from fastseg.live.stream import stream_bytes
from fastseg.live.target import PEER_ADDRESS, SERVICE_PORT, TARGET_ADDRESS, Target, TargetCrash
from fastseg.segment import Flags, Segment
from fastseg.seq import seq_add, seq_gt

__all__ = ["LINKTYPE", "START", "Exchange", "Peer", "Seen"]

#: The link type of the pcap: raw IP, no Ethernet addresses to invent.
LINKTYPE = LINKTYPE_RAW
#: The virtual clock's start (seconds); the pcap's first timestamp is 1700000000 s after it.
START = 1.0
_EPOCH_NS = 1_700_000_000 * 10**9
#: Datagrams one pump may move before it gives up (an ACK storm ends there).
MAX_PUMP = 256
#: Storms (pumps that hit MAX_PUMP) after which the exchange is jammed and stops moving datagrams.
MAX_STORMS = 8
#: Timer firings one advance may run.
MAX_TIMERS = 5000

_ACK, _RST, _SYN, _FIN = int(Flags.ACK), int(Flags.RST), int(Flags.SYN), int(Flags.FIN)
Hold = Optional[Callable[[Segment], bool]]


def peer_config(key: bytes) -> Config:
    """The peer's settings: fastseg's defaults with ISNs keyed by the trial, so runs repeat."""
    return Config(isn=rfc6528_isn(key))


@dataclass
class Seen:
    """The target's side of one connection as the wire saw it (latest values)."""

    syn_seq: Optional[int] = None     # the peer's SYN
    rcv_nxt: Optional[int] = None     # the target's latest ACK: its RCV.NXT
    right: Optional[int] = None       # the right edge of the window it announced
    snd_max: Optional[int] = None     # the highest sequence number it sent, plus one
    shift: int = 0                    # its window scale (RFC 7323 §2.3)
    tsval: int = 0                    # its latest TSval, echoed as TSecr
    peer_tsval: Optional[int] = None  # the peer's latest TSval: the target's TS.Recent
    peer_fin: Optional[int] = None    # the sequence number of the peer's FIN
    acked: Optional[int] = None       # the peer's latest ACK that reached the target: its SND.UNA
    syn_ack: Optional[Segment] = None


@dataclass
class Peer:
    """One connection of the fuzzer's peer and what its application sent and read."""

    conn: Connection
    key: bytes
    base: int  # the sequence number of stream offset 0 (ISS + 1)
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)

    @property
    def port(self) -> int:
        return self.conn.local[1]

    def send(self, size: int) -> None:
        """Queue the next ``size`` bytes of the stream (as many as the send buffer takes)."""
        if self.conn.state.value in ("ESTABLISHED", "CLOSE-WAIT", "SYN-SENT", "SYN-RECEIVED"):
            self.sent += self.conn.send(stream_bytes(self.key, self.sent, size))

    def read(self) -> None:
        while True:
            event = self.conn.next_event()
            if event is None:
                return
            if isinstance(event, DataReceived):
                self.received += event.data


class Exchange:
    """The peer, the target and the wire between them."""

    def __init__(self, target: Target, key: bytes) -> None:
        self.target = target
        self.key = key
        self.peer = Host((PEER_ADDRESS,), config=peer_config(key),
                         secret=hashlib.blake2s(key, person=b"peer").digest())
        self.now = START
        self.frames: List[Frame] = []
        self.peers: Dict[int, Peer] = {}
        self.seen: Dict[int, Seen] = {}
        self.hold_to_target: Hold = None
        self.hold_to_peer: Hold = None
        self._held_target: List[Segment] = []
        self._held_peer: List[Datagram] = []
        #: How many pumps hit MAX_PUMP.
        self.storms = 0

    # ------------------------------------------------------------ connections

    def connect(self, port: int = SERVICE_PORT) -> Peer:
        conn = self.peer.connect((TARGET_ADDRESS, port), self.now)
        peer = self.peers[conn.local[1]] = Peer(conn, self.key, conn.snd_nxt)  # just after the SYN
        return peer

    def seen_for(self, port: int) -> Seen:
        seen = self.seen.get(port)
        if seen is None:
            seen = self.seen[port] = Seen()
        return seen

    # ------------------------------------------------------------ the wire

    def _log(self, raw: bytes, src: str, dst: str) -> None:
        frame = tcp_frame(raw, src, dst, linktype=LINKTYPE)
        self.frames.append(Frame(frame, _EPOCH_NS + round((self.now - START) * 1e9)))

    def inject(self, raw: bytes) -> List[Segment]:
        """Put ``raw`` (a TCP segment's bytes) on the wire to the target; return its immediate answers."""
        self._log(raw, PEER_ADDRESS, TARGET_ADDRESS)
        if len(raw) >= 20:  # shorter is no TCP segment: the IP layer drops it
            self.target.receive(unpack(raw, strict=False), self.now)
        answers = [d.segment for d in self._from_target()]
        return answers

    def _to_target(self, segment: Segment) -> None:
        raw = pack(segment, src=PEER_ADDRESS, dst=TARGET_ADDRESS)
        self._log(raw, PEER_ADDRESS, TARGET_ADDRESS)
        if int(segment.flags) & _ACK:
            seen = self.seen_for(segment.src_port)
            if seen.acked is None or seq_gt(segment.ack, seen.acked):
                seen.acked = segment.ack
        self.target.receive(unpack(raw), self.now)

    def _to_peer(self, datagram: Datagram) -> None:
        raw = self._encode(datagram)
        self._log(raw, datagram.src, datagram.dst)
        if datagram.dst == PEER_ADDRESS and datagram.src == TARGET_ADDRESS:
            self.peer.receive(unpack(raw), self.now, src=datagram.src, dst=datagram.dst)

    def _encode(self, datagram: Datagram) -> bytes:
        try:
            return bytes(pack(datagram.segment, src=datagram.src, dst=datagram.dst))
        except (FastsegError, ValueError, TypeError) as exc:
            raise TargetCrash(f"segments_to_send gave a segment that does not encode: {exc}") from exc

    def _from_target(self) -> List[Datagram]:
        """Take the target's due datagrams, observe them and pass on those not held back."""
        out = self.target.send_due(self.now)
        for datagram in out:
            self._observe_target(datagram.segment)
            if self.hold_to_peer is not None and self.hold_to_peer(datagram.segment):
                self._held_peer.append(datagram)
            else:
                self._to_peer(datagram)
        return out

    def _observe_target(self, segment: Segment) -> None:
        seen = self.seen_for(segment.dst_port)
        flags = int(segment.flags)
        if flags & _SYN and flags & _ACK and seen.syn_ack is None:
            seen.syn_ack = segment
            seen.shift = segment.wscale or 0
        end = seq_add(segment.seq, segment.seg_len)
        if seen.snd_max is None or seq_gt(end, seen.snd_max):
            seen.snd_max = end
        if flags & _ACK and not flags & _RST:
            if seen.rcv_nxt is None or not seq_gt(seen.rcv_nxt, segment.ack):
                seen.rcv_nxt = segment.ack
            shift = 0 if flags & _SYN else seen.shift
            seen.right = seq_add(segment.ack, segment.window << shift)
        stamps = segment.timestamps
        if stamps is not None:
            seen.tsval = stamps[0]

    def _observe_peer(self, segment: Segment) -> None:
        seen = self.seen_for(segment.src_port)
        flags = int(segment.flags)
        if flags & _SYN and not flags & _ACK and seen.syn_seq is None:
            seen.syn_seq = segment.seq
        if flags & _FIN:
            seen.peer_fin = seq_add(segment.seq, len(segment.payload))
        stamps = segment.timestamps
        if stamps is not None:
            seen.peer_tsval = stamps[0]

    @property
    def jammed(self) -> bool:
        """Whether the two sides stormed so often (an ACK war, say) that the wire gave up on them."""
        return self.storms > MAX_STORMS

    def pump(self) -> None:
        """Move datagrams both ways until the wire is quiet (or MAX_PUMP of them moved)."""
        moved = 0
        while moved < MAX_PUMP and not self.jammed:
            step = 0
            for peer in self.peers.values():
                peer.read()
            for datagram in self.peer.segments_to_send(self.now):
                step += 1
                self._observe_peer(datagram.segment)
                if datagram.dst != TARGET_ADDRESS:
                    continue
                if self.hold_to_target is not None and self.hold_to_target(datagram.segment):
                    self._held_target.append(datagram.segment)
                else:
                    self._to_target(datagram.segment)
            step += len(self._from_target())
            if not step:
                return
            moved += step
        self.storms += moved >= MAX_PUMP

    def release(self) -> None:
        """Stop holding anything back and deliver what was held, in order."""
        self.hold_to_target = self.hold_to_peer = None
        held_target, self._held_target = self._held_target, []
        held_peer, self._held_peer = self._held_peer, []
        for segment in held_target:
            self._to_target(segment)
        for datagram in held_peer:
            self._to_peer(datagram)
        self.pump()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, firing both sides' timers as they fall due."""
        horizon = self.now + seconds
        for _ in range(MAX_TIMERS):
            deadlines = [d for d in (self.peer.next_deadline(), self.target.deadline()) if d is not None]
            due = min(deadlines, default=None)
            if due is None or due > horizon:
                break
            self.now = max(self.now, due)
            self.peer.handle_timeout(self.now)
            self.target.timeout(self.now)
            self.pump()
        self.now = max(self.now, horizon)
        self.pump()

    def run_until(self, done: Callable[[], bool], seconds: float, step: float = 0.25) -> bool:
        """Advance in steps of ``step`` until ``done()`` or ``seconds`` passed; whether it was done."""
        horizon = self.now + seconds
        self.pump()
        while not done():
            if self.now >= horizon or self.jammed:
                return False
            self.advance(min(step, horizon - self.now))
        return True
