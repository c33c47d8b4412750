"""The implementations a benchmark case can use: fastseg's two twins and the peers dpkt and scapy,
and each one's results in the corpus' field form, for the checks."""

from __future__ import annotations

import functools
import importlib
import logging
import operator
import struct
from types import SimpleNamespace
from typing import Any

from fastseg import _impl, reference
from harness.corpus import Fields

__all__ = ["Unavailable", "dpkt_fields", "fastseg_fields", "minimal", "peer", "record_fields",
           "scapy_fields", "scapy_option_list", "twin"]


class Unavailable(Exception):
    """An implementation that cannot run here; the message says why."""


@functools.cache
def twin(name: str) -> Any:
    """The Cython (``"cython"``) or pure-Python (``"python"``) twin as one namespace."""
    if name == "python":
        return reference
    try:
        modules = [_impl.twin(role, "cython") for role in ("codec", "checksum", "seq")]
    except ImportError as exc:
        raise Unavailable(f"the Cython twin is not built ({exc})") from None
    return SimpleNamespace(**{n: getattr(m, n) for m in modules for n in m.__all__})


def minimal() -> Any:
    """The compiled baselines (``_minimal_c``, built by ``benchmarks/build.py``)."""
    try:
        return importlib.import_module("harness._minimal_c")
    except ImportError as exc:
        raise Unavailable(f"the compiled baselines are not built (python benchmarks/build.py): {exc}") \
            from None


#: A minimal Record's fields in the corpus' order.
record_fields = operator.attrgetter("src_port", "dst_port", "seq", "ack", "header_len", "flags", "window",
                                    "checksum", "urgent", "options", "payload")


@functools.cache
def peer(name: str) -> Any:
    """The peer library ``dpkt``, or the parts of ``scapy`` the cases use."""
    try:
        if name == "dpkt":
            return importlib.import_module("dpkt")
        logging.getLogger("scapy").setLevel(logging.ERROR)  # no warnings about routes at import
        inet, packet, utils = (importlib.import_module(f"scapy.{m}")
                               for m in ("layers.inet", "packet", "utils"))
    except ImportError:
        raise Unavailable(f"{name} is not installed (pip install 'fastseg-tcp[bench]')") from None
    return SimpleNamespace(IP=inet.IP, TCP=inet.TCP, Raw=packet.Raw, PcapReader=utils.PcapReader,
                           checksum=utils.checksum)


def _option_value(kind: int, data: bytes) -> Any:
    """A raw option body (dpkt's form) in fastseg's value form."""
    if kind == 1 or kind == 4:
        return None
    if kind in (2, 3):
        return int.from_bytes(data, "big")
    if kind == 8:
        return struct.unpack("!II", data)
    if kind == 5:
        edges = struct.unpack(f"!{len(data) // 4}I", data)
        return tuple(zip(edges[::2], edges[1::2]))
    return data


def fastseg_fields(seg: Any) -> Fields:
    return (seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.header_len, int(seg.flags), seg.window,
            seg.checksum, seg.urgent, tuple((int(k), v) for k, v in seg.options), seg.payload)


def dpkt_fields(tcp: Any) -> Fields:
    options = tuple((k, _option_value(k, v)) for k, v in peer("dpkt").tcp.parse_opts(tcp.opts))
    return (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.off * 4, tcp.flags, tcp.win, tcp.sum, tcp.urp,
            options, bytes(tcp.data))


_SCAPY_KINDS = {"NOP": 1, "MSS": 2, "WScale": 3, "SAckOK": 4, "SAck": 5, "Timestamp": 8}


def _scapy_option(name: Any, value: Any) -> tuple[int, Any]:
    kind = _SCAPY_KINDS.get(name, name)
    if kind in (1, 4):
        return (kind, None)
    if kind == 5:
        return (kind, tuple(zip(value[::2], value[1::2])))
    return (kind, value)


def scapy_fields(tcp: Any) -> Fields:
    options = tuple(_scapy_option(name, value) for name, value in tcp.options)
    return (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.dataofs * 4, int(tcp.flags), tcp.window,
            tcp.chksum, tcp.urgptr, options, bytes(tcp.payload))


def scapy_option_list(options: Fields) -> list[tuple[str, Any]]:
    names = {kind: name for name, kind in _SCAPY_KINDS.items()}
    out: list[tuple[str, Any]] = []
    for kind, value in options:
        if kind == 5:
            value = tuple(edge for block in value for edge in block)
        elif kind == 4:
            value = b""
        out.append((names[kind], value))
    return out
