"""The transmission control block (RFC 9293 §3.3.1): the variables of one connection.

:class:`Tcb` is the base of :class:`~fastseg.conn.Connection`.  It declares
every variable, starts a fresh block for each incarnation (``_reset_tcb``)
and shows the caller what it may read.  It never writes the state: only
``_transition`` (:mod:`fastseg.conn.machine`) does.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional, Union

from fastseg.conn.buffers import Reassembly
from fastseg.conn.config import Config, Endpoint
from fastseg.conn.events import Event, SegmentRejected
from fastseg.conn.rtt import RtoEstimator
from fastseg.conn.scoreboard import Scoreboard
from fastseg.conn.states import State
from fastseg.conn.stats import ConnectionStats, Counts
from fastseg.conn.timers import Timer
from fastseg.segment import Segment
from fastseg.seq import seq_add

__all__ = ["Tcb"]

U32 = 0xFFFFFFFF
#: Default send MSS when the peer sends no MSS option (RFC 9293 §3.7.1).
_DEFAULT_MSS = {4: 536, 16: 1220}
#: NOP, NOP and the timestamps option (kind 8, length 10): what every segment carries
#: once timestamps are in use (RFC 7323 §3.2).
TIMESTAMP_OPTION_LEN = 12


class Tcb:
    """One connection's variables; the names follow RFC 9293 §3.3.1 where it has one."""

    #: Take the common segment of a data transfer by header prediction (``Arrival._predicted``),
    #: to the same effect as the step-by-step checks.  False (on the class or one connection)
    #: sends every segment through the checks: the tests run both ways.
    header_prediction: bool = True

    # Kept across incarnations: set by the constructor and the user calls.
    config: Config
    local: Endpoint
    #: The peer; a listening endpoint learns it from the SYN that takes it out of LISTEN.
    remote: Optional[Endpoint]
    #: Every state passed through, the current one last.
    history: list[State]
    _state: State
    _replay: bool
    _fixed_iss: Optional[int]
    _passive: bool  # opened by listen(): a reset in SYN-RECEIVED returns to LISTEN
    #: Told of every call that may queue output or move a timer (how a Host
    #: keeps to the connections it has to visit); None when nobody watches.
    _watch: Optional[Callable[[Any], None]]
    _events: deque[Union[Event, list[bytes]]]  # a list: data pieces of one DataReceived
    _outbox: list[tuple[Segment, Endpoint]]
    _now: float  # the latest time any call was given

    # Learned of one peer, forgotten by _reset_tcb.
    _iss: int
    _irs: int
    _snd_una: int
    _snd_nxt: int
    _snd_max: int  # the highest sequence number sent (above SND.NXT after a timeout's rollback)
    _snd_wnd: int
    _max_snd_wnd: int  # MAX.SND.WND (RFC 5961 §5.2)
    _snd_wl1: int
    _snd_wl2: int
    _syn_data: int  # bytes of the send buffer that ride in our SYN
    _rcv_nxt: int
    _send_buffer: bytearray  # from the first unacknowledged byte
    _send_refused: bool  # send() took less than offered: announce room when it opens
    _fin_queued: bool
    _fin_sent: bool
    _fin_seq: Optional[int]  # where our FIN sits once sent; it never moves
    _unread: int  # delivered bytes the caller has not taken with next_event()
    _reassembly: Reassembly
    _ack_pending: bool
    _unacked_segments: int  # in-order segments received since our last ACK
    _last_ack_sent: int
    _timers: dict[Timer, float]  # deadlines of the running timers
    _rto: RtoEstimator
    _retries: int  # retransmission timeouts since the last new acknowledgment
    _rtt_probe: Optional[tuple[int, float]]  # (sequence number that ends it, time sent)
    _snd_shift: int
    _rcv_shift: int
    _wscale_ok: bool
    _peer_mss: Optional[int]
    _ts_ok: bool
    _sack_ok: bool  # both sides sent SACK-permitted (RFC 2018 §2)
    _dsack: Optional[tuple[int, int]]  # a duplicate received, for the next ACK (RFC 2883)
    _ts_recent: int
    _ts_offset: int
    _cwnd: int
    _ssthresh: int
    _dupacks: int
    _recover: Optional[int]  # NewReno's "recover" while in fast recovery (RFC 6582)
    _probe: bool  # the persist timer fired: probe the zero window, or override SWS avoidance
    _persist_backoffs: int  # probes sent since the window closed (the persist timer backs off)
    _keepalives: int  # keep-alive probes unanswered
    _snd_up: Optional[int]  # SND.UP: the octet after our urgent data, until acknowledged
    _rcv_up: Optional[int]  # RCV.UP: the octet after the peer's urgent data, once signalled
    _challenges: tuple[float, int]  # (start of the current second, challenge ACKs sent in it)
    _syn_timed_out: bool  # our SYN was retransmitted: RTO of 3 s once data flows (RFC 6298 §5.7)
    _rto_recover: Optional[int]  # SND.MAX at the last timeout (RFC 6582 "recover")
    _ts_recent_time: float  # when TS.Recent was last set (RFC 7323 §5.5)
    _board: Scoreboard  # what the peer SACKed, and RFC 6675 recovery
    _counts: Counts  # what Connection.stats reports
    _rcv_reserve: int  # free buffer not yet offered: RCV.BUFF - RCV.USER - RCV.WND (§3.8.6.2.2)
    _ecn_ok: bool  # both sides agreed to ECN (RFC 3168 §6.1.1)
    _ece_echo: bool  # a CE mark arrived: ECE on every ACK until a CWR arrives (§6.1.3)
    _cwr_pending: bool  # cwnd was reduced for an ECE: CWR on the next new data (§6.1.2)
    _cwr_end: Optional[int]  # SND.MAX at that reduction: no other one until ACKed past it
    _ect_from: int  # the new data of the last batch sent, [from, to): what goes as ECT(0)
    _ect_to: int

    # Each variable above in a slot of its own: a connection has more of them than CPython
    # shares in an instance dict's keys (30 on 3.11), so in the dict every read and write is
    # a hashed lookup, and a segment makes some forty.  ``__dict__`` stays for the rest
    # (``header_prediction`` set on one connection, variables a subclass adds).
    __slots__ = ("__dict__", *[name for name in __annotations__ if name != "header_prediction"])

    def _reset_tcb(self) -> None:
        """Forget everything learned of a peer (a new incarnation, or back to LISTEN)."""
        self._iss = self._irs = 0
        self._snd_una = self._snd_nxt = self._snd_max = 0
        self._snd_wnd = self._max_snd_wnd = 0
        self._snd_wl1 = self._snd_wl2 = 0
        self._syn_data = 0
        self._rcv_nxt = 0
        self._send_buffer = bytearray()
        self._send_refused = False
        self._fin_queued = self._fin_sent = False
        self._fin_seq = None
        self._unread = 0
        self._reassembly = Reassembly()
        self._ack_pending = False
        self._unacked_segments = 0
        self._last_ack_sent = 0
        self._timers = {}
        self._rto = RtoEstimator(self.config.rto_initial, self.config.rto_min, self.config.rto_max)
        self._retries = 0
        self._rtt_probe = None
        self._snd_shift = self._rcv_shift = 0
        self._wscale_ok = False
        self._peer_mss = None
        self._ts_ok = False
        self._sack_ok = False
        self._dsack = None
        self._ts_recent = 0
        self._ts_offset = 0
        self._cwnd = self._ssthresh = 0
        self._dupacks = 0
        self._recover = None
        self._probe = False
        self._persist_backoffs = 0
        self._keepalives = 0
        self._snd_up = self._rcv_up = None
        self._challenges = (0.0, 0)
        self._syn_timed_out = False
        self._rto_recover = None
        self._ts_recent_time = 0.0
        self._board = Scoreboard()
        self._counts = Counts()
        self._rcv_reserve = 0
        self._ecn_ok = self._ece_echo = self._cwr_pending = False
        self._cwr_end = None
        self._ect_from = self._ect_to = 0

    # ------------------------------------------------------------ what the caller may read

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
        """RCV.WND: bytes this side will accept beyond RCV.NXT.  Its right edge moves only
        in steps (receiver silly-window avoidance, RFC 9293 §3.8.6.2.2): see ``next_event``."""
        return max(0, self.config.receive_buffer - self._unread - self._rcv_reserve)

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
    def ecn(self) -> bool:
        """Whether both sides agreed to Explicit Congestion Notification (RFC 3168 §6.1.1)."""
        return self._ecn_ok

    @property
    def replay(self) -> bool:
        """Whether this connection replays an observed endpoint (see the class docs)."""
        return self._replay

    @property
    def stats(self) -> ConnectionStats:
        """The congestion state and what recovery has done so far (a snapshot)."""
        counts, rto = self._counts, self._rto
        return ConnectionStats(self._cwnd, self._ssthresh, rto.srtt, rto.rttvar, rto.rto,
                               counts.fast_retransmits, counts.sack_recoveries,
                               counts.rto_expiries, counts.dsacks, counts.challenge_acks,
                               counts.probes, counts.ece_reductions)

    @property
    def send_capacity(self) -> int:
        """Bytes ``send()`` would take now."""
        return max(0, self.config.send_buffer - len(self._send_buffer))

    # ------------------------------------------------------------ derived variables

    @property
    def _smss(self) -> int:
        """Sender MSS: the peer's MSS (or the RFC 9293 default) less our timestamp option."""
        default = _DEFAULT_MSS[16 if ":" in (self.remote or ("",))[0] else 4]
        mss = min(self._peer_mss or default, self.config.mss)
        return max(1, mss - (TIMESTAMP_OPTION_LEN if self._ts_ok else 0))

    @property
    def _data_start(self) -> int:
        """Sequence number of the first byte in the send buffer: ISS+1 until the SYN is
        acknowledged (SND.UNA is ISS only then), SND.UNA after, however far it went."""
        return seq_add(self._iss, 1) if self._snd_una == self._iss else self._snd_una

    @property
    def _peer(self) -> Endpoint:
        """The remote endpoint, known in every state that sends to it."""
        if self.remote is None:
            raise AssertionError(f"no remote endpoint in {self._state.value}")
        return self.remote

    def _ts_value(self, now: float) -> int:
        """Our TSval: a millisecond clock with a per-connection offset (RFC 7323 §5.4)."""
        return (int(now * 1000) + self._ts_offset) & U32

    def _choose_iss(self, now: float) -> None:
        """ISS from the fixed one or the RFC 6528 generator (RFC 9293 §3.4.1)."""
        remote = self.remote or ("", 0)
        iss = self._fixed_iss if self._fixed_iss is not None else self.config.isn(now, self.local, remote)
        self._iss = iss
        self._snd_una = self._snd_nxt = self._snd_max = iss
        self._ts_offset = (iss * 2654435761) & U32

    def _advance(self, now: float) -> None:
        """Take the caller's clock; ValueError when it went backwards."""
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        if self._watch is not None:
            self._watch(self)

    def _reject(self, reason: str) -> None:
        """Record why an arriving segment was dropped (and maybe answered)."""
        self._events.append(SegmentRejected(reason))
