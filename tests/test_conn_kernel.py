"""fastseg.conn against the Linux kernel's TCP, through a TUN device in a private namespace.

Every segment the kernel sends is decoded with fastseg, checked and fed to a
Connection; every segment the Connection emits is packed with its checksum and
written to the TUN device.  The kernel side is an ordinary socket program.
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional

import pytest
from kernel_peer import KernelPeer, digest, pattern, requires_kernel_peer

from fastseg import Flags, Segment
from fastseg.conn import (
    Closed,
    Config,
    Connected,
    Connection,
    ConnectionRefused,
    ConnectionReset,
    DataReceived,
    Event,
    PeerFinished,
    State,
)

pytestmark = requires_kernel_peer
USER_PORT = 40123
MB = 1 << 20
CONFIG = Config(msl=0.5, rto_initial=0.5, rto_min=0.2, delayed_ack=0.02)


class Driver:
    """Runs one Connection against the kernel in real time, bounded by a budget."""

    def __init__(self, peer: KernelPeer, conn: Connection, *, budget: float = 20.0,
                 drop: Optional[Callable[[str, Segment], bool]] = None) -> None:
        self.peer, self.conn = peer, conn
        self.deadline = time.monotonic() + budget
        self.drop = drop or (lambda direction, segment: False)
        self.events: List[Event] = []
        self.data = bytearray()
        self.held: List[Segment] = []  # kernel segments we keep back on purpose

    def flush(self) -> None:
        for segment in self.conn.segments_to_send(time.monotonic()):
            if not self.drop("out", segment):
                self.peer.send_segment(segment)

    def step(self, wait: float = 0.02) -> None:
        self.flush()
        now = time.monotonic()
        due = self.conn.next_deadline()
        timeout = wait if due is None else max(0.0, min(wait, due - now))
        segment = self.peer.recv_segment(timeout=timeout)
        now = time.monotonic()
        if segment is not None and not self.drop("in", segment):
            self.conn.receive(segment, now, remote_ip=self.peer.kernel_addr)
        self.conn.handle_timeout(now)
        while (event := self.conn.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, DataReceived):
                self.data += event.data
        self.flush()

    def until(self, done: Callable[[], bool], what: str) -> None:
        while not done():
            if time.monotonic() > self.deadline:
                pytest.fail(f"timed out waiting for {what}: state {self.conn.state.value}\n"
                            + self.peer.format_trace())
            self.step()

    def send_all(self, data: bytes) -> None:
        """Offer ``data`` as the send buffer frees up, exchanging segments meanwhile."""
        offset = 0
        while offset < len(data):
            offset += self.conn.send(data[offset:])
            if offset < len(data):
                self.until(lambda: self.conn.send_capacity > 0, "send buffer space")


def active(peer: KernelPeer, port: int, config: Config = CONFIG) -> Connection:
    return Connection((peer.user_addr, USER_PORT), (peer.kernel_addr, port), config=config,
                      iss=2**32 - 777)


def states(conn: Connection) -> List[str]:
    return [state.value for state in conn.history]


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_active_open_data_both_ways_we_close_first(ipv6):
    size_up, size_down = 4 * MB, 3 * MB
    with KernelPeer(ipv6=ipv6, record=False) as peer:
        # The kernel sends, then reads until our FIN, and only then closes: we close first.
        server = peer.server(send=size_down, send_first=True, read=None, shutdown="end", hold=0.3)
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(size_up))
        drive.until(lambda: len(drive.data) >= size_down, "the kernel's data")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.TIME_WAIT, "TIME-WAIT")
        result = server.result()
        drive.until(lambda: conn.state is State.CLOSED, "2 MSL")
    assert result["received"] == size_up and result["sha256"] == digest(pattern(size_up))
    assert bytes(drive.data) == pattern(size_down)
    assert states(conn) == ["CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2",
                            "TIME-WAIT", "CLOSED"]
    assert Connected() in drive.events and PeerFinished() in drive.events
    assert drive.events[-1] == Closed()


def test_passive_open_kernel_closes_first():
    with KernelPeer(record=False) as peer:
        conn = Connection((peer.user_addr, USER_PORT), config=CONFIG, iss=2**32 - 5)
        conn.listen()
        drive = Driver(peer, conn)
        client = peer.client(USER_PORT, send=2 * MB, read=MB, shutdown="after_send")
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(MB))
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the kernel's FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "LAST-ACK to CLOSED")
        result = client.result()
    assert bytes(drive.data) == pattern(2 * MB)
    assert result["received"] == MB and result["sha256"] == digest(pattern(MB))
    assert states(conn) == ["CLOSED", "LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT",
                            "LAST-ACK", "CLOSED"]
    assert conn.remote == (peer.kernel_addr, client.info["local_port"])  # learnt from the SYN


def test_simultaneous_close():
    with KernelPeer() as peer:
        server = peer.server(read=1000, shutdown="end", hold=0.5)
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        conn.send(pattern(1000))
        # Hold back the kernel's FIN until ours is on the wire: the FINs cross.
        original = drive.drop

        def hold_fin(direction: str, segment: Segment) -> bool:
            if direction == "in" and segment.flags & Flags.FIN and conn.state is State.ESTABLISHED:
                drive.held.append(segment)
                return True
            return original(direction, segment)

        drive.drop = hold_fin
        drive.until(lambda: drive.held, "the kernel's FIN")
        conn.close(time.monotonic())
        drive.flush()
        for segment in drive.held:
            conn.receive(segment, time.monotonic())
        assert conn.state is State.CLOSING
        drive.until(lambda: conn.state is State.TIME_WAIT, "CLOSING to TIME-WAIT")
        server.result()
    assert "CLOSING" in states(conn)


def test_connect_refused():
    with KernelPeer() as peer:
        conn = active(peer, 9)  # nothing listens on port 9
        drive = Driver(peer, conn, budget=5.0)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the RST")
    assert drive.events[-2:] == [ConnectionRefused(), Closed()]


def test_kernel_abort_resets_us():
    with KernelPeer() as peer:
        server = peer.server(read=500, abort=True)
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        conn.send(pattern(500))
        drive.until(lambda: conn.state is State.CLOSED, "the kernel's RST")
        server.result()
    assert drive.events[-2:] == [ConnectionReset(), Closed()]


def test_loss_both_ways_recovers():
    lost_out, lost_in = {5, 9, 10, 40}, {7, 30}
    counts = {"out": 0, "in": 0}

    def drop(direction: str, segment: Segment) -> bool:
        if not segment.payload:
            return False
        counts[direction] += 1
        return counts[direction] in (lost_out if direction == "out" else lost_in)

    with KernelPeer(record=False) as peer:
        server = peer.server(read=300_000, send=200_000, shutdown="end")
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn, drop=drop)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(300_000))
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "all the kernel's data and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        result = server.result()
    assert result["sha256"] == digest(pattern(300_000))
    assert bytes(drive.data) == pattern(200_000)
    assert counts["out"] > max(lost_out) and counts["in"] > max(lost_in)


def test_kernel_zero_window_is_probed():
    with KernelPeer() as peer:
        server = peer.server(read=200_000, rcvbuf=2048, read_delay=1.0, shutdown="end")
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.until(lambda: True, "nothing")
        conn.send(pattern(200_000))
        drive.until(lambda: conn.snd_wnd == 0, "a zero window")
        drive.until(lambda: conn.snd_una == conn.snd_nxt and conn.send_capacity == CONFIG.send_buffer,
                    "all data acknowledged")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state in (State.TIME_WAIT, State.CLOSED), "the close")
        result = server.result()
    assert result["sha256"] == digest(pattern(200_000))
