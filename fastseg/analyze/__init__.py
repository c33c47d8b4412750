"""``fastseg analyze [FILE ...]``: the TCP story of a capture, connection by connection.

With no file it analyses ``sample.pcap``, shipped in this package: real Linux
traffic with a client-first and a server-first close, a simultaneous close,
an abortive close (RST) and two refused connects.

Each connection (one incarnation of a 4-tuple) is followed with one
:class:`fastseg.conn.Connection` per side (see :mod:`fastseg.analyze.tracker`),
so the state paths come from fastseg's own transition table and sequence rules.

Output: a table (``--verbose`` adds per-connection details) or ``--json``::

    {"schema": "fastseg-analyze/1",
     "files": [                                   # in the order given
       {"file": str, "format": "pcap"|"pcapng", "frames": int, "tcp_segments": int,
        "other": {kind: int},                     # non-TCP frames by fastseg.capture.Kind
        "connections": [
          {"id": int,                             # 1-based, by first frame
           "client": {"address": str, "port": int}, "server": {...},
           "opened_by": "client"|null,            # null: no SYN seen (roles guessed)
           "first_frame": int, "last_frame": int, "start": float, "duration": float,
           "handshake": "complete"|"incomplete"|"refused"|"unanswered"|"simultaneous-open"
                        |"syn-not-captured"|"mid-stream",
           "options": {"client": OPTS|null, "server": OPTS|null},
               # OPTS = {"mss": int|null, "wscale": int|null, "sack_permitted": bool,
               #         "timestamps": bool}, from each side's SYN
           "negotiated": {"mss": {"client": .., "server": ..}, "window_scaling": bool,
                          "sack": bool, "timestamps": bool} | null,
           "segments": {"client": int, "server": int},      # segments sent by each side
           "bytes": {"client": int, "server": int},         # payload bytes sent
           "unique_bytes": {"client": int, "server": int},  # ... not counting retransmissions
           "end": {"kind": "closed"|"simultaneous-close"|"reset"|"refused"|"half-closed"
                           |"open"|"unanswered",
                   "by": "client"|"server"|null, "first_fin": "client"|"server"|null,
                   "detail": str},
           "states": {"client": [str, ...]|null, "server": [...]|null},  # RFC state names
           "anomalies": {kind: {"count": int, "client": int, "server": int,
                                "frames": [int, ...],      # the first 20
                                "details": [str, ...]}},   # up to 20; kinds: tracker.ANOMALY_KINDS
           "rejected": {reason: int}}]}           # SegmentRejected reasons of the replicas
       | {"file": str, "error": str}]}

Files are analysed in parallel, one per worker process (``--jobs``, default
the number of CPUs); the result does not depend on it.  A file that cannot be
read gives one error line on stderr and exit status 2; the others are still
reported.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence

from fastseg import capture
from fastseg.analyze.report import SCHEMA, render_json, render_text
from fastseg.analyze.tracker import ANOMALY_KINDS, ConnectionTracker, summarize
from fastseg.errors import FastsegError

__all__ = ["ANOMALY_KINDS", "SAMPLE", "SCHEMA", "analyze_file", "main"]

#: The built-in sample capture.
SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.pcap")
_PROGRESS_MIN = 4 << 20  # files smaller than this get no progress bar
_PROGRESS_EVERY = 4096   # records between progress updates

Progress = Callable[[int, int], None]


def analyze_file(path: str, progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Analyse one capture; a dict as in the module's schema.  CaptureError when unreadable.

    ``progress(done_bytes, total_bytes)`` is called now and then while reading.
    """
    try:
        total = os.path.getsize(path)
    except OSError:
        total = 0
    tracker = ConnectionTracker()
    other: Counter[str] = Counter()
    tcp = frames = 0
    fmt = None
    file = None
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below; the reader reports errors
    except FileNotFoundError:
        raise capture.CaptureNotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise capture.CaptureError(f"{path}: is a directory, not a capture") from None
    except OSError as exc:
        raise capture.CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with file:
        reader = capture.open_capture(file, include_other=True)
        fmt = reader.format
        for n, rec in enumerate(reader, 1):
            if isinstance(rec, capture.TcpRecord):
                tcp += 1
                tracker.add(rec)
            else:
                other[str(rec.kind)] += 1
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(file.tell(), total)
        frames = reader.frames
    return {
        "file": path,
        "format": fmt,
        "frames": frames,
        "tcp_segments": tcp,
        "other": dict(sorted(other.items())),
        "connections": [summarize(conn) for conn in tracker.finish()],
    }


def _safe_analyze(path: str) -> Dict[str, Any]:
    """Worker entry: errors the user can cause become an ``error`` entry, never a traceback."""
    try:
        return analyze_file(path)
    except (FastsegError, OSError) as exc:
        return {"file": path, "error": str(exc)}


def _bar(name: str) -> Progress:
    def show(done: int, total: int) -> None:
        if total:
            pct = min(100, done * 100 // total)
            filled = pct * 30 // 100
            sys.stderr.write(f"\r{name[-40:]} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%")
            sys.stderr.flush()
    return show


def run(paths: Sequence[str], jobs: int, *, progress: bool) -> List[Dict[str, Any]]:
    """Analyse ``paths``, in parallel when there are several; results in the given order."""
    if jobs <= 1 or len(paths) <= 1:
        results = []
        for path in paths:
            show = None
            if progress and os.path.isfile(path) and os.path.getsize(path) >= _PROGRESS_MIN:
                show = _bar(path)
            try:
                results.append(analyze_file(path, show))
            except (FastsegError, OSError) as exc:
                results.append({"file": path, "error": str(exc)})
            finally:
                if show is not None:
                    sys.stderr.write("\r\033[K")
        return results
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(min(jobs, len(paths))) as pool:
        results = []
        for i, result in enumerate(pool.imap(_safe_analyze, paths), 1):
            results.append(result)
            if progress:
                sys.stderr.write(f"\r{i}/{len(paths)} files analysed")
                sys.stderr.flush()
        if progress:
            sys.stderr.write("\r\033[K")
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="files analysed in parallel (default: the number of CPUs)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress indicator (shown only when stderr is a terminal)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.jobs < 1:
        print("fastseg analyze: error: --jobs must be at least 1", file=sys.stderr)
        return 2
    paths = list(args.files) or [SAMPLE]
    progress = not args.no_progress and sys.stderr.isatty()
    results = run(paths, args.jobs, progress=progress)
    status = 0
    for result in results:
        if "error" in result:
            print(f"fastseg analyze: error: {result['error']}", file=sys.stderr)
            status = 2
    if args.json:
        sys.stdout.write(render_json(results) + "\n")
    elif any("error" not in r for r in results):
        sys.stdout.write(render_text(results, verbose=args.verbose))
    return status
