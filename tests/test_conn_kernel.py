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

pytestmark = [requires_kernel_peer, pytest.mark.usefixtures("arrival_path")]
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
        self.reading = True  # False: events wait, so the receive window closes

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
        while self.reading and (event := self.conn.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, DataReceived):
                self.data += event.data
        self.flush()

    def until(self, done: Callable[[], bool], what: str) -> None:
        while not done():
            if time.monotonic() > self.deadline:
                pytest.fail(f"timed out waiting for {what}: state {self.conn.state.value}, "
                            f"last events {self.events[-3:]}\n" + self.peer.format_trace())
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


# ---------------------------------------------------------------- text in a SYN (TCP Fast Open)

SYN_TEXT = b"text in the SYN, RFC 9293 3.10.7.2"


def fast_open_server(task, *, ipv6=False):
    """Kernel side: a TCP_FASTOPEN listener that reads one connection to EOF."""
    import socket

    listener = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)
    listener.bind(("", 0))
    listener.listen(1)
    task.ready(port=listener.getsockname()[1])
    conn, _ = listener.accept()
    data = bytearray()
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    return {"data": data.hex()}


def fast_open_client(task, *, host, port, text):
    """Kernel side: sendto(MSG_FASTOPEN) puts the text in the SYN; once connected (a
    shutdown in SYN-SENT would close the socket) shut down writing, then read to EOF."""
    import select
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    task.ready()
    sock.sendto(bytes.fromhex(text), socket.MSG_FASTOPEN, (host, port))
    select.select([], [sock], [], 5.0)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    sock.close()
    return {"sent": True}


def payloads_out(log: List[Segment]) -> List[bytes]:
    return [segment.payload for segment in log if segment.payload]


@pytest.mark.parametrize("fast_open", [True, False], ids=["fast-open-server", "plain-server"])
def test_connect_with_text_in_the_syn(fast_open):
    """A Fast Open listener (no cookie asked) takes the SYN's text and acknowledges it in its
    SYN-ACK; a plain one acknowledges only the SYN and we send the text again."""
    sysctls = {"net.ipv4.tcp_fastopen": 0x202} if fast_open else {"net.ipv4.tcp_fastopen": 0}
    sent: List[Segment] = []
    with KernelPeer(sysctls=sysctls) as peer:
        server = peer.run(fast_open_server, timeout=10.0)
        server.wait_ready()
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn, drop=lambda d, s: d == "out" and bool(sent.append(s)))
        conn.connect(time.monotonic(), SYN_TEXT)
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        acked_in_syn_ack = conn.snd_una
        conn.close(time.monotonic())
        drive.until(lambda: conn.state in (State.TIME_WAIT, State.CLOSED), "the close")
        result = server.result()
    assert bytes.fromhex(result["data"]) == SYN_TEXT
    assert sent[0].flags == Flags.SYN and sent[0].payload == SYN_TEXT
    start = (2**32 - 777 + 1) & 0xFFFFFFFF
    if fast_open:
        assert acked_in_syn_ack == (start + len(SYN_TEXT)) & 0xFFFFFFFF
        assert payloads_out(sent) == [SYN_TEXT]
    else:
        assert acked_in_syn_ack == start
        assert payloads_out(sent) == [SYN_TEXT, SYN_TEXT]  # in the SYN, then once more


def test_kernel_fast_open_client_to_our_listener():
    """Linux puts the text in its SYN; we queue it (our SYN-ACK leaves it unacknowledged),
    Linux sends it again, and it is delivered once, after the handshake."""
    with KernelPeer(sysctls={"net.ipv4.tcp_fastopen": 0x5}) as peer:
        conn = Connection((peer.user_addr, USER_PORT), config=CONFIG, iss=2**32 - 5)
        conn.listen()
        drive = Driver(peer, conn)
        client = peer.run(fast_open_client, timeout=10.0, host=peer.user_addr, port=USER_PORT,
                          text=SYN_TEXT.hex())
        client.wait_ready()
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the text and the kernel's FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "LAST-ACK to CLOSED")
        client.result()
        arrived = [e.segment for e in peer.trace if e.direction == "in" and e.segment is not None]
    assert arrived[0].flags & Flags.SYN and arrived[0].payload == SYN_TEXT
    assert bytes(drive.data) == SYN_TEXT
    kinds = [type(e).__name__ for e in drive.events]
    assert kinds.index("Connected") < kinds.index("DataReceived")
