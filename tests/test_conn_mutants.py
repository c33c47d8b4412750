"""The mutant list of tools/conn_mutants.py still names code that exists.

The gate itself runs in CI (``python tools/conn_mutants.py``); here only its
list is checked, so a refactor that moves a snippet fails at once.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import types

TOOL = pathlib.Path(__file__).resolve().parent.parent / "tools" / "conn_mutants.py"


def load() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("conn_mutants", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["conn_mutants"] = module  # NamedTuple classes look their module up
    spec.loader.exec_module(module)
    return module


def test_every_snippet_occurs_once() -> None:
    gate = load()
    assert len(gate.MUTANTS) >= 30
    assert gate.check(gate.MUTANTS) == []


def test_a_stale_snippet_is_reported() -> None:
    gate = load()
    stale = gate.MUTANTS[0]._replace(before="no such code anywhere")
    assert gate.check((stale,)) == [f"{stale.name}: its snippet occurs 0 times in {stale.path}"]
    twice = (gate.MUTANTS[0], gate.MUTANTS[0])
    assert gate.check(twice) == [f"{gate.MUTANTS[0].name}: named twice"]


def test_a_mutant_that_is_not_python_is_reported() -> None:
    """Tests erroring on a module that does not compile would 'kill' any such mutant."""
    gate = load()
    mutant = gate.MUTANTS[0]
    unindented = mutant._replace(after=mutant.before.strip() + "\n")
    assert [problem.split(" (")[0] for problem in gate.check((unindented,))] == [
        f"{mutant.name}: the mutated {mutant.path} is not Python"]


def test_a_named_test_that_does_not_exist_is_reported() -> None:
    gate = load()
    named = [mutant for mutant in gate.MUTANTS if mutant.killed_by]
    assert len(named) * 10 >= len(gate.MUTANTS) * 9, "most mutants name the test that kills them"
    file, _, function = named[0].killed_by.partition("::")
    gone = named[0]._replace(killed_by=f"{file}::{function}_gone")
    assert gate.check((gone,)) == [f"{gone.name}: killed_by names {function}_gone, not in {file}"]
    elsewhere = named[0]._replace(killed_by=f"test_seq.py::{function}")
    assert gate.check((elsewhere,)) == [f"{gone.name}: killed_by names test_seq.py, not one of TESTS"]
