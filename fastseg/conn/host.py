"""Many connections behind one set of addresses, sans-IO: a userspace TCP host.

:class:`Host` owns the 4-tuple table, the listeners with their backlogs,
ephemeral ports (RFC 6056) and SYN cookies (RFC 4987), and hands each
arriving segment to its :class:`~fastseg.conn.Connection`.  Like a
connection it never reads a clock or a device: the caller passes segments
with their addresses and ``now`` in, and takes :class:`Datagram` objects,
events and deadlines out.

Segments for no connection are answered here, as RFC 9293 §3.10.7.1 has a
CLOSED endpoint answer them, and segments for a listener as §3.10.7.2 has
LISTEN answer them, except that each SYN gets a connection of its own so the
listener keeps listening.  A connection leaves the host when it reaches
CLOSED (after TIME-WAIT, a reset or a timeout), so memory stays bounded
under churn; its last segments and events can still be taken.

Each call costs time in proportion to the connections it touches, not to
the connections the host holds: ``receive`` visits one, ``segments_to_send``
those that ran since the last call (a segment arrived, a timer fired, the
caller sent, closed or read), and ``next_deadline`` and ``handle_timeout``
keep the deadlines in a heap.  Only ``connections`` lists them all.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import ipaddress
import itertools
import os
from collections import Counter, deque
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from fastseg.conn.bits import ACK, RST, SYN
from fastseg.conn.config import Config, Endpoint
from fastseg.conn.connection import Connection
from fastseg.conn.cookies import SynCookies, cookie_mss
from fastseg.conn.ecn import ECN_MASK, NOT_ECT
from fastseg.conn.events import Event
from fastseg.conn.listener import Listener
from fastseg.conn.ports import FIRST_EPHEMERAL, LAST_EPHEMERAL, AddressError, EphemeralPorts
from fastseg.conn.states import S
from fastseg.segment import OptionKind, Segment
from fastseg.seq import seq_add

__all__ = ["Datagram", "Host", "HostEvent"]

#: An IP address as text or an ``ipaddress`` object.
Address = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]
#: (local ip, local port, remote ip, remote port)
_Key = Tuple[str, int, str, int]
#: Stale entries the deadline heap may hold beyond twice its live ones before it is rebuilt.
_HEAP_SLACK = 64
#: RFC 9293 §3.7.1: the MSS assumed when a SYN announces none (IPv4; IPv6 per RFC 8200 §5).
_DEFAULT_MSS = {4: 536, 6: 1220}


class Datagram(NamedTuple):
    """A segment to put on the wire from ``src`` to ``dst`` (addresses as text,
    spelled as :mod:`ipaddress` spells them); its checksum is not yet computed.
    ``ecn`` is the ECN codepoint its IP header carries (:mod:`fastseg.conn.ecn`,
    RFC 3168 §5): ECT(0) on new data of a connection that agreed to ECN, else
    Not-ECT."""

    src: str
    dst: str
    segment: Segment
    ecn: int = NOT_ECT


class HostEvent(NamedTuple):
    """An event of one of the host's connections, saying which."""

    connection: Connection
    event: Event


@functools.lru_cache(maxsize=4096)
def _parse(address: Address) -> Tuple[str, int, bool]:
    """(text, IP version, whether it may be a TCP peer: neither multicast nor unspecified)."""
    parsed = ipaddress.ip_address(address)
    return str(parsed), parsed.version, not (parsed.is_multicast or parsed.is_unspecified)


def _address(address: Address, what: str) -> Tuple[str, int, bool]:
    try:
        return _parse(address)
    except (ValueError, TypeError):
        raise AddressError(f"{what} is not an IPv4 or IPv6 address: {address!r}") from None


def _port(port: int, what: str, *, zero: bool = False) -> int:
    if type(port) is not int or not (0 if zero else 1) <= port <= 0xFFFF:
        raise AddressError(f"{what} port must be an int in [{0 if zero else 1}, 65535], got {port!r}")
    return port


class Host:
    """A userspace TCP host owning ``addresses`` (IPv4 and IPv6, text or ``ipaddress``).

    ``config`` is the :class:`Config` of every connection it makes.  ``secret``
    keys ephemeral ports and SYN cookies (random unless given, for tests), and
    ``ephemeral`` is the port range of active opens (RFC 6056 §2.1).

    ``dropped`` counts segments dropped, by reason; ``stats`` counts
    ``resets_sent``, ``cookies_sent`` and ``cookies_accepted``.
    """

    def __init__(self, addresses: Iterable[Address] = (), *, config: Optional[Config] = None,
                 secret: Optional[bytes] = None,
                 ephemeral: Tuple[int, int] = (FIRST_EPHEMERAL, LAST_EPHEMERAL)) -> None:
        self.config = config or Config()
        owned = [_address(a, "an owned address") for a in addresses]
        #: Owned addresses as text, in the order given.
        self.addresses: Tuple[str, ...] = tuple(dict.fromkeys(text for text, _, _ in owned))
        self._version = {text: version for text, version, _ in owned}
        key = secret if secret is not None else os.urandom(16)
        self._ports = EphemeralPorts(hashlib.blake2s(key, person=b"ports").digest(), *ephemeral)
        self._cookies = SynCookies(hashlib.blake2s(key, person=b"cookies").digest())
        self._table: dict[_Key, Connection] = {}
        self._keys: dict[Connection, _Key] = {}
        self._listeners: dict[Endpoint, Listener] = {}
        self._passive: dict[Connection, Listener] = {}  # half-open, by their listener
        self._outbox: list[Datagram] = []
        # Connections that ran since segments_to_send last visited them (insertion order),
        # CLOSED ones among them until their last segments are taken.
        self._touched: Dict[Connection, None] = {}
        # Each table connection's deadline, and a heap of (deadline, tie, connection) whose
        # entries no longer matching _deadline are stale and skipped.
        self._deadline: Dict[Connection, float] = {}
        self._heap: List[Tuple[float, int, Connection]] = []
        self._tie = itertools.count()
        self._order: deque[Connection] = deque()  # one entry per event, in the order they arose
        self._counted: dict[Connection, int] = {}  # events of each connection in _order
        self._held: dict[Connection, int] = {}  # held connections: their entries taken off _order
        self.dropped: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------ user calls

    @property
    def connections(self) -> list[Connection]:
        """The live connections (every state but CLOSED), accepted or not."""
        return [conn for conn in self._table.values() if conn.state is not S.CLOSED]

    @property
    def listeners(self) -> list[Listener]:
        """The open listeners."""
        return list(self._listeners.values())

    def listen(self, address: Tuple[Address, int], *, backlog: int = 128) -> Listener:
        """Listen on ``(ip, port)``; ``ip`` "" listens on every owned address.

        A listener on one address takes precedence over one on "" with the
        same port.  AddressError when the address is not owned or already
        listened on; ValueError when ``backlog`` is below 1.
        """
        ip = "" if address[0] == "" else self._owned(address[0])
        port = _port(address[1], "a listening")
        if type(backlog) is not int or backlog < 1:
            raise ValueError(f"backlog must be an int of at least 1, got {backlog!r}")
        if (ip, port) in self._listeners:
            raise AddressError(f"already listening on {ip or '*'} port {port}")
        listener = self._listeners[(ip, port)] = Listener(self, (ip, port), backlog)
        return listener

    def connect(self, remote: Tuple[Address, int], now: float, *,
                local: Optional[Tuple[Address, int]] = None,
                data: Union[bytes, bytearray, memoryview] = b"") -> Connection:
        """Open a connection to ``remote`` (``(ip, port)``), its SYN carrying ``data``.

        ``local`` defaults to the first owned address of the remote's IP
        version; a local port of 0 (or no ``local``) takes an ephemeral port
        (RFC 6056 §3.3.3) whose 4-tuple is neither in use nor in TIME-WAIT,
        and not a listening port.  AddressError for an address not owned or of
        the other IP version, a 4-tuple in use, or no port left; ValueError as
        :meth:`Connection.connect` raises it.
        """
        remote_ip, version, unicast = _address(remote[0], "the remote address")
        remote_port = _port(remote[1], "the remote")
        if not unicast:
            raise AddressError(f"cannot connect to {remote_ip}: not a unicast address")
        if local is None:
            ip = next((a for a in self.addresses if self._version[a] == version), None)
            if ip is None:
                raise AddressError(f"the host owns no IPv{version} address to connect from")
            port = 0
        else:
            ip, port = self._owned(local[0]), _port(local[1], "the local", zero=True)
            if self._version[ip] != version:
                raise AddressError(f"{ip} and {remote_ip} are of different IP versions")
        target = (remote_ip, remote_port)
        if port == 0:
            port = self._ports.choose(ip, target, lambda p: self._free(ip, p, target))
        elif self._taken((ip, port, remote_ip, remote_port)):
            raise AddressError(f"{ip} port {port} to {remote_ip} port {remote_port} is in use")
        conn = Connection((ip, port), target, config=self.config)
        conn.connect(now, data)
        self._register(conn, (ip, port, remote_ip, remote_port))
        return conn

    # ------------------------------------------------------------ segment arrival

    def receive(self, segment: Segment, now: float, *, src: Address, dst: Address,
                ecn: int = NOT_ECT) -> None:
        """Process one segment that arrived from ``src`` for ``dst`` (checksum verified by the caller).
        ``ecn`` is the ECN codepoint of its IP header (see ``Connection.receive``).

        What the segment holds never raises; addresses that are not IP
        addresses raise AddressError (the caller's mistake).  A segment for an
        address the host does not own, from a multicast or unspecified
        address, or across IP versions is dropped and counted in ``dropped``.
        """
        src_ip, src_version, unicast = _address(src, "src")
        dst_ip, dst_version, _ = _address(dst, "dst")
        if ecn != NOT_ECT and ecn & ~ECN_MASK:
            raise ValueError(f"not an ECN codepoint: {ecn!r}")
        if dst_ip not in self._version:
            self._drop("not an address of this host")
        elif src_version != dst_version:
            self._drop("src and dst of different IP versions")
        elif not unicast:
            self._drop("source address is multicast or unspecified")  # RFC 1122 §4.2.3.10
        else:
            key = (dst_ip, segment.dst_port, src_ip, segment.src_port)
            conn = self._table.get(key)
            if conn is not None and self._cookie_overtakes(conn, segment, now, key):
                return
            if conn is not None:
                conn.receive(segment, now, remote_ip=src_ip, ecn=ecn)
                self._settle(conn)
                return
            listener = self._listeners.get((dst_ip, segment.dst_port)) \
                or self._listeners.get(("", segment.dst_port))
            if listener is None:
                self._reset(segment, dst_ip, src_ip, "no connection and no listener")
            else:
                self._for_listener(listener, segment, now, key)

    def _for_listener(self, listener: Listener, segment: Segment, now: float, key: _Key) -> None:
        """RFC 9293 §3.10.7.2, each SYN taken by a connection of its own (or a cookie)."""
        flags = int(segment.flags)
        if flags & RST:
            self._drop("RST for a listener")
        elif flags & ACK:
            if not self._cookie_ack(listener, segment, now, key):
                self._reset(segment, key[0], key[2], "ACK for a listener")
        elif flags & SYN:
            if len(listener.half_open) >= listener.backlog:
                self._send_cookie(segment, now, key)
                return
            conn = Connection(key[:2], config=self.config)
            conn.listen()
            conn.receive(segment, now, remote_ip=key[2])
            listener.half_open.add(conn)
            self._passive[conn] = listener
            self._register(conn, key)
        else:
            self._drop("neither SYN, ACK nor RST for a listener")

    def _reset(self, segment: Segment, local_ip: str, remote_ip: str, reason: str) -> None:
        """RFC 9293 §3.10.7.1: a RST that the sender will find acceptable; nothing for a RST."""
        flags = int(segment.flags)
        if flags & RST:
            self._drop(f"{reason}: RST not answered")
            return
        if flags & ACK:
            reset = Segment(src_port=segment.dst_port, dst_port=segment.src_port,
                            seq=segment.ack, flags=RST, window=0)
        else:
            reset = Segment(src_port=segment.dst_port, dst_port=segment.src_port, seq=0,
                            ack=seq_add(segment.seq, segment.seg_len), flags=RST | ACK, window=0)
        self._outbox.append(Datagram(local_ip, remote_ip, reset))
        self.stats["resets_sent"] += 1
        self._drop(f"{reason}: answered with RST")

    # ------------------------------------------------------------ SYN cookies (RFC 4987 §3.6)

    def _cookie_syn(self, segment: Segment, isn: int, mss: int) -> Segment:
        """The SYN a cookie stands for: only what the cookie carries (see :mod:`~fastseg.conn.cookies`)."""
        return Segment(src_port=segment.src_port, dst_port=segment.dst_port, seq=isn, flags=SYN,
                       window=segment.window, options=((OptionKind.MSS, mss),))

    def _from_cookie(self, local: Endpoint, cookie: int, syn: Segment, now: float,
                     remote_ip: str) -> Connection:
        """A connection in SYN-RECEIVED from ISS ``cookie``, as if it had taken ``syn``."""
        conn = Connection(local, config=self.config, iss=cookie)
        conn.listen()
        conn.receive(syn, now, remote_ip=remote_ip)
        return conn

    def _send_cookie(self, segment: Segment, now: float, key: _Key) -> None:
        """Answer a SYN beyond the backlog with a SYN,ACK whose ISN is a cookie; keep nothing."""
        local, remote = key[:2], key[2:]
        mss = segment.mss or _DEFAULT_MSS[self._version[key[0]]]
        cookie = self._cookies.make(now, local, remote, segment.seq, mss)
        conn = self._from_cookie(local, cookie, self._cookie_syn(segment, segment.seq,
                                                                 cookie_mss(cookie)), now, key[2])
        self._outbox.extend(Datagram(key[0], key[2], s) for s in conn.segments_to_send(now))
        self.stats["cookies_sent"] += 1

    def _cookie_ack(self, listener: Listener, segment: Segment, now: float, key: _Key) -> bool:
        """Complete a handshake from a valid cookie in ``segment.ack``; False when it holds none."""
        isn, cookie = seq_add(segment.seq, -1), seq_add(segment.ack, -1)
        mss = self._cookies.check(now, key[:2], key[2:], isn, cookie)
        if mss is None:
            return False
        if listener.queued >= listener.backlog:
            self._drop("accept queue full: handshake by cookie dropped")
            return True
        conn = self._from_cookie(key[:2], cookie, self._cookie_syn(segment, isn, mss), now, key[2])
        conn.segments_to_send(now)  # its SYN,ACK went out before, as the cookie
        conn.receive(segment, now, remote_ip=key[2])
        self._passive[conn] = listener
        self.stats["cookies_accepted"] += 1
        self._register(conn, key)
        return True

    def _cookie_overtakes(self, conn: Connection, segment: Segment, now: float, key: _Key) -> bool:
        """A half-open connection made by a repeated SYN after a cookie answered the first one:
        the peer's ACK of the cookie completes the handshake by cookie (as Linux's listener checks
        cookies for an ACK that its request does not expect) instead of drawing a RST."""
        listener = self._passive.get(conn)
        if listener is None or conn.state is not S.SYN_RECEIVED \
                or int(segment.flags) & (SYN | RST | ACK) != ACK \
                or segment.ack == seq_add(conn._iss, 1):
            return False
        isn, cookie = seq_add(segment.seq, -1), seq_add(segment.ack, -1)
        if self._cookies.check(now, key[:2], key[2:], isn, cookie) is None:
            return False
        listener.half_open.discard(conn)  # forgotten without a word: its peer moved on
        del self._passive[conn]
        self._retire(conn)
        conn._watch = None
        self._touched.pop(conn, None)
        return self._cookie_ack(listener, segment, now, key)

    # ------------------------------------------------------------ outputs

    def segments_to_send(self, now: float) -> list[Datagram]:
        """Every datagram due now: the host's own answers first, then each connection's in order."""
        out, self._outbox = self._outbox, []
        touched, self._touched = self._touched, {}
        for conn in touched:
            local_ip = conn.local[0]
            out.extend(Datagram(local_ip, ip, segment, conn.codepoint(segment))
                       for segment, (ip, _) in conn.segments_to_send(now, addressed=True))
            if conn in self._keys:
                self._settle(conn)  # user calls (close, abort) since the last visit
                self._reschedule(conn)
            else:
                conn._watch = None  # gone, its last segments taken
        self._touched.clear()  # each visit above told _touch of itself
        return out

    def next_event(self) -> Optional[HostEvent]:
        """The oldest event of any connection not yet taken, or None.

        Take a connection's events either here or from the connection
        itself: events taken there no longer come out here.
        """
        while self._order:
            conn = self._order.popleft()
            if conn in self._held:
                self._held[conn] += 1
                continue
            left = self._counted[conn] - 1
            if left:
                self._counted[conn] = left
            else:
                del self._counted[conn]
            event = conn.next_event()
            if event is not None:
                return HostEvent(conn, event)
        return None

    def hold(self, connection: Connection) -> None:
        """Keep the connection's events with it: ``next_event`` passes over them.

        Data it delivered then stays unread, so its receive window closes as
        the peer sends (RFC 9293 §3.8.6.2): how a reader applies backpressure.
        The events keep their order; :meth:`release` lets them out again.
        """
        self._held.setdefault(connection, 0)

    def release(self, connection: Connection) -> None:
        """Let a held connection's events out again, after those already waiting."""
        count = self._held.pop(connection, 0)
        self._order.extend([connection] * count)

    def next_deadline(self) -> Optional[float]:
        """When ``handle_timeout`` next has work, or None."""
        self._reschedule_touched()
        heap = self._heap
        while heap and self._deadline.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def handle_timeout(self, now: float) -> None:
        """Run the timers of every connection due at ``now``; safe when nothing is due."""
        self._reschedule_touched()
        heap, due = self._heap, []
        while heap and heap[0][0] <= now:
            deadline, _, conn = heapq.heappop(heap)
            if self._deadline.get(conn) == deadline:
                del self._deadline[conn]
                due.append(conn)
        for conn in due:
            conn.handle_timeout(now)
            self._settle(conn)
            self._reschedule(conn)

    # ------------------------------------------------------------ bookkeeping

    def _owned(self, address: Address) -> str:
        ip = _address(address, "the local address")[0]
        if ip not in self._version:
            raise AddressError(f"{ip} is not an address of this host")
        return ip

    def _taken(self, key: _Key) -> bool:
        """Whether a connection holds the 4-tuple (in TIME-WAIT too); one that the
        caller closed since the host last saw it leaves now."""
        conn = self._table.get(key)
        if conn is not None and conn.state is S.CLOSED:
            self._settle(conn)
            return False
        return conn is not None

    def _free(self, ip: str, port: int, remote: Endpoint) -> bool:
        """RFC 6056 check_suitable_port: no live or TIME-WAIT 4-tuple, no listener on the port."""
        return not self._taken((ip, port, *remote)) and (ip, port) not in self._listeners \
            and ("", port) not in self._listeners

    def _drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def _register(self, conn: Connection, key: _Key) -> None:
        self._table[key] = conn
        self._keys[conn] = key
        conn._watch = self._touch
        self._touch(conn)
        self._settle(conn)

    def _touch(self, conn: Connection) -> None:
        """The connection ran (a user call, a segment, a timer): visit it at the next output."""
        self._touched[conn] = None

    def _reschedule(self, conn: Connection) -> None:
        """Bring the heap in line with the connection's next deadline."""
        deadline = conn.next_deadline()
        if deadline == self._deadline.get(conn):
            return
        if deadline is None:
            del self._deadline[conn]
            return
        self._deadline[conn] = deadline
        heapq.heappush(self._heap, (deadline, next(self._tie), conn))
        if len(self._heap) > 2 * len(self._deadline) + _HEAP_SLACK:  # drop the stale entries
            self._heap = [(d, next(self._tie), c) for c, d in self._deadline.items()]
            heapq.heapify(self._heap)

    def _reschedule_touched(self) -> None:
        for conn in self._touched:
            if conn in self._keys:
                self._reschedule(conn)

    def _settle(self, conn: Connection) -> None:
        """After the connection ran: count its new events, move it along its listener, retire it."""
        pending = len(conn._events)
        counted = self._counted.get(conn, 0)
        if pending > counted:
            self._order.extend([conn] * (pending - counted))
            self._counted[conn] = pending
        state = conn.state
        listener = self._passive.get(conn)
        if listener is not None and state is not S.SYN_RECEIVED:
            del self._passive[conn]
            if state is S.LISTEN or state is S.CLOSED:  # reset back to LISTEN (§3.10.7.4), timed out
                listener.half_open.discard(conn)
                self._retire(conn)
            else:
                listener._established(conn)
        if state is S.CLOSED:
            self._retire(conn)

    def _retire(self, conn: Connection) -> None:
        """The connection leaves the table; its last segments go out at the next call."""
        key = self._keys.pop(conn, None)
        if key is not None:
            del self._table[key]
            self._deadline.pop(conn, None)  # it ran, so it is touched: its last segments go out

    def _unlisten(self, listener: Listener, now: float) -> None:
        del self._listeners[listener.address]
        for conn in listener._abandoned():
            self._passive.pop(conn, None)
            if conn.state is not S.CLOSED:
                conn.abort(now)
            self._settle(conn)

