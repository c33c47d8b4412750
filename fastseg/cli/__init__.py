"""The ``fastseg`` command: one module per subcommand, each with ``main(argv) -> int``.

This package only parses and prints; what a library user would want lives in
the library (:mod:`fastseg.analyze`, :mod:`fastseg.capture`, :mod:`fastseg.mutate`).
This module dispatches, and turns the errors a user can cause (a missing file,
a file that is not a capture) into one readable line and exit status 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional, Sequence

from fastseg.errors import FastsegError

__all__ = ["SUBCOMMANDS", "main"]

#: name -> (module with main(argv), one-line summary)
SUBCOMMANDS = {
    "decode": ("fastseg.cli.decode", "decode, verify and re-encode segments (default: a built-in handshake)"),
    "analyze": ("fastseg.cli.analyze", "follow every TCP connection in captures (default: a sample)"),
    "fuzz": ("fastseg.cli.fuzz", "mutate segments from a capture (or built-ins) into a pcap, by seed"),
    "export": ("fastseg.cli.export", "write a capture's TCP segments as columns to Parquet, Arrow or CSV"),
}

USAGE = "usage: fastseg [-h] {" + ",".join(SUBCOMMANDS) + "} ...\n\nsubcommands:\n" + "\n".join(
    f"  {name:10s}{summary}" for name, (_, summary) in SUBCOMMANDS.items()
) + "\n\nWith no subcommand, fastseg decode runs on its built-in example."


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run a subcommand; ``fastseg`` alone runs ``decode`` on its built-in example."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    name = args.pop(0) if args and args[0] in SUBCOMMANDS else "decode"
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        return int(module.main(args))
    except (FastsegError, OSError) as exc:
        print(f"fastseg {name}: error: {exc}", file=sys.stderr)
        return 2
