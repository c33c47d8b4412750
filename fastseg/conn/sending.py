"""Segments this side sends: headers and options, the SYN, data within the windows, probes."""

from __future__ import annotations

from typing import Iterable, Optional

from fastseg._wire import HEADER_LEN
from fastseg.conn.bits import ACK, ACK_PSH, CWR, ECE, FIN, RST, SYN, URG
from fastseg.conn.ecn import ECT_0, NOT_ECT
from fastseg.conn.states import State
from fastseg.conn.tcb import TIMESTAMP_OPTION_LEN, U32, Tcb
from fastseg.conn.timers import DELAYED_ACK, FIN_WAIT_2, KEEPALIVE, PERSIST, RETRANSMIT
from fastseg.segment import OptionKind, Segment
from fastseg.seq import seq_add, seq_diff, seq_ge, seq_gt, seq_lt

__all__ = ["Sender"]

_TWO_NOPS = ((OptionKind.NOP, None), (OptionKind.NOP, None))  # align the timestamps option
#: Option bytes a header holds, and a SACK option's parts with the two NOPs that align it
#: (RFC 9293 §3.1, RFC 2018 §3).
MAX_OPTION_SPACE = 40
SACK_OPTION_HEAD, SACK_BLOCK_LEN = 4, 8
#: The largest urgent pointer a segment carries (a 16-bit field, RFC 9293 §3.1).
URGENT_POINTER_MAX = 0xFFFF
#: Where keep-alives probe an idle peer: states in which this side still has a peer to lose.
KEEPALIVE_STATES = (State.ESTABLISHED, State.CLOSE_WAIT)
#: The twin's compiled (or Python) build: ``Segment(...)`` without ``type.__call__``, whose
#: keyword dict costs more than the build.  Positional, in Segment's field order: ports, seq,
#: ack, header_len, flags, reserved, window, checksum, urgent, options, payload.
#: Sender._fields: (src_port, dst_port, ack, header_len, window, options).
Fields = tuple[int, int, int, int, int, tuple[tuple[int, object], ...]]


class Sender(Tcb):
    """Builds and queues outgoing segments and advances SND.NXT (RFC 9293 §3.8.6, §3.10.7)."""

    def _fields(self, sack: bool = True) -> Fields:
        """What a segment to the remote carries besides seq, flags and payload: ports, ACK
        (RCV.NXT), header length, scaled window and options (timestamps as negotiated, and
        with ``sack`` the SACK blocks of data held above a gap: RFC 2018 §3 has every ACK
        carry them, data or not).  The same for every segment of one batch: sending
        changes none of them."""
        options: tuple[tuple[int, object], ...] = ()
        header_len = HEADER_LEN
        if self._ts_ok:
            options = (*_TWO_NOPS, (OptionKind.TIMESTAMPS, (self._ts_value(self._now), self._ts_recent)))
            header_len += TIMESTAMP_OPTION_LEN  # known: Segment need not encode the options to learn it
        if sack and self._sack_ok and (self._dsack or len(self._reassembly)):
            options, header_len = self._with_sack(options, header_len)
        window = min(self.rcv_wnd >> self._rcv_shift, 0xFFFF)
        return self.local[1], self._peer[1], self._rcv_nxt, header_len, window, options

    def _segment(self, flags: int, seq: int, *, payload: bytes = b"", ack: bool = True) -> Segment:
        """A segment to the remote with ACK, scaled window and timestamps as negotiated."""
        if ack:
            flags |= ACK | (ECE if self._ece_echo else 0)  # RFC 3168 §6.1.3
        src_port, dst_port, rcv_nxt, header_len, window, options = self._fields(ack)
        urgent = 0
        if self._snd_up is not None:
            flags, urgent = self._urgent(flags, seq)
        # by position, as in the batch below: a call with keywords builds a dict first
        return Segment(src_port, dst_port, seq, rcv_nxt if flags & ACK else 0, header_len, flags,
                       0, 0 if flags & RST else window, 0, urgent, options, payload)

    def _urgent(self, flags: int, seq: int) -> tuple[int, int]:
        """URG and the urgent pointer of a segment at ``seq`` while urgent data is unacknowledged
        (RFC 9293 §3.8.5): the pointer names the octet after the urgent data (RFC 6093), as
        far as 16 bits reach (later segments carry the rest)."""
        if self._snd_up is None or not seq_gt(self._snd_up, seq):
            return flags, 0
        return flags | URG, min(seq_diff(self._snd_up, seq), URGENT_POINTER_MAX)

    def _with_sack(self, options: tuple[tuple[int, object], ...],
                   header_len: int) -> tuple[tuple[tuple[int, object], ...], int]:
        """Add the SACK blocks of what is held above RCV.NXT (RFC 2018 §3-4: as many as the
        option space leaves, 3 beside timestamps, 4 without), latest arrival first, after a
        D-SACK block for a duplicate just received (RFC 2883 §4: first, and once).  A segment
        carrying them carries less data (``_sack_option_len``): options count against the
        MSS (RFC 6691 §2)."""
        room = (MAX_OPTION_SPACE - (header_len - HEADER_LEN) - SACK_OPTION_HEAD) // SACK_BLOCK_LEN
        dsack = (self._dsack,) if self._dsack is not None else ()
        blocks = (*dsack, *((seq_add(self._rcv_nxt, start), seq_add(self._rcv_nxt, end))
                            for start, end in self._reassembly.blocks(room - len(dsack))))
        return ((*options, *_TWO_NOPS, (OptionKind.SACK, blocks)),
                header_len + SACK_OPTION_HEAD + SACK_BLOCK_LEN * len(blocks))

    def _sack_option_len(self, header_len: Optional[int] = None) -> int:
        """Option bytes beyond the timestamps in a header (of ``header_len`` bytes, or of the
        next segment's): the SACK option, when blocks are reported."""
        if header_len is None:
            header_len = self._fields()[3]
        return header_len - HEADER_LEN - (TIMESTAMP_OPTION_LEN if self._ts_ok else 0)

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
        self._dsack = None  # reported once, or lost with a segment that had no room for it
        self._unacked_segments = 0
        self._timers.pop(DELAYED_ACK, None)

    def _send_syn(self, now: float, *, ack: bool = False) -> None:
        """Queue our SYN (or SYN,ACK) from ISS with the options we offer or accept (§3.10.7.2)."""
        options: list[tuple[int, object]] = [(OptionKind.MSS, self.config.mss)]
        if self._state is State.SYN_SENT or self._wscale_ok:
            options += [(OptionKind.NOP, None), (OptionKind.WSCALE, self.config.receive_shift)]
        if self.config.timestamps and (self._state is State.SYN_SENT or self._ts_ok):
            options += [(OptionKind.NOP, None), (OptionKind.NOP, None),
                        (OptionKind.TIMESTAMPS, (self._ts_value(now), self._ts_recent))]
        if self.config.sack and (self._state is State.SYN_SENT or self._sack_ok):
            options += [(OptionKind.NOP, None), (OptionKind.NOP, None),
                        (OptionKind.SACK_PERMITTED, None)]
        flags = SYN | (ACK if ack else 0)
        if ack and self._ecn_ok:
            flags |= ECE  # an ECN-setup SYN,ACK answers an ECN-setup SYN (RFC 3168 §6.1.1)
        elif not ack and self.config.ecn == "request":
            flags |= ECE | CWR  # an ECN-setup SYN
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
        self._timers[RETRANSMIT] = now + self._rto.rto

    def _transmit(self, now: float) -> list[Segment]:
        """New (or rolled-back) data within the windows, then the FIN when its turn comes.

        The loop counts in offsets into the send buffer (``start`` is SND.NXT's), which
        the windows cannot push past 2**31: no sequence arithmetic per segment.  Each
        payload is one copy out of the buffer (a slice of a view); SND.NXT, SND.MAX, the
        round-trip probe and the retransmission timer are settled once for the batch
        (``_sent_data``), as they would be segment by segment.  With ECN agreed, every
        segment echoes ECE while a CE mark waits for the peer's CWR, the first one with
        new data after a reduction carries CWR, and the batch's new data is what
        ``codepoint`` marks ECT(0) (RFC 3168 §6.1.2-3)."""
        out: list[Segment] = []
        self._ect_to = self._ect_from  # nothing new yet: no ECT(0) for older segments
        buffer = self._send_buffer
        data_start, buffered = self._data_start, len(buffer)
        usable = min(self._snd_wnd, self._cwnd)
        smss = self._smss
        # a replica's sender already chose what went out: no window holds it back
        window_end = buffered if self._replay else seq_diff(seq_add(self._snd_una, usable), data_start)
        start = first = seq_diff(self._snd_nxt, data_start)
        if start >= buffered and (self._fin_sent or not self._fin_queued):
            self._arm_persist(now)  # nothing to send: no header fields to work out
            return out
        sent_before = seq_diff(self._snd_max, data_start)  # offset of SND.MAX
        timed = None  # offset of the end of the first segment with new data
        probed = False
        src_port, dst_port, rcv_nxt, header_len, window, options = fields = self._fields()
        smss -= self._sack_option_len(header_len)
        urgent = 0
        append, segment_type = out.append, Segment
        ece = ECE if self._ece_echo else 0
        cwr = self._cwr_pending
        with memoryview(buffer) as view:
            while start < buffered:
                left = buffered - start
                room = window_end - start
                if room <= 0 and self._probe and self._snd_wnd == 0:
                    room, probed = 1, True  # zero-window probe: one byte past the window
                if room <= 0:
                    break
                # min(smss, left, room) without the builtin's call (some 100 ns a segment)
                size = smss if smss < left else left
                if room < size:
                    size = room
                if size < smss and not (probed or self._replay or self._probe
                                        or self._worth_sending(size, left)):
                    break
                self._probe = False
                if start < 0:
                    raise AssertionError("SND.NXT fell before the data: only the SYN may go there")
                end = start + size
                flags = (ACK_PSH if end == buffered else ACK) | ece
                if cwr and start >= sent_before:
                    flags |= CWR  # RFC 3168 §6.1.2: on new data, never a retransmission
                    cwr = self._cwr_pending = False
                seq = (data_start + start) & U32
                if self._snd_up is not None:
                    flags, urgent = self._urgent(flags, seq)
                append(segment_type(src_port, dst_port, seq, rcv_nxt, header_len,
                                   flags, 0, window, 0, urgent, options, view[start:end].tobytes()))
                start = end
                if timed is None and end > sent_before:
                    timed = end
                if probed:
                    break
        if start > sent_before and not probed and self._ecn_ok:
            # ECT(0) on new data only: not on what is sent again, nor on a window probe
            # (RFC 3168 §6.1.5, §6.1.6)
            self._ect_from = seq_add(data_start, max(first, sent_before))
            self._ect_to = seq_add(data_start, start)
        if start != first:
            self._sent_data(seq_add(data_start, start),
                            None if timed is None else seq_add(data_start, timed), now)
        if self._fin_queued and not self._fin_sent and self._snd_nxt == seq_add(data_start, buffered):
            self._fin_sent, self._fin_seq = True, self._snd_nxt
            out.append(self._emit(FIN | ACK, b"", now, fields))
        if out:
            self._ack_sent()
        self._arm_persist(now)
        return out

    def codepoint(self, segment: Segment) -> int:
        """The ECN codepoint for the IP header of ``segment``, one of those the last
        ``segments_to_send`` returned (RFC 3168 §6.1.2, §6.1.4-6): ECT(0) on new data
        once both sides agreed to ECN; Not-ECT on SYNs, pure ACKs, resets,
        retransmissions and window probes."""
        if self._ecn_ok and segment.payload and seq_ge(segment.seq, self._ect_from) \
                and seq_lt(segment.seq, self._ect_to):
            return ECT_0
        return NOT_ECT

    def _worth_sending(self, size: int, left: int) -> bool:
        """Sender silly-window avoidance (RFC 9293 §3.8.6.2.1, MUST-38) and Nagle's algorithm
        (§3.7.4, RFC 896): a full segment goes; so does at least half the largest window the
        peer has offered; the last of the queued data goes unless, with Nagle on, data is
        still unacknowledged.  Anything else waits for an ACK, or for the persist timer
        (the override timeout) when nothing is in flight."""
        if size >= self._smss or size * 2 >= self._max_snd_wnd > 0:
            return True
        if size == left:
            return not (self.config.nagle and self._snd_nxt != self._snd_una)
        return False

    def _emit(self, flags: int, payload: bytes, now: float, fields: Fields) -> Segment:
        """A segment at SND.NXT with ``flags`` (ACK among them) and the rest of its header
        from ``fields`` (``_fields()``, taken once per batch); advance SND.NXT by its sequence
        space and arm the timers.  The caller calls ``_ack_sent`` once for the batch (each
        segment carries the same ACK)."""
        src_port, dst_port, rcv_nxt, header_len, window, options = fields
        urgent = 0
        if self._ece_echo:
            flags |= ECE
        if self._snd_up is not None:
            flags, urgent = self._urgent(flags, self._snd_nxt)
        segment = Segment(src_port, dst_port, self._snd_nxt, rcv_nxt, header_len,
                          flags, 0, window, 0, urgent, options, payload)
        end = seq_add(self._snd_nxt, len(payload) + (1 if flags & FIN else 0))
        self._sent_data(end, end, now)
        return segment

    def _sent_data(self, end: int, timed: Optional[int], now: float) -> None:
        """Segments went out from SND.NXT up to ``end``: advance SND.NXT and SND.MAX; when no
        round trip is being timed, time the first segment with new data, which ends at
        ``timed`` (RFC 6298 §3, Karn: a resent segment is never timed); start the
        retransmission timer unless it runs (RFC 6298 §5.1)."""
        self._snd_nxt = end
        if seq_gt(end, self._snd_max):
            self._snd_max = end
            if self._rtt_probe is None and timed is not None:
                self._rtt_probe = (timed, now)
        timers = self._timers
        if RETRANSMIT not in timers:  # running: left as it is (RFC 6298 §5.1)
            timers[RETRANSMIT] = now + self._rto.rto

    def _persist_interval(self) -> float:
        """The persist timer: the RTO, doubled for each probe sent since the window closed
        (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17), at most ``rto_max``."""
        return min(self._rto.rto * 2.0**self._persist_backoffs, self.config.rto_max)

    def _arm_persist(self, now: float) -> None:
        """Keep the persist timer running while data waits with nothing in flight but a
        zero-window probe (RFC 9293 §3.8.6.1), or while silly-window avoidance holds it back
        (the override timeout of §3.8.6.2.1).  Probes are repeated by this timer, backing
        off, never by the retransmission timer: a peer that keeps answering with a zero
        window is never given up on (MUST-36)."""
        timers = self._timers
        in_flight = seq_diff(self._snd_nxt, self._snd_una)
        probing = PERSIST in timers and self._snd_wnd == 0 and in_flight <= 1
        # waiting: SND.NXT short of the data's end (tested only when nothing is in flight)
        if not self._replay and ((in_flight == 0 and self._snd_nxt != seq_add(
                self._data_start, len(self._send_buffer))) or probing):
            if PERSIST not in timers:
                timers[PERSIST] = now + self._persist_interval()
            if in_flight <= 1 and self._snd_wnd == 0:
                self._timers.pop(RETRANSMIT, None)
        else:
            timers.pop(PERSIST, None)
            self._probe = False
            self._persist_backoffs = 0

    def _keepalive_restart(self, now: float) -> None:
        """A segment came from the peer: it is alive, and its idle time starts again."""
        self._keepalives = 0
        idle = self.config.keepalive_idle
        if idle is not None and self._state in KEEPALIVE_STATES:
            self._timers[KEEPALIVE] = now + idle
        else:
            self._timers.pop(KEEPALIVE, None)

    def _fin_wait_2_restart(self, now: float) -> None:
        """FIN-WAIT-2: the peer has ``Config.fin_wait_2_timeout`` seconds from now to send
        something (its FIN, data, an ACK) before the connection gives up on it."""
        timeout = self.config.fin_wait_2_timeout
        if timeout is not None:
            self._timers[FIN_WAIT_2] = now + timeout

    def _keepalive_fired(self, now: float) -> bool:
        """The keep-alive timer went off (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).  With data
        outstanding the retransmission and persist timers watch the peer; else a probe goes:
        an ACK at SND.NXT - 1 with no data, which the peer must answer with an ACK.  False
        when ``keepalive_count`` probes went unanswered: the peer is dead."""
        if self._state not in KEEPALIVE_STATES or self.config.keepalive_idle is None:
            return True
        waiting = self._snd_nxt != seq_add(self._data_start, len(self._send_buffer))
        if self._snd_una != self._snd_max or waiting:
            self._timers[KEEPALIVE] = now + self.config.keepalive_idle
            return True
        if self._keepalives >= self.config.keepalive_count:
            return False
        self._keepalives += 1
        self._queue(self._segment(ACK, seq_add(self._snd_nxt, -1)))
        self._timers[KEEPALIVE] = now + self.config.keepalive_interval
        return True

    def _persist_fired(self, now: float) -> None:
        """The persist timer went off: send a probe (again), or override silly-window
        avoidance, then wait twice as long."""
        self._probe = True
        if self._snd_wnd == 0:
            self._counts.probes += 1
        if self._snd_wnd == 0 and seq_diff(self._snd_nxt, self._snd_una) == 1:
            self._snd_nxt = self._snd_una  # the last probe's byte goes again
        self._persist_backoffs += 1
        self._timers[PERSIST] = now + self._persist_interval()
