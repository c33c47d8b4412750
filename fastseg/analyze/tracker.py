"""Follow TCP connections through a capture, one real state machine per side.

The state of each side is not guessed by a second copy of the rules: every
side seen opening (a SYN, a SYN-ACK, or a RST to a closed port) gets a replica,
a :class:`fastseg.conn.Connection` with the side's own ISS, and the tracker
plays the capture into the replicas:

- what a side is seen *sending* becomes a user call on its own replica: a SYN
  is ``connect()`` (with the data it carries, as in TCP Fast Open; a SYN-ACK is
  ``listen()`` and the peer's SYN), payload is ``send()``, a FIN is
  ``close()``, a RST is ``abort()``; the segments the replica then sends are
  discarded;
- what a side sends is *delivered* to the peer's replica with ``receive()``,
  whose events (Connected, PeerFinished, ConnectionReset, ConnectionRefused,
  SegmentRejected(reason)) and ``history`` make the report.

A capture is taken at one point of the path, so a segment seen on the wire
may not have reached its receiver when the receiver sends its next segment
(the two FINs of a simultaneous close cross).  Segments therefore wait "in
flight" and are delivered, in order, just before the receiver sends a segment
whose acknowledgment number covers them, and at the end of the capture.

The replicas are made with ``replay=True``: sender-local policy a capture
cannot show (the congestion window, and the peer's window, whose overrun is
reported separately) never holds back what the real sender put on the wire.

On top of the replicas, per direction, :mod:`fastseg.seq` arithmetic finds
retransmissions, out-of-order segments, exact duplicates, segments not
captured, keep-alives, zero windows and segments beyond the advertised window.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, Iterable, List, Optional, Tuple, cast

from fastseg import internet_checksum
from fastseg._addr import pseudo_header
from fastseg.conn import State, StateError
from fastseg.segment import Flags, Segment
from fastseg.seq import seq_add, seq_diff, seq_gt, seq_le

if TYPE_CHECKING:
    from fastseg.conn import Config, Connection, SegmentRejected

__all__ = ["ANOMALY_KINDS", "LINGER", "LINGER_CONNECTIONS", "ConnectionTracker", "Endpoint"]

Endpoint = Tuple[str, int]

#: Every anomaly kind the report may hold, with its one-line meaning (the JSON vocabulary).
ANOMALY_KINDS: Dict[str, str] = {
    "bad_checksum": "TCP checksum does not verify",
    "checksum_offloaded": "checksum field holds the pseudo-header sum a NIC completes (captured "
                          "before checksum offload): not verifiable, not bad",
    "truncated": "fewer bytes captured than the IP header announces (checksum unknown)",
    "malformed_options": "options the lenient decoder had to step over",
    "retransmission": "sequence space sent before, sent again",
    "out_of_order": "fills a hole below the highest sequence number seen, not seen before",
    "duplicate": "a retransmission that is an exact copy of an earlier segment",
    "not_captured": "starts beyond the highest sequence number seen: segments before it are missing",
    "keep_alive": "zero or one byte one below the next sequence number (a keep-alive)",
    "zero_window": "advertises a zero receive window",
    "zero_window_probe": "one byte into a zero window",
    "outside_window": "data beyond the receiver's advertised window, or rejected by it as such",
    "data_after_fin": "data or a second FIN beyond the sender's first FIN",
    "ack_of_unsent": "acknowledges sequence space the peer never sent",
    "old_ack": "acknowledgment older than SND.UNA - MAX.SND.WND (RFC 5961 challenge ACK)",
    "paws": "timestamp older than TS.Recent (RFC 7323 PAWS)",
    "missing_timestamps": "no timestamp option although both sides negotiated them",
    "rst_not_exact": "in-window RST not at RCV.NXT (RFC 5961 challenge ACK)",
    "syn_in_synchronized": "SYN on a synchronized connection (RFC 5961 challenge ACK)",
    "after_close": "arrives after the receiver closed",
    "syn_data": "data in a SYN-ACK: not modelled by fastseg.conn, the sender's state path stops",
    "rejected": "dropped by the receiver's state machine for another reason (see details)",
}

#: SegmentRejected reasons of fastseg.conn -> anomaly kind (None: reported another way).
_REASONS: Dict[str, Optional[str]] = {
    "ACK of data never sent": "ack_of_unsent",
    "ACK of something never sent (old duplicate?)": "ack_of_unsent",
    "ACK in SYN-RECEIVED does not cover our SYN": "ack_of_unsent",
    "ACK older than SND.UNA - MAX.SND.WND (challenge ACK)": "old_ack",
    "PAWS: timestamp older than TS.Recent": "paws",
    "no timestamp option although timestamps are in use": "missing_timestamps",
    "in-window RST not at RCV.NXT (challenge ACK)": "rst_not_exact",
    "SYN in a synchronized state (challenge ACK)": "syn_in_synchronized",
    "retransmitted SYN": None,  # counted as a retransmission by the sequence analysis
}

_OUTSIDE = "sequence number outside the receive window"
_CLOSED = "connection is CLOSED"
#: The control bits as plain ints (RFC 9293 §3.1): tested on every segment.
_FIN, _SYN, _RST, _ACK = (int(flag) for flag in (Flags.FIN, Flags.SYN, Flags.RST, Flags.ACK))
#: Replica buffers that never limit what is observed.
_SEND_BUFFER = 1 << 40
_RECEIVE_BUFFER = 0xFFFF << 14
_IN_FLIGHT_LIMIT = 4096
_HOLE_LIMIT = 256
_RECENT = 32
_FRAMES_KEPT = 20
#: The largest gap in a side's data that its replica is given as zeros (bigger ones are
#: reported and skipped), and the most zeros given per connection: time and memory stay in
#: proportion to the capture, not to the sequence numbers it holds.
_GAP_FILLED = 1 << 20
#: The largest payload a snap length cut is made up to (an IPv4 datagram's limit).
_CUT_FILLED = 0xFFFF
_FILL_BUDGET = 16 << 20
#: Seconds of capture time a finished connection is kept for late segments: 2 MSL (RFC 9293
#: §3.4.2, MSL two minutes), the longest TIME-WAIT.
LINGER = 240.0
#: The most finished connections kept for late segments at once (the oldest goes first).
LINGER_CONNECTIONS = 256
#: The most address texts remembered (the cache is emptied when full).
_NAMES_KEPT = 1 << 12


def _offloaded(rec: Any) -> bool:
    """Whether a segment whose checksum fails holds, instead, the partial sum Linux leaves
    for a NIC with checksum offload: the folded one's-complement sum of the pseudo-header
    (RFC 9293 §3.1, RFC 8200 §8.1), not complemented.  Captures taken on the sending
    host (loopback, offloading NICs) show it on every outgoing segment."""
    segment: Segment = rec.segment
    length = segment.header_len + len(segment.payload)
    if rec.version == 4 and length > 0xFFFF:
        return False
    partial = ~internet_checksum(pseudo_header(rec.src, rec.dst, length)) & 0xFFFF
    return bool(segment.checksum == partial)


def _as_sent(rec: Any) -> Segment:
    """The segment as its sender sent it, as far as the analysis needs: a snap length cuts
    the payload, not what was sent, so a truncated segment's payload is made up to the
    length the IP header announces (as zeros: its bytes are not known).  Sequence space,
    byte counts and the replicas then follow the wire, as tshark's ``tcp.len`` does.
    Payloads past ``_CUT_FILLED`` (IPv6 jumbograms) stay as captured."""
    segment: Segment = rec.segment
    if rec.checksum_ok is not None:
        return segment
    missing = rec.announced_payload - len(segment.payload)
    if missing <= 0 or rec.announced_payload > _CUT_FILLED:
        return segment
    return segment.replace(payload=segment.payload + bytes(missing))


def _fingerprint(segment: Segment) -> int:
    """What two segments share when one is a copy of the other (``duplicate``): every header
    field, the options and the payload's length; the payload's bytes count through the
    checksum field.  (The compiled follower hands a connection over by replaying its
    segments with their payloads as zeros: see :mod:`fastseg.analyze._script_c`.)"""
    return hash((segment.seq, segment.ack, int(segment.flags), segment.window, segment.checksum,
                 segment.urgent, segment.options, len(segment.payload)))


def _no_isn(now: float, local: Endpoint, remote: Endpoint) -> int:
    return 0  # never used: every replica is given the ISS seen on the wire


#: A segment on its way to a side: (frame, segment, the acknowledgment number that shows it
#: arrived, whether it is a RST, its capture time).
InFlight = Tuple[int, Segment, int, bool, float]


class Side:
    """What one endpoint of a connection sent, and its replica."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.replica: Optional[Connection] = None
        self.in_flight: Deque[InFlight] = deque()   # segments on their way to this side
        self.syn: Optional[Segment] = None          # first SYN (or SYN-ACK) sent
        self.wscale: Optional[int] = None           # its window scale option
        self.syn_ack = False
        self.segments = 0
        self.payload_bytes = 0
        self.unique_bytes = 0
        self.fin_seq: Optional[int] = None          # sequence number of the first FIN
        self.fin_frame: Optional[int] = None
        self.fin_ack: Optional[int] = None          # acknowledgment number of the first FIN
        self.rst_frame: Optional[int] = None
        self.sent_end: Optional[int] = None         # end of the data given to the replica
        self.closed_replica = False                 # close() already called
        self.aborted = False
        # sequence analysis, unwrapped: hi is the end of the highest sequence space seen
        self.hi: Optional[int] = None
        self.hi_wrapped = 0
        self.holes: List[Tuple[int, int]] = []
        self.recent: Deque[int] = deque(maxlen=_RECENT)
        # what this side advertised, for the peer's window check
        self.ack_seen = False
        self.right_edge: Optional[int] = None       # highest ack + window (wrapped)
        self.last_window = -1
        self.events: Dict[str, int] = {}
        self.state_times: List[float] = []          # when each replica.history entry was entered


class Path:
    """The states a side's replica went through, for a connection the compiled follower
    (:mod:`fastseg.analyze._script_c`) followed without replicas: all the report reads of
    a replica."""

    __slots__ = ("history",)

    def __init__(self, history: List[State]) -> None:
        self.history = history

    @property
    def state(self) -> State:
        return self.history[-1]


def _stamp_states(side: Side, when: float) -> None:
    """Give the states ``side``'s replica entered since the last call the time ``when``: the
    capture time of the frame that made it enter them (never before an earlier state's)."""
    replica = side.replica
    if replica is not None and len(replica.history) > len(side.state_times):
        if side.state_times:
            when = max(when, side.state_times[-1])
        side.state_times += [when] * (len(replica.history) - len(side.state_times))


class TrackedConnection:
    """One incarnation of a 4-tuple."""

    def __init__(self, index: int, first: Endpoint, second: Endpoint, frame: int,
                 timestamp: float, frames_kept: Optional[int] = _FRAMES_KEPT) -> None:
        self.index = index
        self.frames_kept = frames_kept              # frames listed per anomaly kind (None: all)
        # A socket connected to itself (same address and port at both ends, RFC 9293
        # §3.5 simultaneous open with itself) is one side, its own peer.
        self.sides: Dict[Endpoint, Side] = {first: Side(first), second: Side(second)}
        # endpoint -> the other side (no reference between the sides: no cycle to collect)
        self.peers: Dict[Endpoint, Side] = {first: self.sides[second], second: self.sides[first]}
        self.first_sender = first
        self.opener: Optional[Endpoint] = None      # sender of the first SYN without ACK
        self.passive: Optional[Endpoint] = None     # sender of the first SYN-ACK
        self.first_frame = self.last_frame = frame
        self.start = self.end = timestamp
        self.clock = timestamp
        self.anomalies: Dict[str, Dict[str, Any]] = {}
        self.rejections: Dict[str, int] = {}
        self.closings = 0
        self._filled = 0                            # zeros given to the replicas for gaps
        self._finished = False

    # ------------------------------------------------------------ bookkeeping

    @property
    def self_connected(self) -> bool:
        """Whether both ends are one socket (it sends every segment to itself)."""
        return len(self.sides) == 1

    def other(self, endpoint: Endpoint) -> Side:
        """The peer of ``endpoint``'s side: the side itself on a self-connected socket."""
        return self.peers[endpoint]

    def note(self, kind: str, sender: Side, frame: int, detail: Optional[str] = None) -> None:
        entry = self.anomalies.setdefault(kind, {"count": 0, "by": {}, "frames": [],
                                                 "details": []})
        entry["count"] += 1
        entry["by"][sender.endpoint] = entry["by"].get(sender.endpoint, 0) + 1
        if self.frames_kept is None or len(entry["frames"]) < self.frames_kept:
            entry["frames"].append(frame)
        if detail and detail not in entry["details"] and len(entry["details"]) < _FRAMES_KEPT:
            entry["details"].append(detail)

    @property
    def finished(self) -> bool:
        """Whether a new SYN on this 4-tuple starts a new incarnation (once true, it stays:
        a RST or a FIN is not unseen, and CLOSED is left only by a new incarnation)."""
        if self._finished:
            return True
        fins = 0
        for s in self.sides.values():
            if s.rst_frame is not None:
                self._finished = True
                return True
            if s.fin_frame is not None:
                fins += 1
            replica = s.replica
            if replica is not None and replica.state is State.CLOSED and len(replica.history) > 1:
                self._finished = True
                return True
        self._finished = fins == len(self.sides)
        return self._finished

    def abandoned_by(self, endpoint: Endpoint) -> bool:
        """Whether a SYN from ``endpoint`` with a new ISN starts a new incarnation although this
        one did not finish: ``endpoint`` opened it with a SYN and nothing came back from the
        peer.  A retransmitted SYN carries the same ISN; a new one means the opener gave up
        and connected again from the same port (RFC 9293 §3.4.1), as tshark also reads it."""
        opener = self.sides[endpoint]
        return opener.syn is not None and not opener.syn_ack and not self.other(endpoint).segments

    # ------------------------------------------------------------ replicas

    def _config(self, syn: Segment) -> Config:
        from fastseg.conn import Config  # with the first replica: following in C needs none

        mss = syn.mss
        return Config(mss=mss if mss and 0 < mss <= 0xFFFF else 1460,
                      receive_buffer=_RECEIVE_BUFFER, send_buffer=_SEND_BUFFER,
                      timestamps=syn.timestamps is not None, isn=_no_isn)

    def _flush(self, side: Side, now: float) -> None:
        """Let a replica transmit what it holds (discarded): SND.NXT follows the wire."""
        replica = side.replica
        if replica is None:
            return
        replica.segments_to_send(now)

    def _drain(self, receiver: Side, sender: Side, frame: int, before: int,
               segment: Segment) -> None:
        """Take the receiver replica's events; rejections become the sender's anomalies."""
        replica = receiver.replica
        if replica is None:
            return
        while True:
            event = replica.next_event()
            if event is None:
                return
            name = type(event).__name__
            if name != "DataReceived":
                receiver.events[name] = receiver.events.get(name, 0) + 1
            if name == "SegmentRejected":  # by name: the events module loads with a replica
                reason = cast("SegmentRejected", event).reason
                self._rejected(reason, receiver, sender, frame, before, segment)

    def _rejected(self, reason: str, receiver: Side, sender: Side, frame: int, before: int,
                  segment: Segment) -> None:
        self.rejections[reason] = self.rejections.get(reason, 0) + 1
        if reason == _OUTSIDE:
            # Wholly below RCV.NXT: old data (a retransmission, duplicate or keep-alive),
            # already counted by the sequence analysis.
            if seq_le(seq_add(segment.seq, segment.seg_len), before) or (
                    segment.seg_len <= 1 and seq_add(segment.seq, 1) == before):
                return
            self.note("outside_window", sender, frame, reason)
            return
        if reason == _CLOSED:
            replica = receiver.replica
            if replica is not None and len(replica.history) > 1:
                self.note("after_close", sender, frame, reason)
            return
        if reason in _REASONS:
            kind = _REASONS[reason]
            if kind is not None:
                self.note(kind, sender, frame, reason)
            return
        self.note("rejected", sender, frame, reason)

    def _deliver(self, receiver: Side, entry: InFlight, now: float) -> None:
        replica = receiver.replica
        if replica is None:
            return
        frame, segment = entry[0], entry[1]
        sender = self.peers[receiver.endpoint]
        before = replica.rcv_nxt
        replica.receive(segment, now, remote_ip=sender.endpoint[0])
        self._drain(receiver, sender, frame, before, segment)
        replica.segments_to_send(now)  # what it answers is discarded (see _flush)
        _stamp_states(receiver, entry[4])

    def _deliver_covered(self, receiver: Side, ack: Optional[int], now: float) -> None:
        """Deliver, in order, the in-flight segments that ``ack`` shows have arrived
        (all of them when ``ack`` is None)."""
        queue = receiver.in_flight
        while queue and receiver.replica is not None:
            if ack is not None:
                _, segment, arrived_at, rst, _ = queue[0]
                if not seq_le(arrived_at, ack) and not (rst and segment.seq == ack):
                    break
            self._deliver(receiver, queue.popleft(), now)

    # ------------------------------------------------------------ a segment

    def add(self, rec: Any, sender_ep: Endpoint) -> None:
        checksum_ok: Optional[bool] = rec.checksum_ok
        segment: Segment = rec.segment if checksum_ok else _as_sent(rec)
        frame: int = rec.frame
        timestamp: float = rec.timestamp
        if timestamp > self.clock:
            self.clock = timestamp
        now = self.clock
        self.last_frame, self.end = frame, now
        sender = self.sides[sender_ep]
        receiver = self.peers[sender_ep]
        sender.segments += 1
        flags = int(segment.flags)
        payload = len(segment.payload)
        length = payload + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)  # seg_len

        if checksum_ok is False:
            self.note("checksum_offloaded" if _offloaded(rec) else "bad_checksum", sender, frame)
        elif checksum_ok is None:
            self.note("truncated", sender, frame)
        if segment.anomalies:
            self.note("malformed_options", sender, frame, str(segment.anomalies[0]))
        sender.payload_bytes += payload
        self._sequence(segment, flags, length, payload, sender, frame)
        self._windows(segment, flags, payload, sender, receiver, frame)

        # What the sender had received by now: everything its ACK covers.
        if flags & _ACK and sender.in_flight:
            self._deliver_covered(sender, segment.ack, now)
        called = payload or flags & (_SYN | _FIN | _RST)  # a pure ACK calls nothing
        if called:
            self._sender_calls(segment, flags, sender, receiver, now, frame)
        # A SYN has arrived once its SYN is acknowledged, whether or not its data was.
        arrived_at = seq_add(segment.seq, 1 if flags & _SYN else length)
        in_flight = receiver.in_flight
        in_flight.append((frame, segment, arrived_at, bool(flags & _RST), now))
        if len(in_flight) > _IN_FLIGHT_LIMIT:
            self._deliver(receiver, in_flight.popleft(), now)
        if called:  # only user calls leave states unstamped (_deliver stamps its own)
            for side in self.sides.values():
                _stamp_states(side, now)

    def finish(self) -> TrackedConnection:
        """End of capture: everything still in flight arrives, in capture order.  Returns
        the connection (the compiled follower's stand-in returns the one it makes)."""
        a = b = next(iter(self.sides.values()))
        if not self.self_connected:
            a, b = self.sides.values()
        while a.in_flight or b.in_flight:
            if b.in_flight and (not a.in_flight or b.in_flight[0][0] < a.in_flight[0][0]):
                a, b = b, a
            self._deliver(a, a.in_flight.popleft(), self.clock)
        for side in self.sides.values():
            _stamp_states(side, self.clock)
        return self

    def _sender_calls(self, segment: Segment, flags: int, sender: Side, receiver: Side,
                      now: float, frame: int) -> None:
        """Replay what the sender did as user calls on its replica."""
        if flags & _SYN and flags & _ACK and segment.payload:
            self.note("syn_data", sender, frame)
        if flags & _SYN and sender.syn is None:
            sender.syn = segment
            sender.wscale = segment.wscale
            sender.syn_ack = bool(flags & _ACK)
            from fastseg.conn import Connection  # see _config

            opened = Connection(sender.endpoint, receiver.endpoint,
                                config=self._config(segment), iss=segment.seq, replay=True)
            if flags & _ACK:
                self.passive = self.passive or sender.endpoint
                opened.remote = None
                opened.listen()
                sender.replica = opened
                self._deliver_covered(sender, segment.ack, now)
            else:
                self.opener = self.opener or sender.endpoint
                opened.connect(now, bytes(len(segment.payload)))  # with any data (Fast Open)
                sender.replica = opened
            # the data of a SYN-ACK (not modelled) is given to the replica with send() below
            sender.sent_end = seq_add(segment.seq, 1 + (0 if sender.syn_ack else len(segment.payload)))
            self._flush(sender, now)
        elif flags & _RST and sender.replica is None and sender.syn is None:
            # A reset from a side that never opened: nobody listens there.
            from fastseg.conn import Config, Connection  # see _config

            sender.replica = Connection(sender.endpoint, receiver.endpoint,
                                        config=Config(isn=_no_isn), replay=True)
            self._deliver_covered(sender, segment.ack if flags & _ACK else None, now)
        if sender.replica is None:
            return
        replica: Connection = sender.replica
        payload = segment.payload
        data_seq = seq_add(segment.seq, 1) if flags & _SYN else segment.seq
        data_end = seq_add(data_seq, len(payload))
        fin_data = sender.fin_seq is not None and payload and seq_gt(data_end, sender.fin_seq)
        ahead = seq_diff(data_end, sender.sent_end) if sender.sent_end is not None else 0
        if payload and ahead > 0 and not fin_data:
            gap = ahead - len(payload)  # bytes before this payload that were never captured
            if gap <= _GAP_FILLED and self._filled + max(gap, 0) <= _FILL_BUDGET:
                # Small gaps are filled with zeros, so the replica stays in step with the wire.
                self._filled += max(gap, 0)
                try:  # noqa: SIM105 - suppress() costs 1.3 us a data segment, try nothing
                    replica.send(bytes(ahead))
                except StateError:
                    pass
            else:
                # A jump too big to replay: reported, and the replica is not given it (it would
                # cost time and memory in proportion to the jump, up to 2 GiB).
                self.note("not_captured", sender, frame,
                          f"{gap} bytes not captured before this segment: not replayed")
            sender.sent_end = data_end
            self._flush(sender, now)
        elif payload and ahead == -(1 << 31) and not fin_data:
            # Exactly 2**31 ahead: after and before at once (an antipode), so it cannot be ordered.
            self.note("not_captured", sender, frame, "2**31 bytes away from the data sent: not replayed")
        if flags & _FIN and not sender.closed_replica and not fin_data:
            try:
                replica.close(now)
                sender.closed_replica = True
            except StateError:
                pass
            self._flush(sender, now)
        if flags & _RST and not sender.aborted and replica.state not in (
                State.CLOSED, State.LISTEN):
            replica.abort(now)
            sender.aborted = True
            self._flush(sender, now)

    # ------------------------------------------------------------ sequence analysis

    def _sequence(self, segment: Segment, flags: int, length: int, payload: int, sender: Side,
                  frame: int) -> None:
        """The sequence analysis of a segment of ``length`` (its seg_len) with ``payload``
        bytes: FIN and RST bookkeeping, then what this sender sent before."""
        if flags & _FIN and sender.fin_frame is None:
            sender.fin_frame = frame
            sender.fin_seq = seq_add(segment.seq, length - 1)
            sender.fin_ack = segment.ack if flags & _ACK else None
        elif sender.fin_seq is not None and (payload or flags & _FIN):
            end = seq_add(segment.seq, length - (1 if flags & _FIN else 0))
            if seq_gt(end, sender.fin_seq):
                self.note("data_after_fin", sender, frame)
        if flags & _RST:
            if sender.rst_frame is None:
                sender.rst_frame = frame
            return
        if sender.hi is None:
            sender.hi, sender.hi_wrapped = length, seq_add(segment.seq, length)
            sender.unique_bytes += payload
            sender.recent.append(_fingerprint(segment))
            return
        start = sender.hi + seq_diff(segment.seq, sender.hi_wrapped)
        end = start + length
        fingerprint = _fingerprint(segment)
        duplicate = length > 0 and fingerprint in sender.recent
        sender.recent.append(fingerprint)
        if length == 0 or (length == 1 and payload == 1 and start == sender.hi - 1):
            if start == sender.hi - 1 and not flags & (_SYN | _FIN):
                self.note("keep_alive", sender, frame)
            return
        if start == sender.hi:  # in order: nothing below the highest to fill or count again
            sender.unique_bytes += payload
            sender.hi, sender.hi_wrapped = end, seq_add(segment.seq, length)
            return
        pstart = start + (1 if flags & _SYN else 0)
        pend = pstart + payload
        filled = self._fill_holes(sender, start, min(end, sender.hi))
        new_payload = max(0, pend - max(pstart, sender.hi)) + self._overlap_removed(
            filled, pstart, pend)
        sender.unique_bytes += new_payload
        if start > sender.hi:
            self.note("not_captured", sender, frame)
            if len(sender.holes) < _HOLE_LIMIT:
                sender.holes.append((sender.hi, start))
        if start < sender.hi:
            below = min(end, sender.hi) - start
            covered = sum(b - a for a, b in filled)
            if covered == below and end <= sender.hi:
                self.note("out_of_order", sender, frame)
            else:
                self.note("retransmission", sender, frame)
                if duplicate:
                    self.note("duplicate", sender, frame)
        if end > sender.hi:
            sender.hi, sender.hi_wrapped = end, seq_add(segment.seq, length)

    @staticmethod
    def _fill_holes(sender: Side, start: int, end: int) -> List[Tuple[int, int]]:
        """Remove [start, end) from the holes; return the parts that were holes."""
        if start >= end or not sender.holes:
            return []
        filled: List[Tuple[int, int]] = []
        kept: List[Tuple[int, int]] = []
        for a, b in sender.holes:
            lo, hi = max(a, start), min(b, end)
            if lo >= hi:
                kept.append((a, b))
                continue
            filled.append((lo, hi))
            if a < lo:
                kept.append((a, lo))
            if hi < b:
                kept.append((hi, b))
        sender.holes = kept
        return filled

    @staticmethod
    def _overlap_removed(filled: Iterable[Tuple[int, int]], pstart: int, pend: int) -> int:
        return sum(max(0, min(b, pend) - max(a, pstart)) for a, b in filled)

    def _windows(self, segment: Segment, flags: int, payload: int, sender: Side, receiver: Side,
                 frame: int) -> None:
        if segment.window == 0 and not flags & (_SYN | _FIN | _RST):
            self.note("zero_window", sender, frame)
        # Data beyond the window the receiver last offered (scaled when both SYNs agreed).
        if payload and receiver.right_edge is not None and not flags & _SYN:
            end = seq_add(segment.seq, payload)
            if seq_gt(end, receiver.right_edge):
                if payload == 1 and receiver.last_window == 0:
                    self.note("zero_window_probe", sender, frame)
                else:
                    self.note("outside_window", sender, frame, "beyond the advertised window")
        if flags & _ACK and not flags & _RST:
            shift = 0
            if not flags & _SYN:
                if sender.syn is None or receiver.syn is None:
                    return  # scale unknown without both SYNs
                if sender.wscale is not None and receiver.wscale is not None:
                    shift = min(sender.wscale, 14)
            window = segment.window << shift
            edge = seq_add(segment.ack, window)
            if receiver.right_edge is None or sender.right_edge is None \
                    or seq_gt(edge, sender.right_edge):
                sender.right_edge = edge
            sender.last_window = window


class ConnectionTracker:
    """Feed it a capture's TCP records in order; it follows every incarnation of each 4-tuple.

    Connections are *released* as the capture is read, so memory follows the connections
    open at once, not the length of the capture: a connection that has :attr:`finished
    <TrackedConnection.finished>` (a RST, both FINs, or a replica closed) waits in a short
    queue for late segments (a retransmitted FIN or last ACK still belongs to it), then
    is ended as at the end of the capture and appended to :attr:`released`, which the
    caller empties.  It leaves the queue when :data:`LINGER` seconds of capture time have
    passed since its last segment (2 MSL: after a TIME-WAIT, RFC 9293 §3.4.2, a segment on
    the 4-tuple belongs to a new incarnation), or when :data:`LINGER_CONNECTIONS` finished
    connections are waiting behind it.  :meth:`finish` ends the rest.
    ``frames_kept``: the frames listed per anomaly kind and connection (None: every one,
    as the graphs of :mod:`fastseg.analyze.graphs` need).
    """

    def __init__(self, frames_kept: Optional[int] = _FRAMES_KEPT) -> None:
        self.frames_kept = frames_kept
        self.released: List[TrackedConnection] = []
        self.started = 0
        self._current: Dict[Tuple[Endpoint, Endpoint], TrackedConnection] = {}
        self._lingering: Dict[Tuple[Endpoint, Endpoint], TrackedConnection] = {}
        self._names: Dict[bytes, str] = {}

    def _name(self, raw: bytes) -> str:
        name = self._names.get(raw)
        if name is None:
            if len(self._names) >= _NAMES_KEPT:
                self._names.clear()
            name = self._names[raw] = str(ipaddress.ip_address(raw))
        return name

    def add(self, rec: Any) -> None:
        segment: Segment = rec.segment
        names = self._names  # the address texts seen (never empty strings), else made once
        src = (names.get(rec.src) or self._name(rec.src), segment.src_port)
        dst = (names.get(rec.dst) or self._name(rec.dst), segment.dst_port)
        key = (src, dst) if src <= dst else (dst, src)
        conn = self._current.get(key)
        flags = int(segment.flags)
        if conn is not None and flags & _SYN and not flags & _ACK and (
                conn.finished or conn.abandoned_by(src)):
            syn = conn.sides[src].syn
            if syn is None or syn.seq != segment.seq:  # not a retransmission of the old SYN
                self._release(key, conn)
                conn = None
        if conn is None:
            self.started += 1
            conn = TrackedConnection(self.started, src, dst, rec.frame, rec.timestamp,
                                     self.frames_kept)
            self._current[key] = conn
        conn.add(rec, src)
        lingering = self._lingering
        if key in lingering:
            del lingering[key]  # back to the end of the queue
        if conn.finished:
            lingering[key] = conn
        if lingering:
            oldest_key = next(iter(lingering))
            oldest = lingering[oldest_key]
            if len(lingering) > LINGER_CONNECTIONS or oldest.end + LINGER < conn.clock:
                self._release(oldest_key, oldest)

    def _release(self, key: Tuple[Endpoint, Endpoint], conn: TrackedConnection) -> None:
        self.released.append(conn.finish())
        del self._current[key]
        self._lingering.pop(key, None)

    def finish(self) -> List[TrackedConnection]:
        """End of capture: end every connection still held; return those released and not
        yet taken from :attr:`released`, in the order they started."""
        for key, conn in list(self._current.items()):
            self._release(key, conn)
        done = sorted(self.released, key=lambda conn: conn.index)
        self.released = []
        return done


# ---------------------------------------------------------------- the report of one connection


def _options(syn: Optional[Segment]) -> Optional[Dict[str, Any]]:
    if syn is None:
        return None
    return {"mss": syn.mss, "wscale": syn.wscale, "sack_permitted": syn.sack_permitted,
            "timestamps": syn.timestamps is not None}


def _ep(endpoint: Endpoint) -> Dict[str, Any]:
    return {"address": endpoint[0], "port": endpoint[1]}


def summarize(conn: TrackedConnection) -> Dict[str, Any]:
    """The JSON-ready report of one connection (see fastseg.analyze for the schema)."""
    # Roles: the side that sent the first SYN is the client; else the SYN-ACK's
    # sender is the server; else (mid-stream) the side with the lower port.
    eps = list(conn.sides)
    if conn.opener is not None:
        client_ep = conn.opener
    elif conn.passive is not None:
        client_ep = conn.other(conn.passive).endpoint
    else:
        client_ep = max(eps, key=lambda ep: (ep[1], ep))
    client, server = conn.sides[client_ep], conn.other(client_ep)
    if conn.self_connected:
        # One socket: it is the client (it sent the SYN); nothing came from a server,
        # as tshark counts such a conversation in one direction.
        server = Side(client.endpoint)
    role = {server.endpoint: "server", client.endpoint: "client"}
    start = conn.start

    def states(s: Side) -> Optional[List[str]]:
        return None if s.replica is None else [st.value for st in s.replica.history]

    def times(s: Side) -> Optional[List[float]]:
        return None if s.replica is None else [round(t - start, 9) for t in s.state_times]

    handshake = _handshake(conn, client, server)
    options = {"client": _options(client.syn), "server": _options(server.syn)}  # read once
    anomalies = {}
    for kind in ANOMALY_KINDS:
        if kind in conn.anomalies:
            entry = conn.anomalies[kind]
            anomalies[kind] = {
                "count": entry["count"],
                "client": entry["by"].get(client.endpoint, 0),
                "server": 0 if conn.self_connected else entry["by"].get(server.endpoint, 0),
                "frames": list(entry["frames"]),
                "details": list(entry["details"]),
            }
    negotiated = None
    ours, theirs = options["client"], options["server"]
    if ours is not None and theirs is not None:
        negotiated = {
            "mss": {"client": ours["mss"], "server": theirs["mss"]},
            "window_scaling": ours["wscale"] is not None and theirs["wscale"] is not None,
            "sack": ours["sack_permitted"] and theirs["sack_permitted"],
            "timestamps": ours["timestamps"] and theirs["timestamps"],
        }
    return {
        "id": conn.index,
        "client": _ep(client.endpoint),
        "server": _ep(server.endpoint),
        "opened_by": "client" if conn.opener is not None else None,
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "start": conn.start,
        "duration": round(conn.end - conn.start, 9),
        "handshake": handshake,
        "options": options,
        "negotiated": negotiated,
        "segments": {"client": client.segments, "server": server.segments},
        "bytes": {"client": client.payload_bytes, "server": server.payload_bytes},
        "unique_bytes": {"client": client.unique_bytes, "server": server.unique_bytes},
        "end": _ending(conn, client, server, role),
        "states": {"client": states(client), "server": states(server)},
        "state_times": {"client": times(client), "server": times(server)},
        "anomalies": anomalies,
        "rejected": dict(sorted(conn.rejections.items())),
    }


def _handshake(conn: TrackedConnection, client: Side, server: Side) -> str:
    if conn.self_connected:
        return "self-connect"
    if client.syn is None and server.syn is None:
        return "mid-stream"
    if client.syn is None:
        return "syn-not-captured"
    if client.events.get("ConnectionRefused") or (
            server.rst_frame is not None and server.syn is None):
        return "refused"
    if server.syn is None:
        return "unanswered"
    if client.syn_ack is False and server.syn_ack is False:
        return "simultaneous-open"
    if server.events.get("Connected") or (
            server.replica is not None and State.ESTABLISHED in server.replica.history):
        return "complete"
    return "incomplete"


def _ending(conn: TrackedConnection, client: Side, server: Side,
            role: Dict[Endpoint, str]) -> Dict[str, Any]:
    resets = [s for s in (client, server) if s.rst_frame is not None]
    fins = sorted((s for s in (client, server) if s.fin_frame is not None),
                  key=lambda s: s.fin_frame or 0)
    first_fin = role[fins[0].endpoint] if fins else None
    if conn.self_connected and fins:
        return {"kind": "closed", "by": "client", "first_fin": "client",
                "detail": "the socket connected to itself sent FIN, to itself"}
    if client.events.get("ConnectionRefused") or (
            server.rst_frame is not None and server.syn is None and client.syn is not None):
        return {"kind": "refused", "by": "server", "first_fin": None,
                "detail": "the server answered the SYN with a reset"}
    if resets:
        first = min(resets, key=lambda s: s.rst_frame or 0)
        who = role[first.endpoint]
        peer = conn.other(first.endpoint)
        accepted = bool(peer.events.get("ConnectionReset"))
        detail = f"reset by the {who}" + ("" if accepted or peer.replica is None
                                          else " (not accepted by the peer's state machine)")
        return {"kind": "reset", "by": who, "first_fin": first_fin, "detail": detail}
    if len(fins) == 2:
        a, b = fins
        simultaneous = all(s.replica is not None and State.CLOSING in s.replica.history
                           for s in fins)
        if not simultaneous and (a.replica is None or b.replica is None) and a.fin_seq is not None:
            second = b.fin_ack
            simultaneous = second is not None and not seq_gt(second, a.fin_seq)
        if simultaneous:
            return {"kind": "simultaneous-close", "by": None, "first_fin": first_fin,
                    "detail": "both sides sent FIN before receiving the other's"}
        return {"kind": "closed", "by": first_fin, "first_fin": first_fin,
                "detail": f"the {first_fin} closed first"}
    if len(fins) == 1:
        return {"kind": "half-closed", "by": first_fin, "first_fin": first_fin,
                "detail": f"the {first_fin} sent FIN; the other direction is still open"}
    if server.syn is None and client.syn is not None:
        return {"kind": "unanswered", "by": None, "first_fin": None,
                "detail": "no answer to the SYN in the capture"}
    return {"kind": "open", "by": None, "first_fin": None,
            "detail": "still open at the end of the capture"}
