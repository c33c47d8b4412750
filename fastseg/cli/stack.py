"""``fastseg stack echo``: fastseg's own TCP serving RFC 862 echo to the kernel through a TUN device.

Creates TUN device NAME (or attaches to it), gives the kernel's side of it
``--kernel IP/PREFIX``, and answers as ``--local IP`` (inside that prefix,
not the kernel's address) on ``--port`` with fastseg's userspace TCP::

    sudo fastseg stack echo --tun fs0 --local 10.9.0.2 --kernel 10.9.0.1/24 &
    printf 'hello\\n' | nc -q1 10.9.0.2 7

IPv4 and IPv6 may both be given (``--local`` and ``--kernel`` once per
family).  ``--impair loss=0.02,duplicate=0.01,reorder=0.05,delay=5:2,seed=1``
loses, duplicates, reorders and delays packets between the device and the
stack, both ways, repeatably for a seed.  A line containing ``ready`` is
printed once it serves; SIGINT or SIGTERM closes every connection, removes
what was created, and prints a one-line summary.  Needs root
(CAP_NET_ADMIN) and /dev/net/tun.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from fastseg.cli import Parser, UsageError, guard
from fastseg.conn import Config, Host, State
from fastseg.net import EchoService, ImpairmentSpec, Stack, TunDevice
from fastseg.net.tun import ip

__all__ = ["main"]

#: Seconds the connections get to close after a signal before they are aborted.
GRACE = 5.0
#: Seconds per round of the loop when nothing is due.
ROUND = 0.05


def _parser() -> Parser:
    parser = Parser(prog="fastseg stack", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="service", required=True, metavar="{echo}", parser_class=Parser)
    echo = sub.add_parser("echo", help="serve RFC 862 echo through a TUN device",
                          prog="fastseg stack echo")
    echo.add_argument("--tun", required=True, metavar="NAME", help="the TUN device to create or use")
    echo.add_argument("--local", required=True, action="append", metavar="IP",
                      help="the address fastseg answers on (once per IP version)")
    echo.add_argument("--kernel", required=True, action="append", metavar="IP/PREFIX",
                      help="the kernel's address on the device (once per IP version)")
    echo.add_argument("--port", type=int, default=7, help="the echo port (default 7)")
    echo.add_argument("--mtu", type=int, help="the device's MTU (default: the kernel's)")
    echo.add_argument("--impair", metavar="SPEC", help="e.g. loss=0.02,reorder=0.05,delay=5:2,seed=1")
    return parser


def _plan(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """(kernel IP/PREFIX, local IP) pairs, one per IP version; UsageError when they do not fit."""
    kernels: Dict[int, Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]] = {}
    for text in args.kernel:
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            raise UsageError(f"argument --kernel: not IP/PREFIX: {text!r}") from None
        if "/" not in text or interface.version in kernels:
            raise UsageError(f"argument --kernel: give IP/PREFIX once per IP version: {text!r}")
        kernels[interface.version] = interface
    pairs = []
    for text in args.local:
        try:
            local = ipaddress.ip_address(text)
        except ValueError:
            raise UsageError(f"argument --local: not an IP address: {text!r}") from None
        kernel = kernels.pop(local.version, None)
        if kernel is None:
            raise UsageError(f"argument --local: {local} has no --kernel of its IP version")
        if local not in kernel.network or local == kernel.ip:
            raise UsageError(f"argument --local: {local} must be inside {kernel.network} "
                             f"and not the kernel's {kernel.ip}")
        pairs.append((str(kernel), str(local)))
    if kernels:
        raise UsageError(f"argument --kernel: {next(iter(kernels.values()))} has no --local")
    return pairs


def _run(argv: Optional[Sequence[str]]) -> int:
    args = _parser().parse_args(argv)
    pairs = _plan(args)
    if not 1 <= args.port <= 0xFFFF:
        raise UsageError(f"argument --port: not a port: {args.port}")
    if args.mtu is not None and not 68 <= args.mtu <= 65535:
        raise UsageError(f"argument --mtu: not in [68, 65535]: {args.mtu}")
    try:
        impair = ImpairmentSpec.parse(args.impair) if args.impair is not None else None
    except ValueError as exc:
        raise UsageError(f"argument --impair: {exc}") from None
    stop: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stop.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with TunDevice(args.tun) as tun:
            added: List[str] = []
            try:
                for kernel, _ in pairs:
                    tun.configure(kernel, mtu=args.mtu)
                    added.append(kernel)
                return _serve(args, tun, pairs, impair, stop)
            finally:
                if tun.existed:  # a device we created goes with its descriptor
                    for kernel in added:
                        ip("addr", "del", kernel, "dev", tun.name)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(args: argparse.Namespace, tun: TunDevice, pairs: List[Tuple[str, str]],
           impair: Optional[ImpairmentSpec], stop: List[int]) -> int:
    host = Host([local for _, local in pairs], config=Config())
    listener = host.listen(("", args.port))
    stack = Stack(host, tun, impair=impair)
    echo = EchoService(host)
    where = ", ".join(f"{local} port {args.port}" for _, local in pairs)
    print(f"fastseg stack echo: ready on {where} via {tun.name}", flush=True)
    while not stop:
        stack.poll(ROUND)
        echo.serve(stack.clock())
    now = stack.clock()
    listener.close(now)
    for conn in host.connections:
        if conn.state in (State.ESTABLISHED, State.CLOSE_WAIT):
            conn.close(now)
        elif conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
            conn.abort(now)
    give_up = time.monotonic() + GRACE
    while host.connections and time.monotonic() < give_up:
        stack.poll(ROUND)
        echo.serve(stack.clock())
    left = len(host.connections)
    for conn in host.connections:
        conn.abort(stack.clock())
    stack.flush()
    print(f"fastseg stack echo: {echo.connections} connections, {echo.bytes} bytes echoed, "
          f"{stack.retransmissions} retransmissions, {host.stats['resets_sent']} resets, "
          f"{host.stats['cookies_sent']} cookies sent, {left} aborted at exit", flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean shutdown, 1 when the device fails, 2 on usage."""
    return guard("fastseg stack", lambda: _run(list(sys.argv[1:] if argv is None else argv)))
