"""Columnar decoding: a capture's TCP segments as numpy arrays, and export to Parquet, Arrow or CSV.

::

    from fastseg.capture import columns

    cols = columns.columns("trace.pcap")          # a dict of numpy arrays, one row per segment
    syns = cols["flags"] & 0x02 != 0
    print(cols.rows, "segments,", syns.sum(), "SYNs,", (cols["checksum_ok"] == 0).sum(), "bad checksums")

    columns.export(["a.pcap", "b.pcapng"], "trace.parquet")   # needs pyarrow

The compiled twin reads the file into memory (it never maps it, so a file
truncated under it gives an error, not a crash) and builds every array in C
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

import contextlib
import csv
import gzip
import importlib
import io
import ipaddress
import os
import stat
from typing import (
    Any,
    BinaryIO,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
)

from fastseg import _impl
from fastseg.capture import _columns_py
from fastseg.capture._columns_py import COLUMNS, IPV4_MAPPED_PREFIX, Columns
from fastseg.capture._common import CaptureError, CaptureNotFound
from fastseg.capture._pieces import PIECE, pieces, relocate

__all__ = ["COLUMNS", "COMPRESSIONS", "FORMATS", "IMPLEMENTATION", "Columns", "address", "columns",
           "export", "iter_columns", "to_arrow"]

Source = Union[str, "os.PathLike[str]", BinaryIO]

#: Export formats: Parquet and Arrow IPC (need pyarrow) and CSV.
FORMATS = ("parquet", "arrow", "csv")

#: The compression codecs each format takes ("none": uncompressed); the first is the default.
COMPRESSIONS: Dict[str, Tuple[str, ...]] = {
    "parquet": ("zstd", "none", "snappy", "gzip", "brotli", "lz4"),
    "arrow": ("zstd", "none", "lz4"),
    "csv": ("none", "gzip"),
}

#: Which twin :func:`columns` uses by default: "cython" or "python" (as :mod:`fastseg._impl` chose).
IMPLEMENTATION = _impl.IMPLEMENTATION
_twin = _impl.twin("columns", IMPLEMENTATION)


def _open(name: str) -> Tuple[BinaryIO, Optional[int]]:
    """The file opened for reading, and its size when it is a regular file (None for a pipe)."""
    try:
        file = open(name, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise CaptureNotFound(f"{name}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(file.fileno())
    except OSError:
        return file, None
    return file, st.st_size if stat.S_ISREG(st.st_mode) else None


def _read_all(file: BinaryIO, name: str, expected: Optional[int]) -> bytes:
    try:
        data = file.read()
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if expected is not None and len(data) < expected:
        raise CaptureError(f"{name}: the file shrank while being read ({len(data)} of "
                           f"{expected} bytes)")
    return data


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
    file, expected = _open(name)
    with file:
        data = _read_all(file, name, expected)
    return cast(Columns, module.decode(data, name, threads))


def iter_columns(source: Source, *, implementation: Optional[str] = None,
                 threads: Optional[int] = None, piece_size: Optional[int] = None) -> Iterator[Columns]:
    """The columns of a capture a piece at a time: memory bounded by ``piece_size``, not the file.

    Yields :class:`Columns` for about ``piece_size`` bytes of the capture
    each (default 8 MiB, 1 MiB for the pure-Python twin; at least one piece,
    perhaps with no rows); concatenated, they are what
    :func:`columns` returns (frame numbers count from the file's start, and
    ``frames`` and ``cut_short`` of the last piece describe the whole file).
    ``source`` is a path or a binary file object; a pipe is read as a
    stream.  Raises what :func:`columns` raises, with the whole file's byte
    offsets and frame numbers.
    """
    module = _twin if implementation is None else _impl.twin("columns", implementation)
    if piece_size is None:  # the pure-Python twin holds a tuple per row until the piece is done
        piece_size = PIECE if module is not _columns_py else PIECE // 8
    if piece_size < 1:
        raise ValueError(f"piece_size must be positive, got {piece_size}")
    if hasattr(source, "read"):
        file, expected, owned = cast(BinaryIO, source), None, False
        name = str(getattr(file, "name", "<capture>"))
    else:
        name = os.fsdecode(cast("os.PathLike[str]", source))
        (file, expected), owned = _open(name), True
    frames = 0
    linktypes: List[int] = []
    try:
        for piece in pieces(file, name, size=piece_size, expected=expected):
            try:
                if module is _columns_py:
                    buffer = io.BytesIO(piece.data)
                    buffer.name = name
                    cols = _columns_py.decode(buffer)
                else:
                    cols = cast(Columns, module.decode(piece.data, name, threads))
            except CaptureError as exc:
                raise relocate(exc, piece.shift if not piece.first else 0, frames) from None
            del piece
            if frames:
                cols["frame"] += frames
            frames += cols.frames
            cols.frames = frames
            for linktype in cols.linktypes:
                if linktype not in linktypes:
                    linktypes.append(linktype)
            cols.linktypes = list(linktypes)
            yield cols
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        if owned:
            file.close()


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


def to_arrow(cols: Columns, *, file: Optional[str] = None,
             files: Optional[Sequence[str]] = None) -> Any:
    """The columns as a ``pyarrow.Table``; with ``file``, a ``file`` column of that name first.

    The ``file`` column is dictionary-encoded; its dictionary is ``files``
    (default: ``[file]``), so tables of several files given the same
    ``files`` share one dictionary and can go into one Arrow IPC file.  The
    arrays are shared with numpy, not copied, except the addresses
    (``fixed_size_binary(16)``) and the booleans (bit-packed).
    """
    pa = _pyarrow()
    import numpy as np

    arrays: List[Any] = []
    names: List[str] = []
    rows = cols.rows
    if file is not None:
        names.append("file")
        dictionary = list(files) if files is not None else [file]
        if file not in dictionary:
            raise ValueError(f"file {file!r} is not in files")
        index = np.full(rows, dictionary.index(file), dtype=np.int32)
        arrays.append(pa.DictionaryArray.from_arrays(pa.array(index),
                                                     pa.array(dictionary, type=pa.string())))
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


#: Rows turned into CSV text at a time (bounded memory whatever the piece holds).
_CSV_ROWS = 8192


def _csv_rows(writer: Any, cols: Columns, prefix: List[str]) -> None:
    """Write the rows of ``cols`` as CSV (addresses in hex, booleans as True/False)."""
    import numpy as np

    for start in range(0, cols.rows, _CSV_ROWS):
        stop = min(start + _CSV_ROWS, cols.rows)
        text = []
        for name, dtype, _ in COLUMNS:
            array = cols[name][start:stop]
            if dtype == "S16":
                raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1, 16)
                text.append([bytes(row).hex() for row in raw])
            elif dtype == "float64":
                text.append([repr(float(v)) for v in array])
            else:
                text.append(array.tolist())
        writer.writerows(prefix + list(row) for row in zip(*text))


def compression_for(fmt: str, compression: Optional[str]) -> str:
    """The codec ``fmt`` is written with: ``compression`` checked, or the format's default.

    ValueError names the codecs the format takes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format is one of {', '.join(FORMATS)}, not {fmt!r}")
    if compression is None:
        return COMPRESSIONS[fmt][0]
    codec = compression.lower()
    if codec not in COMPRESSIONS[fmt]:
        raise ValueError(f"{fmt} takes compression {', '.join(COMPRESSIONS[fmt])}, "
                         f"not {compression!r}")
    return codec


#: How :func:`export` reads one source: its columns a piece at a time, in order.
PiecesOf = Callable[[Source], Iterable[Columns]]


def export(sources: Sequence[Source], dest: Union[str, os.PathLike[str], BinaryIO], *,
           format: Optional[str] = None, implementation: Optional[str] = None,
           compression: Optional[str] = None, file_column: Optional[bool] = None,
           pieces_of: Optional[PiecesOf] = None) -> int:
    """Write the columns of one or more captures to ``dest``; return the rows written.

    ``format`` is "parquet", "arrow" (Arrow IPC file, aka Feather v2) or
    "csv"; by default it follows ``dest``'s suffix (.parquet/.pq, .arrow/
    .feather/.ipc, .csv, .csv.gz), else Parquet.  ``file_column`` adds a
    ``file`` column with each row's source path (default: when there are
    several sources).  ``compression`` is one of :data:`COMPRESSIONS` for the
    format, "none" for none; None (the default) is zstd for Parquet and
    Arrow, none for CSV (gzip when ``dest`` ends in ``.gz``).  Parquet and
    Arrow need pyarrow.

    The captures are read and written a piece at a time (8 MiB of capture,
    a Parquet row group or an Arrow record batch each), so memory does not
    grow with their size; pipes are read as streams.  ``dest`` is a path or
    a binary file object (left open); a path is written to a temporary file
    beside it and moved into place, so a failed export leaves the old file
    as it was and no partial file (a device or FIFO is written through).

    ``pieces_of`` reads one source (called once per source, in order); by
    default :func:`iter_columns` here.  :func:`fastseg.capture.dask.export`
    passes one that decodes on a Dask cluster.
    """
    from fastseg._output import Output

    dest_name = _source_name(dest)
    fmt = format or _format_for(dest_name)
    if compression is None and fmt == "csv" and dest_name.lower().endswith(".gz"):
        compression = "gzip"
    codec = compression_for(fmt, compression)
    pa = _pyarrow() if fmt != "csv" else None
    with_file = len(sources) > 1 if file_column is None else file_column
    names = [_source_name(source) for source in sources]
    if pieces_of is None:
        def pieces_of(source: Source) -> Iterable[Columns]:
            return iter_columns(source, implementation=implementation)
    if hasattr(dest, "write"):
        return _export(sources, names, cast(BinaryIO, dest), fmt, codec, with_file, pa,
                       pieces_of)
    with Output(cast("os.PathLike[str]", dest), "wb") as out:
        return _export(sources, names, out, fmt, codec, with_file, pa, pieces_of)


def _export(sources: Sequence[Source], names: List[str], out: BinaryIO, fmt: str, codec: str,
            with_file: bool, pa: Any, pieces_of: PiecesOf) -> int:
    rows = 0
    dictionary = list(dict.fromkeys(names))
    if fmt == "csv":
        sink: Any = gzip.GzipFile(fileobj=out, mode="wb", mtime=0) if codec == "gzip" else out
        text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=False)
        try:
            writer = csv.writer(text)
            writer.writerow((["file"] if with_file else []) + [name for name, _, _ in COLUMNS])
            for name, source in zip(names, sources):
                for cols in pieces_of(source):
                    _csv_rows(writer, cols, [name] if with_file else [])
                    rows += cols.rows
        except BaseException:
            # The output is discarded by its owner: let the wrappers go now, while it is open,
            # so that none is closed later by the collector, writing to a closed file.
            with contextlib.suppress(Exception):
                text.detach()
                if sink is not out:
                    sink.close()
            raise
        text.detach()  # flushes; the output itself stays open, for its owner to commit
        if sink is not out:
            sink.close()
        return rows
    table_writer: Any = None
    try:
        for name, source in zip(names, sources):
            for cols in pieces_of(source):
                table = to_arrow(cols, file=name if with_file else None, files=dictionary)
                del cols
                if table_writer is None:
                    table_writer = _arrow_writer(pa, fmt, out, table.schema, codec)
                table_writer.write_table(table)
                rows += table.num_rows
        if table_writer is None:  # no sources: an empty file with the schema
            table = to_arrow(_empty(), file="" if with_file else None)
            table_writer = _arrow_writer(pa, fmt, out, table.schema, codec)
            table_writer.write_table(table)
    finally:
        if table_writer is not None:
            table_writer.close()
    return rows


def _empty() -> Columns:
    cols = _columns_py.empty(0)
    cols.name, cols.format, cols.linktypes, cols.frames, cols.cut_short = "", "pcap", [], 0, False
    return cols


def _arrow_writer(pa: Any, fmt: str, sink: BinaryIO, schema: Any, codec: str) -> Any:
    if fmt == "parquet":
        pq = importlib.import_module("pyarrow.parquet")
        return pq.ParquetWriter(sink, schema, compression=codec)
    options = pa.ipc.IpcWriteOptions(compression=None if codec == "none" else codec)
    return pa.ipc.new_file(sink, schema, options=options)


def _format_for(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    if lower.endswith((".csv", ".csv.gz")):
        return "csv"
    return "parquet"


def _source_name(source: Source) -> str:
    if hasattr(source, "read") or hasattr(source, "write"):
        return str(getattr(source, "name", "<capture>"))
    return os.fsdecode(cast("os.PathLike[str]", source))
