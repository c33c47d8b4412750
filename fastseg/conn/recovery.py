"""SACK-based loss recovery (RFC 6675) when both sides agreed to SACK (RFC 2018).

Incoming SACK blocks go to the scoreboard (:mod:`fastseg.conn.scoreboard`);
an ACK that SACKs new octets counts as a duplicate ACK (RFC 6675 §2), and
DupThresh of them, or the first octet past SND.UNA found lost, start a
recovery: RecoveryPoint = SND.MAX, cwnd = ssthresh = max(FlightSize / 2,
2 * SMSS), the first hole resent at once (§5 steps 4.1-4.3).  While it lasts,
each batch of output sends what NextSeg() chooses as long as cwnd - pipe is
at least one SMSS (§5 step C); it ends when the cumulative ACK reaches
RecoveryPoint.  A timeout keeps the scoreboard (§5.1): every unSACKed octet
below SND.MAX counts lost, and only those go again, from the first.
Without SACK blocks the sender stays with NewReno
(:mod:`fastseg.conn.retransmission`).
"""

from __future__ import annotations

from typing import Optional

from fastseg.conn.bits import ACK, CWR, FIN, PSH
from fastseg.conn.scoreboard import DUP_THRESH, MAX_SACK_BLOCKS
from fastseg.conn.sending import Sender
from fastseg.segment import Segment
from fastseg.seq import seq_add, seq_diff, seq_ge, seq_gt

__all__ = ["SackRecovery"]


class SackRecovery(Sender):
    """The scoreboard's upkeep and the sending of a SACK recovery."""

    def _take_sack(self, segment: Segment) -> Optional[int]:
        """RFC 6675 Update(): record the SACK blocks of an arriving ACK; return the octets
        they newly SACK (RFC 6675 §2: a duplicate ACK when some are), None without blocks
        (or for a replica, whose recovery is the observed sender's).  A first block below
        the cumulative ACK, or inside the second, is a D-SACK (RFC 2883 §4): counted, never
        put on the scoreboard (RFC 6675 §5)."""
        blocks = segment.sack_blocks
        if not blocks or self._replay:
            return None
        blocks = blocks[:MAX_SACK_BLOCKS]
        una, ack = self._snd_una, segment.ack
        first = blocks[0]
        if not seq_gt(first[1], ack) or (len(blocks) > 1 and seq_ge(first[0], blocks[1][0])
                                          and seq_ge(blocks[1][1], first[1])):
            self._counts.dsacks += 1
            blocks = blocks[1:]
        flight = seq_diff(self._snd_max, una)
        return self._board.update([(seq_diff(left, una), seq_diff(right, una))
                                   for left, right in blocks], flight)

    def _sack_acked(self, advanced: int) -> None:
        """The cumulative ACK moved ``advanced`` octets: shift the scoreboard; a recovery
        begun by a timeout ends at RecoveryPoint (a fast one ends in ``_grow_cwnd``)."""
        board = self._board
        board.advance(advanced)
        point = board.recovery_point
        if point is not None and board.timed_out and seq_ge(self._snd_una, point):
            board.clear()

    def _sack_duplicate(self) -> None:
        """An ACK SACKed new octets (RFC 6675 §5): a duplicate ACK.  At DupThresh of them, or
        when IsLost(SND.UNA + 1), loss recovery starts (steps 4.1-4.3) unless one runs, or
        SND.UNA has not passed the ``recover`` of the last timeout (RFC 6582 §3.2)."""
        if self._snd_wnd == 0:
            return
        self._dupacks += 1
        board = self._board
        if board.recovery_point is not None or (
                self._rto_recover is not None and not seq_gt(self._snd_una, self._rto_recover)):
            return
        smss = self._smss
        flight = seq_diff(self._snd_max, self._snd_una)
        if self._dupacks < DUP_THRESH and not board.is_lost(0, flight, flight, smss):
            return
        self._ssthresh = self._cwnd = max(flight // 2, 2 * smss)  # RFC 5681 §3.2 eqn. 4
        self._recover = None
        board.recovery_point = self._snd_max
        board.high_rxt = 0
        board.timed_out = board.rescued = False
        self._counts.sack_recoveries += 1
        start, end, _ = next(board.holes(flight, flight, smss))  # a hole starts at SND.UNA
        length = min(end - start, self._room())
        self._queue(self._resend(start, length))
        board.high_rxt = start + length

    def _sack_timeout(self) -> bool:
        """The retransmission timer fired with SACKed data outstanding (RFC 6675 §5.1): keep
        the scoreboard, count every unSACKed octet below SND.MAX lost and resend from the
        first hole, SACKed data left alone.  False, after ending any recovery, when
        nothing is SACKed: the caller goes back to SND.UNA."""
        board = self._board
        if not board.ranges or self._snd_nxt != self._snd_max:
            board.clear()
            return False
        board.recovery_point = self._snd_max
        board.high_rxt = 0
        board.timed_out, board.rescued = True, False
        return True

    def _room(self) -> int:
        """Payload octets a segment has room for beside its options (RFC 6691)."""
        return max(1, self._smss - self._sack_option_len())

    def _resend(self, offset: int, length: int) -> Segment:
        """``length`` octets of sequence space from SND.UNA + ``offset`` again (the FIN with
        them when they reach it).  Never timed (Karn's rule, RFC 6298 §3)."""
        seq = seq_add(self._snd_una, offset)
        start = seq_diff(seq, self._data_start)
        payload = bytes(self._send_buffer[start:start + length])
        flags = ACK | (PSH if start + len(payload) == len(self._send_buffer) else 0)
        if len(payload) < length and self._fin_seq is not None:
            flags |= FIN
        self._rtt_probe = None
        return self._segment(flags, seq, payload=payload)

    def _transmit(self, now: float) -> list[Segment]:
        """Output while a SACK recovery runs, else what the window allows (``Sender``)."""
        if self._board.recovery_point is None:
            return super()._transmit(now)
        return self._sack_send(now)

    def _sack_send(self, now: float) -> list[Segment]:
        """RFC 6675 §5 step C: while cwnd - pipe >= SMSS, send what NextSeg() names (rules
        1-4), moving HighRxt (C.2) and adding each segment's octets to pipe (C.4)."""
        board = self._board
        una = self._snd_una
        smss = self._room()
        flight = seq_diff(self._snd_max, una)
        point = seq_diff(board.recovery_point or self._snd_max, una)
        pipe = board.pipe(flight, point, self._smss)
        out: list[Segment] = []
        self._ect_to = self._ect_from  # ECT(0) goes on this batch's new data only (RFC 3168)
        while self._cwnd - pipe >= smss:
            chosen = board.next_lost(flight, point, self._smss)
            if chosen is None:
                segment = self._new_data(smss, now)
                if segment is not None:
                    if segment.payload and self._ecn_ok:
                        if self._ect_to == self._ect_from:
                            self._ect_from = segment.seq
                        self._ect_to = seq_add(segment.seq, len(segment.payload))
                    flight = seq_diff(self._snd_max, una)
                    pipe += segment.seg_len
                    out.append(segment)
                    continue
                chosen = board.next_unsacked(flight, point, smss)
                if chosen is None:
                    chosen = board.rescue(point, smss)
                    if chosen is None:
                        break
                else:
                    board.high_rxt = chosen[0] + chosen[1]
            else:
                board.high_rxt = chosen[0] + chosen[1]
            out.append(self._resend(*chosen))
            pipe += chosen[1]
        if out:
            self._ack_sent()
        return out

    def _new_data(self, most: int, now: float) -> Optional[Segment]:
        """NextSeg() rule 2: up to ``most`` octets never sent before, as the peer's window
        allows (the FIN once the data is out); None when there are none."""
        nxt = self._snd_nxt
        if nxt != self._snd_max:
            return None
        buffered = len(self._send_buffer)
        start = seq_diff(nxt, self._data_start)
        room = seq_diff(seq_add(self._snd_una, self._snd_wnd), nxt)
        size = min(most, buffered - start, room)
        if 0 < size < buffered - start and size < most:
            return None  # a runt the peer's window leaves room for: silly (RFC 9293 §3.8.6.2.1)
        if size > 0:
            payload = bytes(self._send_buffer[start:start + size])
            flags = ACK | (PSH if start + size == buffered else 0)
            if self._cwr_pending:
                flags |= CWR  # RFC 3168 §6.1.2: the first new data after a reduction
                self._cwr_pending = False
            segment = self._segment(flags, nxt, payload=payload)
            self._sent_data(seq_add(nxt, size), seq_add(nxt, size), now)
        elif start == buffered and self._fin_queued and not self._fin_sent:
            self._fin_sent, self._fin_seq = True, nxt
            segment = self._segment(FIN | ACK, nxt)
            self._sent_data(seq_add(nxt, 1), None, now)
        else:
            return None
        return segment
