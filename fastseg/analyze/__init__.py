"""The TCP story of a capture, connection by connection (``fastseg analyze``).

Each connection (one incarnation of a 4-tuple) is followed with one
:class:`fastseg.conn.Connection` per side (see :mod:`fastseg.analyze.tracker`),
so the state paths come from fastseg's own transition table and sequence rules.

Output: a table (``--verbose`` adds per-connection details) or ``--json``::

    {"schema": "fastseg-analyze/1",
     "files": [                                   # in the order given
       {"file": str, "format": "pcap"|"pcapng"|"mixed", "frames": int, "tcp_segments": int,
        "pieces": [str, ...],                     # only for a capture read from pieces
                                                  # (--rotated): all of them, in order
        "other": {kind: int},                     # non-TCP frames by fastseg.capture.Kind
        "connections": [                          # by id; streamed (``--json`` on one
                                                  # file or -j1): in the order they ended
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
           "state_times": {"client": [float, ...]|null, ...},  # when each was entered:
                                                               # seconds since "start"
           "anomalies": {kind: {"count": int, "client": int, "server": int,
                                "frames": [int, ...],      # the first 20
                                "details": [str, ...]}},   # up to 20; kinds: tracker.ANOMALY_KINDS
           "rejected": {reason: int}}]}           # SegmentRejected reasons of the replicas
       | {"file": str, "error": str}]}            # streamed, a file failing part-way keeps
                                                  # the connections written before its error

"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence, Union

from fastseg import _impl, capture
from fastseg.analyze.report import SCHEMA, render_json, render_text
from fastseg.analyze.tracker import ANOMALY_KINDS, ConnectionTracker, summarize
from fastseg.samples import CAPTURE as SAMPLE

__all__ = ["ANOMALY_KINDS", "PROGRESS_EVERY", "SAMPLE", "SCHEMA", "analyze_file", "render_json",
           "render_text"]

#: Records read between two calls of analyze_file's ``progress``.
PROGRESS_EVERY = 4096

Progress = Callable[[int, int], None]


def analyze_file(path: Union[str, Sequence[str]], progress: Optional[Progress] = None, *,
                 each: Optional[Callable[[Dict[str, Any]], None]] = None,
                 all_frames: bool = False, follow: bool = True) -> Dict[str, Any]:
    """Analyse one capture; a dict as in the module's schema.  CaptureError when unreadable.

    ``path`` names the capture, or is a sequence of paths: one capture cut into pieces
    (``tcpdump -C``/``-G`` rotation, ``editcap -c``), read in that order as one, so that
    connections spanning pieces are followed across them; frames are then numbered
    across the pieces, ``file`` is the first and ``pieces`` lists them all.

    ``progress(done_bytes, total_bytes)`` is called now and then while reading.  The
    capture is read once, and connections are released as they finish (see
    :class:`~fastseg.analyze.tracker.ConnectionTracker`).  Without ``each`` their reports
    are collected and returned in ``id`` order; with ``each``, every report is passed to it
    as soon as it is final, in the order connections end, and the returned ``connections``
    is empty: memory then follows the connections open at once, not the capture's length.
    ``all_frames``: list every frame of each anomaly kind, not only the first 20.
    ``follow``: with the compiled twins, the connections that keep to the common script
    (handshake, data in order, FIN each way) are followed in C without replicas
    (:mod:`fastseg.analyze._script_c`), to the same report; False plays every segment into
    the replicas, the specification.
    """
    paths = [path] if isinstance(path, str) else list(path)
    if not paths:
        raise ValueError("analyze_file needs at least one path")
    total = sum(_size(p) for p in paths)
    tracker = ConnectionTracker(None) if all_frames else ConnectionTracker()
    kept: List[Dict[str, Any]] = []
    emit = kept.append if each is None else each
    other: Counter[str] = Counter()
    tcp = frames = done = 0
    formats: List[str] = []
    released, record_type = tracker.released, capture.TcpRecord

    def drain() -> None:
        for conn in released:
            emit(summarize(conn))
        released.clear()

    script = _follower(tracker, drain) if follow else None
    add = tracker.add if script is None else script.add
    for piece in paths:
        with _open(piece) as file:
            reader = capture.open_capture(file, include_other=True)
            formats.append(reader.format)
            offer = getattr(reader, "offer_frames", None)  # the compiled reader's
            if script is not None and offer is not None:
                script.frame_base = frames
                script.tick = None if progress is None else (
                    lambda: progress(done + file.tell(), total))  # noqa: B023 - this piece's
                offer(script)
            for n, rec in enumerate(reader, 1):
                if isinstance(rec, record_type):
                    tcp += 1
                    add(rec._replace(frame=rec.frame + frames) if frames else rec)
                    if released:
                        drain()
                else:
                    other[str(rec.kind)] += 1
                if progress is not None and n % PROGRESS_EVERY == 0:
                    progress(done + file.tell(), total)
            frames += reader.frames
            done += _size(piece)  # not tell(): a pipe cannot
    if script is not None:
        tcp += script.taken
    for conn in tracker.finish():
        emit(summarize(conn))
    kept.sort(key=lambda conn: int(conn["id"]))
    result: Dict[str, Any] = {
        "file": paths[0],
        "format": formats[0] if len(set(formats)) == 1 else "mixed",
        "frames": frames,
        "tcp_segments": tcp,
        "other": dict(sorted(other.items())),
        "connections": kept,
    }
    if not isinstance(path, str):
        result["pieces"] = paths
    return result


def _follower(tracker: ConnectionTracker, drain: Callable[[], None]) -> Any:
    """The compiled follower over ``tracker``, or None with the pure-Python twins."""
    if capture.IMPLEMENTATION != "cython":
        return None
    return _impl.twin("follower", "cython").ScriptTracker(tracker, drain, None, PROGRESS_EVERY)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _open(path: str) -> BinaryIO:
    """The capture file at ``path``, open for reading; CaptureError naming it when it cannot be."""
    try:
        return open(path, "rb", buffering=0)  # the reader reads whole chunks: no second copy
    except FileNotFoundError:
        raise capture.CaptureNotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise capture.CaptureError(f"{path}: is a directory, not a capture") from None
    except OSError as exc:
        raise capture.CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
