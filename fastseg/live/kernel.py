"""The Linux kernel as a target: a private network namespace, a TUN device, an echo service.

The namespace (``fastseg-fuzz-PID-RANDOM``, removed at :meth:`KernelTarget.close`) holds
TUN device ``fz0``; the kernel owns the target's address on it and reaches
the fuzzer's peer through it.  The echo service is a listening kernel socket
made in the namespace and served from this process (non-blocking), so the
campaign can stop reading (to close the window), close first or keep a
half-closed connection, as with an in-process target.  States come from the
namespace's ``/proc/net/tcp``; its ``/proc/net/netstat`` and
``/proc/net/snmp`` TCP counters are the kernel's own coverage.  Time is
real: the exchange's clock runs no faster than the wall clock.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import select
import shutil
import socket
import time
from typing import Dict, Iterator, List, Optional

from fastseg.conn.host import Datagram
from fastseg.live.exchange import START
from fastseg.live.target import PEER_ADDRESS, SERVICE_PORT, TARGET_ADDRESS, App, TargetCrash, TargetError
from fastseg.net.framing import Framing
from fastseg.net.tun import TunDevice, TunError, ip
from fastseg.segment import Segment

__all__ = ["KernelTarget", "kernel_unavailable"]

_CLONE_NEWNET = 0x40000000
_DEVICE = "fz0"
#: The service socket's receive buffer: small, so that a zero window comes soon.
_RCVBUF = 16 * 1024
#: Seconds between two looks at the device when nothing else is due.
_POLL = 0.05
#: Seconds to wait for the kernel's first answer to a packet just written.
_ANSWER_WAIT = 0.005
#: /proc/net/tcp's state codes (include/net/tcp_states.h), as RFC 9293 names them.
_STATES = {1: "ESTABLISHED", 2: "SYN-SENT", 3: "SYN-RECEIVED", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2",
           6: "TIME-WAIT", 7: "CLOSED", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN", 11: "CLOSING",
           12: "SYN-RECEIVED"}
_READ = 1 << 20


def kernel_unavailable() -> Optional[str]:
    """Why the kernel target cannot run here, or None."""
    if not hasattr(os, "geteuid") or not os.path.exists("/proc/self/ns/net"):
        return "the kernel target needs Linux"
    if os.geteuid() != 0:
        return "the kernel target needs root (a network namespace and a TUN device)"
    if not os.path.exists("/dev/net/tun"):
        return "the kernel target needs /dev/net/tun (modprobe tun)"
    if shutil.which("ip") is None:
        return "the kernel target needs iproute2's ip"
    return None


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)
    if setns is not None:  # Python 3.12+
        setns(fd, _CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns(CLONE_NEWNET): {os.strerror(code)}")


@contextlib.contextmanager
def _inside(namespace: str) -> Iterator[None]:
    """Run the block in ``namespace`` (this thread only), then come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    there = os.open(f"/run/netns/{namespace}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(there)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(there)
        os.close(home)


class KernelTarget:
    """The kernel in a namespace of its own; :meth:`close` removes it."""

    #: Marks this class as a target of its own rather than an in-process factory.
    kernel = True

    def __init__(self) -> None:
        reason = kernel_unavailable()
        if reason is not None:
            raise TargetError(reason)
        # The process id says whose it is, should one ever be left behind.
        self.namespace = f"fastseg-fuzz-{os.getpid()}-{secrets.token_hex(4)}"
        self.framing = Framing()
        self.apps: Dict[int, App] = {}
        self.reading = True
        self.close_on_fin = True
        self._fds: List[int] = []
        self._tun: Optional[TunDevice] = None
        self._listener: Optional[socket.socket] = None
        self._start = time.monotonic()
        self._wrote = False
        try:
            ip("netns", "add", self.namespace)
            with _inside(self.namespace):
                self._tun = TunDevice(_DEVICE)
            ip("-n", self.namespace, "link", "set", "lo", "up")
            ip("-n", self.namespace, "addr", "add", f"{TARGET_ADDRESS}/24", "dev", _DEVICE)
            ip("-n", self.namespace, "link", "set", _DEVICE, "up")
            with _inside(self.namespace):
                listener = self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                # Urgent data stays in the stream, as RFC 6093 §6 asks of applications; by
                # default Linux takes the last urgent byte out of it (BSD's out-of-band byte).
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
                listener.bind((TARGET_ADDRESS, SERVICE_PORT))
                listener.listen(128)
                listener.setblocking(False)
                for name in ("tcp", "netstat", "snmp"):
                    self._fds.append(os.open(f"/proc/thread-self/net/{name}", os.O_RDONLY | os.O_CLOEXEC))
        except (OSError, TunError) as exc:
            self.close()
            raise TargetError(f"cannot set up the kernel target: {exc}") from None
        except BaseException:  # Ctrl-C or SIGTERM half way: the namespace goes too
            self.close()
            raise

    def close(self) -> None:
        """Close the service, the device and the namespace."""
        for app in self.apps.values():
            app.conn.close()
        if self._listener is not None:
            self._listener.close()
        if self._tun is not None:
            self._tun.close()
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        with contextlib.suppress(TunError):
            ip("netns", "del", self.namespace)

    # ------------------------------------------------------------ the clock

    def _wait(self, now: float) -> None:
        """Sleep until the wall clock reaches the exchange's ``now``."""
        late = self._start + (now - START) - time.monotonic()
        if late > 0:
            time.sleep(late)

    def deadline(self) -> Optional[float]:
        return START + time.monotonic() - self._start + _POLL

    def timeout(self, now: float) -> None:
        self._wait(now)

    # ------------------------------------------------------------ the wire

    def receive(self, segment: Segment, now: float) -> None:
        self._wait(now)
        assert self._tun is not None
        datagram = Datagram(PEER_ADDRESS, TARGET_ADDRESS, segment)
        self._tun.write(self.framing.frame(datagram))
        self._wrote = True

    def send_due(self, now: float) -> List[Datagram]:
        self._wait(now)
        self.serve(now)
        assert self._tun is not None
        if self._wrote:
            select.select([self._tun], [], [], _ANSWER_WAIT)
            self._wrote = False
        out: List[Datagram] = []
        while True:
            packet = self._tun.read()
            if packet is None:
                return out
            arrival = self.framing.parse(packet)
            if arrival is not None:
                out.append(Datagram(arrival.src, arrival.dst, arrival.segment))

    # ------------------------------------------------------------ what /proc says

    def _read(self, index: int) -> str:
        return os.pread(self._fds[index], _READ, 0).decode("ascii", "replace")

    def _sockets(self) -> Iterator[tuple]:  # type: ignore[type-arg]
        for line in self._read(0).splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            yield local_port, remote_port, _STATES.get(int(fields[3], 16), fields[3])

    def state(self, port: int) -> Optional[str]:
        for _, remote, name in self._sockets():
            if remote == port and name != "LISTEN":
                return None if name == "CLOSED" else name
        return None

    def connection_count(self) -> int:
        return sum(1 for _, _, name in self._sockets() if name not in ("LISTEN", "CLOSED"))

    def counters(self) -> Dict[str, int]:
        """The namespace's TCP counters (``TcpExt`` of netstat, ``Tcp`` of snmp) by name."""
        values: Dict[str, int] = {}
        for index in (1, 2):
            lines = self._read(index).splitlines()
            for names, numbers in zip(lines[::2], lines[1::2]):
                group, _, rest = names.partition(":")
                if group in ("TcpExt", "Tcp"):
                    for name, number in zip(rest.split(), numbers.partition(":")[2].split()):
                        values[f"{group}.{name}"] = int(number)
        return values

    def memory(self) -> Optional[int]:
        """Not measured: the kernel's memory is not this process's."""
        return None

    # ------------------------------------------------------------ the echo service

    def close_connection(self, port: int, now: float) -> None:
        """The service closes its side of the connection with ``port`` (a FIN: SHUT_WR)."""
        self.serve(now)
        app = self.apps.get(port)
        if app is not None and not app.closed:
            self._shut(app)

    @staticmethod
    def _shut(app: App) -> None:
        app.closed = True
        with contextlib.suppress(OSError):
            app.conn.shutdown(socket.SHUT_WR)

    def serve(self, now: float) -> None:
        """Accept, read, echo and close as the echo service does."""
        assert self._listener is not None
        while True:
            try:
                conn, address = self._listener.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                raise TargetCrash(f"the echo service's accept failed: {exc}") from exc
            conn.setblocking(False)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
            self.apps[address[1]] = App(conn)
        if self.reading:
            for app in self.apps.values():
                self._serve_one(app)

    def _serve_one(self, app: App) -> None:
        sock = app.conn
        while not app.finished:
            try:
                data = sock.recv(_READ)
            except BlockingIOError:
                break
            except OSError:  # reset
                app.finished = app.closed = True
                break
            if not data:
                app.finished = True
                break
            app.received += data
        if not app.closed and app.echoed < len(app.received):
            try:
                app.echoed += sock.send(bytes(app.received[app.echoed:]))
            except BlockingIOError:
                pass
            except OSError:
                app.closed = True
        if app.finished and self.close_on_fin and not app.closed and app.echoed == len(app.received):
            self._shut(app)
