"""A TCP endpoint as a sans-IO state machine (RFC 9293).

The caller owns the sockets and the clock: it feeds decoded segments to
``receive(segment, now)``, calls ``handle_timeout(now)`` at ``next_deadline()``,
sends what ``segments_to_send(now)`` returns and reads ``next_event()``.
Checksums are the caller's job (verify with the codec before ``receive``).

:class:`Connection` is this module's user calls and outputs on top of, in
turn, segment arrival (:mod:`~fastseg.conn.arrival`), the state machine
(:mod:`~fastseg.conn.machine`), retransmission
(:mod:`~fastseg.conn.retransmission`), sending (:mod:`~fastseg.conn.sending`)
and the variables (:mod:`~fastseg.conn.tcb`).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Optional, Union, overload

from fastseg.conn.arrival import RECEIVING, Arrival
from fastseg.conn.bits import ACK
from fastseg.conn.config import Config, Endpoint
from fastseg.conn.ecn import CE, ECN_MASK, NOT_ECT
from fastseg.conn.events import DataReceived, Event
from fastseg.conn.states import S, StateError
from fastseg.conn.timers import DELAYED_ACK, FIN_WAIT_2, KEEPALIVE, PERSIST, RETRANSMIT, TIME_WAIT
from fastseg.segment import Segment
from fastseg.seq import seq_add, seq_le

__all__ = ["Connection"]

#: States in which queued data may still be (re)transmitted.
_SENDING = (S.ESTABLISHED, S.CLOSE_WAIT, S.FIN_WAIT_1, S.CLOSING, S.LAST_ACK)


class Connection(Arrival):
    """One TCP connection endpoint.

    ``local`` and ``remote`` are ``(ip, port)``; a listening endpoint leaves
    ``remote`` None and learns it from the SYN that takes it out of LISTEN.
    ``iss`` fixes the initial send sequence number (tests); otherwise
    ``config.isn`` (RFC 6528) picks it.  What the peer sends never raises;
    the caller's misuse raises :class:`StateError` before anything changes,
    and a ``now`` earlier than one seen before raises ValueError.  A user
    call is legal in a state when ``TRANSITIONS`` has an edge for it there.

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
        self._state = S.CLOSED
        self.history = [S.CLOSED]
        self._fixed_iss = iss
        self._passive = False
        self._watch = None
        self._events = deque()
        self._outbox = []
        self._now = -math.inf
        self._reset_tcb()

    # ------------------------------------------------------------ user calls

    def listen(self) -> None:
        """Wait for a SYN (passive open).  StateError unless CLOSED."""
        self._check_call("listen")
        self._passive = True
        self._transition("listen")

    def connect(self, now: float, data: Union[bytes, bytearray, memoryview] = b"") -> None:
        """Send a SYN (active open).  StateError unless CLOSED, and when ``remote`` is None.

        ``data`` rides in the SYN (RFC 9293 §3.10.7.2 has the peer queue it until
        ESTABLISHED); the caller picks a size the path and peer can take.  If the
        SYN-ACK does not acknowledge it, it is sent again right after the handshake.
        ValueError when it exceeds ``config.send_buffer``.
        """
        self._check_call("connect")
        if self.remote is None:
            raise StateError("connect needs a remote endpoint")
        if len(data) > self.config.send_buffer:
            raise ValueError(f"{len(data)} bytes do not fit the send buffer")
        self._advance(now)
        self._passive = False
        self._transition("connect")
        self._send_buffer += data
        self._syn_data = len(data)
        self._choose_iss(now)
        self._send_syn(now)

    def send(self, data: Union[bytes, bytearray, memoryview], *, urgent: bool = False) -> int:
        """Queue up to ``send_capacity`` bytes; return how many were taken.

        With ``urgent``, the bytes taken are urgent data: segments carry URG and an
        urgent pointer to the octet after them until the peer acknowledges them (RFC 9293
        §3.8.5; the pointer as RFC 6093 defines it, at most 65,535 ahead of a segment).

        StateError in CLOSED, LISTEN, and every state after ``close()``
        (FIN-WAIT-1, FIN-WAIT-2, CLOSING, LAST-ACK, TIME-WAIT): once a FIN is
        queued no data may follow it.  In SYN-SENT and SYN-RECEIVED the data
        waits for the handshake.
        """
        self._check_call("send")
        taken = data[: self.send_capacity]  # a memoryview stays a view: one copy, into the buffer
        self._send_buffer += taken
        self._send_refused = len(taken) < len(data)
        if urgent and taken:
            self._snd_up = seq_add(self._data_start, len(self._send_buffer))
        self._transition("send")
        if self._watch is not None:
            self._watch(self)
        return len(taken)

    def close(self, now: float) -> None:
        """Close the sending direction: a FIN follows the data already taken (RFC 9293 §3.10.4).

        In LISTEN and SYN-SENT the connection simply goes to CLOSED.  StateError
        in CLOSED and once close() was called (FIN-WAIT-1, FIN-WAIT-2, CLOSING,
        LAST-ACK, TIME-WAIT).
        """
        self._check_call("close")
        self._advance(now)
        self._transition("close")

    def abort(self, now: float) -> None:
        """Drop the connection at once; a synchronized one sends RST (RFC 9293 §3.10.5).

        StateError in CLOSED.
        """
        self._check_call("abort")
        self._advance(now)
        self._transition("abort")

    # ------------------------------------------------------------ segment arrival

    def receive(self, segment: Segment, now: float, *, remote_ip: Optional[str] = None,
                ecn: int = NOT_ECT) -> None:
        """Process one arriving segment (RFC 9293 §3.10.7).  Never raises for its contents,
        and never StateError: every state takes segments.

        ``remote_ip`` names the sender's address; a listening connection takes
        it as its remote, and resets to strangers are addressed with it.
        ``ecn`` is the ECN codepoint of the IP header that carried the segment
        (:mod:`fastseg.conn.ecn`; ValueError if it is none): CE on data asks for
        ECE on our ACKs once ECN is agreed (RFC 3168 §6.1.3).
        """
        if ecn != NOT_ECT and ecn & ~ECN_MASK:
            raise ValueError(f"not an ECN codepoint: {ecn!r}")
        if self.header_prediction and self._state is S.ESTABLISHED and ecn != CE \
                and self._predicted(segment, now):
            return
        self._advance(now)
        if segment.dst_port != self.local[1] or (
            self.remote is not None and self._state is not S.LISTEN
            and segment.src_port != self.remote[1]
        ):
            self._reject("not addressed to this connection")
            return
        state = self._state
        if state is S.CLOSED or state is S.LISTEN:
            sender = (remote_ip if remote_ip is not None else (self.remote or ("", 0))[0],
                      segment.src_port)
            if state is S.CLOSED:
                self._reset_stranger(segment, sender, "connection is CLOSED")
            else:
                self._on_listen(segment, sender, now)
        elif state is S.SYN_SENT:
            self._on_syn_sent(segment, now)
        else:
            self._on_synchronized(segment, now, ecn == CE)
        self._keepalive_restart(now)
        if self._state is S.FIN_WAIT_2:  # entered, or the peer is still there: (re)start
            self._fin_wait_2_restart(now)

    # ------------------------------------------------------------ outputs

    def next_event(self) -> Optional[Event]:
        """The oldest event not yet taken, or None.  Taking data opens the receive window.

        Never raises StateError."""
        if not self._events:
            return None
        event = self._events.popleft()
        if not isinstance(event, list):
            return event
        # pieces of data delivered in a row (see Arrival._deliver)
        data = DataReceived(event[0] if len(event) == 1 else b"".join(event))
        self._taken(len(data.data))
        return data

    def _taken(self, size: int) -> None:
        """The caller took ``size`` bytes.  Receiver silly-window avoidance (RFC 9293
        §3.8.6.2.2, MUST-39): the right edge RCV.NXT + RCV.WND stays put until the window
        can grow by min(RCV.BUFF / 2, Eff.snd.MSS); then RCV.WND = RCV.BUFF - RCV.USER.
        A window that opens past that size from below it is announced at once, not with
        the next ACK (the sender may be waiting for it)."""
        before = self.rcv_wnd
        self._unread -= size
        threshold = min(self.config.receive_buffer // 2, self._smss)
        self._rcv_reserve += size
        if self._rcv_reserve >= threshold:
            self._rcv_reserve = 0
        if self._state in RECEIVING and before < threshold <= self.rcv_wnd:
            self._ack_pending = True  # window update
            if self._watch is not None:
                self._watch(self)

    def next_deadline(self) -> Optional[float]:
        """When ``handle_timeout`` next has work, or None.  Never raises StateError."""
        return min(self._timers.values()) if self._timers else None

    @overload
    def segments_to_send(self, now: float) -> list[Segment]: ...
    @overload
    def segments_to_send(self, now: float, *, addressed: bool) -> list: ...  # type: ignore[type-arg]

    def segments_to_send(self, now: float, *, addressed: bool = False) -> list:  # type: ignore[type-arg]
        """Segments due now, in order.  With ``addressed=True`` each comes as
        ``(segment, (ip, port))`` naming its destination: resets to strangers
        go elsewhere than ``remote``.  Never raises StateError."""
        self._advance(now)
        queued = self._outbox  # resets and answers, addressed as they go
        self._outbox = []
        out = self._transmit(now) if self._state in _SENDING else []  # to the remote
        if self._ack_pending and self._state.synchronized:
            out.append(self._segment(ACK, self._pure_ack_seq()))
            self._ack_sent()
        if addressed:
            peer = self._peer if out else None
            return queued + [(segment, peer) for segment in out]
        return [segment for segment, _ in queued] + out if queued else out

    def _pure_ack_seq(self) -> int:
        """SEG.SEQ of a pure ACK: SND.MAX, but never past the peer's window (SND.UNA + SND.WND).

        Not SND.NXT: after a timeout rolls SND.NXT back, the peer may hold everything up to
        SND.MAX and would drop an ACK from the past as unacceptable, answering with an ACK
        of its own: two sides rolled back at once would trade unacceptable ACKs forever
        (4.4BSD's tcp_output does the same).  Not past the window: with a zero-window
        probe's byte outstanding, only SEG.SEQ = RCV.NXT is acceptable (RFC 9293
        §3.10.7.4), and the peer would drop the ACK, acknowledgment and all (Linux's
        tcp_acceptable_seq makes the same choice).
        """
        edge = seq_add(self._snd_una, self._snd_wnd)
        return self._snd_max if seq_le(self._snd_max, edge) else edge

    # ------------------------------------------------------------ timers

    def handle_timeout(self, now: float) -> None:
        """Run every timer due at ``now``; safe to call when nothing is due, in any state
        (never StateError)."""
        self._advance(now)
        due = sorted((deadline, timer) for timer, deadline in self._timers.items() if deadline <= now)
        for _, timer in due:
            if self._timers.get(timer, now + 1) > now:
                continue  # an earlier timer in this batch cancelled it
            del self._timers[timer]
            if timer is RETRANSMIT:
                if self._count_retry():
                    self._retransmit(now)
                else:
                    self._transition("timeout")
            elif timer is DELAYED_ACK:
                self._ack_pending = True
            elif timer is PERSIST:
                self._persist_fired(now)
            elif timer is KEEPALIVE:
                if not self._keepalive_fired(now):
                    self._transition("timeout")
            elif timer is TIME_WAIT:
                self._transition("time_wait_expired")
            elif timer is FIN_WAIT_2:
                self._transition("timeout")
