"""A bulk transfer against the Linux kernel through a TUN device, beside the kernel with itself.

``fastseg_transfer`` puts a :class:`~fastseg.conn.Host` behind a TUN device in
a private network namespace, driven by this module's own loop over
:class:`~fastseg.net.Stack`; a kernel client in the namespace connects to it,
and both sides send ``size`` bytes and read ``size`` bytes at once.
``veth_transfer`` runs the same client against the same program as a kernel
server, in a second namespace joined by a veth pair.  Each direction is timed
at its receiver, from its side's start to the last byte; every byte is
checked against the pattern sent.  Namespaces have random names and are
deleted afterwards; every wait is bounded by ``BOUND`` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
from typing import Any, Iterator, Optional

KERNEL_IP, FASTSEG_IP, PEER_IP = "10.79.0.1", "10.79.0.2", "10.79.0.3"
PORT = 5001
#: Seconds any one transfer (or namespace command) may take.
BOUND = 120.0
#: Packets the kernel queues for the TUN reader (500 by default): a burst of the kernel's
#: window waits for this loop instead of being dropped.
TUN_QUEUE = 10000
_CHUNK = bytes(range(256)) * 256
#: The kernel's side: ``role host port size``; a server prints a line once it listens.  Both
#: roles send and read ``size`` bytes at once and print what they timed as JSON.
PEER = textwrap.dedent("""
    import hashlib, json, socket, sys, threading, time
    role, host, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    chunk = bytes(range(256)) * 256
    data = (chunk * (size // len(chunk) + 1))[:size]
    if role == "server":
        listener = socket.create_server((host, port))
        print("listening", flush=True)
        sock, _ = listener.accept()
    else:
        sock = socket.create_connection((host, port), timeout=60)
    sock.settimeout(60)
    start = time.monotonic()
    sent = {}
    def send():
        sock.sendall(data)
        sent["s"] = time.monotonic() - start
    sender = threading.Thread(target=send)
    sender.start()
    digest, got = hashlib.sha256(), 0
    while got < size:
        piece = sock.recv(1 << 20)
        if not piece:
            break
        digest.update(piece)
        got += len(piece)
    received = time.monotonic() - start
    sender.join(60)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(1 << 16):
        pass
    sock.close()
    print(json.dumps({"received": got, "digest": digest.hexdigest(), "receive_s": received,
                      "send_s": sent.get("s")}), flush=True)
""")


def unavailable_reason() -> Optional[str]:
    """Why the transfer cannot run here (root, TUN and iproute2 are needed), or None."""
    if not sys.platform.startswith("linux"):
        return "needs Linux network namespaces and a TUN device"
    if os.geteuid() != 0:
        return "needs root: it makes network namespaces and a TUN device"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    if subprocess.run(["sh", "-c", "command -v ip"], capture_output=True).returncode:
        return "needs iproute2's ip command"
    return None


def pattern(size: int) -> bytes:
    """The ``size`` bytes each side sends."""
    return (_CHUNK * (size // len(_CHUNK) + 1))[:size]


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=BOUND)


@contextlib.contextmanager
def namespace(prefix: str) -> Iterator[str]:
    """A new network namespace named ``prefix`` and random hex, deleted afterwards."""
    name = prefix + secrets.token_hex(4)
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=BOUND)


def _peer(ns: str, role: str, host: str, size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PEER, role, host,
                             str(PORT), str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen[str], size: int, what: str) -> dict[str, Any]:
    """The peer's JSON line once it exits; RuntimeError unless it received ``size`` exact bytes."""
    try:
        out, err = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        raise RuntimeError(f"{what} failed ({process.returncode}): {err.strip()[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result["received"] != size or result["digest"] != hashlib.sha256(pattern(size)).hexdigest():
        raise RuntimeError(f"{what} received {result['received']} bytes, not the {size} sent")
    return result


def veth_transfer(size: int) -> dict[str, float]:
    """The kernel with itself across a veth pair: MB/s each way (client to server, back)."""
    with namespace("fastseg_kb_") as left, namespace("fastseg_kb_") as right:
        _run("ip", "link", "add", "fsk0", "netns", left, "type", "veth", "peer", "name", "fsk1",
             "netns", right)
        _run("ip", "-n", left, "addr", "add", f"{KERNEL_IP}/24", "dev", "fsk0")
        _run("ip", "-n", right, "addr", "add", f"{PEER_IP}/24", "dev", "fsk1")
        _run("ip", "-n", left, "link", "set", "fsk0", "up")
        _run("ip", "-n", right, "link", "set", "fsk1", "up")
        server = _peer(right, "server", PEER_IP, size)
        try:
            if server.stdout is None or server.stdout.readline().strip() != "listening":
                raise RuntimeError("the kernel server did not start")
            client = _peer(left, "client", PEER_IP, size)
            there, back = _result(client, size, "the kernel client"), _result(server, size,
                                                                               "the kernel server")
        finally:
            for process in (server,):
                if process.poll() is None:
                    process.kill()
    return {"to_server": size / back["receive_s"] / 1e6, "to_client": size / there["receive_s"] / 1e6}


def fastseg_transfer(size: int) -> dict[str, float]:
    """A kernel client and a fastseg Host behind TUN: MB/s each way (kernel to fastseg, back)."""
    from fastseg.conn import Config, DataReceived, Host, PeerFinished, State
    from fastseg.net import Stack, TunDevice

    config = Config(receive_buffer=1 << 20, send_buffer=1 << 20)
    host = Host([FASTSEG_IP], config=config)
    listener = host.listen(("", PORT))
    stream = memoryview(pattern(size))
    with namespace("fastseg_kb_") as ns:
        # made here and moved into the namespace: the descriptor keeps working across the move
        tun = TunDevice(device := "fsk" + secrets.token_hex(4))
        _run("ip", "link", "set", "dev", device, "netns", ns)
        _run("ip", "-n", ns, "addr", "add", f"{KERNEL_IP}/24", "dev", device)
        _run("ip", "-n", ns, "link", "set", "dev", device, "mtu", "1500", "txqueuelen", str(TUN_QUEUE), "up")
        with tun:
            stack = Stack(host, tun)
            client = _peer(ns, "client", FASTSEG_IP, size)
            try:
                conn, start, received, sent, done = None, 0.0, hashlib.sha256(), 0, None
                got = 0
                bound = time.monotonic() + BOUND
                while (client.poll() is None or host.connections) and time.monotonic() < bound:
                    stack.poll(0.002)
                    now = stack.clock()
                    if conn is None and (conn := listener.accept()) is not None:
                        start = now
                    while (tagged := host.next_event()) is not None:
                        event = tagged[1]
                        if isinstance(event, DataReceived):
                            received.update(event.data)
                            got += len(event.data)
                            if got == size:
                                done = now - start
                        elif isinstance(event, PeerFinished) and conn is not None:
                            conn.close(now)
                    if conn is not None and sent < size and conn.state is State.ESTABLISHED:
                        sent += conn.send(stream[sent:])
                    stack.flush(now)
            finally:
                if client.poll() is None:
                    client.kill()
            there = _result(client, size, "the kernel client")
    if done is None or received.hexdigest() != hashlib.sha256(stream).hexdigest():
        raise RuntimeError(f"fastseg received {got} bytes, not the {size} sent")
    return {"to_fastseg": size / done / 1e6, "to_kernel": size / there["receive_s"] / 1e6}
