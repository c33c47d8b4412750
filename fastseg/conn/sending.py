"""Segments this side sends: headers and options, the SYN, data within the windows, probes."""

from __future__ import annotations

from typing import Iterable

from fastseg._wire import HEADER_LEN
from fastseg.conn.bits import ACK, FIN, PSH, RST, SYN
from fastseg.conn.states import State
from fastseg.conn.tcb import TIMESTAMP_OPTION_LEN, Tcb
from fastseg.conn.timers import Timer
from fastseg.segment import OptionKind, Segment
from fastseg.seq import seq_add, seq_diff, seq_gt, seq_lt

__all__ = ["Sender"]

_TWO_NOPS = ((OptionKind.NOP, None), (OptionKind.NOP, None))  # align the timestamps option


class Sender(Tcb):
    """Builds and queues outgoing segments and advances SND.NXT (RFC 9293 §3.8.6, §3.10.7)."""

    def _segment(self, flags: int, seq: int, *, payload: bytes = b"", ack: bool = True) -> Segment:
        """A segment to the remote with ACK, scaled window and timestamps as negotiated."""
        options: tuple[tuple[int, object], ...] = ()
        header_len = HEADER_LEN
        if self._ts_ok:
            options = (*_TWO_NOPS, (OptionKind.TIMESTAMPS, (self._ts_value(self._now), self._ts_recent)))
            header_len += TIMESTAMP_OPTION_LEN  # known: Segment need not encode the options to learn it
        if ack:
            flags |= ACK
        window = min(self.rcv_wnd >> self._rcv_shift, 0xFFFF)
        return Segment(src_port=self.local[1], dst_port=self._peer[1],
                       seq=seq, ack=self._rcv_nxt if flags & ACK else 0, header_len=header_len,
                       flags=flags, window=window if not flags & RST else 0, options=options,
                       payload=payload)

    def _bare(self, flags: int, seq: int, ack: int, port: int, *, window: int = 0,
              options: Iterable[tuple[int, object]] = (), payload: bytes = b"") -> Segment:
        """A segment with exactly the given fields (SYNs and resets)."""
        return Segment(src_port=self.local[1], dst_port=port, seq=seq, ack=ack, flags=flags,
                       window=window, options=tuple(options), payload=payload)

    def _queue(self, segment: Segment) -> None:
        """Put a segment for the remote in the outbox, ahead of new data."""
        self._outbox.append((segment, self._peer))

    def _ack_sent(self) -> None:
        """A segment carrying RCV.NXT went out: nothing is left to acknowledge."""
        self._last_ack_sent = self._rcv_nxt
        self._ack_pending = False
        self._unacked_segments = 0
        self._timers.pop(Timer.DELAYED_ACK, None)

    def _send_syn(self, now: float, *, ack: bool = False) -> None:
        """Queue our SYN (or SYN,ACK) from ISS with the options we offer or accept (§3.10.7.2)."""
        options: list[tuple[int, object]] = [(OptionKind.MSS, self.config.mss)]
        if self._state is State.SYN_SENT or self._wscale_ok:
            options += [(OptionKind.NOP, None), (OptionKind.WSCALE, self.config.receive_shift)]
        if self.config.timestamps and (self._state is State.SYN_SENT or self._ts_ok):
            options += [(OptionKind.NOP, None), (OptionKind.NOP, None),
                        (OptionKind.TIMESTAMPS, (self._ts_value(now), self._ts_recent))]
        flags = SYN | (ACK if ack else 0)
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
        self._timers[Timer.RETRANSMIT] = now + self._rto.rto

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
            flags = ACK | (PSH if start + size == len(self._send_buffer) else 0)
            out.append(self._emit(flags, payload, now))
        if self._fin_queued and not self._fin_sent and self._snd_nxt == data_end:
            self._fin_sent, self._fin_seq = True, self._snd_nxt
            out.append(self._emit(FIN | ACK, b"", now))
        self._arm_persist(now)
        return out

    def _emit(self, flags: int, payload: bytes, now: float) -> Segment:
        """A segment at SND.NXT; advance SND.NXT by its sequence space and arm the timers."""
        segment = self._segment(flags, self._snd_nxt, payload=payload)
        end = seq_add(self._snd_nxt, len(payload) + (1 if flags & FIN else 0))
        is_new = seq_gt(end, self._snd_max)
        self._snd_nxt = end
        if is_new:
            self._snd_max = end
            if self._rtt_probe is None:
                self._rtt_probe = (end, now)
        self._timers.setdefault(Timer.RETRANSMIT, now + self._rto.rto)
        self._ack_sent()
        return segment

    def _arm_persist(self, now: float) -> None:
        """Start probing a zero window when data waits and nothing is in flight (RFC 9293 §3.8.6.1)."""
        waiting = self._snd_nxt != seq_add(self._data_start, len(self._send_buffer))
        if self._snd_wnd == 0 and waiting and self._snd_nxt == self._snd_una:
            self._timers.setdefault(Timer.PERSIST, now + self._rto.rto)
        else:
            self._timers.pop(Timer.PERSIST, None)
            self._probe = False
