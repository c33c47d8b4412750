"""Segment arrival, RFC 9293 §3.10.7: one method per state before synchronization, one per check after.

CLOSED is §3.10.7.1 (``_reset_stranger``), LISTEN §3.10.7.2 (``_on_listen``),
SYN-SENT §3.10.7.3 (``_on_syn_sent``).  In the synchronized states
``_on_synchronized`` runs the eight checks of §3.10.7.4 in order:
``_check_sequence``, ``_check_rst``, ``_check_security``, ``_check_syn``,
``_check_ack``, ``_check_urg``, ``_check_text``, ``_check_fin``.  A segment
the peer sends never raises; each drop records its reason.
"""

from __future__ import annotations

from typing import Optional

from fastseg.conn.bits import ACK, ACK_PSH, CWR, ECE, FIN, RST, SYN, URG
from fastseg.conn.config import Endpoint
from fastseg.conn.events import PeerFinished, Urgent
from fastseg.conn.machine import StateMachine
from fastseg.conn.states import S
from fastseg.conn.tcb import U32
from fastseg.conn.timers import DELAYED_ACK
from fastseg.segment import OptionKind, Segment
from fastseg.seq import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt

__all__ = ["RECEIVING", "Arrival"]

#: States in which arriving data is delivered (RFC 9293 §3.10.7.4, seventh check).
RECEIVING = (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2)
#: Idle seconds after which TS.Recent no longer rejects older timestamps (RFC 7323 §5.5).
PAWS_IDLE_LIMIT = 24 * 24 * 60 * 60
NOP, TIMESTAMPS = int(OptionKind.NOP), int(OptionKind.TIMESTAMPS)
#: ``(a - b) & U32 > SEQ_HALF`` is ``seq_lt(a, b)`` without a call (RFC 9293 §3.4, the sign
#: of the 32-bit difference, as ``fastseg.seq`` decides it).
SEQ_HALF = (1 << 31) - 1
#: The TCP flags of an ECN-setup SYN (RFC 3168 §6.1.1).
ECN_SETUP = ECE | CWR
#: What the first check lets through: (data inside the window, its offset past RCV.NXT,
#: whether the FIN is inside the window too).
Accepted = tuple[bytes, int, bool]


def _timestamps(segment: Segment) -> Optional[tuple[int, int]]:
    """``segment.timestamps`` (TSval, TSecr), read first where RFC 7323 appendix A puts the
    option (after two NOPs, alone: what this side and most stacks send), for a fraction of
    the property's cost; any other layout goes to the property."""
    options = segment.options
    if len(options) == 3:
        kind, value = options[2]
        if kind == TIMESTAMPS and type(value) is tuple and options[0][0] == NOP \
                and options[1][0] == NOP:
            return value
    return segment.timestamps


class Arrival(StateMachine):
    """What an arriving segment does, state by state and check by check."""

    # ------------------------------------------------------------ before synchronization

    def _reset_stranger(self, segment: Segment, sender: Endpoint, reason: str) -> None:
        """RFC 9293 §3.10.7.1 (CLOSED): answer anything but a RST with an acceptable RST."""
        if not int(segment.flags) & RST:
            if int(segment.flags) & ACK:
                reset = self._bare(RST, segment.ack, 0, segment.src_port)
            else:
                reset = self._bare(RST | ACK, 0, seq_add(segment.seq, segment.seg_len),
                                   segment.src_port)
            self._outbox.append((reset, sender))
        self._reject(reason)

    def _on_listen(self, segment: Segment, sender: Endpoint, now: float) -> None:
        """RFC 9293 §3.10.7.2 (LISTEN): ignore a RST, reset an ACK, answer a SYN with SYN,ACK."""
        flags = int(segment.flags)
        if flags & RST:
            self._reject("RST in LISTEN")
        elif flags & ACK:
            self._reset_stranger(segment, sender, "ACK in LISTEN")
        elif flags & SYN:
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
        """RFC 9293 §3.10.7.3 (SYN-SENT): check the ACK, then the RST, then take the SYN."""
        flags, ack = int(segment.flags), segment.ack
        if flags & ACK and (seq_le(ack, self._iss) or seq_gt(ack, self._snd_max)):
            if flags & RST:
                self._reject("RST with an unacceptable ACK in SYN-SENT")
            else:
                self._queue(self._bare(RST, ack, 0, segment.src_port))
                self._reject("ACK of something never sent (old duplicate?)")
            return
        if flags & RST:
            if flags & ACK:
                self._transition("rcv_rst")
            else:
                self._reject("RST without ACK in SYN-SENT")
            return
        if not flags & SYN:
            self._reject("neither SYN nor RST in SYN-SENT")
            return
        self._irs = segment.seq
        self._rcv_nxt = seq_add(segment.seq, 1)
        self._negotiate(segment)
        self._snd_wnd = self._max_snd_wnd = segment.window
        self._snd_wl1, self._snd_wl2 = segment.seq, ack
        if flags & ACK:  # the ACK was found acceptable above, so it covers our SYN
            self._take_ack(ack, now)
            if self._snd_nxt != ack:
                self._go_back()  # the peer did not take the data in our SYN: send it again
            self._transition("rcv_syn_ack")
            self._ack_pending = True
            self._check_text(segment, segment.payload, 0, now)
        else:  # simultaneous open: answer with SYN,ACK from the same ISS
            self._queue_syn_text(segment)
            self._transition("rcv_syn")
            self._send_syn(now, ack=True)

    def _negotiate(self, syn: Segment) -> None:
        """Options of the peer's SYN: MSS, window scale, timestamps (RFC 7323), SACK (RFC 2018),
        and ECN (RFC 3168 §6.1.1): agreed on an ECN-setup SYN (ECE and CWR) when ``Config.ecn``
        accepts it, or on an ECN-setup SYN,ACK (ECE, not CWR) answering our ECN-setup SYN."""
        self._peer_mss = syn.mss
        setup = int(syn.flags) & (ACK | ECN_SETUP)
        mode = self.config.ecn
        if setup & ACK:
            self._ecn_ok = mode == "request" and setup == ACK | ECE
        else:  # a SYN: in LISTEN, or ours crossed it (simultaneous open)
            self._ecn_ok = setup == ECN_SETUP and (
                mode == "request" or (mode == "accept" and self._state is S.LISTEN))
        peer_shift = syn.wscale
        self._wscale_ok = peer_shift is not None
        if peer_shift is not None:
            self._snd_shift = min(peer_shift, 14)  # RFC 7323 §2.3: larger shifts count as 14
            self._rcv_shift = self.config.receive_shift
        self._sack_ok = self.config.sack and syn.sack_permitted
        stamps = syn.timestamps
        self._ts_ok = self.config.timestamps and stamps is not None
        if stamps is not None and self._ts_ok:
            self._ts_recent = stamps[0]
            self._ts_recent_time = self._now
        self._cwnd = 10 * self._smss  # RFC 6928 initial window
        self._ssthresh = 1 << 30

    def _queue_syn_text(self, segment: Segment) -> None:
        """RFC 9293 §3.10.7.2: text in a SYN waits at RCV.NXT, delivered (and ACKed) once
        the handshake completes; it is not acknowledged in the SYN,ACK."""
        self._reassembly.add(0, segment.payload[: self.rcv_wnd])

    # ------------------------------------------------------------ synchronized states

    def _on_synchronized(self, segment: Segment, now: float, ce: bool = False) -> None:
        """RFC 9293 §3.10.7.4: the checks in order; each may end the segment's processing.
        ``ce``: the IP header carried Congestion Experienced."""
        flags = int(segment.flags)
        accepted = self._check_sequence(segment, flags, now)
        if accepted is None:
            return
        if flags & RST:
            self._check_rst(segment)
            return
        self._check_security(segment)
        if flags & SYN:
            self._check_syn()
            return
        if not self._check_ack(segment, flags, now):
            return
        if self._ecn_ok:
            self._check_ecn(segment, flags, ce)
        self._update_timestamp(segment)
        self._check_urg(segment, flags)
        data, offset, fin = accepted
        self._check_text(segment, data, offset, now)
        if fin:
            self._check_fin(segment)

    def _predicted(self, segment: Segment, now: float) -> bool:
        """Header prediction: the common segment of a data transfer in ESTABLISHED, taken
        with a few tests instead of ``receive``'s steps and the eight checks, to the same
        effect.

        The segment is addressed to this connection, carries ACK (PSH aside) and no other
        control bit, starts at RCV.NXT, fits the receive window with nothing held for
        reassembly, passes PAWS (RFC 7323 §5.3) and acknowledges something in
        [SND.UNA, SND.MAX]: every check of §3.10.7.4 then passes, trims nothing, and
        comes down to the ACK's processing, the timestamp, and delivering the text.  (The
        model is Jacobson's fast path, RFC 1323 appendix A.)  The tests are on ints, in
        32-bit wrap-around without calls.  Any other segment returns False having changed
        nothing, for ``receive`` to take it step by step.
        """
        seq, ack, flags, remote = segment.seq, segment.ack, segment.flags, self.remote
        una = self._snd_una
        if (flags != ACK and flags != ACK_PSH) or seq != self._rcv_nxt or now < self._now \
                or remote is None or segment.src_port != remote[1] \
                or segment.dst_port != self.local[1] \
                or (ack - una) & U32 > (self._snd_max - una) & U32:  # SND.UNA <= ack <= SND.MAX
            return False
        data = segment.payload
        if len(data) > self.config.receive_buffer - self._unread - self._rcv_reserve \
                or not self._reassembly.empty:
            return False
        stamps = None
        if self._ts_ok:
            stamps = _timestamps(segment)
            if stamps is None or (stamps[0] - self._ts_recent) & U32 > SEQ_HALF:  # PAWS
                return False
        if self._sack_ok and len(segment.options) > (3 if self._ts_ok else 0):
            return False  # SACK blocks, maybe: the scoreboard is the fifth check's
        self._now = now  # as _advance does, the host's watch told too
        if self._watch is not None:
            self._watch(self)
        window = segment.window << self._snd_shift
        if ack != una:
            self._take_ack(ack, now)
        elif not data and window == self._snd_wnd and self._snd_max != una:
            self._on_duplicate_ack()
        self._update_send_window(seq, ack, window, now)
        if stamps is not None and seq_le(seq, self._last_ack_sent):
            self._ts_recent = stamps[0]  # RFC 7323 §4.3 (not older: PAWS passed)
            self._ts_recent_time = now
        if data:
            self._rcv_nxt = (seq + len(data)) & U32
            self._deliver(data)
            self._count_for_ack(now)
        self._keepalive_restart(now)
        return True

    def _check_sequence(self, segment: Segment, flags: int, now: float) -> Optional[Accepted]:
        """First check (§3.10.7.4): PAWS (RFC 7323 §5.3), then the acceptability test and the
        trim to the window; a zero window accepts a segment at RCV.NXT for its ACK only.

        An unacceptable segment is answered with an ACK unless it is a RST; in TIME-WAIT
        one that is not a SYN also restarts 2 MSL (as Linux does; the fifth check does so
        for an acceptable one).  None when processing ends here."""
        if self._state is S.SYN_RECEIVED and flags & SYN and not flags & ACK \
                and segment.seq == self._irs:
            self._send_syn(now, ack=True)  # our SYN,ACK was lost: its answer is the SYN,ACK again
            self._reject("retransmitted SYN")
            return None
        if self._paws_rejects(segment, flags):
            return None
        window = self.rcv_wnd
        length = segment.seg_len
        start = seq_diff(segment.seq, self._rcv_nxt)
        if length == 0:
            acceptable = start == 0 if window == 0 else 0 <= start < window
        elif window == 0:
            acceptable = start == 0
        else:
            end = start + length - 1
            acceptable = 0 <= start < window or 0 <= end < window
        data = segment.payload
        first = start + (1 if flags & SYN else 0)
        if not acceptable:
            if not flags & RST:
                self._ack_pending = True
                if self._state is S.TIME_WAIT and not flags & SYN:
                    self._transition("rcv_fin")  # as the fifth check does (below)
                if data and first + len(data) <= 0:
                    self._duplicate(first, len(data))
            self._reject("sequence number outside the receive window")
            return None
        fin_at = first + len(data)  # where a FIN would sit, past RCV.NXT
        if first < 0:
            if data:
                self._duplicate(first, min(-first, len(data)))
            data = data[-first:]
            first = 0
        fin = bool(flags & FIN) and fin_at >= 0
        room = window - first
        if len(data) > room:
            data, fin = data[: max(room, 0)], False
        return data, first, fin

    def _duplicate(self, start: int, length: int) -> None:
        """Data received before: ``length`` bytes from ``start`` bytes past RCV.NXT (below it,
        or held above a gap), for the first SACK block of the next ACK, if SACK was agreed
        (RFC 2883 §4, D-SACK; the block holding it follows)."""
        begin = seq_add(self._rcv_nxt, start)
        self._dsack = (begin, seq_add(begin, length))

    def _paws_rejects(self, segment: Segment, flags: int) -> bool:
        """RFC 7323: drop a segment without timestamps once they are in use (§3.2, silently)
        or with a TSval older than TS.Recent (§5.3, answered with an ACK) unless TS.Recent
        has not changed for 24 days (§5.5)."""
        if not self._ts_ok or flags & RST:
            return False
        stamps = segment.timestamps
        if stamps is None:
            self._reject("no timestamp option although timestamps are in use")
            return True
        if not seq_lt(stamps[0], self._ts_recent):
            return False
        if self._now - self._ts_recent_time > PAWS_IDLE_LIMIT:
            # RFC 7323 §5.5: after 24 days idle TS.Recent is stale (the peer's clock may have
            # wrapped): the segment is taken and its TSval becomes TS.Recent
            self._ts_recent, self._ts_recent_time = stamps[0], self._now
            return False
        self._ack_pending = True
        self._reject("PAWS: timestamp older than TS.Recent")
        return True

    def _check_rst(self, segment: Segment) -> None:
        """Second check (§3.10.7.4), with RFC 5961 §3.2: only a RST exactly at RCV.NXT resets;
        one elsewhere in the window gets a challenge ACK.  A passive open goes back to LISTEN."""
        if segment.seq != self._rcv_nxt:
            self._challenge("in-window RST not at RCV.NXT (challenge ACK)")
        elif self._state is S.SYN_RECEIVED and self._passive:
            self._transition("rcv_rst_passive")
        else:
            self._transition("rcv_rst")

    def _challenge(self, reason: str) -> None:
        """Drop the segment for ``reason`` and answer with a challenge ACK (RFC 5961 §3-5),
        at most ``Config.challenge_ack_limit`` of them a second (§7), so that a flood of
        forged segments does not become a flood of ACKs."""
        start, sent = self._challenges
        if self._now - start >= 1.0:
            start, sent = self._now, 0
        if sent < self.config.challenge_ack_limit:
            self._ack_pending = True
            self._counts.challenge_acks += 1
            sent += 1
        self._challenges = (start, sent)
        self._reject(reason)

    def _check_security(self, segment: Segment) -> None:
        """Third check (§3.10.7.4): a security/compartment that differs from the connection's
        is answered with a reset.  A segment handed to ``receive`` carries none (the IP
        option that would is deprecated), so every segment passes."""

    def _check_syn(self) -> None:
        """Fourth check (§3.10.7.4), with RFC 5961 §4.2: a SYN in a synchronized state, in
        the window or not, gets a challenge ACK and is dropped."""
        self._challenge("SYN in a synchronized state (challenge ACK)")

    def _check_ack(self, segment: Segment, flags: int, now: float) -> bool:
        """Fifth check (§3.10.7.4): drop a segment without ACK; in SYN-RECEIVED the ACK must
        cover our SYN; ACKs of unsent data (and, RFC 5961 §5.2, ones older than
        SND.UNA - MAX.SND.WND) are answered with an ACK and dropped; a new ACK advances
        SND.UNA, the send window follows SND.WL1/SND.WL2, and an acknowledged FIN moves
        FIN-WAIT-1, CLOSING and LAST-ACK on; in TIME-WAIT any segment is acknowledged and 2 MSL
        restarts.  False when processing ends here."""
        if not flags & ACK:
            self._reject("no ACK bit")
            return False
        ack = segment.ack
        if self._state is S.SYN_RECEIVED:
            if not (seq_lt(self._snd_una, ack) and seq_le(ack, self._snd_max)):
                self._queue(self._bare(RST, ack, 0, segment.src_port))
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
            self._challenge("ACK older than SND.UNA - MAX.SND.WND (challenge ACK)")
            return False
        window = segment.window << self._snd_shift
        sacked = self._take_sack(segment) if self._sack_ok and segment.options else None
        if seq_gt(ack, self._snd_una):
            self._take_ack(ack, now)
        elif ack == self._snd_una and not segment.payload and window == self._snd_wnd \
                and not flags & FIN and self._snd_max != self._snd_una and sacked is None:
            self._on_duplicate_ack()  # RFC 5681's duplicate: only when no SACK blocks came
        if sacked:
            self._sack_duplicate()
        self._update_send_window(segment.seq, ack, window, now)
        # not _fin_sent: a timeout's go-back clears it, and the ACK of the FIN may still come
        fin_acked = self._fin_seq is not None and self._snd_una == seq_add(self._fin_seq, 1)
        if fin_acked and self._state in (S.FIN_WAIT_1, S.CLOSING):
            self._transition("rcv_ack_of_fin")
        elif fin_acked and self._state is S.LAST_ACK:
            self._transition("rcv_ack_of_fin")
            return False  # the passive closer is done: the connection is gone
        elif self._state is S.TIME_WAIT:
            # "The only thing that can arrive in this state is a retransmission of the remote
            # FIN.  Acknowledge it, and restart the 2 MSL timeout": whatever it carries, but
            # a bare ACK at RCV.NXT (as Linux): two ends in TIME-WAIT would trade ACKs for ever.
            if segment.seg_len or segment.seq != self._rcv_nxt:
                self._ack_pending = True
            self._transition("rcv_fin")
            return False
        return True

    def _check_ecn(self, segment: Segment, flags: int, ce: bool) -> None:
        """RFC 3168 §6.1.2-3, for an acceptable segment once ECN is agreed: a CWR ends the
        ECE echo, a data segment marked CE starts it (again, after a CWR in the same
        segment) and is acknowledged at once, and an ECE reduces the congestion window."""
        if flags & CWR:
            self._ece_echo = False
        if ce and segment.payload:
            self._ece_echo = self._ack_pending = True
        if flags & ECE:
            self._on_ece()

    def _update_send_window(self, seq: int, ack: int, window: int, now: float) -> None:
        """Fifth check (§3.10.7.4): take the peer's window from a segment newer than the one
        it last came from (SND.WL1, SND.WL2), and keep MAX.SND.WND (RFC 5961 §5.2)."""
        if seq_lt(self._snd_wl1, seq) or (self._snd_wl1 == seq and seq_le(self._snd_wl2, ack)):
            self._snd_wnd, self._snd_wl1, self._snd_wl2 = window, seq, ack
            if window > self._max_snd_wnd:  # max() is a call, and every data segment gets here
                self._max_snd_wnd = window
            self._arm_persist(now)

    def _update_timestamp(self, segment: Segment) -> None:
        """RFC 7323 §4.3: remember the TSval of a segment covering the last ACK we sent."""
        stamps = segment.timestamps
        if self._ts_ok and stamps is not None and seq_ge(stamps[0], self._ts_recent) \
                and seq_le(segment.seq, self._last_ack_sent):
            self._ts_recent = stamps[0]
            self._ts_recent_time = self._now

    def _check_urg(self, segment: Segment, flags: int) -> None:
        """Sixth check (§3.10.7.4): with URG, RCV.UP <- max(RCV.UP, SEG.SEQ + SEG.UP), and the
        caller is told (``Urgent``) when it first arrives or moves ahead (MUST-32).  The
        pointer names the octet after the urgent data (RFC 6093 §4); one at data already
        delivered (a zero pointer at RCV.NXT among them) or past the receive window points
        at nothing new and is ignored.
        The urgent data itself is delivered inline, as RFC 6093 §6 advises."""
        if not flags & URG or self._state not in RECEIVING:
            return
        point = seq_add(segment.seq, segment.urgent)
        if not seq_gt(point, self._rcv_nxt) or seq_gt(point, seq_add(self._rcv_nxt, self.rcv_wnd)):
            return
        if self._rcv_up is not None and not seq_gt(point, self._rcv_up):
            return
        self._rcv_up = point
        self._events.append(Urgent(seq_diff(point, seq_add(self._irs, 1))))

    def _check_text(self, segment: Segment, data: bytes, offset: int, now: float) -> None:
        """Seventh check (§3.10.7.4): in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 deliver
        in-order data, hold what arrives early (text from the peer's SYN waits at offset
        0), and schedule the ACK (RFC 5681 §4.2); bytes already received or past the
        window (a probe) are ACKed at once.  Other states have the peer's FIN: no text."""
        if len(data) < len(segment.payload):
            self._ack_pending = True
        held = self._reassembly
        if self._state not in RECEIVING or (not data and not held.ready):
            return
        if offset == 0 and held.empty:
            ready = data  # in order with nothing held: what add() and pop_ready() would give
        else:
            if offset and data and self._sack_ok and held.holds(offset, len(data)):
                self._duplicate(offset, len(data))  # RFC 2883 §4: held above a gap already
            held.add(offset, data)
            ready = held.pop_ready()
        if ready:
            self._rcv_nxt = seq_add(self._rcv_nxt, len(ready))
            self._deliver(ready)
            if held.fin_offset == 0:
                self._take_fin()
        if offset or len(held) or len(ready) > len(data):
            self._ack_pending = True  # out of order, or a gap filled: ACK at once
        else:
            self._count_for_ack(now)

    def _count_for_ack(self, now: float) -> None:
        """In-order data arrived: ACK every second segment, or when the window has shrunk
        below an MSS, else within the delayed-ACK time (RFC 5681 §4.2, RFC 1122 §4.2.3.2)."""
        self._unacked_segments += 1
        if self._unacked_segments >= 2 or self.rcv_wnd < self.config.mss:
            self._ack_pending = True
        elif DELAYED_ACK not in self._timers:  # a running one keeps its deadline
            self._timers[DELAYED_ACK] = now + self.config.delayed_ack

    def _deliver(self, data: bytes) -> None:
        """Hand in-order bytes to the caller.  Arrivals in a row become one DataReceived:
        they wait as a list of pieces, joined once when the caller takes the event."""
        self._unread += len(data)
        events = self._events
        if events and type(events[-1]) is list:
            events[-1].append(data)
        else:
            events.append([data])

    def _check_fin(self, segment: Segment) -> None:
        """Eighth check (§3.10.7.4): a FIN in the window counts once everything before it has
        arrived (held until then).  Only ESTABLISHED and the FIN-WAIT states take one; in
        TIME-WAIT the first or the fifth check has answered it."""
        if self._state not in RECEIVING:
            return
        ahead = seq_diff(seq_add(segment.seq, segment.seg_len - 1), self._rcv_nxt)
        if ahead > 0:
            self._reassembly.fin_offset = ahead
            self._ack_pending = True
        elif ahead == 0:
            self._take_fin()

    def _take_fin(self) -> None:
        """The peer's FIN counts: RCV.NXT passes it, ACK it, tell the caller, change state."""
        self._reassembly.fin_offset = None
        self._rcv_nxt = seq_add(self._rcv_nxt, 1)
        self._ack_pending = True
        self._events.append(PeerFinished())
        self._transition("rcv_fin")
