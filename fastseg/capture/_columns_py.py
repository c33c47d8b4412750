"""Columnar decoding in pure Python: the reference twin of ``_columns_c``.

This module is the readable specification of every column: it reads the
capture with :func:`fastseg.capture.open_capture` (TCP records only) and
copies each record's fields into numpy arrays, one row per TCP segment.
:data:`COLUMNS` lists the columns in order with their numpy dtypes; both
twins build exactly these arrays, and :func:`fastseg.capture.columns`
documents what each one means.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from fastseg.capture._common import CaptureError, TcpRecord

__all__ = ["COLUMNS", "IPV4_MAPPED_PREFIX", "NS_MAX", "NS_MIN", "Columns", "decode", "empty",
           "ns_out_of_range"]

#: (name, numpy dtype, meaning) of every column, in order.
COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ("frame", "int64", "1-based frame number in the file, as Wireshark counts"),
    ("timestamp", "float64", "seconds since the epoch"),
    ("timestamp_ns", "int64", "nanoseconds since the epoch, exact"),
    ("interface", "uint32", "pcapng interface id (0 in classic pcap)"),
    ("version", "uint8", "IP version: 4 or 6"),
    ("src_ipv4", "uint32", "IPv4 source address as an integer (10.0.0.1 is 0x0A000001); 0 for IPv6"),
    ("dst_ipv4", "uint32", "IPv4 destination address as an integer; 0 for IPv6"),
    ("src_addr", "S16", "source address, 16 bytes in network order; IPv4 as ::ffff:a.b.c.d"),
    ("dst_addr", "S16", "destination address, 16 bytes in network order; IPv4 as ::ffff:a.b.c.d"),
    ("src_port", "uint16", "TCP source port"),
    ("dst_port", "uint16", "TCP destination port"),
    ("seq", "uint32", "sequence number"),
    ("ack", "uint32", "acknowledgment number (whether or not ACK is set)"),
    ("flags", "uint16", "the nine control bits, AE (0x100) included"),
    ("reserved", "uint8", "the three reserved bits"),
    ("window", "uint16", "window field, unscaled"),
    ("checksum", "uint16", "checksum field as held"),
    ("urgent", "uint16", "urgent pointer"),
    ("header_len", "uint8", "data offset times 4, as held (may be below 20 or past the bytes)"),
    ("payload_len", "uint32", "payload bytes captured after the header"),
    ("mss", "int32", "first well-formed MSS option's value; -1 when there is none"),
    ("wscale", "int16", "first well-formed window scale shift count; -1 when there is none"),
    ("sack_permitted", "bool", "a well-formed SACK-permitted option is present"),
    ("has_timestamps", "bool", "a well-formed timestamps option is present"),
    ("tsval", "uint32", "first timestamps option's TSval; 0 when has_timestamps is false"),
    ("tsecr", "uint32", "first timestamps option's TSecr; 0 when has_timestamps is false"),
    ("sack_blocks", "uint8", "blocks in the first well-formed SACK option; 0 when there is none"),
    ("option_kinds", "uint64", "bit k set when an option of kind k (k < 63) is present; bit 63: kind >= 63"),
    ("anomaly", "bool", "lenient decoding stepped over a problem (segment.anomalies not empty)"),
    ("checksum_ok", "int8", "1 the TCP checksum verifies, 0 it does not, -1 unknown (truncated)"),
)

#: The first 12 bytes of an IPv4 address in ``src_addr`` / ``dst_addr`` (RFC 4291 §2.5.5.2).
IPV4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"

NS_MIN, NS_MAX = -(2**63), 2**63 - 1


def ns_out_of_range(name: str, frame: int) -> CaptureError:
    """The error for a timestamp that int64 nanoseconds cannot hold (past 2262)."""
    return CaptureError(f"{name}: frame {frame} has a timestamp out of the int64 nanosecond range")


class Columns(Dict[str, Any]):
    """The columns of a capture: a dict of column name to numpy array, all of one length.

    Ready for ``pandas.DataFrame(cols)`` or ``polars.DataFrame(cols)``.  Also
    says what the reader saw: ``name`` (the file), ``format`` ("pcap" or
    "pcapng"), ``linktypes``, ``frames`` (every frame as tshark numbers them, TCP or not),
    ``cut_short`` (the file ends part way through a record) and ``rows``
    (TCP segments).
    """

    name: str
    format: str
    linktypes: List[int]
    frames: int
    cut_short: bool

    @property
    def rows(self) -> int:
        """The number of TCP segments (rows)."""
        return len(self["frame"]) if "frame" in self else 0


def empty(rows: int) -> Columns:
    """Uninitialised columns of ``rows`` rows each."""
    import numpy as np

    cols = Columns()
    for name, dtype, _ in COLUMNS:
        cols[name] = np.empty(rows, dtype=dtype)
    return cols


def _row(record: TcpRecord) -> Tuple[Any, ...]:
    """One record's values, in :data:`COLUMNS` order."""
    seg = record.segment
    v4 = record.version == 4
    mss, wscale, timestamps, sack = seg.mss, seg.wscale, seg.timestamps, seg.sack_blocks
    kinds = 0
    for kind, _value in seg.options:
        if kind is not None:
            kinds |= 1 << min(int(kind), 63)
    return (
        record.frame,
        record.timestamp,
        record.timestamp_ns,
        record.interface,
        record.version,
        int.from_bytes(record.src, "big") if v4 else 0,
        int.from_bytes(record.dst, "big") if v4 else 0,
        IPV4_MAPPED_PREFIX + record.src if v4 else record.src,
        IPV4_MAPPED_PREFIX + record.dst if v4 else record.dst,
        seg.src_port,
        seg.dst_port,
        seg.seq,
        seg.ack,
        int(seg.flags),
        seg.reserved,
        seg.window,
        seg.checksum,
        seg.urgent,
        seg.header_len,
        len(seg.payload),
        -1 if mss is None else mss,
        -1 if wscale is None else wscale,
        seg.sack_permitted,
        timestamps is not None,
        0 if timestamps is None else timestamps[0],
        0 if timestamps is None else timestamps[1],
        0 if sack is None else len(sack),
        kinds,
        bool(seg.anomalies),
        -1 if record.checksum_ok is None else int(record.checksum_ok),
    )


def decode(source: Any, *, implementation: Optional[str] = "python") -> Columns:
    """The columns of a capture (a path or a binary file object), one row per TCP segment.

    ``implementation`` picks the reader twin that yields the records; by
    default the pure-Python one, so this twin shares no compiled code.
    """
    import numpy as np

    from fastseg.capture import open_capture

    rows: List[Tuple[Any, ...]] = []
    with open_capture(source, implementation=implementation) as reader:
        for record in reader:
            if not NS_MIN <= record.timestamp_ns <= NS_MAX:
                raise ns_out_of_range(reader.name, record.frame)
            rows.append(_row(record))
        cols = Columns()
        for index, (name, dtype, _) in enumerate(COLUMNS):
            cols[name] = np.array([row[index] for row in rows], dtype=dtype)
        cols.name = reader.name
        cols.format = reader.format
        cols.linktypes = list(reader.linktypes)
        cols.frames = reader.frames
        cols.cut_short = reader.cut_short
    return cols
