"""Capture I/O: TCP segments out of pcap and pcapng files, and pcap files written.

Reading streams the file in chunks (1 MiB by default), never all of it::

    from fastseg import capture

    for rec in capture.segments("trace.pcapng"):
        print(rec.frame, rec.src_address, rec.segment.src_port, rec.checksum_ok)

- :func:`segments` yields a :class:`TcpRecord` per TCP segment.
- :func:`records` also yields an :class:`OtherRecord` for every other frame
  (fragments, non-TCP, non-IP, truncated or malformed headers, pcapng blocks
  without a packet), so a caller can count them; a file that ends part way
  through a record adds a last
  ``Kind.CUT_SHORT`` record (and sets ``cut_short`` on the reader).
- :func:`open_capture` returns the reader itself: an iterator and a context
  manager with ``format`` ("pcap" or "pcapng"), ``linktypes``, ``frames`` and
  ``cut_short``.

Formats: classic pcap in either byte order with micro- or nanosecond
timestamps; pcapng with any number of sections (either byte order) and
interfaces (each with its own link type, ``if_tsresol`` and ``if_tsoffset``),
enhanced, simple and obsolete packet blocks.  Frames are numbered as
Wireshark (tshark's ``frame.number``) numbers them, so pcapng custom blocks,
systemd journal entries and sysdig events count as frames (``Kind.NON_PACKET``)
though they hold no packet; other blocks are skipped.  Link
types: Ethernet (1) with 802.1Q / 802.1ad / QinQ tags, Linux cooked SLL (113)
and SLL2 (276), raw IP (101, and 12 / 14 as old BSD files wrote DLT_RAW),
IPv4 (228), IPv6 (229), BSD loopback NULL (0, address family in the writer's
byte order: 2 is IPv4, 24/28/30 IPv6) and LOOP (108, network order).

IPv4 headers are walked by their IHL and trimmed to their total length (so
link padding never reaches TCP); a zero total length is taken as segmentation
offload and the frame's length is used, as Wireshark does.  IPv6 walks
hop-by-hop, routing, destination options and AH headers; a routing header
with segments left (types 0, 2, 3 and 4) names the final destination that
the checksum's pseudo-header carries (RFC 8200 §8.1), and one that names
none, or has more segments left than addresses, is reported malformed;
atomic fragments (offset 0, no more fragments, RFC 6946) are read through,
every other fragment is reported, never decoded as TCP.  Jumbograms are read
by their Jumbo Payload option.  Segments are decoded with
``fastseg.unpack(..., strict=False)``; ``checksum_ok`` is None when fewer
bytes were captured than the IP header announces.

Errors are :class:`CaptureError` subclasses with a one-line message naming the
file: :class:`CaptureNotFound`, :class:`NotACapture`,
:class:`UnsupportedLinkType` (at the pcap header, or at the pcapng interface
block) and :class:`CorruptCapture` (impossible record or block lengths).

Two twins serve the same API: a Cython reader and a pure-Python reference;
``IMPLEMENTATION`` says which one is active (the compiled one when fastseg's
compiled twins are, and it is built).

For analysis in bulk, the module :mod:`fastseg.capture.columns` decodes a
whole capture into numpy arrays, one row per TCP segment, and exports them to
Parquet, Arrow or CSV (``fastseg export``); import it as a module.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, BinaryIO, Iterator, Optional, Union, cast

from fastseg import _impl
from fastseg.capture._common import (
    DEFAULT_CHUNK,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    SUPPORTED_LINKTYPES,
    CaptureError,
    CaptureNotFound,
    CorruptCapture,
    Kind,
    NotACapture,
    OtherRecord,
    Record,
    TcpRecord,
    UnsupportedLinkType,
)
from fastseg.capture._writer import (
    Frame,
    ethernet_frame,
    ipv4_packet,
    ipv6_packet,
    tcp_frame,
    write_pcap,
)

__all__ = [
    "IMPLEMENTATION", "LINKTYPE_ETHERNET", "LINKTYPE_IPV4", "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL", "LINKTYPE_LINUX_SLL2", "LINKTYPE_LOOP", "LINKTYPE_NULL",
    "LINKTYPE_RAW", "SUPPORTED_LINKTYPES", "CaptureError", "CaptureNotFound", "CorruptCapture",
    "Frame", "Kind", "NotACapture", "OtherRecord", "Record", "TcpRecord", "UnsupportedLinkType",
    "ethernet_frame", "ipv4_packet", "ipv6_packet", "open_capture", "records", "segments",
    "tcp_frame", "write_pcap",
]

Source = Union[str, "os.PathLike[str]", BinaryIO]


#: Which reader twin serves by default: "cython" or "python" (as :mod:`fastseg._impl` chose).
IMPLEMENTATION = _impl.IMPLEMENTATION
_reader = _impl.twin("reader", IMPLEMENTATION)


def _reader_module(implementation: Optional[str]) -> ModuleType:
    return _reader if implementation is None else _impl.twin("reader", implementation)


def open_capture(source: Source, *, include_other: bool = False, chunk_size: int = DEFAULT_CHUNK,
                 implementation: Optional[str] = None) -> Any:
    """Open a pcap or pcapng file (a path or a binary file object) for reading.

    Returns the reader: iterate it for records (TCP only unless
    ``include_other``); use it as a context manager or call ``close()`` to
    release a file it opened.  Raises a :class:`CaptureError` subclass at once
    for a missing file, a file that is not a capture or an unsupported link
    type in a pcap header.  ``implementation`` picks a twin ("cython" or
    "python"); the default is :data:`IMPLEMENTATION`.
    """
    module = _reader_module(implementation)
    if hasattr(source, "read"):
        file = cast(BinaryIO, source)
        name = str(getattr(file, "name", "<capture>"))
        return module.Reader(file, name=name, include_other=include_other,
                             chunk_size=chunk_size, owns_file=False)
    name = os.fsdecode(cast("os.PathLike[str]", source))
    try:
        file = open(name, "rb")  # noqa: SIM115 - the reader owns and closes it
    except FileNotFoundError:
        raise CaptureNotFound(f"{name}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open: {exc.strerror or exc}") from None
    try:
        return module.Reader(file, name=name, include_other=include_other,
                             chunk_size=chunk_size, owns_file=True)
    except BaseException:
        file.close()
        raise


def segments(source: Source, *, chunk_size: int = DEFAULT_CHUNK,
             implementation: Optional[str] = None) -> Iterator[TcpRecord]:
    """The TCP segments of a capture, one :class:`TcpRecord` each, streamed."""
    return cast(Iterator[TcpRecord], open_capture(
        source, include_other=False, chunk_size=chunk_size, implementation=implementation))


def records(source: Source, *, include_other: bool = True, chunk_size: int = DEFAULT_CHUNK,
            implementation: Optional[str] = None) -> Iterator[Record]:
    """Every frame of a capture: a :class:`TcpRecord` or an :class:`OtherRecord` each."""
    return cast(Iterator[Record], open_capture(
        source, include_other=include_other, chunk_size=chunk_size,
        implementation=implementation))

