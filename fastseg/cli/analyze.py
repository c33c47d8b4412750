"""``fastseg analyze [FILE ...]``: the TCP story of each connection in captures.

With no file it analyses fastseg's sample capture (:data:`fastseg.samples.CAPTURE`):
real Linux traffic with a client-first and a server-first close, a
simultaneous close, an abortive close (RST) and two refused connects.  The
analysis and the JSON schema are :mod:`fastseg.analyze`'s.

Files are analysed in parallel, one per worker process (``--jobs``, default
the number of CPUs); the result does not depend on it.  A file that cannot be
read gives one error line on stderr and exit status 2; the others are still
reported.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from fastseg.analyze import SAMPLE, SCHEMA, Progress, analyze_file, render_json, render_text
from fastseg.errors import FastsegError

__all__ = ["PROGRESS_MIN", "main", "run"]

#: Files smaller than this get no progress bar.
PROGRESS_MIN = 4 << 20


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
            if progress and os.path.isfile(path) and os.path.getsize(path) >= PROGRESS_MIN:
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
