"""A TCP endpoint as a sans-IO state machine (RFC 9293).

The caller owns the sockets and the clock: it feeds decoded segments to
``receive(segment, now)``, calls ``handle_timeout(now)`` at ``next_deadline()``,
sends what ``segments_to_send(now)`` returns and reads ``next_event()``.
Checksums are the caller's job (verify with the codec before ``receive``).
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Optional, Union, overload

from fastseg.conn.buffers import Reassembly
from fastseg.conn.config import Config, Endpoint
from fastseg.conn.events import (
    Closed,
    Connected,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimedOut,
    DataReceived,
    Event,
    PeerFinished,
    SegmentRejected,
    SendBufferAvailable,
)
from fastseg.conn.rtt import RtoEstimator
from fastseg.conn.states import TRANSITIONS, State, StateError
from fastseg.segment import Flags, OptionKind, Segment
from fastseg.seq import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt

__all__ = ["Connection"]

S = State
U32 = 0xFFFFFFFF
#: States in which queued data may still be (re)transmitted.
_SENDING = (S.ESTABLISHED, S.CLOSE_WAIT, S.FIN_WAIT_1, S.CLOSING, S.LAST_ACK)
#: States in which arriving data is delivered (RFC 9293 §3.10.7.4, seventh).
_RECEIVING = (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2)
#: Default send MSS when the peer sends no MSS option (RFC 9293 §3.7.1).
_DEFAULT_MSS = {4: 536, 16: 1220}
_TIMESTAMP_OPTION_LEN = 12  # NOP, NOP, kind 8 length 10


class Connection:
    """One TCP connection endpoint.

    ``local`` and ``remote`` are ``(ip, port)``; a listening endpoint leaves
    ``remote`` None and learns it from the SYN that takes it out of LISTEN.
    ``iss`` fixes the initial send sequence number (tests); otherwise
    ``config.isn`` (RFC 6528) picks it.  What the peer sends never raises;
    the caller's misuse raises :class:`StateError` before anything changes,
    and a ``now`` earlier than one seen before raises ValueError.

    ``replay=True`` makes the connection a replica of an endpoint seen on the
    wire (how :mod:`fastseg.analyze` follows a capture): the caller's
    ``connect``/``send``/``close``/``abort`` calls are what that endpoint was
    seen doing, so ``segments_to_send`` puts out everything queued at once,
    held back by neither the congestion window nor the peer's receive window
    (the real sender already chose; overrunning the peer's window is for the
    caller to report).  States, sequence checks and events are unchanged.
    """

    def __init__(self, local: Endpoint, remote: Optional[Endpoint] = None, *,
                 config: Optional[Config] = None, iss: Optional[int] = None,
                 replay: bool = False) -> None:
        self.config = config or Config()
        self._replay = replay
        self.local = local
        self.remote = remote
        self.history: list[State] = [S.CLOSED]
        self._fixed_iss = iss
        self._events: deque[Event] = deque()
        self._outbox: list[tuple[Segment, Endpoint]] = []
        self._now: Optional[float] = None
        self._reset_tcb()

    def _reset_tcb(self) -> None:
        """Forget everything about a peer (initially, and when SYN-RECEIVED returns to LISTEN)."""
        self._state = self.history[-1]
        self._passive = False
        self._iss = self._irs = 0
        self._snd_una = self._snd_nxt = self._snd_max = 0
        self._snd_wnd = self._max_snd_wnd = 0
        self._syn_data = 0  # bytes of the send buffer that ride in our SYN
        self._snd_wl1 = self._snd_wl2 = 0
        self._rcv_nxt = 0
        self._send_buffer = bytearray()
        self._send_refused = False
        self._fin_queued = self._fin_sent = False
        self._unread = 0
        self._reassembly = Reassembly()
        self._ack_pending = False
        self._unacked_segments = 0
        self._timers: dict[str, float] = {}
        self._rto = RtoEstimator(self.config.rto_initial, self.config.rto_min, self.config.rto_max)
        self._retries = 0
        self._rtt_probe: Optional[tuple[int, float]] = None
        self._snd_shift = self._rcv_shift = 0
        self._peer_mss: Optional[int] = None
        self._ts_ok = False
        self._ts_recent = 0
        self._ts_offset = 0
        self._cwnd = self._ssthresh = 0
        self._dupacks = 0
        self._recover: Optional[int] = None
        self._probe = False
        self._wscale_ok = False
        self._last_ack_sent = 0

    # ------------------------------------------------------------ read-only state

    @property
    def state(self) -> State:
        """The RFC 9293 state."""
        return self._state

    @property
    def snd_una(self) -> int:
        """SND.UNA: the oldest unacknowledged sequence number."""
        return self._snd_una

    @property
    def snd_nxt(self) -> int:
        """SND.NXT: the next sequence number to send."""
        return self._snd_nxt

    @property
    def snd_wnd(self) -> int:
        """SND.WND: the peer's receive window in bytes (scaled)."""
        return self._snd_wnd

    @property
    def rcv_nxt(self) -> int:
        """RCV.NXT: the next sequence number expected from the peer."""
        return self._rcv_nxt

    @property
    def rcv_wnd(self) -> int:
        """RCV.WND: bytes this side will accept beyond RCV.NXT."""
        return max(0, self.config.receive_buffer - self._unread)

    @property
    def snd_max(self) -> int:
        """The highest sequence number sent so far (above SND.NXT after a timeout's rollback)."""
        return self._snd_max

    @property
    def max_snd_wnd(self) -> int:
        """MAX.SND.WND: the largest window the peer has offered (RFC 5961 §5.2)."""
        return self._max_snd_wnd

    @property
    def ts_recent(self) -> Optional[int]:
        """TS.Recent (RFC 7323 §4.3), or None when timestamps are not in use."""
        return self._ts_recent if self._ts_ok else None

    @property
    def replay(self) -> bool:
        """Whether this connection replays an observed endpoint (see the class docs)."""
        return self._replay

    @property
    def send_capacity(self) -> int:
        """Bytes ``send()`` would take now."""
        return max(0, self.config.send_buffer - len(self._send_buffer))

    # ------------------------------------------------------------ user calls

    def listen(self) -> None:
        """Wait for a SYN (passive open).  StateError unless CLOSED."""
        self._require(S.CLOSED, action="listen")
        self._reset_tcb()
        self._passive = True
        self._transition("listen")

    def connect(self, now: float, data: Union[bytes, bytearray, memoryview] = b"") -> None:
        """Send a SYN (active open).  StateError unless CLOSED with a remote set.

        ``data`` rides in the SYN (RFC 9293 §3.10.7.2 has the peer queue it until
        ESTABLISHED); the caller picks a size the path and peer can take.  If the
        SYN-ACK does not acknowledge it, it is sent again right after the handshake.
        ValueError when it exceeds ``config.send_buffer``.
        """
        self._require(S.CLOSED, action="connect")
        if self.remote is None:
            raise StateError("connect needs a remote endpoint")
        if len(data) > self.config.send_buffer:
            raise ValueError(f"{len(data)} bytes do not fit the send buffer")
        self._advance(now)
        self._reset_tcb()
        self._send_buffer += data
        self._syn_data = len(data)
        self._choose_iss(now)
        self._transition("connect")
        self._send_syn(now)

    def send(self, data: Union[bytes, bytearray, memoryview]) -> int:
        """Queue up to ``send_capacity`` bytes; return how many were taken.

        StateError in CLOSED and LISTEN, and after ``close()`` (once a FIN is
        queued no data may follow it).  In SYN-SENT and SYN-RECEIVED the data
        waits for the handshake.
        """
        if self._state in (S.CLOSED, S.LISTEN) or self._fin_queued:
            raise StateError(f"cannot send in {self._state.value}"
                             + (" after close()" if self._fin_queued else ""))
        taken = bytes(data[: self.send_capacity])
        self._send_buffer += taken
        self._send_refused = len(taken) < len(data)
        return len(taken)

    def close(self, now: float) -> None:
        """Close the sending direction: a FIN follows the data already taken.

        In LISTEN and SYN-SENT the connection simply goes to CLOSED.
        StateError in CLOSED and when close() was already called.
        """
        if self._state is S.CLOSED or self._fin_queued:
            raise StateError("close() called twice" if self._fin_queued else "connection is CLOSED")
        if self._state in (S.FIN_WAIT_2, S.CLOSING, S.TIME_WAIT):
            raise StateError(f"close() called twice (in {self._state.value})")
        self._advance(now)
        if self._state in (S.LISTEN, S.SYN_SENT):
            self._transition("close")
            return
        self._fin_queued = True
        self._transition("close")

    def abort(self, now: float) -> None:
        """Drop the connection at once; a synchronized one sends RST (RFC 9293 §3.10.5).

        StateError in CLOSED.
        """
        self._require(*[s for s in State if s is not S.CLOSED], action="abort")
        self._advance(now)
        if self._state in (S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT):
            self._queue(self._segment(Flags.RST, self._snd_nxt, ack=False))
        self._transition("abort")

    # ------------------------------------------------------------ outputs

    def next_event(self) -> Optional[Event]:
        """The oldest event not yet taken, or None.  Taking data opens the receive window."""
        if not self._events:
            return None
        event = self._events.popleft()
        if isinstance(event, DataReceived):
            before = self.rcv_wnd
            self._unread -= len(event.data)
            threshold = min(self.config.mss, self.config.receive_buffer // 2)
            if self._state in _RECEIVING and before < threshold <= self.rcv_wnd:
                self._ack_pending = True  # window update (RFC 9293 §3.8.6.2.2)
        return event

    def next_deadline(self) -> Optional[float]:
        """When ``handle_timeout`` next has work, or None."""
        return min(self._timers.values()) if self._timers else None

    @overload
    def segments_to_send(self, now: float) -> list[Segment]: ...
    @overload
    def segments_to_send(self, now: float, *, addressed: bool) -> list: ...  # type: ignore[type-arg]

    def segments_to_send(self, now: float, *, addressed: bool = False) -> list:  # type: ignore[type-arg]
        """Segments due now, in order.  With ``addressed=True`` each comes as
        ``(segment, (ip, port))`` naming its destination: resets to strangers
        go elsewhere than ``remote``."""
        self._advance(now)
        out = self._outbox
        self._outbox = []
        if self._state in _SENDING:
            out.extend((segment, self._peer) for segment in self._transmit(now))
        if self._ack_pending and self._state.synchronized:
            out.append((self._segment(Flags.ACK, self._snd_nxt), self._peer))
            self._ack_sent()
        return out if addressed else [segment for segment, _ in out]

    # ------------------------------------------------------------ timers

    def handle_timeout(self, now: float) -> None:
        """Run every timer due at ``now``; safe to call when nothing is due."""
        self._advance(now)
        due = sorted((deadline, name) for name, deadline in self._timers.items() if deadline <= now)
        for _, name in due:
            if self._timers.get(name, now + 1) > now:
                continue  # an earlier timer in this batch cancelled it
            del self._timers[name]
            if name == "retransmit":
                self._on_retransmit_timeout(now)
            elif name == "delayed_ack":
                self._ack_pending = True
            elif name == "persist":
                self._probe = True
                self._timers["persist"] = now + self._rto.rto
            elif name == "time_wait":
                self._transition("time_wait_expired")

    def _on_retransmit_timeout(self, now: float) -> None:
        syn_unacked = seq_le(self._snd_una, self._iss)
        self._retries += 1
        if self._retries > (self.config.syn_retries if syn_unacked else self.config.retries):
            self._events.append(ConnectionTimedOut())
            self._transition("timeout")
            return
        self._rto.back_off()
        self._rtt_probe = None  # Karn: no samples from retransmitted data
        if syn_unacked:  # SYN-SENT, SYN-RECEIVED, or FIN-WAIT-1 entered from SYN-RECEIVED
            self._fin_sent = False  # a FIN sent after the SYN goes again once the SYN is through
            self._send_syn(now, ack=self._state is not S.SYN_SENT)
            return
        flight = seq_diff(self._snd_max, self._snd_una)
        self._ssthresh = max(flight // 2, 2 * self._smss)  # RFC 5681 §3.1, eqn. 4
        self._cwnd = self._smss
        self._recover = None
        self._dupacks = 0
        self._go_back()
        self._timers["retransmit"] = now + self._rto.rto

    # ------------------------------------------------------------ segment arrival

    def receive(self, segment: Segment, now: float, *, remote_ip: Optional[str] = None) -> None:
        """Process one arriving segment (RFC 9293 §3.10.7).  Never raises for its contents.

        ``remote_ip`` names the sender's address; a listening connection takes
        it as its remote, and resets to strangers are addressed with it.
        """
        self._advance(now)
        if segment.dst_port != self.local[1] or (
            self.remote is not None and self._state is not S.LISTEN
            and segment.src_port != self.remote[1]
        ):
            self._reject("not addressed to this connection")
            return
        sender = (remote_ip if remote_ip is not None else (self.remote or ("", 0))[0],
                  segment.src_port)
        if self._state is S.CLOSED:
            self._reset_stranger(segment, sender, "connection is CLOSED")
        elif self._state is S.LISTEN:
            self._on_listen(segment, sender, now)
        elif self._state is S.SYN_SENT:
            self._on_syn_sent(segment, now)
        else:
            self._on_synchronized(segment, now)

    def _reset_stranger(self, segment: Segment, sender: Endpoint, reason: str) -> None:
        """RFC 9293 §3.10.7.1: answer anything but a RST with an acceptable RST."""
        if not segment.flags & Flags.RST:
            if segment.flags & Flags.ACK:
                reset = self._bare(Flags.RST, segment.ack, 0, segment.src_port)
            else:
                reset = self._bare(Flags.RST | Flags.ACK, 0, seq_add(segment.seq, segment.seg_len),
                                   segment.src_port)
            self._outbox.append((reset, sender))
        self._reject(reason)

    def _on_listen(self, segment: Segment, sender: Endpoint, now: float) -> None:
        flags = segment.flags
        if flags & Flags.RST:
            self._reject("RST in LISTEN")
        elif flags & Flags.ACK:
            self._reset_stranger(segment, sender, "ACK in LISTEN")
        elif flags & Flags.SYN:
            self.remote = sender
            self._irs = segment.seq
            self._rcv_nxt = seq_add(segment.seq, 1)
            self._negotiate(segment)
            self._snd_wnd = self._max_snd_wnd = segment.window  # never scaled in a SYN
            self._snd_wl1, self._snd_wl2 = segment.seq, 0
            self._queue_syn_text(segment)
            self._choose_iss(now)
            self._transition("rcv_syn")
            self._send_syn(now, ack=True)
        else:
            self._reject("neither SYN, ACK nor RST in LISTEN")

    def _on_syn_sent(self, segment: Segment, now: float) -> None:
        flags, ack = segment.flags, segment.ack
        if flags & Flags.ACK and (seq_le(ack, self._iss) or seq_gt(ack, self._snd_max)):
            if flags & Flags.RST:
                self._reject("RST with an unacceptable ACK in SYN-SENT")
            else:
                self._queue(self._bare(Flags.RST, ack, 0, segment.src_port))
                self._reject("ACK of something never sent (old duplicate?)")
            return
        if flags & Flags.RST:
            if flags & Flags.ACK:
                self._events.append(ConnectionRefused())
                self._transition("rcv_rst")
            else:
                self._reject("RST without ACK in SYN-SENT")
            return
        if not flags & Flags.SYN:
            self._reject("neither SYN nor RST in SYN-SENT")
            return
        self._irs = segment.seq
        self._rcv_nxt = seq_add(segment.seq, 1)
        self._negotiate(segment)
        self._snd_wnd = self._max_snd_wnd = segment.window
        self._snd_wl1, self._snd_wl2 = segment.seq, ack
        if flags & Flags.ACK:  # the ACK was found acceptable above, so it covers our SYN
            self._take_ack(ack, now)
            if self._snd_nxt != ack:
                self._go_back()  # the peer did not take the data in our SYN: send it again
            self._transition("rcv_syn_ack")
            self._ack_pending = True
            self._accept_text(segment, segment.payload, 0, now)
        else:  # simultaneous open: answer with SYN,ACK from the same ISS
            self._queue_syn_text(segment)
            self._transition("rcv_syn")
            self._send_syn(now, ack=True)

    def _queue_syn_text(self, segment: Segment) -> None:
        """RFC 9293 §3.10.7.2: text in a SYN waits at RCV.NXT, delivered (and ACKed) once
        the handshake completes; it is not acknowledged in the SYN,ACK."""
        self._reassembly.add(0, segment.payload[: self.rcv_wnd])

    def _on_synchronized(self, segment: Segment, now: float) -> None:
        flags = segment.flags
        if self._state is S.SYN_RECEIVED and flags & Flags.SYN and not flags & Flags.ACK \
                and segment.seq == self._irs:
            self._send_syn(now, ack=True)  # our SYN,ACK was lost: send it again
            self._reject("retransmitted SYN")
            return
        if self._paws_rejects(segment):
            return
        acceptable, data, offset, fin = self._trim(segment)
        if not acceptable:
            if not flags & Flags.RST:
                self._ack_pending = True
                if self._state is S.TIME_WAIT and flags & Flags.FIN:
                    self._start_time_wait(now)  # a retransmitted FIN: ACK it, restart 2 MSL
            self._reject("sequence number outside the receive window")
            return
        if flags & Flags.RST:
            self._on_reset(segment)
            return
        if flags & Flags.SYN:  # RFC 5961 §4.2: any SYN here gets a challenge ACK
            self._ack_pending = True
            self._reject("SYN in a synchronized state (challenge ACK)")
            return
        if not flags & Flags.ACK:
            self._reject("no ACK bit")
            return
        if not self._on_ack(segment, now):
            return
        self._update_timestamp(segment)
        if len(data) < len(segment.payload):
            self._ack_pending = True  # old or out-of-window bytes (a window probe): ACK at once
        if self._state in _RECEIVING:
            self._accept_text(segment, data, offset, now)
            if fin and self._state in _RECEIVING:
                self._on_fin(segment, now)

    def _paws_rejects(self, segment: Segment) -> bool:
        """RFC 7323: drop a segment without timestamps once they are in use (§3.2, silently)
        or with a TSval older than TS.Recent (§5.3, answered with an ACK)."""
        if not self._ts_ok or segment.flags & Flags.RST:
            return False
        stamps = segment.timestamps
        if stamps is None:
            self._reject("no timestamp option although timestamps are in use")
            return True
        if not seq_lt(stamps[0], self._ts_recent):
            return False
        self._ack_pending = True
        self._reject("PAWS: timestamp older than TS.Recent")
        return True

    def _trim(self, segment: Segment) -> tuple[bool, bytes, int, bool]:
        """The acceptability test of RFC 9293 §3.10.7.4 and the trim to the window.

        Returns (acceptable, data, offset of data past RCV.NXT, FIN in window).
        A zero window accepts a segment at RCV.NXT for its ACK only.
        """
        window = self.rcv_wnd
        seq, length = segment.seq, segment.seg_len
        start = seq_diff(seq, self._rcv_nxt)
        if length == 0:
            acceptable = start == 0 if window == 0 else 0 <= start < window
        elif window == 0:
            acceptable = start == 0
        else:
            end = start + length - 1
            acceptable = 0 <= start < window or 0 <= end < window
        if not acceptable:
            return False, b"", 0, False
        data = segment.payload
        first = start + (1 if segment.flags & Flags.SYN else 0)
        fin_at = first + len(data)  # where a FIN would sit, past RCV.NXT
        if first < 0:
            data = data[-first:]
            first = 0
        fin = bool(segment.flags & Flags.FIN) and fin_at >= 0
        room = window - first
        if len(data) > room:
            data, fin = data[: max(room, 0)], False
        return True, data, first, fin

    def _on_reset(self, segment: Segment) -> None:
        """RFC 5961 §3.2: only an exact match resets; other in-window RSTs get a challenge ACK."""
        if segment.seq != self._rcv_nxt:
            self._ack_pending = True
            self._reject("in-window RST not at RCV.NXT (challenge ACK)")
            return
        if self._state is S.SYN_RECEIVED and self._passive:
            self._transition("rcv_rst_passive")
            self.remote = None
            self._reset_tcb()
            self._passive = True
            return
        if self._state is S.SYN_RECEIVED:
            self._events.append(ConnectionRefused())
        elif self._state in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT):
            self._events.append(ConnectionReset())
        self._transition("rcv_rst")

    def _on_ack(self, segment: Segment, now: float) -> bool:
        """The fifth check; False when processing of the segment ends here."""
        ack = segment.ack
        if self._state is S.SYN_RECEIVED:
            if not (seq_lt(self._snd_una, ack) and seq_le(ack, self._snd_max)):
                self._queue(self._bare(Flags.RST, ack, 0, segment.src_port))
                self._reject("ACK in SYN-RECEIVED does not cover our SYN")
                return False
            self._snd_wnd = segment.window << self._snd_shift
            self._snd_wl1, self._snd_wl2 = segment.seq, ack
            self._take_ack(ack, now)
            self._transition("rcv_ack_of_syn")
        if seq_gt(ack, self._snd_max):
            self._ack_pending = True
            self._reject("ACK of data never sent")
            return False
        if seq_lt(ack, seq_add(self._snd_una, -self._max_snd_wnd)):
            self._ack_pending = True
            self._reject("ACK older than SND.UNA - MAX.SND.WND (challenge ACK)")
            return False
        window = segment.window << self._snd_shift
        if seq_gt(ack, self._snd_una):
            self._take_ack(ack, now)
        elif ack == self._snd_una and not segment.payload and window == self._snd_wnd \
                and not segment.flags & Flags.FIN and self._snd_max != self._snd_una:
            self._on_duplicate_ack()
        if seq_lt(self._snd_wl1, segment.seq) or (
            self._snd_wl1 == segment.seq and seq_le(self._snd_wl2, ack)
        ):
            self._snd_wnd, self._snd_wl1, self._snd_wl2 = window, segment.seq, ack
            self._max_snd_wnd = max(self._max_snd_wnd, window)
            self._arm_persist(now)
        fin_acked = self._fin_sent and self._snd_una == self._snd_max
        if fin_acked and self._state is S.FIN_WAIT_1:
            self._transition("rcv_ack_of_fin")
        elif fin_acked and self._state is S.CLOSING:
            self._transition("rcv_ack_of_fin")
            self._start_time_wait(now)
        elif fin_acked and self._state is S.LAST_ACK:
            self._transition("rcv_ack_of_fin")
            return False
        return True

    def _take_ack(self, ack: int, now: float) -> None:
        """Advance SND.UNA to ``ack``: free acknowledged data, time the round trip, grow cwnd."""
        acked = seq_diff(ack, self._snd_una)
        data_start = self._data_start
        freed = max(0, min(seq_diff(ack, data_start), len(self._send_buffer)))
        del self._send_buffer[:freed]
        self._snd_una = ack
        if seq_lt(self._snd_nxt, ack):
            self._snd_nxt = ack
        if self._rtt_probe is not None and seq_ge(ack, self._rtt_probe[0]):
            self._rto.sample(now - self._rtt_probe[1])
            self._rtt_probe = None
        self._rto.reset_backoff()
        self._retries = 0
        if self._snd_una == self._snd_max:
            self._timers.pop("retransmit", None)
        else:
            self._timers["retransmit"] = now + self._rto.rto
        self._grow_cwnd(acked)
        if self._send_refused and freed:
            self._send_refused = False
            self._events.append(SendBufferAvailable(self.send_capacity))

    def _grow_cwnd(self, acked: int) -> None:
        """RFC 5681 slow start and congestion avoidance; NewReno's exit from recovery (RFC 6582)."""
        if self._recover is not None:
            if seq_ge(self._snd_una, self._recover):
                self._cwnd, self._recover = self._ssthresh, None
            else:  # partial ACK: the next hole is lost too
                self._retransmit_head()
            self._dupacks = 0
            return
        self._dupacks = 0
        if self._cwnd < self._ssthresh:
            self._cwnd += min(acked, self._smss)
        else:
            self._cwnd += max(1, self._smss * self._smss // max(self._cwnd, 1))

    def _on_duplicate_ack(self) -> None:
        """Three duplicate ACKs: fast retransmit and recovery (RFC 5681 §3.2)."""
        self._dupacks += 1
        if self._dupacks == 3 and self._recover is None:
            flight = seq_diff(self._snd_max, self._snd_una)
            self._ssthresh = max(flight // 2, 2 * self._smss)
            self._cwnd = self._ssthresh + 3 * self._smss
            self._recover = self._snd_max
            self._retransmit_head()
        elif self._dupacks > 3:
            self._cwnd += self._smss

    def _accept_text(self, segment: Segment, data: bytes, offset: int, now: float) -> None:
        """The seventh check: deliver in-order data, hold what arrives early, schedule the ACK.

        Text queued from the peer's SYN sits at offset 0 and goes out with the first call."""
        if not data and not self._reassembly.ready:
            return
        self._reassembly.add(offset, data)
        ready = self._reassembly.pop_ready()
        if ready:
            self._rcv_nxt = seq_add(self._rcv_nxt, len(ready))
            self._deliver(ready)
            if self._reassembly.fin_offset == 0:
                self._take_fin(now)
        if offset or len(self._reassembly) or len(ready) > len(data):
            self._ack_pending = True  # out of order, or a gap filled: ACK at once (RFC 5681 §4.2)
        else:
            self._unacked_segments += 1
            if self._unacked_segments >= 2 or self.rcv_wnd < self.config.mss:
                self._ack_pending = True
            else:
                self._timers.setdefault("delayed_ack", now + self.config.delayed_ack)

    def _deliver(self, data: bytes) -> None:
        self._unread += len(data)
        if self._events and isinstance(self._events[-1], DataReceived):
            data = self._events.pop().data + data  # type: ignore[attr-defined]
        self._events.append(DataReceived(data))

    def _on_fin(self, segment: Segment, now: float) -> None:
        """The eighth check: a FIN counts once everything before it has arrived."""
        ahead = seq_diff(seq_add(segment.seq, segment.seg_len - 1), self._rcv_nxt)
        if ahead > 0:
            self._reassembly.fin_offset = ahead
            self._ack_pending = True
        elif ahead == 0:
            self._take_fin(now)

    def _take_fin(self, now: float) -> None:
        self._reassembly.fin_offset = None
        self._rcv_nxt = seq_add(self._rcv_nxt, 1)
        self._ack_pending = True
        self._events.append(PeerFinished())
        state = self._state
        self._transition("rcv_fin")
        if state is S.FIN_WAIT_2:
            self._start_time_wait(now)

    # ------------------------------------------------------------ transmission

    @property
    def _smss(self) -> int:
        """Sender MSS: the peer's MSS (or the RFC 9293 default) less our timestamp option."""
        default = _DEFAULT_MSS[16 if ":" in (self.remote or ("",))[0] else 4]
        mss = min(self._peer_mss or default, self.config.mss)
        return max(1, mss - (_TIMESTAMP_OPTION_LEN if self._ts_ok else 0))

    @property
    def _data_start(self) -> int:
        """Sequence number of the first byte in the send buffer."""
        return seq_add(self._iss, 1) if seq_le(self._snd_una, self._iss) else self._snd_una

    def _transmit(self, now: float) -> list[Segment]:
        """New (or rolled-back) data within the windows, then the FIN when its turn comes."""
        out: list[Segment] = []
        data_end = seq_add(self._data_start, len(self._send_buffer))
        usable = min(self._snd_wnd, self._cwnd)
        while seq_lt(self._snd_nxt, data_end):
            if self._replay:  # the observed sender already chose: no window holds it back
                room = seq_diff(data_end, self._snd_nxt)
            else:
                room = seq_diff(seq_add(self._snd_una, usable), self._snd_nxt)
            if room <= 0 and self._probe and self._snd_wnd == 0:
                room, self._probe = 1, False  # zero-window probe: one byte past the window
            if room <= 0:
                break
            size = min(self._smss, seq_diff(data_end, self._snd_nxt), room)
            start = seq_diff(self._snd_nxt, self._data_start)
            if start < 0:
                raise AssertionError("SND.NXT fell before the data: only the SYN may go there")
            payload = bytes(self._send_buffer[start : start + size])
            flags = Flags.ACK | (Flags.PSH if start + size == len(self._send_buffer) else 0)
            out.append(self._emit(flags, payload, now))
        if self._fin_queued and not self._fin_sent and self._snd_nxt == data_end:
            self._fin_sent = True
            out.append(self._emit(Flags.FIN | Flags.ACK, b"", now))
        self._arm_persist(now)
        return out

    def _emit(self, flags: Flags, payload: bytes, now: float) -> Segment:
        """A segment at SND.NXT; advance SND.NXT by its sequence space and arm the timers."""
        segment = self._segment(flags, self._snd_nxt, payload=payload)
        end = seq_add(self._snd_nxt, segment.seg_len)
        is_new = seq_gt(end, self._snd_max)
        self._snd_nxt = end
        if is_new:
            self._snd_max = end
            if self._rtt_probe is None:
                self._rtt_probe = (end, now)
        self._timers.setdefault("retransmit", now + self._rto.rto)
        self._ack_sent()
        return segment

    def _retransmit_head(self) -> None:
        """Resend the oldest unacknowledged segment now (fast retransmit, partial ACK)."""
        size = min(self._smss, len(self._send_buffer))
        if size:
            flags = Flags.ACK | (Flags.PSH if size == len(self._send_buffer) else 0)
            self._queue(self._segment(flags, self._snd_una, payload=bytes(self._send_buffer[:size])))
        elif self._fin_sent:
            self._queue(self._segment(Flags.FIN | Flags.ACK, self._snd_una))
        self._rtt_probe = None

    def _go_back(self) -> None:
        """After a timeout, send again from SND.UNA (RFC 5681 §3.1; RFC 9293 §3.8.1)."""
        self._snd_nxt = self._snd_una
        self._fin_sent = False  # something is unacknowledged, so the FIN (last of all) is too

    def _arm_persist(self, now: float) -> None:
        """Start probing a zero window when data waits and nothing is in flight (RFC 9293 §3.8.6.1)."""
        waiting = self._snd_nxt != seq_add(self._data_start, len(self._send_buffer))
        if self._snd_wnd == 0 and waiting and self._snd_nxt == self._snd_una:
            self._timers.setdefault("persist", now + self._rto.rto)
        else:
            self._timers.pop("persist", None)
            self._probe = False

    def _send_syn(self, now: float, *, ack: bool = False) -> None:
        """Queue our SYN (or SYN,ACK) from ISS with the options we offer or accept."""
        options: list[tuple[int, object]] = [(OptionKind.MSS, self.config.mss)]
        if self._state is S.SYN_SENT or self._wscale_ok:
            options += [(OptionKind.NOP, None), (OptionKind.WSCALE, self.config.receive_shift)]
        if self.config.timestamps and (self._state is S.SYN_SENT or self._ts_ok):
            options += [(OptionKind.NOP, None), (OptionKind.NOP, None),
                        (OptionKind.TIMESTAMPS, (self._ts_value(now), self._ts_recent))]
        flags = Flags.SYN | (Flags.ACK if ack else 0)
        payload = bytes(self._send_buffer[: self._syn_data])
        self._snd_nxt = seq_add(self._iss, 1 + len(payload))
        if seq_lt(self._snd_max, self._snd_nxt):
            self._snd_max = self._snd_nxt
        self._queue(self._bare(flags, self._iss, self._rcv_nxt if ack else 0, self._peer[1],
                               window=min(self.rcv_wnd, 0xFFFF), options=options,
                               payload=payload))
        if ack:
            self._ack_sent()
        if self._retries == 0:
            self._rtt_probe = (self._snd_max, now)
        self._timers["retransmit"] = now + self._rto.rto

    # ------------------------------------------------------------ building segments

    def _segment(self, flags: Flags, seq: int, *, payload: bytes = b"", ack: bool = True) -> Segment:
        """A segment to the remote with ACK, scaled window and timestamps as negotiated."""
        options: tuple[tuple[int, object], ...] = ()
        if self._ts_ok:
            options = ((OptionKind.NOP, None), (OptionKind.NOP, None),
                       (OptionKind.TIMESTAMPS, (self._ts_value(self._now or 0.0), self._ts_recent)))
        if ack:
            flags |= Flags.ACK
        window = min(self.rcv_wnd >> self._rcv_shift, 0xFFFF)
        return Segment(src_port=self.local[1], dst_port=self._peer[1],
                       seq=seq, ack=self._rcv_nxt if flags & Flags.ACK else 0, flags=flags,
                       window=window if not flags & Flags.RST else 0, options=options,
                       payload=payload)

    def _bare(self, flags: Flags, seq: int, ack: int, port: int, *, window: int = 0,
              options: Iterable[tuple[int, object]] = (), payload: bytes = b"") -> Segment:
        """A segment with exactly the given fields (SYNs and resets)."""
        return Segment(src_port=self.local[1], dst_port=port, seq=seq, ack=ack, flags=flags,
                       window=window, options=tuple(options), payload=payload)

    def _queue(self, segment: Segment) -> None:
        self._outbox.append((segment, self._peer))

    @property
    def _peer(self) -> Endpoint:
        """The remote endpoint, known in every state that sends to it."""
        if self.remote is None:
            raise AssertionError(f"no remote endpoint in {self._state.value}")
        return self.remote

    def _ack_sent(self) -> None:
        self._last_ack_sent = self._rcv_nxt
        self._ack_pending = False
        self._unacked_segments = 0
        self._timers.pop("delayed_ack", None)

    def _ts_value(self, now: float) -> int:
        """Our TSval: a millisecond clock with a per-connection offset (RFC 7323 §5.4)."""
        return (int(now * 1000) + self._ts_offset) & U32

    # ------------------------------------------------------------ helpers

    def _negotiate(self, syn: Segment) -> None:
        """Options of the peer's SYN: MSS, window scale and timestamps (RFC 7323)."""
        self._peer_mss = syn.mss
        peer_shift = syn.wscale
        self._wscale_ok = peer_shift is not None
        if peer_shift is not None:
            self._snd_shift = min(peer_shift, 14)  # RFC 7323 §2.3: larger shifts count as 14
            self._rcv_shift = self.config.receive_shift
        stamps = syn.timestamps
        self._ts_ok = self.config.timestamps and stamps is not None
        if stamps is not None and self._ts_ok:
            self._ts_recent = stamps[0]
        self._cwnd = 10 * self._smss  # RFC 6928 initial window
        self._ssthresh = 1 << 30

    def _update_timestamp(self, segment: Segment) -> None:
        """RFC 7323 §4.3: remember the TSval of a segment covering the last ACK we sent."""
        stamps = segment.timestamps
        if self._ts_ok and stamps is not None and seq_ge(stamps[0], self._ts_recent) \
                and seq_le(segment.seq, self._last_ack_sent):
            self._ts_recent = stamps[0]

    def _choose_iss(self, now: float) -> None:
        remote = self.remote or ("", 0)
        iss = self._fixed_iss if self._fixed_iss is not None else self.config.isn(now, self.local, remote)
        self._iss = iss
        self._snd_una = self._snd_nxt = self._snd_max = iss
        self._ts_offset = (iss * 2654435761) & U32

    def _start_time_wait(self, now: float) -> None:
        """Wait 2 MSL so that a lost last ACK can be repeated and old duplicates die out."""
        self._timers = {"time_wait": now + 2 * self.config.msl}

    def _require(self, *states: State, action: str) -> None:
        if self._state not in states:
            raise StateError(f"cannot {action} in {self._state.value}")

    def _advance(self, now: float) -> None:
        if self._now is not None and now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now

    def _reject(self, reason: str) -> None:
        self._events.append(SegmentRejected(reason))

    def _transition(self, cause: str) -> None:
        """The one place that changes state, as the transition table allows."""
        new = TRANSITIONS.get((self._state, cause))
        if new is None:
            raise AssertionError(f"no transition from {self._state.value} on {cause}")
        self._state = new
        self.history.append(new)
        if new is S.ESTABLISHED:
            self._events.append(Connected())
        elif new is S.CLOSED:
            self._timers.clear()
            self._outbox = [(s, d) for s, d in self._outbox if s.flags & Flags.RST]
            self._ack_pending = False
            self._events.append(Closed())
