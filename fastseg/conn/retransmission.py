"""What acknowledgments and timeouts do to the sending side.

The retransmission timer and round-trip samples (RFC 6298, Karn's rule),
slow start and congestion avoidance, fast retransmit (RFC 5681) and
NewReno's recovery (RFC 6582); SACK-based recovery (RFC 6675) instead when
the peer reports SACK blocks (:mod:`fastseg.conn.recovery`).
"""

from __future__ import annotations

from fastseg.conn.bits import ACK, FIN, PSH
from fastseg.conn.events import SendBufferAvailable
from fastseg.conn.recovery import SackRecovery
from fastseg.conn.states import State
from fastseg.conn.timers import RETRANSMIT
from fastseg.seq import seq_diff, seq_ge, seq_gt, seq_le, seq_lt

__all__ = ["RTO_AFTER_LOST_SYN", "Retransmission"]

#: The RTO once data flows after a SYN or SYN,ACK timed out, in seconds (RFC 6298 §5.7).
RTO_AFTER_LOST_SYN = 3.0


class Retransmission(SackRecovery):
    """SND.UNA's advance, the congestion window and the resending of lost segments."""

    def _take_ack(self, ack: int, now: float) -> None:
        """Advance SND.UNA to ``ack``: free acknowledged data, time the round trip, grow cwnd."""
        freed = max(0, min(seq_diff(ack, self._data_start), len(self._send_buffer)))
        del self._send_buffer[:freed]
        board = self._board
        if board.ranges or board.recovery_point is not None:
            self._sack_acked(seq_diff(ack, self._snd_una))
        self._snd_una = ack
        if self._snd_up is not None and not seq_gt(self._snd_up, ack):
            self._snd_up = None  # the urgent data is through: no more URG
        if seq_lt(self._snd_nxt, ack):
            self._snd_nxt = ack
        if self._rtt_probe is not None and seq_ge(ack, self._rtt_probe[0]):
            self._rto.sample(now - self._rtt_probe[1])
            self._rtt_probe = None
        self._rto.reset_backoff()
        if self._syn_timed_out and seq_gt(ack, self._iss):
            self._syn_timed_out = False  # RFC 6298 §5.7: the SYN (or SYN,ACK) was lost once
            self._rto.base = max(self._rto.base, RTO_AFTER_LOST_SYN)
        self._retries = 0
        if self._snd_una == self._snd_max:  # RFC 6298 §5.2, §5.3
            self._timers.pop(RETRANSMIT, None)
        else:
            self._timers[RETRANSMIT] = now + self._rto.rto
        self._grow_cwnd(freed)  # data acknowledged: the SYN and FIN grow nothing
        if self._send_refused and freed:
            self._send_refused = False
            self._events.append(SendBufferAvailable(self.send_capacity))

    def _grow_cwnd(self, acked: int) -> None:
        """RFC 5681 slow start and congestion avoidance; NewReno's exit from recovery (RFC 6582);
        no growth in a SACK recovery, which ends at RecoveryPoint (RFC 6675 §5 step A) with
        cwnd at the ssthresh it started with."""
        board = self._board
        if board.recovery_point is not None and not board.timed_out:
            if seq_ge(self._snd_una, board.recovery_point):
                board.clear()
            self._dupacks = 0
            return
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
        """Three duplicate ACKs: fast retransmit and recovery (RFC 5681 §3.2).  Not while the
        window is closed: ACKs of zero-window probes repeat because the window is shut,
        not because anything was lost (the persist timer probes; 4.4BSD counts duplicate
        ACKs only while the retransmission timer runs, for the same reason)."""
        if self._snd_wnd == 0 or self._board.recovery_point is not None:
            return  # a SACK recovery runs: it resends what the scoreboard shows lost
        self._dupacks += 1
        if self._dupacks == 3 and self._recover is None and (
                self._rto_recover is None or seq_gt(self._snd_una, self._rto_recover)):
            flight = seq_diff(self._snd_max, self._snd_una)
            self._ssthresh = max(flight // 2, 2 * self._smss)
            self._cwnd = self._ssthresh + 3 * self._smss
            self._recover = self._snd_max
            self._counts.fast_retransmits += 1
            self._retransmit_head()
        elif self._dupacks > 3:
            self._cwnd += self._smss

    def _on_ece(self) -> None:
        """The peer echoed a congestion mark (RFC 3168 §6.1.2): halve cwnd (to one segment at
        least) and ssthresh with it (to two at least, RFC 5681 §3.1), as for a loss, and put
        CWR on the next new data.  Once per window of data: no other reduction until what
        was sent by then is acknowledged, and none in fast recovery or before the data a
        timeout found outstanding is acknowledged: the loss already cut the window."""
        if self._recover is not None or (
                self._cwr_end is not None and not seq_gt(self._snd_una, self._cwr_end)) or (
                self._rto_recover is not None and not seq_gt(self._snd_una, self._rto_recover)):
            return
        half = self._cwnd // 2
        self._ssthresh = max(half, 2 * self._smss)
        self._cwnd = max(half, self._smss)
        self._cwr_end = self._snd_max
        self._cwr_pending = True
        self._counts.ece_reductions += 1

    def _retransmit_head(self) -> None:
        """Resend the oldest unacknowledged segment now (fast retransmit, partial ACK)."""
        size = min(self._room(), len(self._send_buffer))
        if size:
            flags = ACK | (PSH if size == len(self._send_buffer) else 0)
            self._queue(self._segment(flags, self._snd_una, payload=bytes(self._send_buffer[:size])))
        elif self._fin_sent:
            self._queue(self._segment(FIN | ACK, self._snd_una))
        self._rtt_probe = None

    def _go_back(self) -> None:
        """After a timeout, send again from SND.UNA (RFC 5681 §3.1; RFC 9293 §3.8.1)."""
        self._snd_nxt = self._snd_una
        self._fin_sent = False  # something is unacknowledged, so the FIN (last of all) is too

    def _count_retry(self) -> bool:
        """Count a retransmission timeout; False once the limit for what is unacknowledged
        (our SYN: ``syn_retries``; data: ``retries``) is passed (RFC 9293 §3.8.3, R2)."""
        limit = self.config.syn_retries if seq_le(self._snd_una, self._iss) else self.config.retries
        self._retries += 1
        return self._retries <= limit

    def _retransmit(self, now: float) -> None:
        """The retransmission timer fired: back off, collapse cwnd, send again from SND.UNA."""
        self._rto.back_off()  # RFC 6298 §5.5
        self._counts.rto_expiries += 1
        self._rtt_probe = None  # Karn: no samples from retransmitted data
        if seq_le(self._snd_una, self._iss):  # SYN-SENT, SYN-RECEIVED, or FIN-WAIT-1 entered from it
            self._fin_sent = False  # a FIN sent after the SYN goes again once the SYN is through
            self._syn_timed_out = True
            self._send_syn(now, ack=self._state is not State.SYN_SENT)
            return
        flight = seq_diff(self._snd_max, self._snd_una)
        self._ssthresh = max(flight // 2, 2 * self._smss)  # RFC 5681 §3.1, eqn. 4
        self._cwnd = self._smss
        self._recover = None
        self._rto_recover = self._snd_max  # RFC 6582 §3.2 step 1: no fast retransmit below it
        self._dupacks = 0
        if not self._sack_timeout():  # SACKed data is not sent again (RFC 6675 §5.1)
            self._go_back()
        self._timers[RETRANSMIT] = now + self._rto.rto
