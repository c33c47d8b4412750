"""The ``analyze`` operation: ``fastseg analyze`` end to end next to ``tshark -q -z conv,tcp``.

Both read the same capture, written by ``tools/synth_capture.py``: hundreds of
connections open at once, small and bulk replies, about 1 % of the reply
segments lost and sent again.  Each implementation is one process started per
run, as a person runs it (``python -m fastseg analyze --json -j1 FILE`` with the
Cython twin or, with ``FASTSEG_NO_EXTENSIONS=1``, the pure-Python one; tshark
with the conversation table only), so interpreter and dissector start-up count.
One operation is one segment: the table's ops/s is segments per second.

The check: every implementation finds the connections the generator wrote and
all their segments (tshark's conversation table, fastseg's JSON).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.peers import Unavailable

__all__ = ["ANALYZE_IMPLS", "analyze_case_parts", "synth"]

#: The implementations of the operation, in table order.
ANALYZE_IMPLS = ("cython", "python", "tshark")
#: Segments in the capture (full run, short run) and connections open at once.
SEGMENTS, SHORT_SEGMENTS, OPEN = 60_000, 6_000, 300
#: The longest one run may take, in seconds.
TIMEOUT = 600
_ROOT = Path(__file__).resolve().parents[2]
_TSHARK_ROW = re.compile(r"<->\s+\S+\s+(\d+)\s+[\d,.]+ \w+\s+(\d+)\s+[\d,.]+ \w+\s+(\d+)")


def synth() -> Any:
    """The ``tools/synth_capture.py`` module."""
    spec = importlib.util.spec_from_file_location("synth_capture", _ROOT / "tools" / "synth_capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_capture(directory: str, short: bool) -> tuple[str, int, int]:
    """(path, frames, connections) of the capture the operation reads."""
    segments = SHORT_SEGMENTS if short else SEGMENTS
    path = os.path.join(directory, f"fastseg-bench-analyze-{segments}.pcap")
    with open(path, "wb") as out:
        frames, connections = synth().write(out, segments, OPEN)
    return path, frames, connections


def _fastseg(path: str, impl: str) -> list[int]:
    # the fastseg installed, as a user runs it: not the checkout's (uncompiled in CI), so
    # neither PYTHONPATH nor the checkout as the working directory
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("FASTSEG_NO_EXTENSIONS", None)
    if impl == "python":
        env["FASTSEG_NO_EXTENSIONS"] = "1"
        env.pop("FASTSEG_REQUIRE_EXTENSIONS", None)  # the two would contradict each other
    proc = subprocess.run([sys.executable, "-m", "fastseg", "analyze", "--json", "-j1", path],
                          capture_output=True, check=True, env=env, timeout=TIMEOUT,
                          cwd=os.path.dirname(path))
    (result,) = json.loads(proc.stdout)["files"]
    conns = result["connections"]
    return [len(conns), sum(c["segments"]["client"] + c["segments"]["server"] for c in conns)]


def _tshark(path: str) -> list[int]:
    proc = subprocess.run(["tshark", "-n", "-q", "-z", "conv,tcp", "-r", path], capture_output=True,
                          check=True, timeout=TIMEOUT, text=True)
    rows = _TSHARK_ROW.findall(proc.stdout)
    return [len(rows), sum(int(total) for _, _, total in rows)]


def analyze_case_parts(path: str, impl: str) -> Any:
    """The function that analyses ``path`` with ``impl`` and returns [connections, segments]."""
    if impl == "tshark":
        if shutil.which("tshark") is None:
            raise Unavailable("tshark is not installed (apt-get install tshark)")
        return lambda: _tshark(path)
    if impl == "cython":
        from fastseg import _impl

        if _impl.IMPLEMENTATION != "cython":
            raise Unavailable("the Cython twin is not built")
    return lambda: _fastseg(path, impl)
