"""``fastseg export``: write the TCP segments of captures as columns to Parquet, Arrow or CSV.

One row per TCP segment, the columns of :func:`fastseg.capture.columns.columns`
(timestamps, addresses, ports, seq/ack, flags, window, lengths, options,
checksum verdict), plus a ``file`` column when several captures go into one
output.  Parquet and Arrow need pyarrow (``pip install "fastseg-tcp[arrow]"``);
CSV needs nothing.  Then, for example::

    fastseg export trace.pcap -o trace.parquet
    duckdb -c "SELECT dst_port, count(*) FROM 'trace.parquet' GROUP BY ALL"
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from fastseg.capture import columns
from fastseg.capture._common import CaptureError

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export the captures; 0 on success, 2 when the output cannot be written."""
    parser = argparse.ArgumentParser(prog="fastseg export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures")
    parser.add_argument("-o", "--output", required=True, help="the file to write")
    parser.add_argument("--format", choices=columns.FORMATS,
                        help="output format (default: from the output's suffix, else parquet)")
    parser.add_argument("--compression", default="zstd",
                        help="Parquet/Arrow compression codec, or 'none' (default: zstd)")
    parser.add_argument("--file-column", action=argparse.BooleanOptionalAction, default=None,
                        help="add a 'file' column with each row's capture (default: with several files)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    compression = None if args.compression.lower() == "none" else args.compression
    try:
        rows = columns.export(args.files, args.output, format=args.format, compression=compression,
                              file_column=args.file_column)
    except (CaptureError, OSError, ImportError, ValueError, NotImplementedError) as exc:
        # a missing or broken capture, an unwritable output, no pyarrow, an unknown codec
        print(f"fastseg export: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"{rows} segments from {len(args.files)} file{'s' * (len(args.files) != 1)} "
              f"-> {args.output}")
    return 0
