"""The kernel-peer harness, proved with nothing but the codec: TCP driven by hand against Linux.

Each kernel test makes a namespace, talks TCP to the real kernel through a TUN
device and checks the namespace is gone afterwards.  The framing tests at the
end need no privileges.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Callable, Iterator, List, Optional

import pytest
from kernel_peer import (
    KERNEL_ADDR4,
    KERNEL_ADDR6,
    USER_ADDR4,
    USER_ADDR6,
    KernelPeer,
    KernelPeerError,
    KernelScriptError,
    describe,
    digest,
    list_namespaces,
    pattern,
    requires_kernel_peer,
    unwrap,
    wrap,
)

import fastseg
from fastseg import Flags, OptionKind, Segment, seq_add

SERVER_PORT = 5001
USER_PORT = 40001
TEST_BUDGET = 10.0  # seconds: every kernel test must finish well inside this


def has(flag: Flags) -> Callable[[Segment], bool]:
    return lambda segment: bool(segment.flags & flag)


def option_kinds(segment: Segment) -> List[Optional[int]]:
    return [kind for kind, _ in segment.options if kind != OptionKind.NOP]


@pytest.fixture
def budget() -> Iterator[None]:
    """Fails a kernel test that took longer than TEST_BUDGET (every wait in it is bounded)."""
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    assert elapsed < TEST_BUDGET, f"took {elapsed:.1f} s"


def assert_namespace_gone(namespace: str) -> None:
    assert namespace.startswith("fastseg_k_")
    assert namespace not in list_namespaces()


class Outbound:
    """Our side of one connection, kept by hand: ports and the next sequence numbers."""

    def __init__(self, peer: KernelPeer, local: int, remote: int, isn: int):
        self.peer, self.local, self.remote = peer, local, remote
        self.snd_nxt = isn
        self.rcv_nxt = 0

    def send(self, flags: Flags, payload: bytes = b"", **fields: object) -> Segment:
        segment = Segment(src_port=self.local, dst_port=self.remote, seq=self.snd_nxt,
                          ack=self.rcv_nxt if flags & Flags.ACK else 0, flags=flags,
                          payload=payload, **fields)
        self.peer.send_segment(segment)
        self.snd_nxt = seq_add(self.snd_nxt, segment.seg_len)
        return segment


# --------------------------------------------------------------------------------------------
# 1 and 4: the kernel as server, over IPv4 and IPv6


@requires_kernel_peer
@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_kernel_as_server(ipv6: bool, budget: None) -> None:
    with KernelPeer(ipv6=ipv6) as peer:
        namespace = peer.namespace
        server = peer.server(SERVER_PORT)  # reads until EOF, sends nothing, closes
        isn = 2**32 - 500  # our sequence numbers wrap to 0 inside the payload
        us = Outbound(peer, USER_PORT, SERVER_PORT, isn)

        us.send(Flags.SYN, options=[(OptionKind.MSS, 1400)])
        syn_ack = peer.expect_segment(2.0, what="SYN-ACK")
        assert syn_ack.flags == Flags.SYN | Flags.ACK, describe(syn_ack)
        assert (syn_ack.src_port, syn_ack.dst_port) == (SERVER_PORT, USER_PORT)
        assert syn_ack.ack == seq_add(isn, 1)
        # We offered only MSS, so the kernel answers with only its MSS: the device MTU less headers.
        assert option_kinds(syn_ack) == [OptionKind.MSS]
        assert syn_ack.mss == peer.mtu - (60 if ipv6 else 40)
        assert syn_ack.wscale is None and syn_ack.timestamps is None and not syn_ack.sack_permitted
        us.rcv_nxt = seq_add(syn_ack.seq, 1)

        us.send(Flags.ACK)
        data = pattern(1000)
        us.send(Flags.ACK | Flags.PSH, data)
        assert us.snd_nxt == seq_add(isn, 1001) == 501  # wrapped
        ack = peer.expect_segment(2.0, match=lambda s: s.ack == seq_add(isn, 1 + 1000),
                                  what="ACK of our 1000 bytes")
        assert ack.flags == Flags.ACK and ack.seq == us.rcv_nxt and not ack.payload

        # Our FIN; the kernel ACKs it (maybe on its own FIN), its app sees EOF and closes.
        our_fin = us.send(Flags.FIN | Flags.ACK)
        their_fin = peer.expect_segment(2.0, match=has(Flags.FIN), what="the kernel's FIN")
        assert their_fin.flags & Flags.ACK and their_fin.ack == seq_add(our_fin.seq, 1)
        assert their_fin.seq == us.rcv_nxt and not their_fin.payload
        us.rcv_nxt = seq_add(their_fin.seq, 1)
        us.send(Flags.ACK)  # the last ACK: the kernel's socket goes from LAST-ACK to CLOSED

        result = server.result(5.0)
        assert result["received"] == 1000 and result["eof"] and result["error"] is None
        assert result["sha256"] == digest(data)
        assert result["peer"][:2] == [peer.user_addr, USER_PORT]
        assert result["state"] == "CLOSE_WAIT"  # just before its close()

        deadline = time.monotonic() + 2.0
        while peer.sockets() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert peer.sockets() == [], "a kernel socket is still there (no final ACK taken?)"
        assert peer.recv_segment(0.2) is None, "the kernel retransmitted:\n" + peer.format_trace()
    assert_namespace_gone(namespace)


# --------------------------------------------------------------------------------------------
# 2: the kernel as client


@requires_kernel_peer
def test_kernel_as_client(budget: None) -> None:
    size, our_mss = 3000, 536
    with KernelPeer() as peer:
        namespace = peer.namespace
        # Connects to us, sends `size` bytes, shuts down its sending side, reads until EOF.
        client = peer.client(SERVER_PORT, send=size, shutdown="after_send")

        syn = peer.expect_segment(3.0, match=has(Flags.SYN), what="SYN")
        assert syn.flags == Flags.SYN and syn.dst_port == SERVER_PORT, describe(syn)
        assert syn.src_port == client.info["local_port"]
        # A Linux SYN offers everything it has, with its real ISN and clock.
        assert set(option_kinds(syn)) == {OptionKind.MSS, OptionKind.SACK_PERMITTED,
                                          OptionKind.TIMESTAMPS, OptionKind.WSCALE}
        assert syn.mss == 1460 and syn.sack_permitted and syn.wscale is not None
        assert syn.timestamps is not None and syn.timestamps[1] == 0

        isn = 0x7FFFFFF0
        us = Outbound(peer, SERVER_PORT, syn.src_port, isn)
        us.rcv_nxt = seq_add(syn.seq, 1)
        # Answer with MSS only: no timestamps, scaling or SACK, so the kernel must use none.
        us.send(Flags.SYN | Flags.ACK, options=[(OptionKind.MSS, our_mss)])

        received = bytearray()
        fin_seen = False
        while not fin_seen:
            segment = peer.expect_segment(2.0, what="data or FIN")
            assert segment.flags & Flags.ACK and segment.ack == seq_add(isn, 1), describe(segment)
            assert not segment.options, "options after a handshake that agreed none"
            assert segment.seq == us.rcv_nxt, "out of order or retransmitted:\n" + peer.format_trace()
            assert len(segment.payload) <= our_mss
            received += segment.payload
            fin_seen = bool(segment.flags & Flags.FIN)
            if segment.seg_len:
                us.rcv_nxt = seq_add(us.rcv_nxt, segment.seg_len)
                us.send(Flags.ACK)
        assert bytes(received) == pattern(size)

        our_fin = us.send(Flags.FIN | Flags.ACK)
        last = peer.expect_segment(2.0, match=lambda s: s.ack == seq_add(our_fin.seq, 1),
                                   what="ACK of our FIN")
        assert last.flags == Flags.ACK and last.seq == us.rcv_nxt

        result = client.result(5.0)
        assert result["connected"] and result["error"] is None
        assert result["sent"] == size and result["eof"] and result["received"] == 0
        assert [s.state for s in peer.sockets()] == ["TIME-WAIT"]
    assert_namespace_gone(namespace)


# --------------------------------------------------------------------------------------------
# 3: RSTs


@requires_kernel_peer
def test_syn_to_closed_port_gets_rst(budget: None) -> None:
    with KernelPeer() as peer:
        namespace = peer.namespace
        isn = 123456789
        peer.send_segment(Segment(src_port=USER_PORT, dst_port=9, seq=isn, flags=Flags.SYN,
                                  options=[(OptionKind.MSS, 1460)]))
        rst = peer.expect_segment(2.0, what="RST")
        assert rst.flags == Flags.RST | Flags.ACK, describe(rst)
        assert (rst.src_port, rst.dst_port) == (9, USER_PORT)
        assert rst.seq == 0 and rst.ack == seq_add(isn, 1) and rst.window == 0
    assert_namespace_gone(namespace)


@requires_kernel_peer
def test_abortive_close_sends_rst(budget: None) -> None:
    with KernelPeer() as peer:
        server = peer.server(SERVER_PORT, read=0, abort=True)  # accept, SO_LINGER {1, 0}, close
        us = Outbound(peer, USER_PORT, SERVER_PORT, 1000)
        us.send(Flags.SYN)
        syn_ack = peer.expect_segment(2.0, what="SYN-ACK")
        us.rcv_nxt = seq_add(syn_ack.seq, 1)
        us.send(Flags.ACK)
        rst = peer.expect_segment(2.0, match=has(Flags.RST), what="RST")
        assert rst.flags == Flags.RST | Flags.ACK and rst.seq == us.rcv_nxt and rst.ack == us.snd_nxt
        assert server.result(5.0)["state"] == "ESTABLISHED"


@requires_kernel_peer
def test_rst_refuses_kernel_connect(budget: None) -> None:
    with KernelPeer() as peer:
        client = peer.client(SERVER_PORT, send=10)
        syn = peer.expect_segment(3.0, match=has(Flags.SYN), what="SYN")
        peer.send_segment(Segment(src_port=SERVER_PORT, dst_port=syn.src_port, seq=0,
                                  ack=seq_add(syn.seq, 1), flags=Flags.RST | Flags.ACK, window=0))
        result = client.result(5.0)
        assert not result["connected"] and result["error"].startswith("ConnectionRefusedError")


# --------------------------------------------------------------------------------------------
# The other harness features the state-machine tests lean on


@requires_kernel_peer
def test_small_rcvbuf_closes_the_window(budget: None) -> None:
    with KernelPeer() as peer:
        # A tiny receive buffer and an app that waits before reading: the window must hit zero.
        server = peer.server(SERVER_PORT, rcvbuf=2048, read_delay=0.5)
        us = Outbound(peer, USER_PORT, SERVER_PORT, 5000)
        us.send(Flags.SYN, options=[(OptionKind.MSS, 1460)])
        syn_ack = peer.expect_segment(2.0, what="SYN-ACK")
        us.rcv_nxt = seq_add(syn_ack.seq, 1)
        us.send(Flags.ACK)
        window, sent = syn_ack.window, 0
        assert 0 < window < 4096
        for _ in range(20):
            if window == 0:
                break
            chunk = pattern(min(500, window), sent)
            us.send(Flags.ACK, chunk)
            sent += len(chunk)
            ack = peer.expect_segment(1.0, match=lambda s, n=us.snd_nxt: s.ack == n, what="ACK")
            window = ack.window
        assert window == 0, peer.format_trace()
        update = peer.expect_segment(2.0, match=lambda s: s.window > 0, what="window update")
        assert update.ack == us.snd_nxt
        us.send(Flags.FIN | Flags.ACK)
        result = server.result(5.0)
        assert result["received"] == sent and result["sha256"] == digest(pattern(sent))


@requires_kernel_peer
def test_in_process_socket_and_sysctl(budget: None) -> None:
    with KernelPeer() as peer:
        assert peer.sysctl("net.ipv4.tcp_timestamps", 0) == "0"
        listener = peer.socket()
        listener.bind(("", SERVER_PORT))
        listener.listen(1)
        listener.settimeout(2.0)
        us = Outbound(peer, USER_PORT, SERVER_PORT, 77)
        us.send(Flags.SYN, options=[(OptionKind.MSS, 1460), (OptionKind.SACK_PERMITTED, None),
                                    (OptionKind.TIMESTAMPS, (1, 0)), (OptionKind.WSCALE, 7)])
        syn_ack = peer.expect_segment(2.0, what="SYN-ACK")
        assert syn_ack.timestamps is None, "tcp_timestamps=0 did not reach the namespace"
        assert syn_ack.sack_permitted and syn_ack.wscale is not None
        us.rcv_nxt = seq_add(syn_ack.seq, 1)
        us.send(Flags.ACK | Flags.PSH, b"hello")
        conn, address = listener.accept()
        conn.settimeout(2.0)
        assert address[:2] == (USER_ADDR4, USER_PORT)
        assert conn.recv(100) == b"hello"
        conn.sendall(b"world")
        reply = peer.expect_segment(2.0, match=lambda s: bool(s.payload), what="data")
        assert reply.payload == b"world" and reply.seq == us.rcv_nxt
        conn.close()


@requires_kernel_peer
def test_exception_inside_with_still_deletes_namespace() -> None:
    with pytest.raises(RuntimeError, match="boom"), KernelPeer() as peer:
        namespace = peer.namespace
        assert namespace in list_namespaces()
        server = peer.server(SERVER_PORT)  # a live kernel-side script must be killed too
        sock = peer.socket()
        raise RuntimeError("boom")
    assert_namespace_gone(namespace)
    assert not server.running
    assert sock.fileno() == -1
    with pytest.raises(KernelPeerError):
        peer.recv(0)


@requires_kernel_peer
def test_script_errors_and_timeouts_are_reported() -> None:
    with KernelPeer() as peer:
        def fails(task: object, word: str) -> None:
            raise ValueError(word)

        with pytest.raises(KernelScriptError, match="ValueError: kaboom"):
            peer.run(fails, word="kaboom").result(5.0)
        script = peer.run("task.ready(n=params['n'])\nresult = pattern(params['n']).hex()", n=3)
        assert script.wait_ready(5.0) == {"n": 3}
        assert script.result(5.0) == "000102"
        sleeper = peer.run("import time\ntime.sleep(30)")
        started = time.monotonic()
        with pytest.raises(KernelScriptError, match="no result in time"):
            sleeper.result(0.3)
        assert time.monotonic() - started < 2.0 and not sleeper.running


# --------------------------------------------------------------------------------------------
# Framing: no privileges needed


def test_wrap_ipv4_header() -> None:
    segment = Segment(src_port=1, dst_port=2, seq=3, flags=Flags.SYN, payload=b"xy")
    packet = wrap(segment, USER_ADDR4, KERNEL_ADDR4, ident=0x1234)
    assert len(packet) == 20 + 20 + 2
    version_ihl, _tos, total, ident, frag, ttl, proto = struct.unpack_from("!BBHHHBB", packet)
    assert (version_ihl, total, ident, frag, ttl, proto) == (0x45, 42, 0x1234, 0x4000, 64, 6)
    assert fastseg.internet_checksum(packet[:20]) == 0
    assert socket.inet_ntoa(packet[12:16]) == USER_ADDR4
    assert unwrap(packet) == (USER_ADDR4, KERNEL_ADDR4, packet[20:])
    assert fastseg.verify_checksum(USER_ADDR4, KERNEL_ADDR4, packet[20:])
    assert fastseg.unpack(packet[20:]).payload == b"xy"


def test_wrap_ipv6_header_and_raw_bytes() -> None:
    tcp = fastseg.pack(Segment(src_port=1, dst_port=2, flags=Flags.ACK))  # checksum 0, kept as is
    packet = wrap(tcp, USER_ADDR6, KERNEL_ADDR6)
    assert packet[0] >> 4 == 6 and struct.unpack_from("!H", packet, 4)[0] == 20 and packet[6] == 6
    assert unwrap(packet) == (USER_ADDR6, KERNEL_ADDR6, tcp)
    with pytest.raises(ValueError, match="different IP versions"):
        wrap(tcp, USER_ADDR4, KERNEL_ADDR6)


def test_unwrap_skips_non_tcp() -> None:
    tcp = fastseg.pack(Segment(src_port=1, dst_port=2), src=USER_ADDR6, dst=KERNEL_ADDR6)
    v6 = wrap(tcp, USER_ADDR6, KERNEL_ADDR6)
    icmpv6 = v6[:6] + bytes([58]) + v6[7:]  # e.g. a router solicitation
    assert unwrap(icmpv6) is None
    # A hop-by-hop options header (8 bytes, PadN) in front of TCP is stepped over.
    hop_by_hop = bytes([6, 0, 1, 4, 0, 0, 0, 0])
    with_ext = (v6[:4] + struct.pack("!H", len(tcp) + 8) + bytes([0]) + v6[7:40] + hop_by_hop + tcp)
    assert unwrap(with_ext) == (USER_ADDR6, KERNEL_ADDR6, tcp)
    v4 = wrap(Segment(src_port=1, dst_port=2), USER_ADDR4, KERNEL_ADDR4, ident=1)
    udp = bytearray(v4)
    udp[9], udp[10:12] = 17, b"\0\0"
    udp[10:12] = struct.pack("!H", fastseg.internet_checksum(bytes(udp[:20])))
    assert unwrap(bytes(udp)) is None
    fragment = bytearray(v4)
    fragment[6:8], fragment[10:12] = struct.pack("!H", 0x2000), b"\0\0"  # MF
    fragment[10:12] = struct.pack("!H", fastseg.internet_checksum(bytes(fragment[:20])))
    assert unwrap(bytes(fragment)) is None
    assert unwrap(b"") is None
    corrupt = bytearray(v4)
    corrupt[8] ^= 1  # TTL changed, header checksum not
    with pytest.raises(KernelPeerError, match="header checksum"):
        unwrap(bytes(corrupt))


def test_pattern_is_a_continuous_stream() -> None:
    assert pattern(600) == pattern(250) + pattern(350, 250)
    assert pattern(3, 250) == bytes([250, 0, 1])
    assert len(pattern(0)) == 0 and digest(b"") == digest(pattern(0))


def test_describe() -> None:
    segment = Segment(src_port=5, dst_port=6, seq=7, ack=8, flags=Flags.SYN | Flags.ACK, window=9,
                      options=[(OptionKind.MSS, 1460), (OptionKind.NOP, None),
                               (OptionKind.WSCALE, 7), (OptionKind.TIMESTAMPS, (1, 2))])
    assert describe(segment) == ("5 > 6 [SYN|ACK] seq=7 ack=8 win=9 len=0 "
                                 "<mss 1460,nop,wscale 7,TS val 1 ecr 2>")
