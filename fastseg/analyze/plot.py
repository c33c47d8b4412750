"""Drawing the graph data of :mod:`fastseg.analyze.graphs` with matplotlib (optional extra).

``pip install "fastseg-tcp[plot]"`` installs matplotlib; without it every function here raises
:class:`PlotUnavailable`, one line saying so.  Pictures are SVG (text kept as text, no date, so
the same capture gives the same file) or PNG.  Per connection:

- one time-sequence graph per direction (tcptrace style): each segment a vertical bar from its
  sequence number to its end, the receiver's ACK line and window line (ACK + window), SACK
  blocks, the analysis' marks in their own colours, SYN/FIN/RST marked;
- one "metrics" figure: throughput, RTT samples, bytes in flight (both directions) and the
  state path of each side as a timeline, all four on one time axis.

Directions with more than :data:`DRAW_LIMIT` segments are thinned for drawing
(:func:`fastseg.analyze.graphs.thin`); marked segments are always drawn.
"""

from __future__ import annotations

import io
import os
from typing import Any, Dict, List, Optional, Tuple

from fastseg._output import Output
from fastseg.analyze.graphs import ConnectionGraphs, DirectionGraphs, state_spans, thin
from fastseg.errors import FastsegError

__all__ = ["DRAW_LIMIT", "MARK_COLOURS", "PlotUnavailable", "connection_pictures", "metrics",
           "time_sequence", "write_plots"]

#: The most segments (and ACKs) drawn per direction; the rest are thinned away for drawing only.
DRAW_LIMIT = 4000
#: Colour of each mark (the first that applies wins); unmarked data is drawn in "data".
MARK_COLOURS: Dict[str, str] = {
    "retransmission": "#d62728",
    "out_of_order": "#ff7f0e",
    "not_captured": "#9467bd",
    "keep_alive": "#8c564b",
    "zero_window_probe": "#e377c2",
    "outside_window": "#bcbd22",
    "data": "#1f4e9c",
}
#: Legend names of the marks (and of unmarked data).
_LABELS = {"retransmission": "retransmission", "out_of_order": "out of order",
           "not_captured": "after a gap", "keep_alive": "keep-alive",
           "zero_window_probe": "zero window probe", "outside_window": "outside window",
           "data": "data"}
#: Marks drawn as a point when the segment carries no sequence space.
_EMPTY_MARKS = ("zero_window_probe", "keep_alive")
_ACK = "#2ca02c"
_WINDOW = "#b8a000"
_SACK = "#17becf"
_HOLE = "#c7c7c7"
_ARROW = "\u2192"
#: States begun after this fraction of the connection's duration are labelled from their end.
_LATE = 0.8
#: States held this fraction of the connection's duration or longer are named at their middle.
_LONG = 0.3
#: Offsets from a state bar's middle at which its names are written, in turn (top first).
_LEVELS = (0.25, 0.0, -0.25)
_FLAG_STYLE = {"S": ("#2ca02c", "^", "SYN"), "F": ("#1f77b4", "s", "FIN"), "R": ("#d62728", "X", "RST")}
FORMATS = ("svg", "png")


class PlotUnavailable(FastsegError, ImportError):
    """matplotlib is not installed (the ``plot`` extra)."""


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable('graphs need matplotlib: pip install "fastseg-tcp[plot]"') from None
    return matplotlib, Figure


def _colour(marks: Tuple[str, ...]) -> str:
    for kind in MARK_COLOURS:
        if kind in marks:
            return MARK_COLOURS[kind]
    return MARK_COLOURS["data"]


def _render(fig: Any, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"picture format is one of {FORMATS}, not {fmt!r}")
    matplotlib, _ = _matplotlib()
    out = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "fastseg"}):
        metadata = {"Date": None} if fmt == "svg" else {}
        fig.savefig(out, format=fmt, metadata=metadata, dpi=100)
    return out.getvalue()


def time_sequence(direction: DirectionGraphs, label: str, fmt: str = "svg") -> bytes:
    """The tcptrace-style time-sequence graph of one direction, as SVG or PNG bytes.

    ``label`` names the connection in the title (such as ``"#3"``)."""
    _, Figure = _matplotlib()
    from matplotlib.collections import LineCollection

    fig = Figure(figsize=(10, 5.5))
    ax = fig.add_subplot()
    points = thin(direction.segments, DRAW_LIMIT, lambda p: p.end,
                  keep=lambda p: bool(p.flags) or any(m in MARK_COLOURS for m in p.marks))
    bars: Dict[str, List[Any]] = {}
    empty: Dict[str, List[Any]] = {}    # marked segments of length 0: probes and keep-alives
    for p in points:
        if p.length:
            bars.setdefault(_colour(p.marks), []).append([(p.time, p.seq), (p.time, p.end)])
        elif any(kind in p.marks for kind in _EMPTY_MARKS):
            empty.setdefault(next(k for k in _EMPTY_MARKS if k in p.marks), []).append(p)
    for colour, lines in bars.items():
        kind = next((k for k, c in MARK_COLOURS.items() if c == colour), "data")
        marked = kind != "data"
        # marked segments are drawn wider, above the ACK line, with a dot at their start
        ax.add_collection(LineCollection(lines, colors=colour, linewidths=3 if marked else 1.6,
                                         zorder=4 if marked else 2, label=_LABELS.get(kind, kind)))
        if marked:
            ax.plot([line[0][0] for line in lines], [line[0][1] for line in lines],
                    linestyle="none", marker="o", markersize=4, color=colour, zorder=4)
    for kind, probes in empty.items():
        ax.plot([p.time for p in probes], [p.seq for p in probes], linestyle="none", marker="D",
                markersize=4, color=MARK_COLOURS[kind], zorder=4,
                label=f"{_LABELS[kind]} (no data)")
    if direction.holes:
        ax.add_collection(LineCollection([[(t, lo), (t, hi)] for t, lo, hi in direction.holes],
                                         colors=_HOLE, linewidths=4, zorder=1, label="gap"))
    acks = thin(direction.acks, DRAW_LIMIT, lambda a: a.ack, keep=lambda a: bool(a.sack))
    if acks:
        times = [a.time for a in acks]
        ax.step(times, [a.ack for a in acks], where="post", color=_ACK, linewidth=1, label="ACK")
        ax.step(times, [a.window_edge for a in acks], where="post", color=_WINDOW, linewidth=1,
                label="window" + (" (scaled)" if direction.window_scaled else ""))
        sacks = [[(a.time, lo), (a.time, hi)] for a in acks for lo, hi in a.sack]
        if sacks:
            # behind the data bars (a SACK block often spans the segments just sent)
            ax.add_collection(LineCollection(sacks, colors=_SACK, linewidths=3, zorder=1.5,
                                             label="SACK"))
        zero = [a for a in acks if a.window == 0]
        if zero:
            ax.plot([a.time for a in zero], [a.ack for a in zero], linestyle="none", marker="o",
                    markerfacecolor="none", color="#000000", label="zero window")
    for letter, (colour, marker, name) in _FLAG_STYLE.items():
        flagged = [p for p in points if letter in p.flags]
        if flagged:
            ax.plot([p.time for p in flagged], [p.seq for p in flagged], linestyle="none",
                    marker=marker, color=colour, markersize=7, label=name)
    ax.autoscale_view()
    ax.set_xlabel("time since the connection's first frame (s)")
    ax.set_ylabel("relative sequence number (bytes)")
    ax.set_title(f"{label} {direction.source} \u2192 {direction.destination} "
                 f"(sent by the {direction.sender})", fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _render(fig, fmt)


def metrics(graphs: ConnectionGraphs, fmt: str = "svg") -> bytes:
    """Throughput, RTT, bytes in flight (both directions) and the state paths, one figure."""
    _, Figure = _matplotlib()
    fig = Figure(figsize=(10, 9))
    axes = fig.subplots(4, 1, sharex=True)
    colours = {"client": "#1f77b4", "server": "#ff7f0e"}
    for role, d in graphs.directions.items():
        label = f"{role}: {d.source} \u2192 {d.destination}"
        first = lambda pair: pair[0]  # noqa: E731 - the time of a (time, value) pair
        rtt = thin(d.rtt, DRAW_LIMIT, lambda sample: sample[1], when=first)
        in_flight = thin(d.in_flight, DRAW_LIMIT, lambda pair: pair[1], when=first)
        if d.throughput:
            axes[0].step([t for t, _ in d.throughput], [v * 8 / 1e6 for _, v in d.throughput],
                         where="post", color=colours[role], label=label)
        for source, marker in (("ack", "o"), ("ts", "x")):
            samples = [(t, r) for t, r, s in rtt if s == source]
            if samples:
                axes[1].plot([t for t, _ in samples], [r * 1e3 for _, r in samples],
                             linestyle="none", marker=marker, markersize=3, color=colours[role],
                             label=f"{role} ({'ACK, Karn' if source == 'ack' else 'timestamps'})")
        if in_flight:
            axes[2].step([t for t, _ in in_flight], [b for _, b in in_flight], where="post",
                         color=colours[role], label=label)
    for ax, name in zip(axes[:3], ("throughput (Mbit/s)", "RTT (ms)",
                                         "bytes in flight\n(SACKed excluded)")):
        ax.set_ylabel(name, fontsize=9)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right")
    _state_timeline(axes[3], graphs, colours)
    fig.suptitle(graphs.title, fontsize=10)
    fig.tight_layout()
    return _render(fig, fmt)


def _state_timeline(ax: Any, graphs: ConnectionGraphs, colours: Dict[str, str]) -> None:
    """Each side's state path on the connection's time axis: one bar per state held, its name
    (with the states passed through in the same frame before it) written at its start, at its
    middle when the bar is long, or, for states begun late, ending at the bar's end."""
    for row, role in enumerate(("client", "server")):
        spans = state_spans(graphs.states.get(role) or [], graphs.duration)
        turn, late = 0, False
        for i, (start, end, names) in enumerate(spans):
            ax.barh(row, end - start, left=start, color=colours[role],
                    alpha=0.25 + 0.5 * (i % 2), edgecolor="#ffffff")
            # short neighbours take the levels in turn, from the top down in time order (anew
            # where the late ones begin), so they neither overprint nor read out of order
            if end - start >= _LONG * graphs.duration:
                ax.text((start + end) / 2, row, _ARROW.join(names), ha="center", va="center",
                        fontsize=6, clip_on=True)
                continue
            if start > _LATE * graphs.duration and not late:
                turn, late = 0, True
            level = row + _LEVELS[turn % len(_LEVELS)]
            turn += 1
            x, align = (end, "right") if late else (start, "left")
            ax.text(x, level, _ARROW.join(names), ha=align, va="center", fontsize=6,
                    clip_on=True)
    ax.set_yticks([0, 1], ["client", "server"])
    ax.set_xlabel("time (s): each side's state in its fastseg.conn replica", fontsize=8)


def connection_pictures(g: ConnectionGraphs, fmt: str = "svg") -> List[Tuple[str, bytes]]:
    """One connection's pictures as ``(name, bytes)``: the time-sequence graph of each side that
    sent something (name ``"client"`` or ``"server"``), then the ``"metrics"`` figure."""
    pictures = [(role, time_sequence(d, f"#{g.id}", fmt))
                for role, d in g.directions.items() if d.segments]
    pictures.append(("metrics", metrics(g, fmt)))
    return pictures


def write_plots(graphs: List[ConnectionGraphs], directory: str, fmt: str = "svg",
                prefix: str = "", drawn: Optional[Dict[int, List[Tuple[str, bytes]]]] = None
                ) -> List[str]:
    """Write each connection's pictures into ``directory`` (made if missing); the paths written.

    Names: ``{prefix}conn-{id}-client.{fmt}`` and ``-server`` (time-sequence graph of what
    that side sent) and ``{prefix}conn-{id}-metrics.{fmt}``.  Each file is written atomically.
    ``drawn`` holds pictures already made in ``fmt`` (:func:`connection_pictures`, by
    connection id), written as they are instead of being drawn again.
    """
    if fmt not in FORMATS:
        raise ValueError(f"picture format is one of {FORMATS}, not {fmt!r}")
    _matplotlib()
    os.makedirs(directory, exist_ok=True)
    written = []
    for g in graphs:
        pictures = drawn[g.id] if drawn is not None and g.id in drawn \
            else connection_pictures(g, fmt)
        for name, data in pictures:
            path = os.path.join(directory, f"{prefix}conn-{g.id}-{name}.{fmt}")
            with Output(path, "wb") as out:
                out.write(data)
            written.append(path)
    return written
