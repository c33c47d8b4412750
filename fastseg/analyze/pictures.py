"""``fastseg analyze --plot DIR`` and ``--report FILE``: the pictures of captures, end to end.

Each capture is analysed again with every anomaly frame kept (``all_frames=True``, so every
marked segment is coloured, not only the first 20 of a kind) and read once more for the graph
data; the text and JSON reports are left as they are.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fastseg._output import check_distinct
from fastseg.analyze import analyze_file
from fastseg.analyze.graphs import ConnectionGraphs, graphs_for_file
from fastseg.analyze.html import MAX_GRAPHS, write_report
from fastseg.analyze.plot import FORMATS, PlotUnavailable, connection_pictures, write_plots

__all__ = ["FORMATS", "PlotUnavailable", "check", "write"]


def check(paths: Sequence[str], report: Optional[str]) -> None:
    """Before any work: matplotlib is there (else PlotUnavailable), the inputs are regular files
    (they are read again) and the report is not one of them (ValueError for both)."""
    try:
        import matplotlib  # noqa: F401 - only whether it imports
    except ImportError:
        raise PlotUnavailable('graphs need matplotlib: pip install "fastseg-tcp[plot]"') from None
    for path in paths:
        if os.path.exists(path) and not os.path.isfile(path):
            raise ValueError(f"{path}: --plot and --report read each capture twice, "
                             "so it must be a regular file, not a pipe or device")
    if report is not None:
        check_distinct([("--report", report)], paths)


def write(results: List[Dict[str, Any]], *, plot_dir: Optional[str] = None,
          report: Optional[str] = None, fmt: str = "svg") -> List[str]:
    """Draw the graphs of every connection of ``results`` (``analyze_file``'s, one per file)
    into ``plot_dir`` and/or write the HTML ``report``; the paths written.  Files whose
    analysis failed are listed in the report with their error and skipped otherwise.  With
    several files, picture names start with the file's position (``2-conn-1-client.svg``)."""
    full = [r if "error" in r else analyze_file(r.get("pieces", r["file"]), all_frames=True)
            for r in results]
    written: List[str] = []
    # each capture is read once for its graph data and each figure drawn once: the report
    # takes the SVG files as they are, or draws SVG from the same data next to PNG files;
    # only what the report shows (its first MAX_GRAPHS connections) is kept for it
    data: List[Optional[List[ConnectionGraphs]]] = [None] * len(full)
    drawn: List[Optional[Dict[int, List[Tuple[str, bytes]]]]] = [None] * len(full)
    budget = MAX_GRAPHS if report is not None else 0
    if plot_dir is not None:
        for index, result in enumerate(full):
            if "error" in result:
                continue
            prefix = f"{index + 1}-" if len(full) > 1 else ""
            graphs = graphs_for_file(result.get("pieces", result["file"]), result)
            kept = graphs[:budget]
            budget -= len(kept)
            shared: Dict[int, List[Tuple[str, bytes]]] = {}
            data[index], drawn[index] = kept, shared
            for i, g in enumerate(graphs):
                pictures = connection_pictures(g, fmt)
                written += write_plots([g], plot_dir, fmt, prefix, {g.id: pictures})
                if fmt == "svg" and i < len(kept):
                    shared[g.id] = pictures
    if report is not None:
        write_report(report, full, data=data, drawn=drawn)
        written.append(os.fspath(report))
    return written
