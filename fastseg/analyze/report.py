"""Render analysis results: a terminal table with details, or JSON."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, TextIO

from fastseg.analyze.tracker import ANOMALY_KINDS

__all__ = ["SCHEMA", "JsonStream", "render_json", "render_text"]

#: The JSON document's ``schema`` value; bumped on any incompatible change.
SCHEMA = "fastseg-analyze/1"

_STATES = {"complete": "3-way", "refused": "refused", "unanswered": "no answer",
           "mid-stream": "mid-stream", "syn-not-captured": "no SYN",
           "simultaneous-open": "simult. open", "incomplete": "incomplete",
           "self-connect": "to itself"}
_ENDS = {"closed": "FIN ({by} first)", "simultaneous-close": "FIN (simultaneous)",
         "reset": "RST by {by}", "refused": "refused", "half-closed": "half-closed by {by}",
         "open": "still open", "unanswered": "no answer"}


def render_json(results: List[Dict[str, Any]]) -> str:
    return json.dumps({"schema": SCHEMA, "files": results}, indent=2, sort_keys=False)


class JsonStream:
    """The ``--json`` document written as the analysis goes: each connection's report as soon
    as it is final, so the output never waits for (or holds) a whole capture.

    The document is :func:`render_json`'s, parsed alike: one file object per :meth:`file`
    call, whose keys come in another order (``connections`` first, the totals known at the
    end of the file after them), connections in the order they ended (``id`` is their
    first-frame order).  A file that fails after some connections were written keeps them,
    with its ``error`` after them.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._files = 0
        self._path: Optional[str] = None
        self._connections = 0
        out.write(f'{{"schema": {json.dumps(SCHEMA)}, "files": [')

    def file(self, path: str) -> None:
        """Start the object of the file ``path`` (written with its first connection)."""
        self._path, self._connections = path, 0

    def connection(self, report: Dict[str, Any]) -> None:
        """Write one connection's report into the current file's ``connections``."""
        if self._connections == 0:
            self._open(f'{{"file": {json.dumps(self._path)}, "connections": [\n')
        else:
            self._out.write(",\n")
        self._out.write(json.dumps(report))
        self._connections += 1

    def end_file(self, result: Dict[str, Any]) -> None:
        """Close the current file's object with the rest of ``result`` (its totals or error)."""
        rest = {key: value for key, value in result.items() if key not in ("file", "connections")}
        if self._connections == 0:
            whole = {"file": result["file"], **rest}
            if "error" not in result:
                whole["connections"] = []
            self._open(json.dumps(whole))
        else:
            self._out.write("]" + "".join(f", {json.dumps(k)}: {json.dumps(v)}"
                                          for k, v in rest.items()) + "}")
        self._path = None

    def close(self) -> None:
        """End the document."""
        self._out.write("]}\n")

    def _open(self, text: str) -> None:
        self._out.write((",\n" if self._files else "\n") + text)
        self._files += 1


def _endpoint(ep: Dict[str, Any]) -> str:
    address = ep["address"]
    return f"[{address}]:{ep['port']}" if ":" in address else f"{address}:{ep['port']}"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _anomaly_summary(anomalies: Dict[str, Any]) -> str:
    if not anomalies:
        return "-"
    return ", ".join(f"{kind.replace('_', ' ')} {a['count']}" for kind, a in anomalies.items())


def _end_text(conn: Dict[str, Any]) -> str:
    end = conn["end"]
    return str(_ENDS.get(end["kind"], end["kind"])).format(by=end["by"])


def render_text(results: List[Dict[str, Any]], *, verbose: bool) -> str:
    out: List[str] = []
    for result in results:
        if "error" in result:
            continue
        conns = result["connections"]
        out.append(f"{result['file']}: {result['frames']} frames, {result['tcp_segments']} TCP "
                   f"segments, {len(conns)} connection{'s' if len(conns) != 1 else ''}"
                   + "".join(f", {n} {kind}" for kind, n in result["other"].items()))
        if not conns:
            out.append("")
            continue
        rows = [("#", "client", "server", "open", "bytes c→s", "bytes s→c", "end", "anomalies")]
        for c in conns:
            rows.append((str(c["id"]), _endpoint(c["client"]), _endpoint(c["server"]),
                         _STATES.get(c["handshake"], c["handshake"]),
                         _size(c["bytes"]["client"]), _size(c["bytes"]["server"]),
                         _end_text(c), _anomaly_summary(c["anomalies"])))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [r[i].rjust(widths[i]) if i in (0, 4, 5) else r[i].ljust(widths[i])
                     for i in range(len(widths))]
            out.append("  ".join([*cells, r[-1]]).rstrip())
        if verbose:
            for c in conns:
                out.extend(_details(c))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _options_text(opts: Any) -> str:
    if opts is None:
        return "no SYN seen"
    parts = [f"MSS {opts['mss']}" if opts["mss"] is not None else "no MSS",
             f"wscale {opts['wscale']}" if opts["wscale"] is not None else "no wscale"]
    if opts["sack_permitted"]:
        parts.append("SACK")
    if opts["timestamps"]:
        parts.append("timestamps")
    return ", ".join(parts)


def _details(c: Dict[str, Any]) -> List[str]:
    lines = ["", f"connection {c['id']}: {_endpoint(c['client'])} → {_endpoint(c['server'])}  "
             f"(frames {c['first_frame']}-{c['last_frame']}, {c['duration']:.6f} s)"]
    lines.append(f"  handshake   {c['handshake']}")
    lines.append(f"  client SYN  {_options_text(c['options']['client'])}")
    lines.append(f"  server SYN  {_options_text(c['options']['server'])}")
    neg = c["negotiated"]
    if neg is not None:
        agreed = [name for name in ("window_scaling", "sack", "timestamps") if neg[name]]
        lines.append("  negotiated  " + (", ".join(a.replace("_", " ") for a in agreed) or "none"))
    for role, arrow in (("client", "c→s"), ("server", "s→c")):
        lines.append(f"  {arrow}         {c['segments'][role]} segments, {c['bytes'][role]} bytes "
                     f"({c['unique_bytes'][role]} unique)")
    lines.append(f"  end         {c['end']['detail']}")
    for role in ("client", "server"):
        path = c["states"][role]
        lines.append(f"  {role:6s}      " + (" → ".join(path) if path else "not followed (no SYN seen)"))
    for kind, a in c["anomalies"].items():
        who = ", ".join(f"{n} by {r}" for r, n in (("client", a["client"]), ("server", a["server"]))
                        if n)
        extra = f"; {'; '.join(a['details'])}" if a["details"] else ""
        lines.append(f"  ! {kind.replace('_', ' ')}: {a['count']} ({who}), frames "
                     f"{', '.join(map(str, a['frames']))}{'…' if a['count'] > len(a['frames']) else ''}"
                     f"{extra}  — {ANOMALY_KINDS[kind]}")
    return lines
