"""One self-contained HTML file for the analysis of captures (``fastseg analyze --report``).

The page needs no network: its style sheet and its small script are inline, and each
connection's pictures (:mod:`fastseg.analyze.plot`, needs matplotlib) are inline SVG kept in a
``<template>`` until the connection is opened.  It holds a summary per capture, the table of
connections (click a heading to sort; filter by address or port, end kind and anomaly), and, one
click on a row away (or ``report.html#c-FILE-ID``), the connection's details and graphs.  The
mouse wheel zooms a time-sequence graph around the pointer; a double click resets it.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from fastseg._output import Output
from fastseg.analyze.graphs import ConnectionGraphs, graphs_for_file
from fastseg.analyze.tracker import ANOMALY_KINDS

__all__ = ["MAX_GRAPHS", "render_report", "write_report"]

_ARROW = " \u2192 "
#: The heading of the table's payload column (the cells' titles give the unique bytes).
_BYTES = "bytes (both ways, with retransmissions)"
#: Connections per report whose graphs are drawn (the first ones of each file); all are listed.
MAX_GRAPHS = 200

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
#conns th{cursor:pointer;background:#eef;user-select:none}
#conns th[aria-sort=ascending]::after{content:" \\25B2"}
#conns th[aria-sort=descending]::after{content:" \\25BC"}
#conns tbody tr{cursor:pointer}#conns tbody tr:hover{background:#f4f4ff}
#conns tr.open{background:#dde}.num{text-align:right}.bad{color:#b00}
#filters{margin:.8em 0}#filters>*{margin-right:1em}
#detail svg{max-width:100%;height:auto;display:block;margin:.5em 0;border:1px solid #ddd}
.note{color:#666}
"""

_SCRIPT = """
"use strict";
(function () {
  const table = document.getElementById("conns");
  const rows = Array.from(table.tBodies[0].rows);
  const query = document.getElementById("q");
  const endKind = document.getElementById("end");
  const anomaly = document.getElementById("anomaly");
  const shown = document.getElementById("shown");
  const detail = document.getElementById("detail");

  function applyFilters() {
    const text = query.value.trim().toLowerCase();
    let count = 0;
    for (const row of rows) {
      const visible = (!text || row.dataset.text.includes(text))
        && (!endKind.value || row.dataset.end === endKind.value)
        && (!anomaly.value || row.dataset.anomalies.split(" ").includes(anomaly.value));
      row.hidden = !visible;
      if (visible) count += 1;
    }
    shown.textContent = count + " of " + rows.length + " connections";
  }

  function sortBy(heading) {
    const column = heading.cellIndex;
    const numeric = heading.dataset.type === "num";
    const up = heading.getAttribute("aria-sort") !== "ascending";
    for (const other of heading.parentNode.cells) other.removeAttribute("aria-sort");
    heading.setAttribute("aria-sort", up ? "ascending" : "descending");
    const value = (row) => row.cells[column].dataset.v ?? row.cells[column].textContent;
    rows.sort((a, b) => {
      const x = value(a), y = value(b);
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return up ? order : -order;
    });
    for (const row of rows) table.tBodies[0].appendChild(row);
  }

  function zoomable(svg) {
    const start = svg.getAttribute("viewBox").split(/[ ,]+/).map(Number);
    let box = start.slice();
    const show = () => svg.setAttribute("viewBox", box.join(" "));
    svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = svg.getBoundingClientRect();
      const fx = (event.clientX - rect.left) / rect.width;
      const fy = (event.clientY - rect.top) / rect.height;
      const factor = event.deltaY < 0 ? 0.8 : 1.25;
      const width = box[2] * factor, height = box[3] * factor;
      box = [box[0] + (box[2] - width) * fx, box[1] + (box[3] - height) * fy, width, height];
      show();
    }, {passive: false});
    svg.addEventListener("dblclick", () => { box = start.slice(); show(); });
  }

  function openConnection(key) {
    const template = document.getElementById("t-" + key);
    if (!template) return;
    detail.replaceChildren(template.content.cloneNode(true));
    for (const row of rows) row.classList.toggle("open", row.dataset.key === key);
    for (const svg of detail.querySelectorAll("svg.tsg")) zoomable(svg);
  }

  for (const heading of table.tHead.rows[0].cells) {
    heading.addEventListener("click", () => sortBy(heading));
  }
  for (const row of rows) {
    row.addEventListener("click", () => { location.hash = "c-" + row.dataset.key; });
  }
  for (const control of [query, endKind, anomaly]) {
    control.addEventListener("input", applyFilters);
  }
  const fromHash = () => {
    if (location.hash.startsWith("#c-")) openConnection(location.hash.slice(3));
  };
  window.addEventListener("hashchange", fromHash);
  applyFilters();
  fromHash();
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _svg(data: bytes, css_class: str) -> str:
    """Inline SVG markup from a matplotlib SVG file (its XML prologue dropped)."""
    text = data.decode("utf-8")
    text = text[text.index("<svg"):]
    return f'<svg class="{css_class}" ' + text[len("<svg "):]


def _endpoint(ep: Dict[str, Any]) -> str:
    address = ep["address"]
    return f"[{address}]:{ep['port']}" if ":" in address else f"{address}:{ep['port']}"


def _details(file_index: int, conn: Dict[str, Any],
             pictures: Optional[List[Tuple[str, bytes]]], limited: bool) -> str:
    """The ``<template>`` of one connection with its SVG pictures
    (:func:`fastseg.analyze.plot.connection_pictures`); ``limited``: they were left out by the
    cap."""
    parts = [f"<h2>Connection #{conn['id']}: {_e(_endpoint(conn['client']))} \u2192 "
             f"{_e(_endpoint(conn['server']))}</h2>",
             f"<p>Handshake: {_e(conn['handshake'])}. End: {_e(conn['end']['kind'])} "
             f"({_e(conn['end']['detail'])}). Frames {conn['first_frame']}\u2013"
             f"{conn['last_frame']}, {conn['duration']:.6f} s.</p>", "<table>"]
    for role in ("client", "server"):
        states = conn["states"][role]
        if states:
            states = [f"{name} ({t:.6f} s)" for name, t in zip(states, conn["state_times"][role])]
        parts.append(f"<tr><th>{role}</th><td>{conn['segments'][role]} segments, "
                     f"{conn['bytes'][role]} bytes ({conn['unique_bytes'][role]} unique); "
                     f"options {_e(json.dumps(conn['options'][role]))}; states "
                     f"{_e(_ARROW.join(states) if states else 'not followed')}</td></tr>")
    for kind, entry in conn["anomalies"].items():
        frames = ", ".join(str(f) for f in entry["frames"][:50])
        more = " \u2026" if len(entry["frames"]) > 50 else ""
        parts.append(f'<tr><th class="bad">{_e(kind)}</th><td>{entry["count"]} '
                     f"(client {entry['client']}, server {entry['server']}); frames "
                     f"{frames}{more}</td></tr>")
    parts.append("</table>")
    if pictures is not None:
        parts.extend(_svg(data, "metrics" if name == "metrics" else "tsg")
                     for name, data in pictures)
    elif limited:
        parts.append(f'<p class="note">Graphs not drawn: a report draws those of the first '
                     f"{MAX_GRAPHS} connections (fastseg analyze --plot DIR draws them all).</p>")
    return f'<template id="t-{file_index}-{conn["id"]}">{"".join(parts)}</template>'


def _row(file_index: int, name: str, conn: Dict[str, Any]) -> str:
    client, server = _endpoint(conn["client"]), _endpoint(conn["server"])
    anomalies = " ".join(conn["anomalies"])
    text = " ".join([client, server, conn["client"]["address"], conn["server"]["address"],
                     str(conn["client"]["port"]), str(conn["server"]["port"])]).lower()
    segments = conn["segments"]["client"] + conn["segments"]["server"]
    payload = conn["bytes"]["client"] + conn["bytes"]["server"]
    unique = conn["unique_bytes"]["client"] + conn["unique_bytes"]["server"]
    listed = ", ".join(f"{k} {v['count']}" for k, v in conn["anomalies"].items())
    return (f'<tr data-key="{file_index}-{conn["id"]}" data-text="{_e(text)}" '
            f'data-end="{_e(conn["end"]["kind"])}" data-anomalies="{_e(anomalies)}">'
            f'<td class="num" data-v="{file_index * 1_000_000_000 + conn["id"]}">'
            f'{conn["id"]}</td><td title="{_e(name)}">{_e(os.path.basename(name))}</td>'
            f'<td>{_e(client)}</td><td>{_e(server)}</td>'
            f'<td>{_e(conn["handshake"])}</td><td>{_e(conn["end"]["kind"])}</td>'
            f'<td class="num" data-v="{conn["duration"]}">{conn["duration"]:.3f}</td>'
            f'<td class="num" data-v="{segments}">{segments}</td>'
            f'<td class="num" data-v="{payload}" title="{unique} unique bytes (both ways)">'
            f'{payload}</td>'
            f'<td data-v="{len(conn["anomalies"]):04d} {_e(listed)}">{_e(listed)}</td></tr>')


def _options(values: Iterable[str], everything: str) -> str:
    return f'<option value="">{everything}</option>' + "".join(
        f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)


def _pictures(source: Any, result: Dict[str, Any], ids: List[int],
              data: Optional[List[ConnectionGraphs]],
              drawn: Optional[Dict[int, List[Tuple[str, bytes]]]]
              ) -> Dict[int, List[Tuple[str, bytes]]]:
    """The SVG pictures of the connections ``ids`` of one capture, drawn only where ``drawn``
    lacks them, from ``data`` or (when None) from the capture read once more."""
    from fastseg.analyze.plot import connection_pictures

    pictures = {i: drawn[i] for i in ids if drawn is not None and i in drawn}
    missing = [i for i in ids if i not in pictures]
    if missing:
        wanted = set(missing)
        graphs = [g for g in data if g.id in wanted] if data is not None \
            else graphs_for_file(source, result, missing)
        pictures.update((g.id, connection_pictures(g)) for g in graphs)
    return pictures


def render_report(results: List[Dict[str, Any]], *, graphs: bool = True,
                  max_graphs: int = MAX_GRAPHS,
                  data: Optional[Sequence[Optional[List[ConnectionGraphs]]]] = None,
                  drawn: Optional[Sequence[Optional[Dict[int, List[Tuple[str, bytes]]]]]] = None
                  ) -> str:
    """The HTML report of ``analyze_file`` results (made with ``all_frames=True`` so that every
    marked segment is coloured).  ``graphs=False`` leaves the pictures out (no matplotlib
    needed); otherwise the first ``max_graphs`` connections get theirs, and each capture is read
    once more for them (:func:`fastseg.analyze.graphs.graphs_for_file`) unless ``data`` (per
    result) holds its graph data already.  ``drawn`` (per result, by connection id) holds SVG
    pictures already made (:func:`fastseg.analyze.plot.connection_pictures`), used as they
    are."""
    summary, rows, templates = [], [], []
    ends, kinds = set(), set()
    budget = max_graphs
    for index, result in enumerate(results):
        name = result["file"]
        if "error" in result:
            summary.append(f'<tr><td>{_e(name)}</td><td colspan="5" class="bad">'
                           f'{_e(result["error"])}</td></tr>')
            continue
        conns = result["connections"]
        other = ", ".join(f"{k} {v}" for k, v in result["other"].items()) or "none"
        shown = name if "pieces" not in result else f"{name} (+{len(result['pieces']) - 1} pieces)"
        summary.append(f"<tr><td>{_e(shown)}</td><td>{_e(result['format'])}</td>"
                       f"<td class='num'>{result['frames']}</td>"
                       f"<td class='num'>{result['tcp_segments']}</td>"
                       f"<td class='num'>{len(conns)}</td><td>{_e(other)}</td></tr>")
        chosen = conns[:budget] if graphs else []
        budget -= len(chosen)
        source = result.get("pieces", name)
        pictures = _pictures(source, result, [c["id"] for c in chosen],
                             None if data is None else data[index],
                             None if drawn is None else drawn[index]) if chosen else {}
        for conn in conns:
            ends.add(conn["end"]["kind"])
            kinds.update(conn["anomalies"])
            rows.append(_row(index, name, conn))
            templates.append(_details(index, conn, pictures.get(conn["id"]),
                                      graphs and conn["id"] not in pictures))
    kind_order = [k for k in ANOMALY_KINDS if k in kinds]
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        "<title>fastseg analyze report</title>",
        '<meta name="viewport" content="width=device-width">',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>fastseg analyze report</h1><h2>Captures</h2>",
        "<table id='files'><tr><th>file</th><th>format</th><th>frames</th><th>TCP segments</th>"
        "<th>connections</th><th>other frames</th></tr>", "".join(summary), "</table>",
        "<h2>Connections</h2><div id='filters'>",
        '<input id="q" type="search" placeholder="address or port" aria-label="address or port">',
        f'<select id="end" aria-label="end kind">{_options(sorted(ends), "any end")}</select>',
        f'<select id="anomaly" aria-label="anomaly">{_options(kind_order, "any anomaly")}'
        "</select>", '<span id="shown"></span></div>',
        '<table id="conns"><thead><tr><th data-type="num">#</th><th>file</th><th>client</th>'
        "<th>server</th><th>handshake</th><th>end</th><th data-type='num'>duration (s)</th>"
        "<th data-type='num'>segments</th><th data-type='num' title='payload bytes of both "
        "directions, retransmissions included (unique bytes: hover a cell)'>" + _BYTES + "</th>"
        "<th>anomalies</th>"
        "</tr></thead><tbody>", "".join(rows), "</tbody></table>",
        '<p class="note">Click a row for the connection\'s details and graphs; in a '
        "time-sequence graph, the wheel zooms and a double click resets.</p>",
        '<section id="detail"></section>', "".join(templates),
        f"<script>{_SCRIPT}</script></body></html>\n"])


def write_report(path: str, results: List[Dict[str, Any]], **options: Any) -> None:
    """Write :func:`render_report`'s page to ``path``, atomically (see :mod:`fastseg._output`)."""
    page = render_report(results, **options)
    with Output(path, "w", encoding="utf-8") as out:
        out.write(page)
