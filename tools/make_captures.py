#!/usr/bin/env python3
"""Record real Linux TCP traffic into small pcap files for fastseg's known-answer tests.

Usage (as root, on Linux)::

    python3 tools/make_captures.py tests/data/captures
    python3 tools/make_captures.py tests/data/captures --only md5sig rst
    python3 tools/make_captures.py tests/data/analysis --set analysis
    python3 tools/make_captures.py tests/data/encap --set encap

For every scenario the script creates two private network namespaces
(``fastseg_cap_cli`` and ``fastseg_cap_srv``) joined by a veth pair carrying
10.213.0.0/24 and fd00:fa57:5e9::/64 with offloads off (``netns.veth_pair``,
so the kernel computes and checks every TCP checksum in software), runs ``tcpdump -U -s 0`` on the server
end, and drives the traffic with this same file re-executed as a client or
server role through ``ip netns exec``.  Nothing leaves the two namespaces,
which are deleted again in a ``finally`` block.  Every wait is bounded.

``--set encap`` runs the HELLO exchange through a VXLAN tunnel between the
namespaces and captures it on the veth, then has ``encap_frames`` write its
inner packets again inside the encapsulations the kernel may not build.

Needs: iproute2, tcpdump, ethtool and nftables (the last two are installed
with apt-get when missing).  A ``README.md`` describing the files is written
next to them.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import encap_frames
import netns
from netns import sh

NS_CLI = "fastseg_cap_cli"
NS_SRV = "fastseg_cap_srv"
VETH_CLI = "fscap_c"
VETH_SRV = "fscap_s"
V4_CLI = "10.213.0.1"
V4_SRV = "10.213.0.2"
V6_CLI = "fd00:fa57:5e9::1"
V6_SRV = "fd00:fa57:5e9::2"

# Seconds.  Everything the parent waits for is bounded by one of these.
CMD_TIMEOUT = 20.0
READY_TIMEOUT = 10.0
ROLE_TIMEOUT = 25  # a role process kills itself (SIGALRM) after this
SOCK_TIMEOUT = 8.0
SETTLE = 0.4  # let the last ACKs hit the wire before tcpdump is stopped

# Linux constants that the socket module may not export.
TCP_MD5SIG = 14
TCP_FASTOPEN = 23
MSG_FASTOPEN = getattr(socket, "MSG_FASTOPEN", 0x20000000)
IPPROTO_MPTCP = 262
IPV6_HOPOPTS = 54
IPV6_DSTOPTS = 59

MD5_KEY = b"fastseg-known-answer-md5-key"


# --------------------------------------------------------------------------
# Role side: code that runs inside a namespace (``_role SCENARIO server|client``)
# --------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes (the socket timeout bounds every call)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _recv_until_eof(sock: socket.socket, limit: int = 1 << 22) -> bytes:
    """Read until the peer's FIN; at most ``limit`` bytes."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _recv_line(sock: socket.socket, limit: int = 4096) -> bytes:
    """Read up to and including the first newline."""
    buf = bytearray()
    while not buf.endswith(b"\n") and len(buf) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _family(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _listener(
    addr: str,
    port: int,
    proto: int = 0,
    setup: Optional[Callable[[socket.socket], None]] = None,
) -> socket.socket:
    s = socket.socket(_family(addr), socket.SOCK_STREAM, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if setup is not None:
        setup(s)
    s.bind((addr, port))
    s.listen(8)
    s.settimeout(SOCK_TIMEOUT)
    return s


def _client(
    addr: str, proto: int = 0, setup: Optional[Callable[[socket.socket], None]] = None
) -> socket.socket:
    s = socket.socket(_family(addr), socket.SOCK_STREAM, proto)
    s.settimeout(SOCK_TIMEOUT)
    if setup is not None:
        setup(s)
    return s


def _ready() -> None:
    """Tell the parent that every listener is up."""
    sys.stdout.write("READY\n")
    sys.stdout.flush()


def _accept(listener: socket.socket) -> socket.socket:
    conn, _ = listener.accept()
    conn.settimeout(SOCK_TIMEOUT)
    return conn


RESPONSE = bytes((i * 7 + 3) & 0xFF for i in range(3000))


def _serve_basic(conn: socket.socket) -> None:
    """HELLO -> 3000-byte reply -> BYE + FIN -> FIN."""
    _recv_line(conn)
    conn.sendall(RESPONSE)
    _recv_until_eof(conn)
    conn.close()


def _talk_basic(sock: socket.socket, addr: str, port: int, tag: bytes = b"") -> None:
    sock.connect((addr, port))
    sock.sendall(b"HELLO fastseg" + tag + b"\n")
    got = _recv_exact(sock, len(RESPONSE))
    assert got == RESPONSE
    sock.sendall(b"BYE\n")
    sock.shutdown(socket.SHUT_WR)
    _recv_until_eof(sock)
    sock.close()


# --- basic ---------------------------------------------------------------


def srv_basic(addr: str, port: int) -> None:
    lst = _listener(addr, port)
    _ready()
    _serve_basic(_accept(lst))
    lst.close()


def cli_basic(addr: str, port: int) -> None:
    _talk_basic(_client(addr), addr, port)


# --- IPv6 extension headers ----------------------------------------------

# Hop-by-hop and destination options headers, each 8 bytes: next-header and
# length bytes (filled in by the kernel), then one PadN option (type 1) with
# four zero bytes.
_EXT_HDR = bytes([0, 0, 1, 4, 0, 0, 0, 0])


def _set_ext_headers(s: socket.socket) -> None:
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_HOPOPTS, _EXT_HDR)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, _EXT_HDR)


def srv_exthdr(addr: str, port: int) -> None:
    lst = _listener(addr, port, setup=_set_ext_headers)
    _ready()
    _serve_basic(_accept(lst))
    lst.close()


def cli_exthdr(addr: str, port: int) -> None:
    _talk_basic(_client(addr, setup=_set_ext_headers), addr, port)


# --- bulk transfer (for the loss / SACK and ECN scenarios) ---------------

BULK_SIZE = 60000
BULK = bytes((i * 31 + 11) & 0xFF for i in range(BULK_SIZE))


def srv_bulk(addr: str, port: int) -> None:
    lst = _listener(addr, port)
    _ready()
    conn = _accept(lst)
    data = _recv_until_eof(conn)
    conn.sendall(b"OK %d\n" % len(data))
    conn.close()
    lst.close()


def cli_bulk(addr: str, port: int) -> None:
    s = _client(addr)
    s.connect((addr, port))
    s.sendall(BULK)
    s.shutdown(socket.SHUT_WR)
    reply = _recv_until_eof(s)
    assert reply == b"OK %d\n" % BULK_SIZE, reply
    s.close()


# --- zero window ------------------------------------------------------------


def srv_zerowin(addr: str, port: int) -> None:
    def small(s: socket.socket) -> None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)

    lst = _listener(addr, port, setup=small)
    _ready()
    conn = _accept(lst)
    time.sleep(1.2)  # the receive buffer fills up: window 0, window probes
    data = _recv_until_eof(conn)
    conn.sendall(b"OK %d\n" % len(data))
    conn.close()
    lst.close()


def cli_zerowin(addr: str, port: int) -> None:
    s = _client(addr)
    s.connect((addr, port))
    s.sendall(BULK[:20000])
    s.shutdown(socket.SHUT_WR)
    reply = _recv_until_eof(s)
    assert reply == b"OK 20000\n", reply
    s.close()


# --- RST ------------------------------------------------------------------


def srv_rst(addr: str, port: int) -> None:
    lst = _listener(addr, port)
    _ready()
    conn = _accept(lst)
    with contextlib.suppress(OSError):  # ECONNRESET when the client aborts
        _recv_until_eof(conn)
    conn.close()
    lst.close()


def cli_rst(addr: str, port: int) -> None:
    # 1. A closed port: SYN answered by RST+ACK (IPv4, then IPv6).
    for target in (V4_SRV, V6_SRV):
        s = _client(target)
        try:
            s.connect((target, port + 1))
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("closed port accepted a connection")
        s.close()
    # 2. Abortive close: SO_LINGER {on, 0 s} makes close() send RST.
    s = _client(addr)
    s.connect((addr, port))
    s.sendall(b"about to abort\n")
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


# --- TCP MD5 signature (RFC 2385) -------------------------------------------


def _md5sig_struct(peer: str) -> bytes:
    """struct tcp_md5sig for ``peer``: sockaddr_storage, flags, prefixlen,
    keylen, ifindex, key[80]."""
    if ":" in peer:
        sa = struct.pack(
            "=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, peer), 0
        )
    else:
        sa = struct.pack("=HH4s", socket.AF_INET, 0, socket.inet_pton(socket.AF_INET, peer))
    sa = sa.ljust(128, b"\0")
    return struct.pack("=128sBBHI80s", sa, 0, 0, len(MD5_KEY), 0, MD5_KEY)


def _md5_for(peer: str) -> Callable[[socket.socket], None]:
    def setup(s: socket.socket) -> None:
        s.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, _md5sig_struct(peer))

    return setup


def srv_md5sig(addr: str, port: int) -> None:
    lst4 = _listener(V4_SRV, port, setup=_md5_for(V4_CLI))
    lst6 = _listener(V6_SRV, port, setup=_md5_for(V6_CLI))
    _ready()
    _serve_basic(_accept(lst4))
    _serve_basic(_accept(lst6))
    lst4.close()
    lst6.close()


def cli_md5sig(addr: str, port: int) -> None:
    _talk_basic(_client(V4_SRV, setup=_md5_for(V4_SRV)), V4_SRV, port)
    _talk_basic(_client(V6_SRV, setup=_md5_for(V6_SRV)), V6_SRV, port)


# --- TCP Fast Open (RFC 7413) ------------------------------------------------


def srv_fastopen(addr: str, port: int) -> None:
    def tfo(s: socket.socket) -> None:
        s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)

    lst = _listener(addr, port, setup=tfo)
    _ready()
    for _ in range(2):
        conn = _accept(lst)
        line = _recv_line(conn)
        conn.sendall(b"ACK " + line)
        _recv_until_eof(conn)
        conn.close()
    lst.close()


def cli_fastopen(addr: str, port: int) -> None:
    # First connection: SYN carries an empty Fast Open option (cookie
    # request); the SYN-ACK returns the cookie, which the kernel caches.
    # Second connection: SYN carries the cookie and the data.
    for msg in (b"first: asks for a cookie\n", b"second: data in the SYN\n"):
        s = _client(addr)
        # A socket with a timeout is non-blocking inside, and a non-blocking
        # sendto(MSG_FASTOPEN) only starts the handshake (EINPROGRESS); do
        # this one call blocking (SIGALRM still bounds it).
        s.settimeout(None)
        s.sendto(msg, MSG_FASTOPEN, (addr, port))
        s.settimeout(SOCK_TIMEOUT)
        reply = _recv_line(s)
        assert reply == b"ACK " + msg, reply
        s.shutdown(socket.SHUT_WR)
        _recv_until_eof(s)
        s.close()
        time.sleep(0.2)


# --- urgent data ---------------------------------------------------------------


def srv_urgent(addr: str, port: int) -> None:
    def inline(s: socket.socket) -> None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)

    lst = _listener(addr, port, setup=inline)
    _ready()
    conn = _accept(lst)
    data = _recv_until_eof(conn)
    conn.sendall(b"GOT %d\n" % len(data))
    conn.close()
    lst.close()


def cli_urgent(addr: str, port: int) -> None:
    s = _client(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((addr, port))
    s.sendall(b"normal data before the mark\n")
    time.sleep(0.1)
    s.send(b"URGENT!", socket.MSG_OOB)
    time.sleep(0.1)
    s.sendall(b"normal data after the mark\n")
    s.shutdown(socket.SHUT_WR)
    _recv_until_eof(s)
    s.close()


# --- MPTCP ----------------------------------------------------------------------


def srv_mptcp(addr: str, port: int) -> None:
    lst = _listener(addr, port, proto=IPPROTO_MPTCP)
    _ready()
    _serve_basic(_accept(lst))
    lst.close()


def cli_mptcp(addr: str, port: int) -> None:
    _talk_basic(_client(addr, proto=IPPROTO_MPTCP), addr, port)


# --- analysis cases: a socket connected to itself, echo for a snap length, port reuse --------


def srv_none(addr: str, port: int) -> None:
    """No server: the client talks to itself."""
    _ready()


def cli_self(addr: str, port: int) -> None:
    """Bind and connect to the same address and port: a simultaneous open with itself."""
    s = _client(addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.connect((addr, port))
    s.sendall(b"hello, myself\n")
    assert _recv_line(s) == b"hello, myself\n"
    s.shutdown(socket.SHUT_WR)
    assert _recv_until_eof(s) == b""
    s.close()


ECHO_CONNECTIONS = 3
ECHO_SIZE = 200_000
ECHO = bytes((i * 13 + 5) & 0xFF for i in range(ECHO_SIZE))


def srv_echo(addr: str, port: int) -> None:
    """Echo every byte back, for ECHO_CONNECTIONS connections one after another."""
    lst = _listener(addr, port)
    _ready()
    for _ in range(ECHO_CONNECTIONS):
        conn = _accept(lst)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            conn.sendall(chunk)
        conn.close()
    lst.close()


def cli_echo(addr: str, port: int) -> None:
    for _ in range(ECHO_CONNECTIONS):
        s = _client(addr)
        s.connect((addr, port))
        got = bytearray()
        for at in range(0, ECHO_SIZE, 16384):
            s.sendall(ECHO[at:at + 16384])
            while len(got) < min(at + 16384, ECHO_SIZE) - 8192:  # keep both directions busy
                got += s.recv(65536)
        s.shutdown(socket.SHUT_WR)
        got += _recv_until_eof(s)
        assert bytes(got) == ECHO, len(got)
        s.close()


REUSED_PORT = 47199
SYN_GIVE_UP = 0.5  # seconds the first connect waits for an answer that never comes


def cli_reuse(addr: str, port: int) -> None:
    """Connect from one port twice: the first SYN is dropped (nftables in the server) and the
    socket given up on; the second connect, with a new ISN, is answered and completes."""
    first = _client(addr)
    first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    first.bind(("", REUSED_PORT))
    first.settimeout(SYN_GIVE_UP)
    try:
        first.connect((addr, port))
    except socket.timeout:
        pass
    else:
        raise AssertionError("the first SYN was answered")
    first.close()  # a socket in SYN-SENT closes without a word
    second = _client(addr)
    second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    second.bind(("", REUSED_PORT))
    _talk_basic(second, addr, port)


ROLES: Dict[str, Tuple[Callable[[str, int], None], Callable[[str, int], None]]] = {
    "basic": (srv_basic, cli_basic),
    "exthdr": (srv_exthdr, cli_exthdr),
    "bulk": (srv_bulk, cli_bulk),
    "zerowin": (srv_zerowin, cli_zerowin),
    "rst": (srv_rst, cli_rst),
    "md5sig": (srv_md5sig, cli_md5sig),
    "fastopen": (srv_fastopen, cli_fastopen),
    "urgent": (srv_urgent, cli_urgent),
    "mptcp": (srv_mptcp, cli_mptcp),
    "self": (srv_none, cli_self),
    "echo": (srv_echo, cli_echo),
    "reuse": (srv_basic, cli_reuse),
}


def run_role(kind: str, role: str, addr: str, port: int) -> int:
    """Entry point of a role process (already inside its namespace)."""
    signal.alarm(ROLE_TIMEOUT)
    server, client = ROLES[kind]
    (server if role == "server" else client)(addr, port)
    return 0


# --------------------------------------------------------------------------
# Parent side: namespaces, tcpdump, orchestration
# --------------------------------------------------------------------------


def ensure_tools() -> None:
    """Install ethtool / nftables through apt-get when they are missing."""
    missing = [pkg for tool, pkg in (("ethtool", "ethtool"), ("nft", "nftables"))
               if shutil.which(tool) is None]
    for tool in ("ip", "tcpdump"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required (apt-get install iproute2 tcpdump)")
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", *missing]
        if subprocess.run(install, env=env, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update"], check=True, env=env, timeout=600)
            subprocess.run(install, check=True, env=env, timeout=600)


CLIENT_END = netns.End(NS_CLI, VETH_CLI, (f"{V4_CLI}/24", f"{V6_CLI}/64"))
SERVER_END = netns.End(NS_SRV, VETH_SRV, (f"{V4_SRV}/24", f"{V6_SRV}/64"))


def delete_namespaces() -> None:
    netns.delete(NS_CLI, NS_SRV)


def _read_line(proc: subprocess.Popen, stream, timeout: float) -> str:
    """One line from ``stream`` within ``timeout`` seconds (raw fd, no buffering)."""
    fd = stream.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no line from {proc.args!r} in {timeout}s (got {buf!r})")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        ch = os.read(fd, 1)
        if not ch:
            raise RuntimeError(f"{proc.args!r} exited early: {buf!r}")
        buf += ch
    return buf.decode(errors="replace")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
    """Stop one process we started (by its pid) and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


def role_cmd(ns: str, kind: str, role: str, addr: str, port: int) -> List[str]:
    return ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
            "_role", kind, role, addr, str(port)]


@dataclass
class Scenario:
    """One capture file."""

    name: str
    kind: str  # key into ROLES
    addr: str  # server address the client talks to
    port: int
    description: str
    sysctls: List[str] = field(default_factory=list)
    nft_srv: str = ""  # ruleset loaded into the server namespace
    nft_cli: str = ""  # ruleset loaded into the client namespace
    nano: bool = False  # nanosecond pcap timestamps
    snaplen: int = 0  # tcpdump -s: bytes kept of each frame (0: all)
    loopback: bool = False  # both roles and tcpdump on the client namespace's lo
    tunnel: int = 0  # a VXLAN tunnel over the veth pair, over IPv4 (4) or IPv6 (6)


def _drop_rules(port: int, picks: str) -> str:
    """nftables ruleset dropping chosen data segments (by arrival count)."""
    return (
        "table inet fastseg_cap {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    tcp dport {port} meta length > 600 numgen inc mod 1000000 {{ {picks} }} "
        "counter drop\n"
        "  }\n"
        "}\n"
    )


def _first_syn_dropped(port: int) -> str:
    """nftables ruleset dropping the first SYN that arrives for ``port``."""
    return (
        "table inet fastseg_cap {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    tcp dport {port} tcp flags syn numgen inc mod 1000000 0 counter drop\n"
        "  }\n"
        "}\n"
    )


def _ce_rules(port: int) -> str:
    """nftables ruleset marking two arriving data packets Congestion Experienced.

    This has to happen on the receiving side: the sender's netfilter hooks
    see TCP's GSO super-packets, which are only cut into segments below them.
    tcpdump taps the receive path before netfilter, so the capture still shows
    ECT(0) on those packets; the receiver's ECE and the sender's CWR show.
    """
    return (
        "table ip fastseg_cap {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    tcp dport {port} meta length > 600 numgen inc mod 1000000 {{ 5, 6 }} "
        "ip ecn set ce counter\n"
        "  }\n"
        "}\n"
    )


SCENARIOS: List[Scenario] = [
    Scenario("ipv4_handshake", "basic", V4_SRV, 47001,
             "IPv4: three-way handshake (MSS, SACK-permitted, timestamps, window "
             "scale), HELLO line, 3000-byte reply, BYE line, FIN close."),
    Scenario("ipv6_handshake", "basic", V6_SRV, 47002,
             "The same exchange over IPv6 (nanosecond pcap timestamps).", nano=True),
    Scenario("ipv6_exthdr", "exthdr", V6_SRV, 47003,
             "The same exchange over IPv6 with a hop-by-hop and a destination "
             "options header (IPV6_HOPOPTS / IPV6_DSTOPTS, PadN) on every segment."),
    Scenario("sack_loss_ipv4", "bulk", V4_SRV, 47004,
             "IPv4 60000-byte upload; nftables in the receiver drops the 6th, 8th, "
             "10th, 20th and 21st arriving data segments so the receiver ACKs with "
             "SACK blocks (timestamps on: up to 3 blocks).",
             nft_srv=_drop_rules(47004, "5, 7, 9, 19, 20")),
    Scenario("sack_loss_ipv6_nots", "bulk", V6_SRV, 47005,
             "IPv6 60000-byte upload with timestamps off (receiver sysctl "
             "tcp_timestamps=0), so ACKs can carry 4 SACK blocks; drops the 4th, "
             "6th, 8th, 10th, 12th and 20th arriving data segments.",
             sysctls=["net.ipv4.tcp_timestamps=0"],
             nft_srv=_drop_rules(47005, "3, 5, 7, 9, 11, 19")),
    Scenario("zero_window", "zerowin", V4_SRV, 47013,
             "IPv4 20000-byte upload to a receiver with SO_RCVBUF 2048 that does "
             "not read for 1.2 s: window 0, zero-window probes, window updates."),
    Scenario("rst", "rst", V4_SRV, 47006,
             "SYN to a closed port answered by RST+ACK (IPv4 and IPv6), then an "
             "abortive close (SO_LINGER {1, 0}) after some data: RST."),
    Scenario("md5sig", "md5sig", V4_SRV, 47008,
             "TCP MD5 signature option (TCP_MD5SIG on listener and client) on "
             "every segment, one connection over IPv4 and one over IPv6."),
    Scenario("fastopen", "fastopen", V4_SRV, 47009,
             "TCP Fast Open (sysctl tcp_fastopen=3): first connection requests a "
             "cookie (empty option in SYN, cookie in SYN-ACK), second sends the "
             "cookie and data in the SYN.",
             sysctls=["net.ipv4.tcp_fastopen=3"]),
    Scenario("urgent", "urgent", V4_SRV, 47010,
             "Urgent data: send(MSG_OOB) gives segments with URG set and an "
             "urgent pointer.", ),
    Scenario("ecn", "bulk", V4_SRV, 47011,
             "ECN (sysctl tcp_ecn=1): SYN with ECE+CWR, SYN-ACK with ECE; "
             "nftables in the receiver marks two arriving data packets CE (after "
             "the capture point) so the receiver echoes ECE and the sender "
             "answers with CWR.",
             sysctls=["net.ipv4.tcp_ecn=1"], nft_srv=_ce_rules(47011)),
    Scenario("mptcp", "mptcp", V4_SRV, 47012,
             "Multipath TCP (IPPROTO_MPTCP sockets): MP_CAPABLE and DSS options "
             "(kind 30).",
             sysctls=["net.mptcp.enabled=1"]),
]

#: Captures for ``fastseg analyze`` (``tests/test_analyze_captures.py``): what real users
#: hand it, so checksums may be partial and frames cut by the snap length.
ANALYSIS_SCENARIOS: List[Scenario] = [
    Scenario("self_connect", "self", "127.0.0.1", 47014,
             "A socket bound to 127.0.0.1:47014 connects to that same address and port "
             "(simultaneous open with itself), sends a line to itself, closes. On the "
             "loopback device: checksums left partial, as in loopback_offload.", loopback=True),
    Scenario("loopback_offload", "basic", "127.0.0.1", 47015,
             "The HELLO exchange on the loopback device, which never completes a "
             "checksum: every checksum field holds the pseudo-header sum (checksum offload).",
             loopback=True),
    Scenario("snaplen_echo", "echo", V4_SRV, 47016,
             f"{ECHO_CONNECTIONS} connections one after another, each echoing "
             f"{ECHO_SIZE} bytes both ways, captured with tcpdump -s 96: headers only.",
             snaplen=96),
    Scenario("port_reuse", "reuse", V4_SRV, 47017,
             f"From port {REUSED_PORT} a SYN dropped by nftables in the server (the socket "
             f"gives up after {SYN_GIVE_UP} s), then a new connection from the same port "
             "with a new ISN, answered: the HELLO exchange.",
             nft_srv=_first_syn_dropped(47017)),
]


#: The VXLAN tunnel of the encap set: its VNI, and the overlay addresses (client, server).
VXLAN_ID = 42
OVERLAY4 = ("10.214.0.1", "10.214.0.2")
OVERLAY6 = ("fd00:fa57:e0::1", "fd00:fa57:e0::2")


def _vxlan(underlay: int) -> None:
    """A VXLAN device (UDP 4789, RFC 7348) in both namespaces over the veth pair, carrying
    the overlay addresses, its offloads off like the veth's."""
    underlay_addrs = (V4_CLI, V4_SRV) if underlay == 4 else (V6_CLI, V6_SRV)
    for ns, device, me in ((NS_CLI, VETH_CLI, 0), (NS_SRV, VETH_SRV, 1)):
        sh("ip", "-n", ns, "link", "add", "fsvx0", "type", "vxlan", "id", str(VXLAN_ID),
           "local", underlay_addrs[me], "remote", underlay_addrs[1 - me], "dstport", "4789",
           "dev", device)
        sh("ip", "-n", ns, "addr", "add", f"{OVERLAY4[me]}/24", "dev", "fsvx0")
        sh("ip", "-n", ns, "-6", "addr", "add", f"{OVERLAY6[me]}/64", "dev", "fsvx0", "nodad")
        sh("ethtool", "-K", "fsvx0", *[w for name in netns.OFFLOADS for w in (name, "off")],
           ns=ns, check=False)
        sh("ip", "-n", ns, "link", "set", "fsvx0", "up")


#: Captures of TCP inside encapsulations (``tests/test_analyze_captures.py``).  This kernel
#: makes VXLAN; ``encap_frames`` writes the inner packets of these two recordings again
#: inside the encapsulations it cannot make.
ENCAP_SCENARIOS: List[Scenario] = [
    Scenario("vxlan_ipv4", "basic", OVERLAY4[1], 47020,
             f"VXLAN (VNI {VXLAN_ID}, UDP 4789) over IPv4 between the veth ends, recorded from "
             f"the kernel: the HELLO exchange between {OVERLAY4[0]} and {OVERLAY4[1]}, with ARP "
             "inside the tunnel.", nano=True, tunnel=4),
    Scenario("vxlan_ipv6", "basic", OVERLAY6[1], 47021,
             f"VXLAN over IPv6, recorded from the kernel: the HELLO exchange between "
             f"{OVERLAY6[0]} and {OVERLAY6[1]}, with neighbour discovery inside the tunnel.",
             nano=True, tunnel=6),
]


def run_scenario(sc: Scenario, outdir: str) -> str:
    """Record one scenario into ``outdir/NAME.pcap``; return the path."""
    path = os.path.join(outdir, sc.name + ".pcap")
    tmp = path + ".tmp"
    procs: List[subprocess.Popen] = []
    try:
        netns.veth_pair(CLIENT_END, SERVER_END, sc.sysctls)
        if sc.tunnel:
            _vxlan(sc.tunnel)
        if sc.nft_srv:
            sh("nft", "-f", "-", ns=NS_SRV, stdin=sc.nft_srv)
        if sc.nft_cli:
            sh("nft", "-f", "-", ns=NS_CLI, stdin=sc.nft_cli)
        capture_ns, device, server_ns = NS_SRV, VETH_SRV, NS_SRV
        if sc.loopback:
            capture_ns, device, server_ns = NS_CLI, "lo", NS_CLI
        dump_cmd = ["ip", "netns", "exec", capture_ns, "tcpdump", "-i", device, "-n",
                    "-s", str(sc.snaplen), "-U", "--immediate-mode", "-Z", "root", "-w", tmp]
        if sc.nano:
            dump_cmd[-2:-2] = ["--time-stamp-precision", "nano"]
        dump = subprocess.Popen(dump_cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        procs.append(dump)
        deadline = time.monotonic() + READY_TIMEOUT
        line = ""
        while "listening on" not in line:  # tcpdump may warn first
            line = _read_line(dump, dump.stderr, max(0.1, deadline - time.monotonic()))

        server = subprocess.Popen(role_cmd(server_ns, sc.kind, "server", sc.addr, sc.port),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(server)
        line = _read_line(server, server.stdout, READY_TIMEOUT)
        if line.strip() != "READY":
            raise RuntimeError(f"server: {line}")
        client = subprocess.run(role_cmd(NS_CLI, sc.kind, "client", sc.addr, sc.port),
                                capture_output=True, text=True, timeout=ROLE_TIMEOUT + 5)
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {client.stderr.strip()}")
        try:
            server.wait(timeout=ROLE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError("server did not finish") from None
        if server.returncode != 0:
            err = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise RuntimeError(f"server failed: {err.strip()}")
        for rules, ns in ((sc.nft_srv, NS_SRV), (sc.nft_cli, NS_CLI)):
            if rules:
                counters = sh("nft", "list", "table", rules.split()[1], "fastseg_cap",
                              ns=ns).stdout
                print(f"  nft ({ns}): "
                      + " ".join(ln.strip() for ln in counters.splitlines() if "counter" in ln))
        time.sleep(SETTLE)
        _stop(dump, signal.SIGINT)
        report = dump.stderr.read().decode(errors="replace") if dump.stderr else ""
        if dump.returncode != 0:
            raise RuntimeError(f"tcpdump exited with {dump.returncode}: {report}")
        # Without --immediate-mode libpcap's TPACKET_V3 blocks can be lost on
        # SIGINT; make sure every packet the filter saw is in the file.
        nums = {}
        for ln in report.splitlines():
            words = ln.split()
            if len(words) >= 3 and words[1] == "packets" and words[0].isdigit():
                nums[" ".join(words[2:])] = int(words[0])
        written = _count(tmp)
        # On lo the filter sees each packet twice (sent and received); libpcap keeps one.
        seen = written * (2 if sc.loopback else 1)
        if not written or nums.get("captured") != written or \
                nums.get("received by filter") != seen:
            raise RuntimeError(f"tcpdump lost packets ({written} in file): {report}")
        os.replace(tmp, path)
        return path
    finally:
        for proc in reversed(procs):
            _stop(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        delete_namespaces()


def _count(path: str) -> int:
    """Frames in a classic pcap (header walk only)."""
    with open(path, "rb") as f:
        data = f.read()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        off += 16 + incl
        n += 1
    return n


def _first_line(*cmd: str) -> str:
    """First output line of a version command, or '' when the tool is missing."""
    if shutil.which(cmd[0]) is None:
        return ""
    res = sh(*cmd, check=False)
    lines = (res.stdout or res.stderr).splitlines()
    return lines[0].strip().rstrip(".") if lines else ""


def write_readme(outdir: str, made: List[Tuple[Scenario, str]], argv: Sequence[str],
                 which: str, wrapped: Sequence[Tuple[encap_frames.Wrapping, str]] = ()) -> None:
    """Describe how the files were made, next to them."""
    tcpdump = _first_line("tcpdump", "--version") or "tcpdump"
    tshark = _first_line("tshark", "--version")
    purpose = [
        "Known-answer data for `tests/test_known_answers.py`: every TCP segment in",
        "these files is decoded by fastseg and compared field by field with tshark.",
    ] if which == "known-answers" else [
        "Captures for `tests/test_analyze_captures.py`: `fastseg analyze` must tell",
        "their story as tshark does (connections, segments, announced bytes), as",
        "real users' captures are: taken on loopback, cut by a snap length, with",
        "ports reused.",
    ] if which == "analysis" else [
        "Captures for `tests/test_analyze_captures.py`: TCP inside encapsulations.",
        "`fastseg analyze` must find the innermost TCP connection in each and tell",
        "its story as tshark does (connections, segments, announced bytes).",
        "",
        "The recording kernel builds VXLAN only (no GRE, IPIP, SIT, ip6tnl, Geneve",
        "or MPLS: `CONFIG_NET_IPIP`, `CONFIG_NET_IPGRE_DEMUX`, `CONFIG_IPV6_SIT`,",
        "`CONFIG_IPV6_TUNNEL` are not set), so the two VXLAN files are recorded from",
        "the kernel and every other file is written by fastseg's capture writer",
        "(`tools/encap_frames.py`): the inner IP packets of a VXLAN recording, byte",
        "for byte with their timestamps, inside the named encapsulation, between",
        "the veth addresses. Nanosecond timestamps.",
    ]
    lines = [
        "# Real Linux TCP captures",
        "",
        *purpose,
        "",
        "Made by `tools/make_captures.py`, run as root from the repository root:",
        "",
        "```",
        " ".join(["python3", "tools/make_captures.py", *argv]),
        "```",
        "",
        f"- Kernel: Linux `{platform.release()}` (`uname -r`).",
        f"- Capture: {tcpdump}, `tcpdump -U --immediate-mode -s 0` on the server's",
        "  veth end. Classic pcap, link type Ethernet (1), microsecond timestamps",
        "  unless noted.",
        "- Two private network namespaces joined by a veth pair, with",
        f"  {V4_CLI} (client) / {V4_SRV} (server) and",
        f"  {V6_CLI} (client) / {V6_SRV} (server). No packet left them.",
        "- Offloads off on both ends",
        "  (`ethtool -K DEV tx off rx off tso off gso off gro off`), so the kernel",
        "  computed every checksum in software and every frame is one real segment.",
        "  The files captured on the client namespace's loopback device say so (their",
        "  checksums are left partial); one file keeps only 96 bytes a frame.",
        "- The traffic is Linux's own TCP, driven by Python sockets in the namespaces;",
        "  loss and CE marks come from nftables rules in the receiving namespace.",
        "- Frames other than TCP (ARP, ICMPv6 neighbour discovery, MLD reports) are",
        "  left in: the test's pcap reader has to skip them.",
    ]
    if tshark:
        lines.append(f"- Checked with {tshark}.")
    lines += [
        "",
        "The files record one run: running the script again gives other sequence",
        "numbers, timestamps and timing, and the tests accept any run that shows",
        "what each file is meant to show.",
        "",
        "| file | frames | contents |",
        "| --- | --- | --- |",
    ]
    for sc, path in made:
        lines.append(f"| `{os.path.basename(path)}` | {_count(path)} | {sc.description} |")
    for wrapping, path in wrapped:
        source = ENCAP_SCENARIOS[0 if wrapping.source == "ipv4" else 1].name
        lines.append(f"| `{os.path.basename(path)}` | {_count(path)} | {wrapping.description} "
                     f"Written from the IP packets inside `{source}.pcap`. |")
    lines.append("")
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write("\n".join(lines))


SETS: Dict[str, List[Scenario]] = {
    "known-answers": SCENARIOS, "analysis": ANALYSIS_SCENARIOS, "encap": ENCAP_SCENARIOS}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_role":
        kind, role, addr, port = argv[1:5]
        return run_role(kind, role, addr, int(port))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", help="directory for the .pcap files and README.md")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="record only these scenarios (README is then not rewritten)")
    ap.add_argument("--set", choices=tuple(SETS), default="known-answers",
                    help="the known-answer captures (offloads off, whole frames), the "
                         "analysis ones (loopback, snap length, port reuse) or TCP inside "
                         "encapsulations (encap)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("must run as root (network namespaces, tcpdump)")
    ensure_tools()
    os.makedirs(args.outdir, exist_ok=True)
    scenarios = SETS[args.set]
    chosen = [sc for sc in scenarios if not args.only or sc.name in args.only]
    if args.only and len(chosen) != len(args.only):
        raise SystemExit(f"unknown scenario in {args.only}")
    made = []
    for sc in chosen:
        print(f"{sc.name} ...", flush=True)
        path = run_scenario(sc, args.outdir)
        print(f"  {path}: {_count(path)} frames, {os.path.getsize(path)} bytes", flush=True)
        made.append((sc, path))
    wrapped: List[Tuple[encap_frames.Wrapping, str]] = []
    if args.set == "encap" and not args.only:
        wrapped = encap_frames.write_wrapped(args.outdir, {"ipv4": made[0][1], "ipv6": made[1][1]})
        for _, path in wrapped:
            print(f"  {path}: {_count(path)} frames, {os.path.getsize(path)} bytes", flush=True)
    if not args.only:
        write_readme(args.outdir, made, argv, args.set, wrapped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
