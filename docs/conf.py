"""Sphinx configuration for fastseg's documentation (built in CI with warnings as errors).

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html

The API pages come from the docstrings of the installed package; the state
table of the connection is generated from ``fastseg.conn`` at build time, so
the documentation cannot drift from the code.
"""

from __future__ import annotations

import os

import fastseg
from fastseg.conn.states import transition_table

project = "fastseg"
author = "the fastseg developers"
copyright = "the fastseg developers"
release = version = fastseg.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
intersphinx_mapping: dict[str, tuple[str, None]] = {}
nitpicky = False
html_theme = "furo"
html_title = f"fastseg {release}"
exclude_patterns = ["_build", "_generated/README.md"]


def _write_transitions() -> None:
    """docs/_generated/transitions.rst: the transition table as an RST list table."""
    rows = [line.strip("|").split("|") for line in transition_table().splitlines()]
    header, body = rows[0], rows[2:]  # rows[1] is the Markdown rule
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: auto", ""]
    for cells in [header, *body]:
        first, *rest = (cell.strip() for cell in cells)
        lines.append(f"   * - {first}")
        lines.extend(f"     - {cell}" for cell in rest)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_generated")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "transitions.rst"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


_write_transitions()
