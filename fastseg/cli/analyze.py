"""``fastseg analyze [FILE ...]``: the TCP story of each connection in captures.

With no file it analyses fastseg's sample capture (:data:`fastseg.samples.CAPTURE`):
real Linux traffic with a client-first and a server-first close, a
simultaneous close, an abortive close (RST) and two refused connects.  The
analysis and the JSON schema are :mod:`fastseg.analyze`'s.

Files are analysed in parallel, one per worker process (``--jobs``, default
the number of CPUs); the result does not depend on it.  Workers ignore
Ctrl-C (the parent stops them and exits 130) and, on Linux, die with their
parent.  A file that cannot be read gives one error line on stderr and exit
status 1; the others are still reported.  Files and pipes (``/dev/stdin``,
FIFOs) are read as streams.  ``--json`` on one file, or with ``-j 1``, writes each
connection as soon as it ends (:class:`~fastseg.analyze.report.JsonStream`), so
memory follows the connections open at once, not the length of the capture.
``--scheduler`` runs the per-file work on a Dask cluster instead (:func:`run_on_cluster`).
``--rotated`` reads the files as one capture cut into pieces, in the order given, so that
connections spanning them are followed across them (one unit of work).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from fastseg.analyze import SAMPLE, SCHEMA, Progress, analyze_file, render_json, render_text
from fastseg.analyze.report import JsonStream
from fastseg.cli import Parser, UsageError, guard
from fastseg.errors import FastsegError

__all__ = ["MAX_JOBS", "PROGRESS_MIN", "main", "run", "run_on_cluster"]

#: Files smaller than this get no progress bar.
PROGRESS_MIN = 4 << 20
#: The most worker processes ``--jobs`` starts.
MAX_JOBS = 64

#: What one worker analyses: a capture file, or the pieces of one rotated capture.
Unit = Union[str, Tuple[str, ...]]


def _name(unit: Unit) -> str:
    return unit if isinstance(unit, str) else unit[0]


def _safe_analyze(unit: Unit, show: Optional[Progress] = None,
                  each: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """One unit's report; what goes wrong with it becomes an ``error`` entry, never a traceback,
    so one file cannot stop the others.  ``each`` as in :func:`analyze_file`."""
    path = _name(unit)
    try:
        return analyze_file(unit, show, each=each)
    except (FastsegError, OSError) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and not isinstance(exc, FastsegError):
            message = f"{path}: {exc.strerror or exc}"
        return {"file": path, "error": message}
    except MemoryError:
        return {"file": path, "error": f"{path}: out of memory"}
    except Exception as exc:  # a bug: said, in one line, and the other files go on
        return {"file": path, "error": f"{path}: internal error (please report it): "
                                       f"{type(exc).__name__}: {exc}"}


_PR_SET_PDEATHSIG = 1


def _worker_init() -> None:
    """In each worker: Ctrl-C is the parent's to handle, and the worker dies with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _bar(name: str) -> Progress:
    def show(done: int, total: int) -> None:
        if total:
            pct = min(100, done * 100 // total)
            filled = pct * 30 // 100
            sys.stderr.write(f"\r{name[-40:]} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%")
            sys.stderr.flush()
    return show


def run(paths: Sequence[Unit], jobs: int, *, progress: bool,
        stream: Optional[JsonStream] = None) -> List[Dict[str, Any]]:
    """Analyse ``paths`` (files, or tuples of a rotated capture's pieces), in parallel when
    there are several; results in the given order.

    With ``stream``, files are analysed one after the other, each connection written to it
    as soon as it ends (memory follows the connections open at once), and the results'
    ``connections`` are empty."""
    if jobs <= 1 or len(paths) <= 1 or stream is not None:
        results = []
        for unit in paths:
            path = _name(unit)
            show = None
            if progress and os.path.isfile(path) and os.path.getsize(path) >= PROGRESS_MIN:
                show = _bar(path)
            try:
                if stream is not None:
                    stream.file(path)
                    results.append(_safe_analyze(unit, show, stream.connection))
                    stream.end_file(results[-1])
                else:
                    results.append(_safe_analyze(unit, show))
            finally:
                if show is not None:
                    sys.stderr.write("\r\033[K")
        return results
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(min(jobs, len(paths)),
                                                   initializer=_worker_init) as pool:
        results = []
        for i, result in enumerate(pool.imap(_safe_analyze, paths), 1):
            results.append(result)
            if progress:
                sys.stderr.write(f"\r{i}/{len(paths)} files analysed")
                sys.stderr.flush()
        if progress:
            sys.stderr.write("\r\033[K")
    return results


def run_on_cluster(paths: Sequence[Unit], address: str) -> List[Dict[str, Any]]:
    """Analyse ``paths`` on the Dask cluster at ``address`` (see ``--scheduler``), one task per
    file; results in the given order, the same as :func:`run`'s."""
    from fastseg.capture.dask import client

    with client(address) as connected:
        return list(connected.gather(connected.map(_safe_analyze, list(paths), pure=False)))


def _parser() -> Parser:
    parser = Parser(
        prog="fastseg analyze",
        description="Follow every TCP connection in pcap/pcapng captures: endpoints, handshake "
                    "options, bytes each way, how it ended, the state path of each side (from "
                    "fastseg.conn's state machine) and anomalies.  With no FILE, analyses a "
                    "small built-in capture of real Linux traffic.")
    parser.add_argument("files", nargs="*", metavar="FILE", help="pcap or pcapng capture(s)")
    parser.add_argument("--json", action="store_true",
                        help=f"print one JSON document (schema {SCHEMA!r}, see the module docs)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="details per connection: options, state paths, anomaly frames")
    parser.add_argument("-j", "--jobs", type=_jobs, default=min(os.cpu_count() or 1, MAX_JOBS),
                        metavar="N", help=f"files analysed in parallel, 1 to {MAX_JOBS} "
                                          "(default: the number of CPUs)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress indicator (shown only when stderr is a terminal)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="analyse the files on a Dask cluster: its scheduler's address "
                             "(tcp://host:8786), or 'local' for a local cluster of worker "
                             "processes; the files must be readable at the same paths from "
                             "every worker (needs fastseg-tcp[dask])")
    parser.add_argument("--rotated", action="store_true",
                        help="the FILEs are one capture cut into pieces (tcpdump -C/-G, "
                             "editcap -c): read them in the order given as one, following "
                             "connections across them; frames are numbered across the pieces")
    parser.add_argument("--plot", metavar="DIR",
                        help="draw each connection's graphs (time-sequence per direction, "
                             "throughput, RTT, bytes in flight, states) into DIR "
                             "(needs fastseg-tcp[plot])")
    parser.add_argument("--plot-format", choices=("svg", "png"), default="svg",
                        help="picture format of --plot (default: svg)")
    parser.add_argument("--report", metavar="FILE",
                        help="write a self-contained HTML report with every connection and "
                             "its graphs (needs fastseg-tcp[plot])")
    return parser


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_JOBS}, not {value}")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Analyse and report; 0 on success, 1 when a file could not be analysed, 2 on a usage error."""
    return guard("fastseg analyze", lambda: _run(list(sys.argv[1:] if argv is None else argv)))


def _run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    paths: List[Unit] = list(args.files) or [SAMPLE]
    if args.rotated:
        paths = [tuple(_name(p) for p in paths)]
    progress = not args.no_progress and sys.stderr.isatty()
    stream = None
    if args.plot is not None or args.report is not None:
        from fastseg.analyze import pictures

        try:
            pictures.check(args.files if args.rotated else [_name(unit) for unit in paths],
                           args.report)
        except ValueError as exc:  # a pipe (read twice), or the report is an input
            raise UsageError(str(exc)) from None
    if args.scheduler is not None:
        results = run_on_cluster(paths, args.scheduler)
    elif args.json and (args.jobs <= 1 or len(paths) <= 1):
        stream = JsonStream(sys.stdout)
        results = run(paths, args.jobs, progress=progress, stream=stream)
        stream.close()
    else:
        results = run(paths, args.jobs, progress=progress)
    status = 0
    for result in results:
        if "error" in result:
            print(f"fastseg analyze: error: {result['error']}", file=sys.stderr)
            status = 1
    if args.json:
        if stream is None:
            sys.stdout.write(render_json(results) + "\n")
    elif any("error" not in r for r in results):
        sys.stdout.write(render_text(results, verbose=args.verbose))
    if args.plot is not None or args.report is not None:
        pictures.write(results, plot_dir=args.plot, report=args.report, fmt=args.plot_format)
    return status
