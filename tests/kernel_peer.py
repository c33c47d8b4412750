"""The Linux kernel as the other end of a wire: a test harness for TCP code.

``KernelPeer`` makes a private network namespace holding a TUN device.  The
kernel in that namespace owns ``10.77.0.1`` / ``fd00:77::1``; the test process
holds the TUN file descriptor and pretends to be ``10.77.0.2`` / ``fd00:77::2``.
Every IP packet the kernel sends towards the userspace address is read from
the descriptor, and every packet written to it is received by the kernel as if
it came in from the network::

    from fastseg import OptionKind, Segment

    with KernelPeer() as peer:
        server = peer.server(5001)                 # a kernel socket listening in the namespace
        peer.send_segment(Segment(src_port=40000, dst_port=5001, seq=1000, flags=Flags.SYN,
                                  options=[(OptionKind.MSS, 1460)]))
        syn_ack = peer.expect_segment(2.0)         # the kernel's real SYN-ACK, checksum verified
        ...
        print(server.result(5.0))                  # {"received": ..., "sha256": ..., ...}

Kernel-side code runs in one of two ways:

* ``peer.run(fn_or_source, **params)`` / ``peer.server()`` / ``peer.client()``
  start a Python subprocess inside the namespace (``ip netns exec``) that uses
  ordinary blocking sockets and reports a JSON result; every wait is bounded.
* ``peer.socket()`` makes a socket *in this process* that belongs to the
  namespace, for tests that want to drive the kernel socket and the wire from
  one thread (use it non-blocking or with short timeouts).

The kernel's checksums are always complete: the TUN device is opened without
``IFF_VNET_HDR`` and never given offloads (``TUNSETOFFLOAD``), so the kernel
cannot hand it a partial checksum or an unsegmented GSO packet; every segment
read is checked anyway and a bad checksum raises :class:`KernelPeerError`.

``requires_kernel_peer`` is a pytest mark that skips a test unless the harness
can run here: Linux, root (CAP_NET_ADMIN and CAP_SYS_ADMIN), ``/dev/net/tun``
and iproute2's ``ip``.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import errno
import fcntl
import inspect
import ipaddress
import json
import os
import queue
import secrets
import select
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Tuple, Union

import pytest

import fastseg
from fastseg import OptionKind, Segment

__all__ = [
    "KERNEL_ADDR4",
    "KERNEL_ADDR6",
    "NAMESPACE_PREFIX",
    "USER_ADDR4",
    "USER_ADDR6",
    "KernelPeer",
    "KernelPeerError",
    "KernelScriptError",
    "KernelTask",
    "SocketInfo",
    "TraceEntry",
    "describe",
    "digest",
    "list_namespaces",
    "pattern",
    "requires_kernel_peer",
    "tcp_client",
    "tcp_server",
    "unavailable_reason",
    "unwrap",
    "wrap",
]

#: Every namespace this harness makes is named this plus a random suffix.
NAMESPACE_PREFIX = "fastseg_k_"
#: The kernel's addresses inside the namespace, and the ones userspace pretends to own.
KERNEL_ADDR4, USER_ADDR4 = "10.77.0.1", "10.77.0.2"
KERNEL_ADDR6, USER_ADDR6 = "fd00:77::1", "fd00:77::2"
IPV6_MIN_MTU = 1280  #: below it the device has IPv4 only

IPPROTO_TCP = 6
_IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000
_CLONE_NEWNET = 0x40000000
_READ_SIZE = 65535 + 40 + 1  # the largest IPv6 packet without a jumbo payload, and one to spare

Address = Union[str, bytes, ipaddress.IPv4Address, ipaddress.IPv6Address]


class KernelPeerError(RuntimeError):
    """The harness itself failed: setup, a bad packet from the kernel, a wait that ran out."""


class KernelScriptError(KernelPeerError):
    """A kernel-side script raised or died; carries its exception and stderr."""

    def __init__(self, message: str, *, type_name: str = "", traceback: str = "", stderr: str = ""):
        details = [message]
        if traceback:
            details.append("kernel-side traceback:\n" + traceback.rstrip())
        if stderr.strip():
            details.append("kernel-side stderr:\n" + stderr.rstrip())
        super().__init__("\n".join(details))
        self.type_name, self.traceback, self.stderr = type_name, traceback, stderr


# --------------------------------------------------------------------------------------------
# Availability and the pytest mark


def _find_ip() -> Optional[str]:
    found = shutil.which("ip")
    if found:
        return found
    for candidate in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


_IP = _find_ip()


def _effective_capabilities() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def unavailable_reason() -> Optional[str]:
    """Why the harness cannot run here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "needs Linux (network namespaces and a TUN device)"
    if os.geteuid() != 0:
        return "needs root: it creates a network namespace and a TUN device"
    cap_net_admin, cap_sys_admin = 1 << 12, 1 << 21
    caps = _effective_capabilities()
    if caps & (cap_net_admin | cap_sys_admin) != cap_net_admin | cap_sys_admin:
        return "needs CAP_NET_ADMIN and CAP_SYS_ADMIN (an unprivileged container?)"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun (modprobe tun, or pass the device into the container)"
    if _IP is None:
        return "needs iproute2's `ip` command"
    return None


_UNAVAILABLE = unavailable_reason()

#: Skips a test, with the reason, unless the kernel peer can run here.
requires_kernel_peer = pytest.mark.skipif(
    _UNAVAILABLE is not None, reason=f"kernel peer: {_UNAVAILABLE}"
)


def list_namespaces() -> List[str]:
    """The names of the network namespaces ``ip netns list`` shows."""
    if _IP is None:
        return []
    out = subprocess.run(
        [_IP, "netns", "list"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------
# Data helpers, shared with the kernel-side scripts (whose source is shipped to the subprocess:
# these functions import what they use inside themselves and reference no module globals).


def pattern(n: int, offset: int = 0) -> bytes:
    """``n`` bytes of the deterministic test pattern, starting at stream ``offset``.

    Byte ``i`` of the stream is ``i % 251`` (a prime period, so a shifted or
    repeated chunk shows up); ``pattern(a) + pattern(b, a) == pattern(a + b)``.
    """
    period = bytes(range(251))
    start = offset % 251
    reps = (start + n) // 251 + 1
    return (period * reps)[start:start + n]


def digest(data: bytes) -> str:
    """The hex SHA-256 of ``data``, as the kernel-side scripts report what they received."""
    import hashlib as _hashlib

    return _hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# IP framing


def _ip(address: Address) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address]:
    if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return address
    return ipaddress.ip_address(address)


_ident_lock = threading.Lock()
_ident_counter = [0]


def _next_ident() -> int:
    with _ident_lock:
        _ident_counter[0] = (_ident_counter[0] + 1) & 0xFFFF
        return _ident_counter[0]


def wrap(
    segment: Union[Segment, bytes],
    src: Address,
    dst: Address,
    *,
    ttl: int = 64,
    tos: int = 0,
    ident: Optional[int] = None,
) -> bytes:
    """An IPv4 or IPv6 packet (by the address family) carrying a TCP segment.

    A :class:`~fastseg.Segment` is packed with its checksum computed for
    ``src``/``dst``; ``bytes`` are sent as they are (so a test can send a wrong
    checksum on purpose).  IPv4 gets DF, the given TTL and a correct header
    checksum; IPv6 gets hop limit ``ttl`` and traffic class ``tos``.
    """
    source, destination = _ip(src), _ip(dst)
    if source.version != destination.version:
        raise ValueError(f"src {source} and dst {destination} are of different IP versions")
    if isinstance(segment, Segment):
        tcp = fastseg.pack(segment, src=source, dst=destination)
    else:
        tcp = bytes(segment)
    if source.version == 4:
        total = 20 + len(tcp)
        if total > 0xFFFF:
            raise ValueError(f"an IPv4 packet of {total} bytes is too long")
        ident = _next_ident() if ident is None else ident
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, tos, total, ident, 0x4000, ttl, IPPROTO_TCP, 0,
            source.packed, destination.packed,
        )
        checksum = fastseg.internet_checksum(header)
        return header[:10] + struct.pack("!H", checksum) + header[12:] + tcp
    if len(tcp) > 0xFFFF:
        raise ValueError(f"an IPv6 payload of {len(tcp)} bytes needs a jumbogram, not supported")
    first_word = (6 << 28) | (tos << 20)
    header = struct.pack("!IHBB16s16s", first_word, len(tcp), IPPROTO_TCP, ttl,
                         source.packed, destination.packed)
    return header + tcp


def unwrap(packet: bytes) -> Optional[Tuple[str, str, bytes]]:
    """``(src, dst, tcp_segment_bytes)`` of an IP packet carrying TCP, else None.

    Non-TCP packets (IPv6 neighbour discovery, MLD, router solicitations, ICMP,
    UDP), fragments and anything that is not IPv4/IPv6 give None.  IPv6
    hop-by-hop, routing and destination-options headers are stepped over.
    Addresses come back as compressed strings (``"10.77.0.1"``, ``"fd00:77::1"``).
    Raises :class:`KernelPeerError` on a packet too short for its own header or
    an IPv4 header with a bad checksum.
    """
    data = bytes(packet)
    if not data:
        return None
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            raise KernelPeerError(f"IPv4 packet of {len(data)} bytes is shorter than its header")
        ihl = (data[0] & 0x0F) * 4
        total = struct.unpack_from("!H", data, 2)[0]
        if ihl < 20 or total < ihl or len(data) < total:
            raise KernelPeerError(f"bad IPv4 lengths: ihl {ihl}, total {total}, read {len(data)}")
        if fastseg.internet_checksum(data[:ihl]) != 0:
            raise KernelPeerError("IPv4 header checksum is wrong: " + data[:ihl].hex())
        frag = struct.unpack_from("!H", data, 6)[0]
        if data[9] != IPPROTO_TCP or frag & 0x3FFF:  # MF set or a non-zero fragment offset
            return None
        src = str(ipaddress.IPv4Address(data[12:16]))
        dst = str(ipaddress.IPv4Address(data[16:20]))
        return src, dst, data[ihl:total]
    if version == 6:
        if len(data) < 40:
            raise KernelPeerError(f"IPv6 packet of {len(data)} bytes is shorter than its header")
        payload_len = struct.unpack_from("!H", data, 4)[0]
        end = 40 + payload_len
        if len(data) < end:
            raise KernelPeerError(f"IPv6 payload length {payload_len} but only {len(data) - 40} bytes")
        next_header, offset = data[6], 40
        while next_header in _IPV6_EXTENSION_HEADERS:
            if offset + 2 > end:
                return None
            next_header, offset = data[offset], offset + (data[offset + 1] + 1) * 8
        if next_header != IPPROTO_TCP or offset > end:
            return None  # ICMPv6 (ND, MLD), a fragment header (44), UDP, ...
        src = str(ipaddress.IPv6Address(data[8:24]))
        dst = str(ipaddress.IPv6Address(data[24:40]))
        return src, dst, data[offset:end]
    return None


_OPTION_NAMES = {
    OptionKind.NOP: "nop", OptionKind.SACK_PERMITTED: "sackOK", OptionKind.EOL: "eol",
}


def _describe_option(kind: Optional[int], value: Any) -> str:
    if kind in _OPTION_NAMES:
        return _OPTION_NAMES[kind]
    if kind == OptionKind.MSS:
        return f"mss {value}"
    if kind == OptionKind.WSCALE:
        return f"wscale {value}"
    if kind == OptionKind.TIMESTAMPS and isinstance(value, tuple):
        return f"TS val {value[0]} ecr {value[1]}"
    if kind == OptionKind.SACK and isinstance(value, tuple):
        return "sack " + " ".join(f"{left}:{right}" for left, right in value)
    return f"opt {kind} {bytes(value).hex() if isinstance(value, (bytes, bytearray)) else value!r}"


def describe(segment: Segment) -> str:
    """A one-line, tcpdump-like summary of a segment (absolute sequence numbers)."""
    text = (f"{segment.src_port} > {segment.dst_port} [{segment.flags}] seq={segment.seq} "
            f"ack={segment.ack} win={segment.window} len={len(segment.payload)}")
    if segment.urgent:
        text += f" urg={segment.urgent}"
    if segment.options:
        text += " <" + ",".join(_describe_option(k, v) for k, v in segment.options) + ">"
    return text


# --------------------------------------------------------------------------------------------
# Kernel-side scripts.  Their source is sent to a Python subprocess in the namespace, so they
# import what they need inside and use only their arguments and `task` (see KernelTask / _Task).

def _tcp_configure(sock: Any, rcvbuf: Optional[int], sndbuf: Optional[int],
                   mss: Optional[int], nodelay: bool) -> None:
    import socket

    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    if mss is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _tcp_exchange(task: Any, sock: Any, *, read: Optional[int] = None, send: int = 0,
                  send_first: bool = False, shutdown: Optional[str] = None, read_delay: float = 0.0,
                  send_delay: float = 0.0, hold: float = 0.0, abort: bool = False,
                  keep_data: bool = False) -> Dict[str, Any]:
    import hashlib
    import socket
    import struct
    import time

    states = ["?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
              "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"]
    if shutdown not in (None, "first", "after_send", "end"):
        raise ValueError(f"shutdown must be None, 'first', 'after_send' or 'end', not {shutdown!r}")
    result: Dict[str, Any] = {"received": 0, "sha256": None, "eof": False, "sent": 0, "error": None}
    hasher = hashlib.sha256()
    kept = bytearray()

    def do_read() -> None:
        if read == 0:
            return
        time.sleep(read_delay)
        while read is None or result["received"] < read:
            want = 65536 if read is None else min(65536, read - result["received"])
            data = sock.recv(want)
            if not data:
                result["eof"] = True
                return
            hasher.update(data)
            result["received"] += len(data)
            if keep_data:
                kept.extend(data)

    def do_send() -> None:
        if send:
            time.sleep(send_delay)
            view = memoryview(task.pattern(send))
            while result["sent"] < send:
                result["sent"] += sock.send(view[result["sent"]:])
        if shutdown == "after_send":
            sock.shutdown(socket.SHUT_WR)

    try:
        if shutdown == "first":
            sock.shutdown(socket.SHUT_WR)
        for step in (do_send, do_read) if send_first else (do_read, do_send):
            step()
        if shutdown == "end":
            sock.shutdown(socket.SHUT_WR)
    except OSError as exc:  # ConnectionResetError, BrokenPipeError, a timeout: part of the result
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["sha256"] = hasher.hexdigest()
    if keep_data:
        result["data"] = kept.hex()
    if hold:
        time.sleep(hold)
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        result["state"] = states[info[0]] if info[0] < len(states) else str(info[0])
        result["snd_wscale"], result["rcv_wscale"] = info[6] & 0x0F, info[6] >> 4
    except OSError:
        result["state"] = None
    if abort:  # SO_LINGER {1, 0}: close() sends RST and drops the connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return result


def tcp_server(task: Any, *, port: int = 0, ipv6: bool = False, host: str = "",
               rcvbuf: Optional[int] = None, sndbuf: Optional[int] = None, mss: Optional[int] = None,
               nodelay: bool = False, **exchange: Any) -> Dict[str, Any]:
    """Kernel side: listen, report ready (with the port), accept one connection, then
    exchange as ``_tcp_exchange`` says (read until EOF by default) and report."""
    import socket

    listener = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _tcp_configure(listener, rcvbuf, sndbuf, mss, nodelay)
    listener.bind((host, port))
    listener.listen(1)
    task.ready(port=listener.getsockname()[1])
    conn, address = listener.accept()
    listener.close()
    result = _tcp_exchange(task, conn, **exchange)
    result["peer"] = [address[0], address[1]]
    return result


def tcp_client(task: Any, *, host: str, port: int, ipv6: bool = False, local_port: int = 0,
               rcvbuf: Optional[int] = None, sndbuf: Optional[int] = None, mss: Optional[int] = None,
               nodelay: bool = False, **exchange: Any) -> Dict[str, Any]:
    """Kernel side: connect to ``host:port`` (reporting ready just before), exchange as
    ``_tcp_exchange`` says, report.  A failed connect is reported, not raised."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    _tcp_configure(sock, rcvbuf, sndbuf, mss, nodelay)
    if local_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", local_port))
    task.ready(local_port=sock.getsockname()[1])
    try:
        sock.connect((host, port))
    except OSError as exc:
        sock.close()
        return {"connected": False, "error": f"{type(exc).__name__}: {exc}"}
    result = _tcp_exchange(task, sock, **exchange)
    result["connected"] = True
    return result


_CHILD_PRELUDE = '''\
from __future__ import annotations
import json as _json
import socket as _socket
import sys as _sys
import traceback as _traceback
from typing import Any, Dict, Optional

_events = _sys.stdout
_sys.stdout = _sys.stderr  # print() in a script goes to stderr; stdout carries events only


def _emit(event):
    _events.write(_json.dumps(event) + "\\n")
    _events.flush()


class _Task:
    """What a kernel-side script gets as `task`."""

    def __init__(self, spec):
        self.params, self.timeout = spec["params"], spec["timeout"]

    def ready(self, **info):
        """Tell the test it may go on (KernelTask.wait_ready() returns `info`)."""
        _emit({"event": "ready", "info": info})

    def log(self, *parts):
        print(*parts, file=_sys.stderr, flush=True)

    def pattern(self, n, offset=0):
        return pattern(n, offset)

    def digest(self, data):
        return digest(data)

'''

_CHILD_MAIN = '''
_spec = _json.loads(_sys.stdin.read())
_socket.setdefaulttimeout(_spec["timeout"])
_task = _Task(_spec)
try:
    _globals = globals()
    if _spec["source"] is not None:
        exec(compile(_spec["source"], "<kernel-script>", "exec"), _globals)
    if _spec["entry"] is not None:
        _value = _globals[_spec["entry"]](_task, **_spec["params"])
    else:
        _value = _globals.get("result")
    _emit({"event": "result", "value": _value})
except BaseException as _exc:
    _emit({"event": "error", "type": type(_exc).__name__, "message": str(_exc),
           "traceback": _traceback.format_exc()})
    _sys.exit(1)
'''

_BUILTIN_SCRIPTS = (pattern, digest, _tcp_configure, _tcp_exchange, tcp_server, tcp_client)
_child_program_cache: List[str] = []


def _child_program() -> str:
    if not _child_program_cache:
        sources = [textwrap.dedent(inspect.getsource(fn)) for fn in _BUILTIN_SCRIPTS]
        _child_program_cache.append(_CHILD_PRELUDE + "\n\n".join(sources) + _CHILD_MAIN)
    return _child_program_cache[0]


# --------------------------------------------------------------------------------------------
# A running kernel-side script


class KernelTask:
    """A kernel-side Python script running in the namespace (made by :meth:`KernelPeer.run`).

    The script calls ``task.ready(**info)`` when the test may go on (a server
    after ``listen()``); it ends by returning a JSON-able value (a callable) or
    setting ``result`` (source text).  ``print()`` in the script goes to
    :attr:`stderr`.
    """

    def __init__(self, name: str, process: subprocess.Popen[bytes], spec: Dict[str, Any]):
        self.name = name
        self.process = process
        self.info: Optional[Dict[str, Any]] = None  #: what the script passed to ready(), once it has
        self._events: queue.Queue[Optional[Dict[str, Any]]] = queue.Queue()
        self._stderr: List[str] = []
        self._outcome: Optional[Dict[str, Any]] = None
        self._threads = [
            threading.Thread(target=self._read_events, name=f"{name}-events", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"{name}-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(spec).encode())
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once; result() will say why

    def _read_events(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                self._stderr.append(f"[bad event line] {raw!r}\n")
                continue
            self._events.put(event)
        self._events.put(None)  # end of stream

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self._stderr.append(raw.decode(errors="replace"))

    @property
    def pid(self) -> int:
        """The script's process id (``ip netns exec`` execs it, so it is the Popen's)."""
        return self.process.pid

    @property
    def stderr(self) -> str:
        """What the script wrote to stderr (and printed) so far."""
        return "".join(self._stderr)

    @property
    def running(self) -> bool:
        """Whether the script's process is still alive."""
        return self.process.poll() is None

    def _next_event(self, deadline: float, waiting_for: str) -> Dict[str, Any]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise KernelScriptError(f"{self.name}: no {waiting_for} in time (script killed)",
                                        stderr=self.stderr)
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event is None:
                self._events.put(None)  # keep the end marker for later calls
                self._reap()
                raise KernelScriptError(
                    f"{self.name}: exited with status {self.process.returncode} before {waiting_for}",
                    stderr=self.stderr)
            if event["event"] == "ready":
                self.info = event.get("info") or {}
                if waiting_for == "ready":
                    return event
                continue
            return event

    def wait_ready(self, timeout: float = 5.0) -> Dict[str, Any]:
        """Wait until the script calls ``task.ready(**info)``; returns ``info``.

        Raises :class:`KernelScriptError` if the script fails or exits first,
        or (killing it) if ``timeout`` seconds pass."""
        if self.info is not None:
            return self.info
        if self._outcome is not None:
            raise KernelScriptError(f"{self.name}: finished without calling task.ready()")
        event = self._next_event(time.monotonic() + timeout, "ready")
        if event["event"] != "ready":
            self._outcome = event
            self._raise_if_error(event)
            raise KernelScriptError(f"{self.name}: finished without calling task.ready()")
        assert self.info is not None
        return self.info

    def result(self, timeout: float = 10.0) -> Any:
        """Wait for the script to finish; its return value (or ``result`` global).

        Raises :class:`KernelScriptError` with the kernel-side traceback and
        stderr if it raised, died, or (killed) did not finish in ``timeout`` s."""
        if self._outcome is None:
            self._outcome = self._next_event(time.monotonic() + timeout, "result")
        self._reap()
        self._raise_if_error(self._outcome)
        return self._outcome["value"]

    def _raise_if_error(self, event: Dict[str, Any]) -> None:
        if event["event"] == "error":
            self._reap()
            raise KernelScriptError(
                f"{self.name}: {event['type']}: {event['message']}", type_name=event["type"],
                traceback=event.get("traceback", ""), stderr=self.stderr)

    def _reap(self) -> None:
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._join()

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=1)
        if not any(thread.is_alive() for thread in self._threads):
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()

    def kill(self) -> None:
        """Kill the script (SIGKILL to its own pid) if it is still running, and reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._join()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"<KernelTask {self.name} pid={self.pid} {state}>"


# --------------------------------------------------------------------------------------------
# The peer


class TraceEntry(NamedTuple):
    """One packet through the TUN device, as kept in :attr:`KernelPeer.trace`."""

    time: float  #: time.monotonic() when it was sent or read
    direction: str  #: "out" (userspace to kernel) or "in" (kernel to userspace)
    src: str
    dst: str
    segment: Optional[Segment]  #: None for a non-TCP packet
    size: int  #: the IP packet's length


class SocketInfo(NamedTuple):
    """One TCP socket in the namespace, from ``ss -tan``."""

    state: str  #: ss's name: LISTEN, ESTAB, SYN-SENT, FIN-WAIT-1, TIME-WAIT, LAST-ACK, ...
    recv_q: int
    send_q: int
    local: str  #: "addr:port" as ss prints it ("[fd00:77::1]:5001" for IPv6)
    peer: str


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, _CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns(CLONE_NEWNET): {os.strerror(code)}")


_open_peers: weakref.WeakSet[KernelPeer] = weakref.WeakSet()


@atexit.register
def _close_leftover_peers() -> None:  # a peer used without `with` and never closed
    for peer in list(_open_peers):
        peer.close()


class KernelPeer:
    """A private network namespace with a TUN device; this process is the far end of the wire.

    Use it as a context manager (or call :meth:`open` / :meth:`close`); the
    namespace is deleted on exit whatever happened, after killing the
    kernel-side scripts it started and closing the sockets it made.

    ``ipv6`` picks which pair of addresses :attr:`kernel_addr` and
    :attr:`user_addr` are (both families are configured either way).  ``mtu``
    sets the TUN device's MTU (IPv4 only below 1280; the kernel's MSS is ``mtu - 40`` for IPv4,
    ``mtu - 60`` for IPv6).  ``sysctls`` are set in the namespace before the
    device is made, e.g. ``{"net.ipv4.tcp_timestamps": 0}``.  ``record=False``
    keeps no :attr:`trace` (for bulk transfers).
    """

    ifname = "fsk0"  #: the TUN device's name inside the namespace

    def __init__(self, ipv6: bool = False, *, mtu: int = 1500,
                 sysctls: Optional[Dict[str, Union[int, str]]] = None, record: bool = True):
        self.ipv6 = ipv6
        self.record = record
        self.mtu = mtu
        self.namespace = NAMESPACE_PREFIX + secrets.token_hex(4)
        #: The kernel's address and the one userspace pretends to own, for the chosen family.
        self.kernel_addr, self.user_addr = (KERNEL_ADDR6, USER_ADDR6) if ipv6 else (KERNEL_ADDR4, USER_ADDR4)
        self.family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.fd = -1  #: the TUN file descriptor (non-blocking), -1 when closed
        #: Every packet sent and read, in order; see :meth:`format_trace`.
        self.trace: List[TraceEntry] = []
        self._sysctls = dict(sysctls or {})
        self._executor: Optional[ThreadPoolExecutor] = None
        self._tasks: List[KernelTask] = []
        self._sockets: List[socket.socket] = []
        self._backlog: Deque[Segment] = collections.deque()
        self._created = False
        self._task_counter = 0

    # ----- lifecycle

    def __enter__(self) -> KernelPeer:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> KernelPeer:
        """Make the namespace and the TUN device and configure the addresses."""
        if _UNAVAILABLE is not None:
            raise KernelPeerError(f"kernel peer unavailable: {_UNAVAILABLE}")
        assert _IP is not None
        _open_peers.add(self)
        try:
            self._ip("netns", "add", self.namespace)
            self._created = True
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=self.namespace, initializer=self._enter_namespace)
            # Quiet the wire: no IPv6 router solicitations or DAD probes from the new device
            # (best effort: a host booted with IPv6 disabled has no such sysctls).
            for name in ("router_solicitations", "accept_dad", "dad_transmits"):
                with contextlib.suppress(FileNotFoundError):
                    self.sysctl(f"net.ipv6.conf.default.{name}", 0)
            for name, value in self._sysctls.items():
                self.sysctl(name, value)
            self.fd = self.in_namespace(self._open_tun)
            commands = [
                "link set lo up",
                f"link set {self.ifname} mtu {self.mtu}",
                f"addr add {KERNEL_ADDR4}/24 dev {self.ifname}",
                f"link set {self.ifname} up",
            ]
            if self.mtu >= IPV6_MIN_MTU:  # below it the kernel turns IPv6 off on the device
                commands.insert(3, f"addr add {KERNEL_ADDR6}/64 dev {self.ifname} nodad")
            elif self.ipv6:
                raise KernelPeerError(f"IPv6 needs an MTU of at least {IPV6_MIN_MTU} (RFC 8200 §5)")
            self._ip("-n", self.namespace, "-batch", "-", stdin="\n".join(commands) + "\n")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Kill the scripts, close the sockets and the TUN fd, delete the namespace (idempotent)."""
        try:
            for task in self._tasks:
                task.kill()
            for sock in self._sockets:
                sock.close()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            if self.fd >= 0:
                os.close(self.fd)
        finally:
            self._tasks, self._sockets, self._executor, self.fd = [], [], None, -1
            _open_peers.discard(self)
            if self._created:
                self._created = False
                self._delete_namespace()

    def _delete_namespace(self) -> None:
        assert _IP is not None
        last = ""
        for _attempt in range(5):
            proc = subprocess.run([_IP, "netns", "del", self.namespace], capture_output=True,
                                  text=True, timeout=10, check=False)
            if proc.returncode == 0 or self.namespace not in list_namespaces():
                return
            last = proc.stderr.strip()
            time.sleep(0.05)
        raise KernelPeerError(f"could not delete namespace {self.namespace}: {last}")

    def _ip(self, *args: str, stdin: Optional[str] = None) -> str:
        assert _IP is not None
        proc = subprocess.run([_IP, *args], input=stdin, capture_output=True, text=True,
                              timeout=10, check=False)
        if proc.returncode != 0:
            raise KernelPeerError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def _enter_namespace(self) -> None:
        fd = os.open(f"/run/netns/{self.namespace}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd)
        finally:
            os.close(fd)

    def _open_tun(self) -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            request = struct.pack("16sH22x", self.ifname.encode(), _IFF_TUN | _IFF_NO_PI)
            fcntl.ioctl(fd, _TUNSETIFF, request)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # ----- doing things inside the namespace, in this process

    def in_namespace(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)`` in a thread of this process that has entered the
        namespace, and return its result.  Sockets and TUN devices made there belong to the
        namespace for good and can be used from any thread afterwards."""
        if self._executor is None:
            raise KernelPeerError("the kernel peer is not open")
        return self._executor.submit(fn, *args, **kwargs).result(timeout=30)

    def socket(self, family: Optional[int] = None, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket in the namespace, made in this process (``family`` defaults to the peer's).

        Closed on :meth:`close` if still open.  Give it a timeout or make it
        non-blocking: the test thread must stay free to move packets."""
        sock: socket.socket = self.in_namespace(socket.socket, family or self.family, type)
        self._sockets.append(sock)
        return sock

    def sysctl(self, name: str, value: Union[int, str, None] = None) -> str:
        """Read (and first set, if ``value`` is given) a sysctl of the namespace, e.g.
        ``peer.sysctl("net.ipv4.tcp_sack", 0)``.  Per-namespace ones only matter here."""
        path = "/proc/sys/" + name.replace(".", "/")

        def access() -> str:
            if value is not None:
                with open(path, "w") as handle:
                    handle.write(str(value))
            with open(path) as handle:
                return handle.read().strip()

        return str(self.in_namespace(access))

    def sockets(self) -> List[SocketInfo]:
        """The namespace's TCP sockets in every state (``ss -Htan``), orphans and TIME-WAIT too."""
        out = self._ip("netns", "exec", self.namespace, "ss", "-Htan")
        found = []
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 5:
                found.append(SocketInfo(fields[0], int(fields[1]), int(fields[2]), fields[3], fields[4]))
        return found

    # ----- kernel-side scripts in a subprocess

    def run(self, code: Union[str, Callable[..., Any]], /, *, timeout: float = 10.0,
            name: Optional[str] = None, **params: Any) -> KernelTask:
        """Start kernel-side Python in the namespace (``ip netns exec``); returns at once.

        ``code`` is either a function ``fn(task, **params)`` that returns a
        JSON-able value -- it is shipped by its source, so it must import what it
        uses inside itself and reference no globals -- or Python source text,
        run with ``task`` and ``params`` as globals, whose ``result`` global is
        the result.  Both may use ``pattern``/``digest``/``tcp_server``/...
        (or ``task.pattern``).  ``task.ready(**info)`` unblocks
        :meth:`KernelTask.wait_ready`.  ``timeout`` becomes the script's default
        socket timeout, so no socket call blocks longer.
        """
        if self._executor is None:
            raise KernelPeerError("the kernel peer is not open")
        assert _IP is not None
        builtin = {fn.__name__ for fn in _BUILTIN_SCRIPTS}
        if callable(code):
            entry = code.__name__
            source = None if (entry in builtin and code is globals().get(entry)) else \
                textwrap.dedent(inspect.getsource(code))
        else:
            entry, source = None, "task = _task\nparams = _task.params\n" + textwrap.dedent(code)
        spec = {"source": source, "entry": entry, "params": params, "timeout": timeout}
        json.dumps(spec)  # fail here, not in the child, on params that are not JSON-able
        self._task_counter += 1
        label = name or f"{entry or 'script'}#{self._task_counter}"
        process = subprocess.Popen(
            [_IP, "netns", "exec", self.namespace, sys.executable, "-I", "-S", "-c", _child_program()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        task = KernelTask(label, process, spec)
        self._tasks.append(task)
        return task

    def server(self, port: int = 0, *, read: Optional[int] = None, send: int = 0,
               send_first: bool = False, shutdown: Optional[str] = None, abort: bool = False,
               rcvbuf: Optional[int] = None, sndbuf: Optional[int] = None, mss: Optional[int] = None,
               nodelay: bool = False, read_delay: float = 0.0, send_delay: float = 0.0,
               hold: float = 0.0, keep_data: bool = False, timeout: float = 10.0,
               wait: bool = True) -> KernelTask:
        """A kernel TCP server on ``port`` (0: any; see ``task.info["port"]``) that accepts
        one connection and then:

        1. ``shutdown="first"``: shutdown(SHUT_WR) straight away;
        2. reads ``read`` bytes (None: until EOF; 0: not at all), after ``read_delay`` s
           (the two steps swap with ``send_first``);
        3. sends ``send`` bytes of :func:`pattern` after ``send_delay`` s, then
           shutdown(SHUT_WR) if ``shutdown="after_send"``;
        4. ``shutdown="end"``: shutdown(SHUT_WR); waits ``hold`` s; closes --
           with ``abort``, SO_LINGER {1, 0} first, so close() sends RST.

        ``rcvbuf``/``sndbuf``/``mss``/``nodelay`` are set on the listener (so they
        shape the handshake: a small ``rcvbuf`` makes a small window and scale).
        The result is a dict: ``received``, ``sha256`` (of the received bytes),
        ``eof``, ``sent``, ``error`` (a socket error, e.g. "ConnectionResetError:
        ..."), ``state`` (TCP_INFO state before close), ``snd_wscale``,
        ``rcv_wscale``, ``peer`` and, with ``keep_data``, ``data`` (hex).
        ``wait``: return only once it listens.
        """
        task = self.run(
            tcp_server, timeout=timeout, port=port, ipv6=self.ipv6, rcvbuf=rcvbuf, sndbuf=sndbuf,
            mss=mss, nodelay=nodelay, read=read, send=send, send_first=send_first,
            shutdown=shutdown, abort=abort, read_delay=read_delay, send_delay=send_delay,
            hold=hold, keep_data=keep_data)
        if wait:
            task.wait_ready(timeout=min(timeout, 5.0))
        return task

    def client(self, port: int, *, host: Optional[str] = None, local_port: int = 0,
               read: Optional[int] = None, send: int = 0, send_first: bool = True,
               shutdown: Optional[str] = None, abort: bool = False, rcvbuf: Optional[int] = None,
               sndbuf: Optional[int] = None, mss: Optional[int] = None, nodelay: bool = False,
               read_delay: float = 0.0, send_delay: float = 0.0, hold: float = 0.0,
               keep_data: bool = False, timeout: float = 10.0, wait: bool = True) -> KernelTask:
        """A kernel TCP client that connects to ``host`` (default :attr:`user_addr`) ``:port``
        from ``local_port`` (0: ephemeral, see ``task.info["local_port"]``), then does as
        :meth:`server` does -- but sends first by default.  The result also has
        ``connected``; a refused or timed-out connect is ``connected: False`` with ``error``.
        ``wait``: return once the socket is bound, just before connect()."""
        task = self.run(
            tcp_client, timeout=timeout, host=host or self.user_addr, port=port, ipv6=self.ipv6,
            local_port=local_port, rcvbuf=rcvbuf, sndbuf=sndbuf, mss=mss, nodelay=nodelay,
            read=read, send=send, send_first=send_first, shutdown=shutdown, abort=abort,
            read_delay=read_delay, send_delay=send_delay, hold=hold, keep_data=keep_data)
        if wait:
            task.wait_ready(timeout=min(timeout, 5.0))
        return task

    # ----- raw packets

    def send(self, packet: bytes) -> None:
        """Write one raw IP packet to the TUN device: the kernel receives it."""
        if self.fd < 0:
            raise KernelPeerError("the kernel peer is not open")
        self._record("out", packet)
        written = os.write(self.fd, packet)
        if written != len(packet):
            raise KernelPeerError(f"short write to the TUN device: {written} of {len(packet)} bytes")

    def recv(self, timeout: float = 1.0) -> Optional[bytes]:
        """The next raw IP packet the kernel sent out of the TUN device, or None after
        ``timeout`` seconds (0: only what is already queued)."""
        if self.fd < 0:
            raise KernelPeerError("the kernel peer is not open")
        deadline = time.monotonic() + max(timeout, 0.0)
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            try:
                packet = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                poller.poll(max(1, int(remaining * 1000 + 0.999)))
                continue
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            self._record("in", packet)
            return packet

    def drain(self) -> List[bytes]:
        """Read and return every packet already queued, without waiting."""
        packets = []
        while True:
            packet = self.recv(0)
            if packet is None:
                return packets
            packets.append(packet)

    def _record(self, direction: str, packet: bytes) -> None:
        if not self.record:
            return
        try:
            unwrapped = unwrap(packet)
        except KernelPeerError:
            unwrapped = None
        segment = None
        if unwrapped is not None:
            try:
                segment = fastseg.unpack(unwrapped[2], strict=False)
            except fastseg.DecodeError:
                segment = None
            src, dst = unwrapped[0], unwrapped[1]
        else:
            src = dst = "?"
        self.trace.append(TraceEntry(time.monotonic(), direction, src, dst, segment, len(packet)))

    # ----- TCP segments

    def wrap(self, segment: Union[Segment, bytes], src: Optional[Address] = None,
             dst: Optional[Address] = None) -> bytes:
        """:func:`wrap` with ``src`` defaulting to :attr:`user_addr` and ``dst`` to
        :attr:`kernel_addr`."""
        return wrap(segment, src or self.user_addr, dst or self.kernel_addr)

    @staticmethod
    def unwrap(packet: bytes) -> Optional[Tuple[str, str, bytes]]:
        """:func:`unwrap`: ``(src, dst, segment_bytes)``, or None for a non-TCP packet."""
        return unwrap(packet)

    def send_segment(self, segment: Union[Segment, bytes], src: Optional[Address] = None,
                     dst: Optional[Address] = None) -> bytes:
        """Send a TCP segment to the kernel (from :attr:`user_addr` to :attr:`kernel_addr` by
        default); a Segment gets its checksum computed, bytes go as they are.  Returns the
        IP packet sent."""
        packet = self.wrap(segment, src, dst)
        self.send(packet)
        return packet

    def recv_segment(self, timeout: float = 1.0,
                     match: Optional[Callable[[Segment], bool]] = None) -> Optional[Segment]:
        """The next TCP segment the kernel sent (checksum verified, strictly decoded), or None
        after ``timeout`` s.  Non-TCP packets are skipped.  With ``match``, segments it rejects
        are kept back, in order, for later calls instead of being returned."""
        for held in list(self._backlog):
            if match is None or match(held):
                self._backlog.remove(held)
                return held
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            packet = self.recv(max(deadline - time.monotonic(), 0.0))
            if packet is None:
                return None
            unwrapped = unwrap(packet)
            if unwrapped is None:
                continue
            src, dst, tcp = unwrapped
            if not fastseg.verify_checksum(src, dst, tcp):
                raise KernelPeerError(
                    f"kernel sent a TCP segment with a wrong checksum ({src} > {dst}): {tcp.hex()}")
            segment = fastseg.unpack(tcp)
            if match is None or match(segment):
                return segment
            self._backlog.append(segment)

    def expect_segment(self, timeout: float = 2.0,
                       match: Optional[Callable[[Segment], bool]] = None,
                       what: str = "a segment") -> Segment:
        """:meth:`recv_segment`, but a timeout fails the test with ``what`` and the trace."""
        segment = self.recv_segment(timeout, match)
        if segment is None:
            raise AssertionError(
                f"kernel sent no {what} within {timeout} s\ntrace:\n{self.format_trace()}")
        return segment

    def format_trace(self, last: Optional[int] = 40) -> str:
        """The packet trace as text (the ``last`` entries; None: all), times relative to the first."""
        if not self.trace:
            return "  (no packets)"
        start = self.trace[0].time
        lines = []
        for entry in self.trace[-last:] if last else self.trace:
            arrow = "->" if entry.direction == "out" else "<-"
            body = describe(entry.segment) if entry.segment is not None else f"non-TCP, {entry.size} bytes"
            lines.append(f"  {entry.time - start:8.4f} {arrow} {entry.src} > {entry.dst}: {body}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "open" if self.fd >= 0 else "closed"
        return f"<KernelPeer {self.namespace} {self.kernel_addr} <-> {self.user_addr} {state}>"
