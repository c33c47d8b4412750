"""The TCP story of a capture, connection by connection (``fastseg analyze``).

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
                        |"syn-not-captured"|"mid-stream"
                        |"self-connect",            # one socket connected to itself:
                                                    # everything counts as the client's
           "options": {"client": OPTS|null, "server": OPTS|null},
               # OPTS = {"mss": int|null, "wscale": int|null, "sack_permitted": bool,
               #         "timestamps": bool}, from each side's SYN
           "negotiated": {"mss": {"client": .., "server": ..}, "window_scaling": bool,
                          "sack": bool, "timestamps": bool} | null,
           "segments": {"client": int, "server": int},      # segments sent by each side
           "bytes": {"client": int, "server": int},         # payload bytes sent, as the IP
                                                            # headers announce (a snap length
                                                            # cuts the capture, not these)
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

"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, Callable, Dict, Optional

from fastseg import capture
from fastseg.analyze.report import SCHEMA, render_json, render_text
from fastseg.analyze.tracker import ANOMALY_KINDS, ConnectionTracker, summarize
from fastseg.samples import CAPTURE as SAMPLE

__all__ = ["ANOMALY_KINDS", "PROGRESS_EVERY", "SAMPLE", "SCHEMA", "analyze_file", "render_json",
           "render_text"]

#: Records read between two calls of analyze_file's ``progress``.
PROGRESS_EVERY = 4096

Progress = Callable[[int, int], None]


def analyze_file(path: str, progress: Optional[Progress] = None, *,
                 all_frames: bool = False) -> Dict[str, Any]:
    """Analyse one capture; a dict as in the module's schema.  CaptureError when unreadable.

    ``progress(done_bytes, total_bytes)`` is called now and then while reading.
    ``all_frames``: list every frame of each anomaly kind, not only the first 20.
    """
    try:
        total = os.path.getsize(path)
    except OSError:
        total = 0
    tracker = ConnectionTracker(None) if all_frames else ConnectionTracker()
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
            if progress is not None and n % PROGRESS_EVERY == 0:
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
