"""Test helpers for fastseg.net on a real TUN device: a private network namespace with the
device in it (the test process holds the descriptor), deleted afterwards."""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
from typing import Iterator, Union

from kernel_peer import _setns

from fastseg.net import TunDevice

KERNEL4, USER4, KERNEL6, USER6 = "10.78.0.1", "10.78.0.2", "fd00:78::1", "fd00:78::2"


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A private network namespace with a random name; deleted afterwards."""
    name = "fastseg_h_" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """This thread inside namespace ``name`` for the block (devices made there stay there)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)


def tun_in(ns: str, name: str = "fsh0") -> TunDevice:
    """TUN device ``name`` in namespace ``ns``, its kernel side KERNEL4/24 and KERNEL6/64."""
    with entered(ns):
        tun = TunDevice(name)
        tun.configure(f"{KERNEL4}/24", mtu=1500)
        tun.configure(f"{KERNEL6}/64")
    return tun


def in_namespace(ns: str, script: Union[str, pathlib.Path], *args: str) -> subprocess.Popen[str]:
    """This Python running ``script`` (its text, or a file) with ``args`` inside ``ns``, its
    output piped as text."""
    program = [str(script)] if isinstance(script, pathlib.Path) else ["-c", script]
    # started away from the checkout: "-c" puts the working directory first on sys.path, and
    # the checkout's fastseg (uncompiled in CI) must not shadow the installed one
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, *program, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir())
