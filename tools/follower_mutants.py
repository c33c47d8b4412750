"""Mutants of the compiled follower (fastseg/analyze/_script_c.pyx) that its tests must kill.

Each mutant changes one rule of the follower's model; the tree is copied to a temporary
directory, the mutant written there, the extensions built, and
tests/test_analyze_follower.py run against it: the mutant is killed when a test fails.
A mutant that survives means a rule no test holds to the tracker.  (A mutant that only
makes the follower refuse more is no mutant: the hand-over replays those connections
exactly; one such, an always-lowered window edge, is left out for that reason.)

    python tools/follower_mutants.py [NAME ...]

Each needs a build of the extensions: about half a minute apiece.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("fastseg") / "analyze" / "_script_c.pyx"
TESTS = Path("tests") / "test_analyze_follower.py"

#: name -> (text in _script_c.pyx, what the mutant puts there)
MUTANTS: Dict[str, Tuple[str, str]] = {
    "stamp_late": ("    _stamp(s, e.time)\n    return 0", "    _stamp(s, e.time + 0.5)\n    return 0"),
    "no_fin_wait_2": ("            if s.state == M_FIN_WAIT_1:\n                if _push(s, M_FIN_WAIT_2):",
                      "            if s.state == -5:\n                if _push(s, M_FIN_WAIT_2):"),
    "holes_always": ("    return covered == end - start", "    return True"),
    "no_requeue": ("            if flow.lingers:\n                del lingering[flow.py_key]",
                   "            if flow.lingers:\n                pass"),
    "unique_all": ("        s.unique_bytes += payload\n        if order",
                   "        s.unique_bytes += payload + 1\n        if order"),
    "no_window_check": ("if payload and r.has_edge and _seq_gt(seq + <uint32_t>payload, r.right_edge):",
                        "if False:"),
    "fill_any_gap": ("            if fin or gap > _GAP_FILLED",
                     "            if fin or gap > 100 * _GAP_FILLED"),
    "ack_unchecked": ("        if _seq_lt(ack, lowest) or _seq_gt(ack, r.hi_wrapped):", "        if False:"),
    "tsval_back": ("            if tsval - s.last_tsval >= SEQ_HALF:", "            if False:"),
    "finish_no_replay": ("_deliver(s, &s.flight[s.flight_head]):\n                conn",
                         "_deliver(s, &s.flight[s.flight_head]) and False:\n                conn"),
}


def _tree(directory: Path) -> None:
    """The checkout's tracked files, copied to ``directory``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in files.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, directory / name)


def run(names: List[str]) -> int:
    """Run the mutants named; how many survived."""
    source = (ROOT / SOURCE).read_text()
    survivors = 0
    with tempfile.TemporaryDirectory(prefix="fastseg-follower-mutants-") as tmp:
        tree = Path(tmp)
        _tree(tree)
        for name in names:
            old, new = MUTANTS[name]
            if source.count(old) != 1:
                print(f"{name}: its text is not in {SOURCE} once: update the mutant")
                survivors += 1
                continue
            (tree / SOURCE).write_text(source.replace(old, new))
            build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
                                   cwd=tree, capture_output=True, text=True)
            if build.returncode:
                print(f"{name}: the build failed\n{build.stderr[-2000:]}")
                survivors += 1
                continue
            env = {**os.environ, "PYTHONPATH": str(tree), "FASTSEG_REQUIRE_EXTENSIONS": "1"}
            tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                    str(tree / TESTS)], cwd=tmp, env=env, capture_output=True, text=True)
            last = (tests.stdout.strip().splitlines() or ["(no output)"])[-1]
            killed = tests.returncode == 1  # a test failed, not an error of the run itself
            survivors += not killed
            print(f"{name}: {'killed' if killed else 'SURVIVED'} ({last})")
    return survivors


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"mutants to run (all): {', '.join(MUTANTS)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in MUTANTS]
    if unknown:
        parser.error(f"no such mutant: {', '.join(unknown)}")
    survivors = run(args.names or list(MUTANTS))
    print(f"{survivors} survived" if survivors else "every mutant killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
