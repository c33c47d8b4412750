"""The ``fastseg`` command: one module per subcommand, each with ``main(argv) -> int``.

This package only parses and prints; what a library user would want lives in
the library (:mod:`fastseg.analyze`, :mod:`fastseg.capture`, :mod:`fastseg.mutate`).
This module dispatches, and :func:`guard` turns whatever a subcommand raises
into an exit status and at most one line on stderr, the same way for every
subcommand:

====  ==========================================================================
 0    success
 1    bad input or a file error: a capture that cannot be read, an output that
      cannot be written (a full disk, a file size limit), a segment that does
      not decode; one line naming the file
 2    usage error: an unknown subcommand or option, a bad value, an output that
      is one of the inputs; one line in argparse's words
130   interrupted (Ctrl-C, SIGINT); nothing printed
141   standard output closed by its reader (``fastseg ... | head``); nothing
      printed, as a shell reports a process killed by SIGPIPE
====  ==========================================================================
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence

from fastseg.errors import FastsegError

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "SUBCOMMANDS", "Parser", "UsageError", "guard",
           "main"]

#: name -> (module with main(argv), one-line summary)
SUBCOMMANDS = {
    "decode": ("fastseg.cli.decode", "decode, verify and re-encode segments (default: a built-in handshake)"),
    "analyze": ("fastseg.cli.analyze", "follow every TCP connection in captures (default: a sample)"),
    "fuzz": ("fastseg.cli.fuzz", "mutate segments from a capture (or built-ins) into a pcap, by seed"),
    "export": ("fastseg.cli.export", "write a capture's TCP segments as columns to Parquet, Arrow or CSV"),
    "stack": ("fastseg.cli.stack", "serve echo over fastseg's own TCP through a TUN device (root)"),
}

USAGE = "usage: fastseg [-h] {" + ",".join(SUBCOMMANDS) + "} ...\n\nsubcommands:\n" + "\n".join(
    f"  {name:10s}{summary}" for name, (_, summary) in SUBCOMMANDS.items()
) + ("\n\nWith no subcommand, fastseg decode runs on its built-in example."
     "\nExit status: 0 ok, 1 bad input or file error, 2 usage error, 130 interrupted,"
     "\n141 standard output closed early.")

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
#: Exit status on Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: Exit status when standard output was closed by its reader (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


class UsageError(FastsegError, ValueError):
    """A bad command line: exit status 2, the message as argparse words its own."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's capture)
        pass


def _say(prog: str, message: str) -> None:
    try:
        sys.stderr.write(f"{prog}: error: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        name = os.fsdecode(exc.filename)
        if exc.filename2 is not None:
            return f"{name} -> {os.fsdecode(exc.filename2)}: {reason}"
        return f"{name}: {reason}"
    return reason


def guard(prog: str, body: Callable[[], Any]) -> int:
    """Run ``body`` (a subcommand's work) and turn what it raises into an exit status.

    KeyboardInterrupt: 130, quietly.  BrokenPipeError on standard output: 141,
    quietly.  :class:`UsageError` (and argparse's own exits): 2.  Any other
    :class:`~fastseg.errors.FastsegError`, OSError, MemoryError or a missing
    optional dependency: 1, one line naming the file.  Standard output is
    flushed here, so a full disk or a closed pipe is caught too.
    """
    try:
        try:
            status = body()
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
        return int(status or 0)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except BrokenPipeError:
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        except OSError as err:
            _quiet_stdout()
            _say(prog, f"standard output: {_os_message(err)}")
            return EXIT_INPUT
        code = exc.code
        if code is None:
            return EXIT_OK
        if isinstance(code, int):
            return code
        _say(prog, str(code))
        return EXIT_INPUT
    except KeyboardInterrupt:
        _quiet_stdout()
        return EXIT_INTERRUPTED
    except BrokenPipeError as exc:
        if exc.filename is None:  # standard output: its reader left
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        _say(prog, _os_message(exc))
        return EXIT_INPUT
    except UsageError as exc:
        _say(prog, str(exc))
        return EXIT_USAGE
    except (FastsegError, OSError, ImportError, MemoryError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, FastsegError):
            message = _os_message(exc)
            if exc.filename is None and exc.errno is not None:
                message = f"standard output: {message}"
                _quiet_stdout()
        elif isinstance(exc, MemoryError):
            message = "out of memory"
        else:
            message = str(exc)
        _say(prog, message)
        return EXIT_INPUT


def _dispatch(args: list) -> int:  # type: ignore[type-arg]
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return EXIT_OK
    if not args:
        args = ["decode"]
    name = args[0]
    if name not in SUBCOMMANDS:
        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if not close and name and all(ch in "0123456789abcdefABCDEF" for ch in name):
            hint = " (to decode hex, say: fastseg decode HEX ...)"
        raise UsageError(f"unknown subcommand {name!r}{hint}; choose from {', '.join(SUBCOMMANDS)}")
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(args[1:]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run a subcommand; ``fastseg`` alone runs ``decode`` on its built-in example."""
    args = list(sys.argv[1:] if argv is None else argv)
    return guard("fastseg", lambda: _dispatch(args))
