"""Record fastseg's sample capture (``fastseg/sample.pcap``) from the real Linux kernel.

Run as root (needs iproute2, ethtool, tcpdump, mergecap, tshark, and fastseg installed)::

    python3 tools/make_sample.py

Two private network namespaces are joined by a veth pair (10.213.1.1 client,
10.213.1.2 server), offloads off.  Two kinds of connection are recorded on
the server's veth end:

- port 47101: the client sends a request, the server answers and closes
  first (server-first close: the server goes through FIN-WAIT-1, FIN-WAIT-2
  and TIME-WAIT, the client through CLOSE-WAIT and LAST-ACK);
- ports 47102...: after a short exchange both sides spin until an agreed
  instant and call ``shutdown(SHUT_WR)``.  A veth hop takes microseconds, so
  the FINs cross only sometimes; attempts repeat on new ports and the first
  one whose FINs crossed (neither FIN acknowledges the other) is kept: a
  simultaneous close (FIN-WAIT-1, CLOSING, TIME-WAIT on both sides).

The result is merged (by timestamp) with ``tests/data/captures/ipv4_handshake.pcap``
(client-first close) and ``tests/data/captures/rst.pcap`` (two refused
connects and an abortive close) into ``fastseg/sample.pcap``.  Only
the TCP frames are kept.  Nothing here runs at import time or in the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Dict

import netns

if TYPE_CHECKING:
    from fastseg.segment import Segment

ATTEMPTS = 30
NS_CLI, NS_SRV = "fsanalyze_cli", "fsanalyze_srv"
DEV_CLI, DEV_SRV = "fsa0", "fsa1"
CLI, SRV = "10.213.1.1", "10.213.1.2"

SERVER = r"""
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((%(srv)r, port)); s.listen(1); print("READY", flush=True)
c, _ = s.accept()
line = b""
while not line.endswith(b"\n"):
    line += c.recv(100)
if mode == "server_first":
    c.sendall(b"HERE IS YOUR ANSWER\n")
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
else:
    target = float(line.split()[1])
    c.sendall(b"OK\n")
    while time.time() < target:
        pass
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
time.sleep(0.3)
c.close()
"""

CLIENT = r"""
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
c = socket.create_connection((%(srv)r, port))
target = time.time() + 0.2
c.sendall(b"HELLO %%.6f\n" %% target)
if mode == "server_first":
    data = b""
    while True:
        chunk = c.recv(100)
        if not chunk:
            break
        data += chunk
    c.sendall(b"THANKS\n")
    c.close()
else:
    while not c.recv(100).endswith(b"\n"):
        pass
    # Both sides spin until the same instant and shut down: the FINs cross
    # when neither has reached the other side yet (retried until they do).
    while time.time() < target:
        pass
    c.shutdown(socket.SHUT_WR)
    while c.recv(100):
        pass
    c.close()
time.sleep(0.2)
"""


CLIENT_END = netns.End(NS_CLI, DEV_CLI, (f"{CLI}/24",))
SERVER_END = netns.End(NS_SRV, DEV_SRV, (f"{SRV}/24",))


def record(out: str) -> None:
    dump = subprocess.Popen(["ip", "netns", "exec", NS_SRV, "tcpdump", "-i", DEV_SRV, "-n",
                             "-s", "0", "-U", "--immediate-mode", "-w", out, "tcp"],
                            stderr=subprocess.PIPE)
    assert dump.stderr is not None
    while b"listening on" not in dump.stderr.readline():
        pass
    try:
        runs = [("server_first", 47101)] + [("simultaneous", 47102 + i) for i in range(ATTEMPTS)]
        for mode, port in runs:
            server = subprocess.Popen(
                ["ip", "netns", "exec", NS_SRV, sys.executable, "-c", SERVER % {"srv": SRV},
                 mode, str(port)], stdout=subprocess.PIPE)
            assert server.stdout is not None
            server.stdout.readline()
            subprocess.run(["ip", "netns", "exec", NS_CLI, sys.executable, "-c",
                            CLIENT % {"srv": SRV}, mode, str(port)], check=True, timeout=30)
            server.wait(timeout=30)
        time.sleep(0.5)
    finally:
        dump.send_signal(2)
        dump.wait(timeout=10)


def crossed_port(path: str) -> int:
    """The first port whose FINs crossed: neither side's first FIN acknowledges the other's."""
    from fastseg import capture
    from fastseg.segment import Flags

    fins: Dict[int, Dict[int, Segment]] = {}
    for rec in capture.segments(path):
        seg = rec.segment
        if seg.flags & Flags.FIN:
            port = seg.dst_port if seg.src_port < 47101 or seg.src_port > 47200 else seg.src_port
            fins.setdefault(port, {}).setdefault(seg.src_port, seg)
    for port in sorted(fins):
        pair = list(fins[port].values())
        if port > 47101 and len(pair) == 2:
            a, b = pair
            if a.ack != (b.seq + 1) & 0xFFFFFFFF and b.ack != (a.seq + 1) & 0xFFFFFFFF:
                return int(port)
    raise SystemExit(f"no simultaneous close in {ATTEMPTS} attempts; run again")


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    captures = os.path.join(root, "tests", "data", "captures")
    with tempfile.TemporaryDirectory() as tmp:
        new = os.path.join(tmp, "closes.pcap")
        netns.veth_pair(CLIENT_END, SERVER_END)
        try:
            record(new)
        finally:
            netns.delete(NS_CLI, NS_SRV)
        merged = os.path.join(tmp, "merged.pcap")
        subprocess.run(["mergecap", "-F", "pcap", "-w", merged,
                        os.path.join(captures, "ipv4_handshake.pcap"),
                        os.path.join(captures, "rst.pcap"), new], check=True, timeout=30)
        port = crossed_port(new)
        out = os.path.join(root, "fastseg", "sample.pcap")
        attempts = "{47102..47200}"
        keep = (f"tcp and not ((tcp.srcport in {attempts} or tcp.dstport in {attempts})"
                f" and !(tcp.port == {port}))")
        subprocess.run(["tshark", "-r", merged, "-Y", keep, "-F", "pcap", "-w", out],
                       check=True, timeout=30, stderr=subprocess.DEVNULL)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

