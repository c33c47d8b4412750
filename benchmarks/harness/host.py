"""The userspace host under load: per-segment cost by connections held, throughput through TUN.

``segment_cost`` moves a bulk transfer between two :class:`fastseg.conn.Host`
objects in memory (every segment packed and unpacked by the codec) while
``idle`` other connections stay open on the same hosts: the cost of a
segment must not grow with them.

``tun_echo`` and ``veth_echo`` time the same kernel clients (threads in a
private namespace, each sending its share in random-sized writes and reading
it back) against fastseg's echo behind a TUN device and against a kernel echo
server across a veth pair: the kernel talking to itself in the same run.
Both need root; segments are counted by the client namespace's own
``/proc/net/snmp`` (InSegs + OutSegs), the same counter for both.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import secrets
import subprocess
import sys
import textwrap
import time
from typing import Callable, Iterator, NamedTuple, Optional, Union

KERNEL4, USER4 = "10.77.0.1", "10.77.0.2"
VETH_CLIENT, VETH_SERVER = "10.76.0.1", "10.76.0.2"
PORT = 7
#: Seconds a throughput run may take before it is abandoned.
BOUND = 180.0

CLIENTS = textwrap.dedent("""
    import json, random, socket, sys, threading, time
    host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ok = []

    def client(i):
        rng = random.Random(i)
        data = rng.randbytes(size)
        with socket.create_connection((host, port), timeout=60) as s:
            back = bytearray()
            def reader():
                while chunk := s.recv(65536):
                    back.extend(chunk)
            t = threading.Thread(target=reader)
            t.start()
            at = 0
            while at < size:
                step = rng.randint(1, 65536)
                s.sendall(data[at:at + step])
                at += step
            s.shutdown(socket.SHUT_WR)
            t.join(120)
        ok.append(bytes(back) == data)

    def segments():
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        row = dict(zip(rows[0], rows[1]))
        return int(row["InSegs"]) + int(row["OutSegs"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    before, started = segments(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    seconds = time.perf_counter() - started
    print(json.dumps({"ok": sum(ok), "seconds": seconds, "segments": segments() - before}))
""")

#: The kernel's echo server (run inside the server's namespace).
KERNEL_ECHO = pathlib.Path(__file__).resolve().parents[2] / "tools" / "kernel_echo.py"


class Transfer(NamedTuple):
    """What one timed run moved: ``bytes`` both ways, in ``seconds``, in ``segments``."""

    seconds: float
    bytes: int
    segments: int


def unavailable() -> Optional[str]:
    """Why the throughput runs cannot run here, or None."""
    import os
    import shutil

    if os.geteuid() != 0:
        return "needs root (network namespaces, a TUN device, a veth pair)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    return None


# ------------------------------------------------------------ per-segment cost, in memory


def segment_cost_setup(idle: int, size: int) -> Callable[[], int]:
    """Two hosts holding ``idle`` established connections; returns a run that sends ``size``
    bytes over one more and answers how many segments moved (time it)."""
    from fastseg import pack, unpack
    from fastseg.conn import Config, DataReceived, Host

    config = Config(receive_buffer=1 << 20, send_buffer=1 << 20, delayed_ack=0.04)
    client = Host(["10.0.0.1"], config=config, secret=b"c")
    server = Host(["10.0.0.2"], config=config, secret=b"s")
    listener = server.listen(("", 80), backlog=idle + 8)
    hosts = ((client, server), (server, client))
    clock = [0.0]

    def move() -> int:
        moved = 0
        for sender, receiver in hosts:
            for d in sender.segments_to_send(clock[0]):
                receiver.receive(unpack(pack(d.segment, src=d.src, dst=d.dst)), clock[0],
                                 src=d.src, dst=d.dst)
                moved += 1
        return moved

    def settle() -> None:
        while move():
            pass
        while listener.accept() is not None:
            pass
        for host in (client, server):
            while host.next_event() is not None:
                pass

    for _ in range(idle):
        client.connect(("10.0.0.2", 80), clock[0])
    settle()
    clock[0] += 1.0
    server.handle_timeout(clock[0])
    client.handle_timeout(clock[0])
    settle()
    stream = bytes(range(256)) * (size // 256 + 1)

    def run() -> int:
        conn = client.connect(("10.0.0.2", 80), clock[0])
        settle()
        sent = got = moved = 0
        while got < size:
            if sent < size:
                sent += conn.send(stream[sent:size])
            step = move()
            moved += step
            while (tagged := server.next_event()) is not None:
                if isinstance(tagged.event, DataReceived):
                    got += len(tagged.event.data)
            while client.next_event() is not None:
                pass
            if not step:
                clock[0] += config.delayed_ack
                client.handle_timeout(clock[0])
                server.handle_timeout(clock[0])
        conn.abort(clock[0])
        settle()
        return moved

    return run


# ------------------------------------------------------------ throughput, with root

#: setns(2)'s namespace type for a network namespace (``os.setns`` is 3.12+ only).
_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    """This thread into the network namespace open at ``fd``."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


@contextlib.contextmanager
def _namespace() -> Iterator[str]:
    name = "fastseg_b_" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def _in(ns: str, script: Union[str, pathlib.Path], *args: str) -> subprocess.Popen[str]:
    """Python running ``script`` (its text, or the path of a file) with ``args`` inside ``ns``."""
    program = [str(script)] if isinstance(script, pathlib.Path) else ["-c", script]
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, *program, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _clients_result(clients: subprocess.Popen[str], count: int, size: int) -> Transfer:
    out, err = clients.communicate(timeout=30)
    if clients.returncode or not out:
        raise RuntimeError(f"the kernel clients failed: {err.strip()[-500:]}")
    result = json.loads(out)
    if result["ok"] != count:
        raise RuntimeError(f"only {result['ok']} of {count} clients got their bytes back")
    return Transfer(result["seconds"], 2 * count * size, result["segments"])


def tun_echo(count: int, size: int) -> Transfer:
    """``count`` kernel clients of ``size`` bytes each against fastseg's echo behind TUN."""
    import os

    from fastseg.conn import Config, Host
    from fastseg.net import EchoService, Stack, TunDevice

    with _namespace() as ns:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                tun = TunDevice("fsb0")
                tun.configure(f"{KERNEL4}/24", mtu=1500)
            finally:
                _setns(own)
        finally:
            os.close(own)
            os.close(target)
        with tun:
            host = Host([USER4], config=Config(msl=0.5, rto_min=0.05, rto_initial=0.2))
            host.listen(("", PORT), backlog=1024)
            stack, echo = Stack(host, tun), EchoService(host)
            clients = _in(ns, CLIENTS, USER4, str(PORT), str(count), str(size))
            started = time.monotonic()
            try:
                while clients.poll() is None and time.monotonic() - started < BOUND:
                    stack.poll(0.002)
                    echo.serve(stack.clock())
            finally:
                if clients.poll() is None:
                    clients.kill()
            return _clients_result(clients, count, size)


def veth_echo(count: int, size: int) -> Transfer:
    """The same clients against a kernel echo server across a veth pair."""
    with _namespace() as client_ns, _namespace() as server_ns:
        def ip(*args: str) -> None:
            subprocess.run(["ip", *args], check=True, timeout=10)

        ip("link", "add", "vb0", "netns", client_ns, "type", "veth", "peer", "name", "vb1",
           "netns", server_ns)
        ip("-n", client_ns, "addr", "add", f"{VETH_CLIENT}/24", "dev", "vb0")
        ip("-n", server_ns, "addr", "add", f"{VETH_SERVER}/24", "dev", "vb1")
        ip("-n", client_ns, "link", "set", "vb0", "up")
        ip("-n", server_ns, "link", "set", "vb1", "up")
        server = _in(server_ns, KERNEL_ECHO, VETH_SERVER, str(PORT))
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the kernel echo server did not start: {server.stderr}")
            clients = _in(client_ns, CLIENTS, VETH_SERVER, str(PORT), str(count), str(size))
            try:
                clients.wait(BOUND)
            finally:
                if clients.poll() is None:
                    clients.kill()
            return _clients_result(clients, count, size)
        finally:
            server.kill()
            server.communicate(timeout=10)

