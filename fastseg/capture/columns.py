"""Columnar decoding: a capture's TCP segments as numpy arrays, and export to Parquet, Arrow or CSV.

::

    from fastseg.capture import columns

    cols = columns.columns("trace.pcap")          # a dict of numpy arrays, one row per segment
    syns = cols["flags"] & 0x02 != 0
    print(cols.rows, "segments,", syns.sum(), "SYNs,", (cols["checksum_ok"] == 0).sum(), "bad checksums")

    columns.export(["a.pcap", "b.pcapng"], "trace.parquet")   # needs pyarrow

The compiled twin maps the file into memory and builds every array in C
without a Python object per segment, on two threads where the process may
use two CPUs (one walks the records and verifies the checksums, the other
fills in the address and TCP columns behind it): tens of millions of
segments a second from the page cache.  The pure-Python twin builds the
same arrays from :func:`fastseg.capture.segments`.  Which frames count as TCP segments, and
how each is decoded, is exactly what :func:`fastseg.capture.segments` does
(lenient decoding; the same errors for missing, foreign or corrupt files).

**Columns**, in order (numpy dtype; "absent" is the value when the option is
missing or malformed):

==================  ========  ==================================================================
``frame``           int64     1-based frame number in the file, as Wireshark counts
``timestamp``       float64   seconds since the epoch
``timestamp_ns``    int64     nanoseconds since the epoch, exact
``interface``       uint32    pcapng interface id (0 in classic pcap)
``version``         uint8     IP version, 4 or 6
``src_ipv4``        uint32    IPv4 source address as an integer (10.0.0.1 is 0x0A000001); 0 for IPv6
``dst_ipv4``        uint32    IPv4 destination address as an integer; 0 for IPv6
``src_addr``        S16       source address, 16 bytes in network order: the IPv6 address, or
                              for IPv4 the IPv4-mapped form ``::ffff:a.b.c.d``, so this column
                              alone names an endpoint of either version
``dst_addr``        S16       destination address, the same way
``src_port``        uint16
``dst_port``        uint16
``seq``, ``ack``    uint32    sequence and acknowledgment numbers, as held
``flags``           uint16    the nine control bits: FIN 0x1 ... CWR 0x80, AE 0x100
``reserved``        uint8     the three reserved bits
``window``          uint16    window field, unscaled
``checksum``        uint16    checksum field, as held
``urgent``          uint16    urgent pointer
``header_len``      uint8     data offset times 4, as held (below 20 or past the bytes when bad)
``payload_len``     uint32    payload bytes captured after the header
``mss``             int32     first well-formed MSS value; absent -1
``wscale``          int16     first well-formed window scale shift count; absent -1
``sack_permitted``  bool      a well-formed SACK-permitted option is present
``has_timestamps``  bool      a well-formed timestamps option is present
``tsval``           uint32    its TSval; absent 0 (look at ``has_timestamps``)
``tsecr``           uint32    its TSecr; absent 0
``sack_blocks``     uint8     blocks in the first well-formed SACK option; absent 0
``option_kinds``    uint64    bit k set when an option of kind k is present (k < 63; bit 63 for
                              any kind >= 63), well-formed or not; NOP is bit 1, EOL bit 0
``anomaly``         bool      lenient decoding stepped over a problem (bad data offset, option
                              lengths, a snap-length cut inside the header)
``checksum_ok``     int8      1 the TCP checksum verifies, 0 it does not, -1 unknown (fewer
                              bytes captured than the IP header announces)
==================  ========  ==================================================================

The options are those of :class:`fastseg.Segment`: ``mss``, ``wscale``,
``timestamps``, ``sack_blocks`` and ``sack_permitted`` there give the same
values.  numpy turns an ``S16`` element into bytes without its trailing zero
bytes: use :func:`address` (or ``.ljust(16, b"\\0")``) to get an address back.
In Arrow and Parquet the address columns are ``fixed_size_binary(16)``.

**Export** (:func:`export`, ``fastseg export``) writes the same columns,
plus a ``file`` column (the path each row came from) when several files are
exported together, to Parquet or Arrow IPC (with ``pyarrow``: ``pip install
"fastseg-tcp[arrow]"``) or to CSV (no extra).  From there DuckDB, Polars, Dask or
Spark take over; ``examples/columns_duckdb.py`` is a runnable walk-through::

    import duckdb
    duckdb.sql("SELECT src_port, dst_port, count(*) AS n, sum(payload_len) AS bytes "
               "FROM 'trace.parquet' GROUP BY ALL ORDER BY bytes DESC LIMIT 10").show()

    import polars as pl
    pl.read_parquet("trace.parquet").filter(pl.col("checksum_ok") == 0)
"""

from __future__ import annotations

import csv
import importlib
import ipaddress
import mmap
import os
import sys
from typing import Any, BinaryIO, Iterable, List, Optional, Sequence, Union, cast

from fastseg import _impl
from fastseg.capture import _columns_py
from fastseg.capture._columns_py import COLUMNS, IPV4_MAPPED_PREFIX, Columns
from fastseg.capture._common import CaptureError, CaptureNotFound

__all__ = ["COLUMNS", "FORMATS", "IMPLEMENTATION", "Columns", "address", "columns", "export",
           "to_arrow"]

Source = Union[str, "os.PathLike[str]", BinaryIO]

#: Export formats: Parquet and Arrow IPC (need pyarrow) and CSV.
FORMATS = ("parquet", "arrow", "csv")

# Linux: fault the whole mapping in with one call instead of a page fault per 4 KiB.
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0x8000 if sys.platform.startswith("linux") else 0)
# Files up to this size are mapped with MAP_POPULATE; bigger ones are faulted in as read.
_POPULATE_LIMIT = 1 << 30


#: Which twin :func:`columns` uses by default: "cython" or "python" (as :mod:`fastseg._impl` chose).
IMPLEMENTATION = _impl.IMPLEMENTATION
_twin = _impl.twin("columns", IMPLEMENTATION)


def _map(name: str) -> Any:
    """The file's bytes: a read-only memory map, or bytes for an empty or unmappable file."""
    try:
        file = open(name, "rb")  # noqa: SIM115 - closed below; the map outlives it
    except FileNotFoundError:
        raise CaptureNotFound(f"{name}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open: {exc.strerror or exc}") from None
    with file:
        try:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                return b""
            if _MAP_POPULATE and hasattr(mmap, "MAP_SHARED") and size <= _POPULATE_LIMIT:
                return mmap.mmap(file.fileno(), 0, flags=mmap.MAP_SHARED | _MAP_POPULATE,
                                 prot=mmap.PROT_READ)
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, OverflowError):  # a pipe, a device, a special file
            return file.read()


def columns(source: Source, *, implementation: Optional[str] = None,
            threads: Optional[int] = None) -> Columns:
    """The TCP segments of a pcap or pcapng capture as numpy arrays, one row per segment.

    ``source`` is a path or a binary file object (read from its position to
    the end).  Returns a :class:`Columns`: a dict of column name to array
    (see the module documentation for every column) with ``rows``,
    ``frames``, ``format``, ``linktypes``, ``cut_short`` and ``name``.
    Raises the :class:`~fastseg.capture.CaptureError` subclasses
    :func:`fastseg.capture.segments` raises.  ``implementation`` picks a
    twin ("cython" or "python"); the default is :data:`IMPLEMENTATION`.
    ``threads`` (compiled twin only) is 1 or 2, the threads that decode;
    by default 2 for a capture of 16 MiB or more when the process may use
    more than one CPU.  The arrays are the same whatever it is.
    """
    module = _twin if implementation is None else _impl.twin("columns", implementation)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads is a positive int or None, not {threads!r}")
    if module is _columns_py:
        return _columns_py.decode(source)
    if hasattr(source, "read"):
        file = cast(BinaryIO, source)
        return cast(Columns, module.decode(file.read(), str(getattr(file, "name", "<capture>")),
                                           threads))
    name = os.fsdecode(cast("os.PathLike[str]", source))
    data = _map(name)
    try:
        return cast(Columns, module.decode(data, name, threads))
    finally:
        if isinstance(data, mmap.mmap):
            data.close()


def address(value: bytes, version: int = 0) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address]:
    """An ``src_addr`` / ``dst_addr`` element as an :mod:`ipaddress` object.

    ``version`` 4 or 6 says which (the ``version`` column); 0 guesses: an
    IPv4-mapped address is taken as IPv4.
    """
    raw = bytes(value).ljust(16, b"\0")
    if version == 4 or (version == 0 and raw.startswith(IPV4_MAPPED_PREFIX)):
        return ipaddress.IPv4Address(raw[12:])
    return ipaddress.IPv6Address(raw)


# ---------------------------------------------------------------- export


def _pyarrow() -> Any:
    try:
        pyarrow = importlib.import_module("pyarrow")
    except ImportError:
        raise ImportError("Parquet and Arrow export need pyarrow: pip install 'fastseg-tcp[arrow]' "
                          "(or pip install pyarrow)") from None
    return pyarrow


def to_arrow(cols: Columns, *, file: Optional[str] = None) -> Any:
    """The columns as a ``pyarrow.Table``; with ``file``, a ``file`` column of that name first.

    The arrays are shared with numpy, not copied, except the addresses
    (``fixed_size_binary(16)``) and the booleans (bit-packed).
    """
    pa = _pyarrow()
    import numpy as np

    arrays: List[Any] = []
    names: List[str] = []
    rows = cols.rows
    if file is not None:
        names.append("file")
        arrays.append(pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)),
                                                     pa.array([file])))
    for name, dtype, _ in COLUMNS:
        array = cols[name]
        names.append(name)
        if dtype == "S16":
            data = np.ascontiguousarray(array)
            arrays.append(pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(16), rows, [None, pa.py_buffer(data)]))
        else:
            arrays.append(pa.array(array))
    return pa.Table.from_arrays(arrays, names=names)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.ljust(16, b"\0").hex()
    return value


def _write_csv(path: str, tables: Iterable[tuple[str, Columns]], with_file: bool) -> int:
    """Write CSV (addresses in hex, booleans as True/False); return the rows written."""
    import numpy as np

    rows = 0
    names = [name for name, _, _ in COLUMNS]
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow((["file"] if with_file else []) + names)
        for file, cols in tables:
            text = []
            for name, dtype, _ in COLUMNS:
                array = cols[name]
                if dtype == "S16":
                    raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1, 16)
                    text.append([bytes(row).hex() for row in raw])
                elif dtype == "float64":
                    text.append([repr(float(v)) for v in array])
                else:
                    text.append(array.tolist())
            prefix = [file] if with_file else []
            for row in zip(*text):
                writer.writerow(prefix + list(row))
            rows += cols.rows
    return rows


def export(sources: Sequence[Source], dest: Union[str, os.PathLike[str]], *,
           format: Optional[str] = None, implementation: Optional[str] = None,
           compression: Optional[str] = "zstd", file_column: Optional[bool] = None) -> int:
    """Write the columns of one or more captures to ``dest``; return the rows written.

    ``format`` is "parquet", "arrow" (Arrow IPC file, aka Feather v2) or
    "csv"; by default it follows ``dest``'s suffix (.parquet/.pq, .arrow/
    .feather/.ipc, .csv), else Parquet.  ``file_column`` adds a ``file``
    column with each row's source path (default: when there are several
    sources).  ``compression`` applies to Parquet and Arrow (None: none).
    Parquet and Arrow need pyarrow.  The file is written to a temporary
    name and moved into place, so a failed export leaves no partial file.
    """
    dest_name = os.fsdecode(dest)
    fmt = format or _format_for(dest_name)
    if fmt not in FORMATS:
        raise ValueError(f"format is one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt != "csv":
        pa = _pyarrow()
    with_file = len(sources) > 1 if file_column is None else file_column
    names = [_source_name(source) for source in sources]
    partial = f"{dest_name}.{os.getpid()}.part"
    try:
        if fmt == "csv":
            tables = ((name, columns(source, implementation=implementation))
                      for name, source in zip(names, sources))
            rows = _write_csv(partial, tables, with_file)
        else:
            rows = 0
            writer: Any = None
            try:
                for name, source in zip(names, sources):
                    table = to_arrow(columns(source, implementation=implementation),
                                     file=name if with_file else None)
                    if writer is None:
                        writer = _arrow_writer(pa, fmt, partial, table.schema, compression)
                    writer.write_table(table)
                    rows += table.num_rows
                if writer is None:  # no sources: an empty file with the schema
                    table = to_arrow(_empty(), file="" if with_file else None)
                    writer = _arrow_writer(pa, fmt, partial, table.schema, compression)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
        os.replace(partial, dest_name)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return rows


def _empty() -> Columns:
    cols = _columns_py.empty(0)
    cols.name, cols.format, cols.linktypes, cols.frames, cols.cut_short = "", "pcap", [], 0, False
    return cols


def _arrow_writer(pa: Any, fmt: str, path: str, schema: Any, compression: Optional[str]) -> Any:
    if fmt == "parquet":
        pq = importlib.import_module("pyarrow.parquet")
        return pq.ParquetWriter(path, schema, compression=compression or "none")
    options = pa.ipc.IpcWriteOptions(compression=compression) if compression else None
    return pa.ipc.new_file(path, schema, options=options)


def _format_for(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    if lower.endswith(".csv"):
        return "csv"
    return "parquet"


def _source_name(source: Source) -> str:
    if hasattr(source, "read"):
        return str(getattr(source, "name", "<capture>"))
    return os.fsdecode(cast("os.PathLike[str]", source))
