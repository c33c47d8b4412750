"""A Linux TUN device (``/dev/net/tun``, ``IFF_TUN | IFF_NO_PI``): IP packets in and out."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import subprocess
from typing import Optional

from fastseg.errors import FastsegError

__all__ = ["TunDevice", "TunError", "ip"]

_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000
_IFNAMSIZ = 16
#: Enough for the largest IPv6 packet without a jumbo payload.
_READ_SIZE = 65535 + 40
#: Seconds an ``ip`` command may take.
_IP_TIMEOUT = 10.0


class TunError(FastsegError, OSError):
    """The TUN device could not be opened or configured; the message says why."""


def ip(*args: str) -> None:
    """Run iproute2's ``ip`` with ``args``, bounded in time; TunError with its message on failure."""
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT)
    except FileNotFoundError:
        raise TunError("iproute2's 'ip' command is needed to configure the device") from None
    if done.returncode:
        raise TunError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class TunDevice:
    """Creates TUN device ``name`` or attaches to it when it exists; non-blocking.

    The descriptor (``fileno()``) suits a selector or asyncio's ``add_reader``.
    A device this object created disappears when it is closed.  TunError when
    ``/dev/net/tun`` is missing, when the privilege (CAP_NET_ADMIN) is
    missing, or when the name is unusable.
    """

    def __init__(self, name: str) -> None:
        raw = name.encode()
        if not raw or len(raw) >= _IFNAMSIZ or b"/" in raw or b" " in raw or b"\0" in raw:
            raise TunError(f"not a usable interface name: {name!r} (1 to 15 bytes, no '/' or spaces)")
        self.existed = os.path.exists(f"/sys/class/net/{name}")
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TunError("/dev/net/tun does not exist: load the tun module (modprobe tun)") from None
        except PermissionError:
            raise TunError("no permission to open /dev/net/tun (run as root)") from None
        try:
            fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", raw, _IFF_TUN | _IFF_NO_PI))
        except OSError as error:
            os.close(fd)
            if error.errno == errno.EPERM:
                raise TunError(f"creating {name} needs CAP_NET_ADMIN (run as root)") from None
            if error.errno in (errno.EINVAL, errno.EBUSY):
                raise TunError(f"{name} exists and is not a free TUN device without packet "
                               f"information") from None
            raise TunError(f"TUNSETIFF {name}: {os.strerror(error.errno or 0)}") from None
        self.name = name
        self._fd: Optional[int] = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise TunError(f"{self.name} is closed")
        return self._fd

    def configure(self, address: str, *, mtu: Optional[int] = None) -> None:
        """Give the kernel's side ``address`` (``IP/PREFIX``), set ``mtu``, bring the link up."""
        extra = ["nodad"] if ":" in address else []
        ip("addr", "add", address, "dev", self.name, *extra)
        if mtu is not None:
            ip("link", "set", "dev", self.name, "mtu", str(mtu))
        ip("link", "set", "dev", self.name, "up")

    def read(self) -> Optional[bytes]:
        """One IP packet, or None when none is waiting."""
        try:
            return os.read(self.fileno(), _READ_SIZE)
        except BlockingIOError:
            return None

    def write(self, packet: bytes) -> bool:
        """Hand one IP packet to the kernel; False when the device's queue is full (dropped)."""
        try:
            os.write(self.fileno(), packet)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        """Close the descriptor (a device this object created goes with it); idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
