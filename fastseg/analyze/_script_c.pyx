# cython: language_level=3, auto_pickle=False
"""The compiled follower of ``fastseg analyze``: connections that keep to the common script,
followed in C straight from the reader's frames, without replicas.

:mod:`fastseg.analyze.tracker` is the specification: it plays every segment into two
state-machine replicas.  Most connections of a capture say nothing a replica could
disagree with: a handshake, data and ACKs in order both ways, a FIN from each side.
For those this module keeps, per side, what the tracker would (counts, the sequence
and window bookkeeping) and the state path the replicas would walk, with the tracker's
rules for when a state is stamped: a segment's delivery to a side stamps the states it
causes with the time it was captured; a user call (connect, send, close), with the
capture clock.

A frame that does not keep to the script (any anomaly, a retransmission, a RST, a
simultaneous close, SACK blocks, a zero window, a TSval going back, an option layout
other than the timestamps alone, a cut or unverified checksum...) is left to the reader,
which makes its record; :meth:`ScriptTracker.add` then *hands the connection over*: a
:class:`~fastseg.analyze.tracker.TrackedConnection` is made and given every segment
kept so far (headers as captured, payloads as zeros: the replicas and the sequence
analysis look at payload lengths only), and goes on as the tracker always does.  So
what is not followed here is exact by construction; what is, is held to the tracker by
the tests, which compare the two on every capture they have.

Time: the tracker never runs a replica's timers (``handle_timeout``): what an end did
when a timer ran out shows in the capture, as its segments.  So the state paths here
depend on the order of segments and user calls, and their stamps on the capture clock,
never on how long anything took.

The connections share the tracker's dictionaries (``_current`` and ``_lingering``): a
followed connection stands in them as a :class:`Flow` until it is released, when
:meth:`Flow.finish` makes the :class:`TrackedConnection` the report is written from.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcmp, memcpy

from fastseg._codec_c cimport unpack_now
from fastseg._endian cimport be16, be32
from fastseg._wire_c cimport (
    ACK, DATA_OFFSET, DATA_OFFSET_SHIFT, DST_PORT, FLAG_ACK, FLAG_BITS, FLAG_FIN, FLAG_PSH,
    FLAG_SYN, HEADER_LEN, IPV4_ADDR_LEN, IPV4_VERSION, IPV6_ADDR_LEN, MAX_HEADER_LEN, NOP,
    OFFSET_UNIT, RESERVED_BITS, RESERVED_SHIFT, SEQ, SRC_PORT, TIMESTAMPS, TIMESTAMPS_LEN,
    WINDOW,
)
from fastseg.capture._frames cimport Found, FrameSink, _checksum_ok

from fastseg.analyze import tracker as _tracker
from fastseg.capture._common import TcpRecord
from fastseg.conn import State

__all__ = ["Flow", "ScriptTracker"]

cdef enum:
    # The states a replica walks in the script (indexes into _STATES).
    M_CLOSED = 0
    M_LISTEN = 1
    M_SYN_SENT = 2
    M_SYN_RECEIVED = 3
    M_ESTABLISHED = 4
    M_FIN_WAIT_1 = 5
    M_FIN_WAIT_2 = 6
    M_CLOSE_WAIT = 7
    M_LAST_ACK = 8
    M_TIME_WAIT = 9
    NO_REPLICA = -1
    HISTORY_MAX = 10           # the longest path of the script is 7 states
    TS_LAYOUT_LEN = 12         # NOP, NOP, then the timestamps option (RFC 7323 appendix A)
    TS_VALUE = HEADER_LEN + 4  # where TSval lies in that layout
    KEPT_MAX = 1 << 16         # segments kept for a hand-over (88 bytes each); past it, not followed
    HOLES_MAX = 16             # holes in a side's sequence space followed; more are not
    FIRST_CAPACITY = 16
    OFF_SCRIPT = -1

cdef uint32_t SEQ_HALF = 0x80000000
cdef tuple _STATES = (State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED,
                      State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT,
                      State.LAST_ACK, State.TIME_WAIT)
cdef Py_ssize_t _IN_FLIGHT_LIMIT = _tracker._IN_FLIGHT_LIMIT
cdef long long _GAP_FILLED = _tracker._GAP_FILLED
cdef long long _FILL_BUDGET = _tracker._FILL_BUDGET


cdef inline bint _seq_lt(uint32_t a, uint32_t b) noexcept nogil:
    """a < b in 32-bit wrap-around (RFC 9293 §3.4), as fastseg.seq.seq_lt."""
    return <int32_t>(a - b) < 0


cdef inline bint _seq_gt(uint32_t a, uint32_t b) noexcept nogil:
    """a > b in 32-bit wrap-around, as fastseg.seq.seq_gt (b - a < 0)."""
    return <int32_t>(b - a) < 0


cdef struct Flight:
    # A segment on its way to a side (tracker.InFlight): what its delivery needs.
    uint32_t arrived_at
    uint32_t ack
    uint16_t flags
    double time
    long long frame


cdef struct Kept:
    # A segment as captured, for a hand-over: its header and the length of its payload.
    long long frame
    double timestamp
    uint32_t payload_len
    uint8_t sender             # 0: the opener sent it, 1: the other side
    uint8_t header_len
    uint8_t header[MAX_HEADER_LEN]


cdef struct Side:
    # What tracker.Side holds, for a side that keeps to the script; and its replica's path.
    bint syn_seen, syn_ack, stamps, fin_sent, has_edge, has_ack, done
    int wscale                 # its SYN's window scale, -1: none
    uint32_t iss, hi_wrapped, fin_seq, fin_ack, right_edge, last_ack, last_tsval
    long long segments, payload_bytes, unique_bytes, hi, fin_frame, last_window
    int state                  # the replica's state (M_*), NO_REPLICA before its SYN
    int n_history, n_stamped
    int history[HISTORY_MAX]
    double times[HISTORY_MAX]
    long long connected, peer_finished
    Flight* flight             # a ring: the segments on their way to this side
    Py_ssize_t flight_head, flight_len, flight_cap
    int n_holes                # tracker.Side.holes: sequence space not captured, unwrapped
    long long holes[HOLES_MAX][2]


cdef enum:
    # Where a segment of the script lies in its sender's sequence space (tracker._sequence).
    IN_ORDER = 0               # at the highest seen
    AHEAD = 1                  # beyond it: not_captured
    FILLING = 2                # within holes left by an AHEAD one: out_of_order


cdef bint _within_holes(Side* s, long long start, long long end) noexcept:
    """Whether [start, end) lies in the holes: what tracker._sequence calls out of order
    (covered == below and end <= hi)."""
    cdef long long covered = 0, lo, hi
    cdef int i
    if end > s.hi:
        return False
    for i in range(s.n_holes):
        lo = s.holes[i][0] if s.holes[i][0] > start else start
        hi = s.holes[i][1] if s.holes[i][1] < end else end
        if lo < hi:
            covered += hi - lo
    return covered == end - start


cdef void _fill_holes(Side* s, long long start, long long end) noexcept:
    """tracker._fill_holes: take [start, end) out of the holes, in their order.  It splits
    at most one hole in two, so with fewer than HOLES_MAX holes the result fits."""
    cdef long long kept[HOLES_MAX + 1][2]
    cdef int n = 0, i
    cdef long long a, b, lo, hi
    for i in range(s.n_holes):
        a, b = s.holes[i][0], s.holes[i][1]
        lo = a if a > start else start
        hi = b if b < end else end
        if lo >= hi:
            kept[n][0], kept[n][1] = a, b
            n += 1
            continue
        if a < lo:
            kept[n][0], kept[n][1] = a, lo
            n += 1
        if hi < b:
            kept[n][0], kept[n][1] = hi, b
            n += 1
    for i in range(n):
        s.holes[i][0], s.holes[i][1] = kept[i][0], kept[i][1]
    s.n_holes = n


cdef inline int _push(Side* s, int state) noexcept:
    """The replica enters ``state`` (unstamped until _stamp)."""
    if s.n_history == HISTORY_MAX:
        return OFF_SCRIPT
    s.history[s.n_history] = state
    s.n_history += 1
    s.state = state
    return 0


cdef inline void _stamp(Side* s, double when) noexcept:
    """tracker._stamp_states: the states entered since the last stamp get ``when``, never
    earlier than the state before them."""
    cdef int i
    if s.n_history > s.n_stamped:
        if s.n_stamped and s.times[s.n_stamped - 1] > when:
            when = s.times[s.n_stamped - 1]
        for i in range(s.n_stamped, s.n_history):
            s.times[i] = when
        s.n_stamped = s.n_history


cdef int _deliver(Side* s, Flight* e) noexcept:
    """The replica of ``s`` is given the segment ``e`` (tracker.TrackedConnection._deliver):
    the transitions the script allows, or OFF_SCRIPT for any other (a simultaneous close,
    anything reaching a closed or TIME-WAIT replica...)."""
    if s.state == NO_REPLICA:
        return 0                                   # nobody to give it to: it is dropped
    if e.flags & FLAG_SYN:
        if e.flags & FLAG_ACK:                     # the SYN,ACK, to the opener
            if s.state != M_SYN_SENT or _push(s, M_ESTABLISHED):
                return OFF_SCRIPT
            s.connected += 1
        elif s.state != M_LISTEN or _push(s, M_SYN_RECEIVED):  # the SYN, to the listener
            return OFF_SCRIPT
    else:
        if s.state == M_SYN_RECEIVED:              # the first ACK of our SYN (RFC 9293 §3.10.7.4)
            if _push(s, M_ESTABLISHED):
                return OFF_SCRIPT
            s.connected += 1
        elif s.state == M_SYN_SENT or s.state == M_TIME_WAIT or s.state == M_CLOSED:
            return OFF_SCRIPT
        if s.fin_sent and not _seq_lt(e.ack, s.fin_seq + 1):   # our FIN is acknowledged
            if s.state == M_FIN_WAIT_1:
                if _push(s, M_FIN_WAIT_2):
                    return OFF_SCRIPT
            elif s.state == M_LAST_ACK:
                if _push(s, M_CLOSED):
                    return OFF_SCRIPT
        if e.flags & FLAG_FIN:
            if s.state == M_ESTABLISHED:
                if _push(s, M_CLOSE_WAIT):
                    return OFF_SCRIPT
            elif s.state != M_FIN_WAIT_2 or _push(s, M_TIME_WAIT):
                return OFF_SCRIPT
            s.peer_finished += 1
    _stamp(s, e.time)
    return 0


cdef int _deliver_covered(Side* s, uint32_t ack) noexcept:
    """tracker._deliver_covered: the segments on their way to ``s`` that ``ack`` shows arrived."""
    cdef Flight* e
    while s.flight_len:
        e = &s.flight[s.flight_head]
        if _seq_gt(e.arrived_at, ack):
            return 0
        if _deliver(s, e):
            return OFF_SCRIPT
        s.flight_head = (s.flight_head + 1) % s.flight_cap
        s.flight_len -= 1
    return 0


cdef int _send_to(Side* s, uint32_t arrived_at, uint32_t ack, uint16_t flags, double time,
                  long long frame) except -2:
    """Put a segment on its way to ``s`` (the tracker's in-flight queue, with its limit)."""
    cdef Flight* grown
    cdef Py_ssize_t i, cap
    cdef Flight* e
    if s.flight_len == s.flight_cap:
        cap = FIRST_CAPACITY if s.flight_cap == 0 else 2 * s.flight_cap
        grown = <Flight*>PyMem_Realloc(NULL, cap * sizeof(Flight))
        if grown == NULL:
            raise MemoryError()
        for i in range(s.flight_len):              # unrolled from the ring, oldest first
            grown[i] = s.flight[(s.flight_head + i) % s.flight_cap]
        PyMem_Free(s.flight)
        s.flight, s.flight_cap, s.flight_head = grown, cap, 0
    e = &s.flight[(s.flight_head + s.flight_len) % s.flight_cap]
    e.arrived_at, e.ack, e.flags, e.time, e.frame = arrived_at, ack, flags, time, frame
    s.flight_len += 1
    if s.flight_len > _IN_FLIGHT_LIMIT:            # the tracker delivers the oldest at once
        if _deliver(s, &s.flight[s.flight_head]):
            return OFF_SCRIPT
        s.flight_head = (s.flight_head + 1) % s.flight_cap
        s.flight_len -= 1
    return 0


cdef class Flow:
    """A connection followed by the script; it stands in the tracker's dictionaries for a
    :class:`~fastseg.analyze.tracker.TrackedConnection` until :meth:`finish` makes one."""

    cdef Side sides[2]
    cdef readonly long long index
    cdef public double end, clock     # read by the tracker's lingering rule
    cdef double start
    cdef long long first_frame, last_frame
    cdef object key, py_key, endpoints, frames_kept
    cdef list syns
    cdef dict table
    cdef int version
    cdef bytes addresses               # the opener's address, then the other side's
    cdef uint16_t ports[2]             # the opener's port, then the other side's
    cdef Kept* kept
    cdef Py_ssize_t n_kept, kept_cap
    cdef bint released, lingers
    cdef long long filled              # zeros given to the sender replicas for gaps
    cdef dict anomalies                # as TrackedConnection.anomalies (the kinds of the script)

    cdef note(self, str kind, int sender, long long frame):
        """TrackedConnection.note, without a detail."""
        entry = self.anomalies.get(kind)
        if entry is None:
            entry = self.anomalies[kind] = {"count": 0, "by": {}, "frames": [], "details": []}
        entry["count"] += 1
        by = entry["by"]
        endpoint = self.endpoints[sender]
        by[endpoint] = by.get(endpoint, 0) + 1
        if self.frames_kept is None or len(entry["frames"]) < self.frames_kept:
            entry["frames"].append(frame)

    def __dealloc__(self):
        PyMem_Free(self.sides[0].flight)
        PyMem_Free(self.sides[1].flight)
        PyMem_Free(self.kept)

    @property
    def finished(self):
        """As TrackedConnection.finished: both sides sent FIN (the script has no RST)."""
        return self.sides[0].fin_sent and self.sides[1].fin_sent

    cdef int _keep(self, const uint8_t* t, Py_ssize_t header_len, Py_ssize_t payload_len,
                   int sender, double timestamp, long long frame) except -1:
        cdef Kept* grown
        cdef Py_ssize_t cap
        if self.n_kept == self.kept_cap:
            cap = FIRST_CAPACITY if self.kept_cap == 0 else 2 * self.kept_cap
            grown = <Kept*>PyMem_Realloc(self.kept, cap * sizeof(Kept))
            if grown == NULL:
                raise MemoryError()
            self.kept, self.kept_cap = grown, cap
        cdef Kept* k = &self.kept[self.n_kept]
        k.frame, k.timestamp, k.payload_len = frame, timestamp, <uint32_t>payload_len
        k.sender, k.header_len = <uint8_t>sender, <uint8_t>header_len
        memcpy(k.header, t, header_len)              # header_len <= MAX_HEADER_LEN: checked by the caller
        self.n_kept += 1
        return 0

    def records(self):
        """The segments kept, as the reader's records (payloads as zeros)."""
        cdef Py_ssize_t i
        cdef Kept* k
        cdef Py_ssize_t size = IPV4_ADDR_LEN if self.version == IPV4_VERSION else IPV6_ADDR_LEN
        sides = (self.addresses[:size], self.addresses[size:])
        out = []
        for i in range(self.n_kept):
            k = &self.kept[i]
            data = PyBytes_FromStringAndSize(<const char*>k.header, k.header_len) + bytes(k.payload_len)
            segment = unpack_now(<const uint8_t*><const char*>data, len(data), False)
            out.append((self.endpoints[k.sender],
                        TcpRecord(k.frame, k.timestamp, 0, 0, self.version, sides[k.sender],
                                  sides[1 - k.sender], segment, True, len(data))))
        return out

    def replayed(self):
        """A TrackedConnection given every segment kept: what the tracker would hold now."""
        conn = _tracker.TrackedConnection(self.index, self.endpoints[0], self.endpoints[1],
                                          self.first_frame, self.start, self.frames_kept)
        for sender, record in self.records():
            conn.add(record, sender)
        return conn

    def finish(self):
        """End the connection as the tracker's ``finish`` does (what is in flight arrives,
        in capture order) and return the TrackedConnection the report is made from."""
        cdef Side* a = &self.sides[0]
        cdef Side* b = &self.sides[1]
        cdef Side* s
        self.released = True
        if self.table.get(self.key) is self:
            del self.table[self.key]
        while a.flight_len or b.flight_len:
            if b.flight_len and (not a.flight_len or
                                 b.flight[b.flight_head].frame < a.flight[a.flight_head].frame):
                s = b
            else:
                s = a
            if _deliver(s, &s.flight[s.flight_head]):
                conn = self.replayed()               # not a path of the script: the replicas say
                conn.finish()
                return conn
            s.flight_head = (s.flight_head + 1) % s.flight_cap
            s.flight_len -= 1
        _stamp(a, self.clock)
        _stamp(b, self.clock)
        return self._connection()

    cdef object _connection(self):
        cdef int i, j
        cdef Side* s
        conn = _tracker.TrackedConnection(self.index, self.endpoints[0], self.endpoints[1],
                                          self.first_frame, self.start, self.frames_kept)
        conn.last_frame, conn.end, conn.clock = self.last_frame, self.end, self.clock
        conn.anomalies = self.anomalies
        conn.opener = self.endpoints[0]
        if self.sides[1].syn_seen:
            conn.passive = self.endpoints[1]
        for i in range(2):
            s = &self.sides[i]
            side = conn.sides[self.endpoints[i]]
            syn = self.syns[i]
            side.syn = syn
            side.wscale = None if syn is None else syn.wscale
            side.syn_ack = s.syn_ack
            side.segments, side.payload_bytes, side.unique_bytes = (
                s.segments, s.payload_bytes, s.unique_bytes)
            if s.fin_sent:
                side.fin_seq, side.fin_frame, side.fin_ack = s.fin_seq, s.fin_frame, s.fin_ack
                side.closed_replica = True
            if s.state != NO_REPLICA:
                side.replica = _tracker.Path([_STATES[s.history[j]] for j in range(s.n_history)])
                side.state_times = [s.times[j] for j in range(s.n_stamped)]
            if s.connected:
                side.events["Connected"] = s.connected
            if s.peer_finished:
                side.events["PeerFinished"] = s.peer_finished
        return conn


cdef class ScriptTracker(FrameSink):
    """Follows the connections that keep to the script from a compiled reader's frames
    (``reader.offer_frames(self)``), and passes every record the reader then makes to
    ``tracker`` (a :class:`~fastseg.analyze.tracker.ConnectionTracker`) through
    :meth:`add`.  ``released`` is called whenever connections were released while
    frames were taken here (the records' own releases are the caller's to see), and
    ``tick`` every ``tick_every`` frames taken."""

    cdef object tracker, released_hook
    cdef public object tick
    cdef dict table, current, lingering
    cdef list released
    cdef readonly long long taken
    cdef public long long frame_base
    cdef long long tick_every
    cdef Py_ssize_t kept_max           # segments a followed connection keeps, at most
    cdef double linger                 # the tracker's LINGER and LINGER_CONNECTIONS, as set
    cdef object oldest, oldest_key     # the head of the lingering queue (None: to be looked up)
    cdef double oldest_deadline        # when it is released: its end + LINGER
    cdef Py_ssize_t linger_connections # when the analysis starts

    def __init__(self, tracker, released=None, tick=None, long long tick_every=4096,
                 Py_ssize_t kept_max=KEPT_MAX):
        self.tracker = tracker
        self.current = tracker._current
        self.lingering = tracker._lingering
        self.released = tracker.released
        self.released_hook = released
        self.tick = tick
        self.tick_every = tick_every
        self.kept_max = kept_max
        self.linger = _tracker.LINGER
        self.linger_connections = _tracker.LINGER_CONNECTIONS
        self.table = {}
        self.taken = 0
        self.frame_base = 0

    def add(self, rec):
        """A record the reader made: its connection, if followed here, is handed over first."""
        segment = rec.segment
        key = _key(rec.version, rec.src, segment.src_port, rec.dst, segment.dst_port)
        flow = self.table.pop(key, None)
        if flow is not None and not (<Flow>flow).released:
            self._hand_over(<Flow>flow)
        self.tracker.add(rec)
        self.oldest = None             # the tracker may have changed the lingering queue

    cdef _hand_over(self, Flow flow):
        conn = flow.replayed()
        flow.released = True
        self.current[flow.py_key] = conn
        if flow.py_key in self.lingering:
            self.lingering[flow.py_key] = conn     # in its place: the release order stands

    cdef bint take(self, const uint8_t* frame, const Found* f, double timestamp,
                   long long number) except -1:
        cdef const uint8_t* t = frame + f.start
        cdef Py_ssize_t length = f.stop - f.start
        cdef Py_ssize_t size = IPV4_ADDR_LEN if f.version == IPV4_VERSION else IPV6_ADDR_LEN
        cdef Py_ssize_t header_len
        cdef Flow flow
        cdef bint ok
        if not f.complete or f.addr < 0 or length < HEADER_LEN:
            return False
        header_len = (t[DATA_OFFSET] >> (DATA_OFFSET_SHIFT - 8)) * OFFSET_UNIT
        if header_len < HEADER_LEN or header_len > length:
            return False
        key = _key_at(f.version, frame + f.addr, frame + f.addr + size, size, t)
        flow = self.table.get(key)
        if flow is not None and flow.released:
            del self.table[key]
            flow = None
        if flow is None:
            ok = self._open(frame, f, t, length, header_len, size, key, timestamp,
                            number + self.frame_base)
        else:
            ok = self._step(flow, frame, f, t, length, header_len, size, timestamp,
                            number + self.frame_base)
        if ok:
            self.taken += 1
            if self.tick is not None and self.taken % self.tick_every == 0:
                self.tick()
        return ok

    cdef bint _open(self, const uint8_t* frame, const Found* f, const uint8_t* t,
                    Py_ssize_t length, Py_ssize_t header_len, Py_ssize_t size, bytes key,
                    double timestamp, long long number) except -1:
        """A SYN starting a connection nobody follows yet (ConnectionTracker.add's new
        incarnation), taken if it keeps to the script."""
        cdef uint16_t bits = be16(t + DATA_OFFSET)
        cdef Flow flow
        cdef Side* s
        if (bits & FLAG_BITS) != FLAG_SYN or (bits >> RESERVED_SHIFT) & RESERVED_BITS \
                or length != header_len or _checksum_ok(frame, f) != 1:
            return False
        src_port, dst_port = be16(t + SRC_PORT), be16(t + DST_PORT)
        if src_port == dst_port and memcmp(frame + f.addr, frame + f.addr + size, size) == 0:
            return False                                   # a socket connected to itself
        src = PyBytes_FromStringAndSize(<const char*>frame + f.addr, size)
        dst = PyBytes_FromStringAndSize(<const char*>frame + f.addr + size, size)
        tracker = self.tracker
        opener = (tracker._name(src), src_port)
        other = (tracker._name(dst), dst_port)
        py_key = (opener, other) if opener <= other else (other, opener)
        if py_key in self.current:
            return False                                   # the tracker's: a retransmission, a reuse
        segment = unpack_now(t, length, False)
        if segment.anomalies:
            return False
        flow = Flow.__new__(Flow)
        flow.key, flow.table, flow.frames_kept = key, self.table, tracker.frames_kept
        flow.endpoints = (opener, other)
        flow.py_key = py_key
        flow.version = f.version
        flow.addresses = src + dst
        flow.ports[0], flow.ports[1] = src_port, dst_port
        flow.syns = [segment, None]
        flow.anomalies = {}
        flow.start = flow.end = flow.clock = timestamp
        flow.first_frame = flow.last_frame = number
        flow.sides[1].state = NO_REPLICA
        s = &flow.sides[0]
        s.syn_seen, s.syn_ack = True, False
        self._syn_fields(s, segment)
        # the opener's replica: connect() (CLOSED, SYN-SENT), stamped by the user call
        s.state = M_CLOSED
        _push(s, M_CLOSED)
        _push(s, M_SYN_SENT)
        _stamp(s, timestamp)
        _send_to(&flow.sides[1], s.iss + 1, 0, FLAG_SYN, timestamp, number)
        tracker.started += 1
        flow.index = tracker.started
        self.current[py_key] = flow
        self.table[key] = flow
        flow._keep(t, header_len, 0, 0, timestamp, number)
        self._linger(flow)
        return True

    cdef void _syn_fields(self, Side* s, segment):
        """A side's SYN (or SYN,ACK): what the sequence analysis and the replica start from."""
        stamps = segment.timestamps
        wscale = segment.wscale
        s.wscale = -1 if wscale is None else wscale
        s.stamps = stamps is not None
        s.last_tsval = stamps[0] if stamps is not None else 0
        s.iss = segment.seq
        s.segments = 1
        s.hi = 1
        s.hi_wrapped = s.iss + 1

    cdef bint _step(self, Flow flow, const uint8_t* frame, const Found* f, const uint8_t* t,
                    Py_ssize_t length, Py_ssize_t header_len, Py_ssize_t size, double timestamp,
                    long long number) except -1:
        """A segment of a followed connection: taken if it keeps to the script (the checks
        come before anything kept is changed; the model may be left half-changed by a
        refusal, since a hand-over starts again from what was kept)."""
        cdef uint16_t bits = be16(t + DATA_OFFSET)
        cdef uint16_t flags = bits & FLAG_BITS
        cdef int x
        cdef Side* s
        cdef Side* r
        cdef uint32_t seq, ack, edge, tsval = 0, lowest
        cdef long long window, payload = length - header_len, seg_len
        cdef double now = timestamp if timestamp > flow.clock else flow.clock
        cdef bint fin = flags & FLAG_FIN
        cdef bint stamps
        cdef int shift, order
        cdef long long start, gap
        if (bits >> RESERVED_SHIFT) & RESERVED_BITS or _checksum_ok(frame, f) != 1 \
                or flow.n_kept >= self.kept_max:
            return False
        if memcmp(frame + f.addr, <const char*>flow.addresses, size) == 0 \
                and be16(t + SRC_PORT) == flow.ports[0] and be16(t + DST_PORT) == flow.ports[1]:
            x = 0
        else:
            x = 1
        s, r = &flow.sides[x], &flow.sides[1 - x]
        seq, ack = be32(t + SEQ), be32(t + ACK)
        window = be16(t + WINDOW)
        if flags == FLAG_SYN | FLAG_ACK:
            return self._syn_ack(flow, t, length, header_len, x, seq, ack, window, now, timestamp,
                                 number)
        if flags & ~(FLAG_ACK | FLAG_PSH | FLAG_FIN) or not flags & FLAG_ACK \
                or not (s.syn_seen and r.syn_seen) or s.done or window == 0:
            return False
        seg_len = payload + fin
        start = s.hi + <int32_t>(seq - s.hi_wrapped)   # unwrapped, as tracker._sequence
        if start == s.hi:
            order = IN_ORDER
        elif seg_len == 0:
            return False               # a keep-alive, or an old pure ACK: the tracker's to judge
        elif start > s.hi:             # not captured before it: the gap is replayed as zeros
            gap = start - s.hi
            if fin or gap > _GAP_FILLED or flow.filled + gap > _FILL_BUDGET \
                    or s.n_holes == HOLES_MAX:
                return False
            order = AHEAD
        elif fin or s.n_holes == HOLES_MAX or not _within_holes(s, start, start + seg_len):
            return False               # a retransmission (or a FIN below the highest)
        else:
            order = FILLING            # fills a hole exactly: out of order
        if s.n_holes and (fin or (r.fin_sent and not _seq_lt(ack, r.fin_seq + 1))):
            return False               # a held segment would change a state: not followed
        stamps = s.stamps and r.stamps
        if stamps:   # PAWS passes and TS.Recent stays behind: TSvals do not go back (RFC 7323 §5)
            if header_len != HEADER_LEN + TS_LAYOUT_LEN or t[HEADER_LEN] != NOP \
                    or t[HEADER_LEN + 1] != NOP or t[HEADER_LEN + 2] != TIMESTAMPS \
                    or t[HEADER_LEN + 3] != TIMESTAMPS_LEN:
                return False
            tsval = be32(t + TS_VALUE)
            if tsval - s.last_tsval >= SEQ_HALF:
                return False
        elif header_len != HEADER_LEN:
            return False
        if s.fin_sent and (payload or fin):
            return False               # data or a FIN after its FIN
        lowest = s.last_ack if s.has_ack else r.iss + 1
        if _seq_lt(ack, lowest) or _seq_gt(ack, r.hi_wrapped):
            return False               # an ACK going back, or of what the peer never sent
        if payload and r.has_edge and _seq_gt(seq + <uint32_t>payload, r.right_edge):
            return False               # beyond the window the receiver offered
        if s.flight_len and _deliver_covered(s, ack):
            return False
        if payload and s.state != M_ESTABLISHED and s.state != M_CLOSE_WAIT:
            return False
        if fin:                        # close(): the user call
            if s.state == M_ESTABLISHED:
                _push(s, M_FIN_WAIT_1)
            elif s.state == M_CLOSE_WAIT:
                _push(s, M_LAST_ACK)
            else:
                return False
        if _send_to(r, seq + <uint32_t>seg_len, ack, flags, now, number):
            return False
        # from here on the segment is taken: the sequence and window bookkeeping
        if fin:
            s.fin_sent, s.fin_frame, s.fin_seq, s.fin_ack = True, number, seq + <uint32_t>payload, ack
        if r.fin_sent and s.fin_sent and not _seq_lt(ack, r.fin_seq + 1):
            s.done = True              # the last ACK: anything more would reach a closed replica
        s.segments += 1
        s.payload_bytes += payload
        s.unique_bytes += payload
        if order == AHEAD:
            flow.note("not_captured", x, number)
            s.holes[s.n_holes][0], s.holes[s.n_holes][1] = s.hi, start
            s.n_holes += 1
            flow.filled += start - s.hi
        elif order == FILLING:
            flow.note("out_of_order", x, number)
            _fill_holes(s, start, start + seg_len)
        if order != FILLING:
            s.hi = start + seg_len
            s.hi_wrapped = seq + <uint32_t>seg_len
        shift = s.wscale if s.wscale >= 0 and r.wscale >= 0 else 0
        if shift > 14:
            shift = 14
        window <<= shift
        edge = ack + <uint32_t>window
        if not r.has_edge or not s.has_edge or _seq_gt(edge, s.right_edge):
            s.right_edge, s.has_edge = edge, True
        s.last_window = window
        s.has_ack, s.last_ack = True, ack
        if stamps:
            s.last_tsval = tsval
        if payload or fin:
            _stamp(s, now)
            _stamp(r, now)
        flow.clock = flow.end = now
        flow.last_frame = number
        flow._keep(t, header_len, payload, x, timestamp, number)
        self._linger(flow)
        return True

    cdef bint _syn_ack(self, Flow flow, const uint8_t* t, Py_ssize_t length,
                       Py_ssize_t header_len, int x, uint32_t seq, uint32_t ack, long long window,
                       double now, double timestamp, long long number) except -1:
        """The answer to the opener's SYN, as the first segment from the other side."""
        cdef Side* s = &flow.sides[x]
        cdef Side* r = &flow.sides[1 - x]
        if x != 1 or s.syn_seen or length != header_len or r.segments != 1 \
                or ack != r.iss + 1 or window == 0:
            return False
        segment = unpack_now(t, length, False)
        if segment.anomalies:
            return False
        s.syn_seen, s.syn_ack = True, True
        self._syn_fields(s, segment)
        flow.syns[1] = segment
        # its replica: listen(), then the opener's SYN arrives (stamped with its time)
        s.state = M_CLOSED
        _push(s, M_CLOSED)
        _push(s, M_LISTEN)
        if _deliver_covered(s, ack) or s.state != M_SYN_RECEIVED:
            return False
        if _send_to(r, seq + 1, ack, FLAG_SYN | FLAG_ACK, now, number):
            return False
        s.right_edge, s.has_edge, s.last_window = ack + <uint32_t>window, True, window
        s.has_ack, s.last_ack = True, ack
        _stamp(s, now)
        _stamp(r, now)
        flow.clock = flow.end = now
        flow.last_frame = number
        flow._keep(t, header_len, 0, x, timestamp, number)
        self._linger(flow)
        return True

    cdef int _linger(self, Flow flow) except -1:
        """The tail of ConnectionTracker.add: a finished connection goes (back) to the end of
        the lingering queue, and the oldest there is released when its time is up.  The
        oldest and its deadline are remembered until the queue's head may have changed."""
        lingering = self.lingering
        if flow.lingers or flow.finished:
            if flow.lingers:
                del lingering[flow.py_key]
                if flow is self.oldest:
                    self.oldest = None
            lingering[flow.py_key] = flow
            flow.lingers = True
        if not lingering:
            return 0
        if self.oldest is None:
            self.oldest_key = next(iter(lingering))
            self.oldest = lingering[self.oldest_key]
            self.oldest_deadline = self.oldest.end + self.linger
        if len(lingering) > self.linger_connections or self.oldest_deadline < flow.clock:
            oldest, self.oldest = self.oldest, None
            self.tracker._release(self.oldest_key, oldest)
            if self.released and self.released_hook is not None:
                self.released_hook()
        return 0


cdef bytes _key_at(int version, const uint8_t* src, const uint8_t* dst, Py_ssize_t size,
                   const uint8_t* t):
    """The 4-tuple as one bytes object, the same both ways: version, then the lower
    endpoint (address, port), then the higher."""
    cdef uint8_t buf[1 + 2 * (IPV6_ADDR_LEN + 2)]
    cdef uint8_t a[IPV6_ADDR_LEN + 2]
    cdef uint8_t b[IPV6_ADDR_LEN + 2]
    memcpy(a, src, size)
    memcpy(a + size, t + SRC_PORT, 2)
    memcpy(b, dst, size)
    memcpy(b + size, t + DST_PORT, 2)
    buf[0] = <uint8_t>version
    if memcmp(a, b, size + 2) <= 0:
        memcpy(buf + 1, a, size + 2)
        memcpy(buf + 3 + size, b, size + 2)
    else:
        memcpy(buf + 1, b, size + 2)
        memcpy(buf + 3 + size, a, size + 2)
    return PyBytes_FromStringAndSize(<const char*>buf, 1 + 2 * (size + 2))


cdef bytes _key(int version, bytes src, int src_port, bytes dst, int dst_port):
    """_key_at for a record's fields (b"" for addresses that are neither IPv4 nor IPv6)."""
    cdef uint8_t ports[4]                # laid out as in a TCP header: SRC_PORT, then DST_PORT
    cdef Py_ssize_t size = len(src)
    if size not in (IPV4_ADDR_LEN, IPV6_ADDR_LEN) or len(dst) != size:
        return b""
    ports[0], ports[1] = src_port >> 8, src_port & 0xFF
    ports[2], ports[3] = dst_port >> 8, dst_port & 0xFF
    return _key_at(version, <const uint8_t*><const char*>src, <const uint8_t*><const char*>dst,
                   size, ports)
