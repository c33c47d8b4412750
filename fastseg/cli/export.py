"""``fastseg export``: write the TCP segments of captures as columns to Parquet, Arrow or CSV.

One row per TCP segment, the columns of :func:`fastseg.capture.columns.columns`
(timestamps, addresses, ports, seq/ack, flags, window, lengths, options,
checksum verdict), plus a ``file`` column when several captures go into one
output.  Parquet and Arrow need pyarrow (``pip install "fastseg-tcp[arrow]"``);
CSV needs nothing.  Then, for example::

    fastseg export trace.pcap -o trace.parquet
    duckdb -c "SELECT dst_port, count(*) FROM 'trace.parquet' GROUP BY ALL"

Captures are read a piece at a time (files, or pipes such as /dev/stdin), so
memory does not grow with their size.  The output is written to a temporary
file and moved into place (a device or FIFO is written through); an output
that is one of the inputs is refused.

With ``--scheduler``, the files are decoded on a Dask cluster (``local``
starts one here) and written here, in order: the same output.

Compression: Parquet takes zstd (default), snappy, gzip, brotli, lz4 or none;
Arrow zstd (default), lz4 or none; CSV none (default) or gzip.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from fastseg._output import check_distinct
from fastseg.capture import columns
from fastseg.cli import Parser, UsageError, guard

__all__ = ["main"]


def _parser() -> Parser:
    parser = Parser(prog="fastseg export", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures (or pipes)")
    parser.add_argument("-o", "--output", required=True, help="the file to write")
    parser.add_argument("--format", choices=columns.FORMATS,
                        help="output format (default: from the output's suffix, else parquet)")
    parser.add_argument("--compression",
                        help="codec, or 'none' (default: zstd for Parquet and Arrow, none for CSV, "
                             "gzip for .csv.gz)")
    parser.add_argument("--file-column", action=argparse.BooleanOptionalAction, default=None,
                        help="add a 'file' column with each row's capture (default: with several files)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="decode the files on a Dask cluster: its scheduler's address "
                             "(tcp://host:8786), or 'local' for a local cluster of worker "
                             "processes; the output is written here, the same as without it "
                             "(needs fastseg-tcp[dask]; every worker must read the files at "
                             "the same paths)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def _run(argv: Optional[Sequence[str]]) -> int:
    args = _parser().parse_args(argv)
    fmt = args.format or columns._format_for(args.output)
    compression = args.compression
    if compression is None and fmt == "csv" and args.output.lower().endswith(".gz"):
        compression = "gzip"
    try:
        columns.compression_for(fmt, compression)
    except ValueError as exc:
        raise UsageError(f"argument --compression: {exc}") from None
    try:
        check_distinct([("-o", args.output)], args.files)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = dict(format=fmt, compression=compression, file_column=args.file_column)
    if args.scheduler is None:
        rows = columns.export(args.files, args.output, **options)
    else:
        from fastseg.capture import dask

        with dask.client(args.scheduler) as connected:
            rows = dask.export(connected, args.files, args.output, **options)
    if not args.quiet:
        print(f"{rows} segments from {len(args.files)} file{'s' * (len(args.files) != 1)} "
              f"-> {args.output}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export the captures; 0 on success, 1 on a file error, 2 on a usage error."""
    return guard("fastseg export", lambda: _run(list(sys.argv[1:] if argv is None else argv)))

