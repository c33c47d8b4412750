"""The harness: the corpus is deterministic and laid out; the cases of an operation take turns;
``run.py`` writes its figures and refuses bad arguments before any work."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
from harness import Case, time_cases
from harness.corpus import build_corpus, laid_out


def _objects(value: Any) -> Iterator[Any]:
    """Every int, bytes, tuple and list in ``value``, itself included."""
    if type(value) in (int, bytes, tuple, list):
        yield value
    if type(value) in (tuple, list):
        for item in value:
            yield from _objects(item)


def _singleton(x: Any) -> bool:
    """One of CPython's shared objects: a small int, the empty bytes or tuple."""
    return (type(x) is int and -5 <= x <= 256) or x in (b"", ())


def _shared(a: Any, b: Any) -> list[Any]:
    """The objects of ``b`` that are also objects of ``a``, singletons left out."""
    mine = {id(x) for x in _objects(a)}
    return [x for x in _objects(b) if id(x) in mine and not _singleton(x)]


def _repeated(value: Any) -> list[Any]:
    """The objects that occur more than once in ``value``, singletons left out."""
    seen: set[int] = set()
    repeated = []
    for x in _objects(value):
        if id(x) in seen and not _singleton(x):
            repeated.append(x)
        seen.add(id(x))
    return repeated


@pytest.mark.parametrize("value", [
    2**32 - 1,
    b"\x01" * 1448,
    (40000, 443, 2**31 + 7, ((1, None), (8, (3_000_000_000, 17))), b"payload"),
    [(b"\x0a\x00\x00\x01", b"\xc0\x00\x02\x01"), (b"\x0a\x00\x00\x02", b"\xc0\x00\x02\x02")],
])
def test_laid_out_copies_are_equal_and_share_nothing(value: Any) -> None:
    copy = laid_out(value)
    assert copy == value
    assert type(copy) is type(value)
    assert _shared(value, copy) == []


def test_laid_out_keeps_what_it_does_not_copy() -> None:
    marker = object()
    assert laid_out((None, marker))[1] is marker


def test_the_corpus_is_the_same_for_the_same_seed_and_laid_out() -> None:
    first, second = build_corpus(300, 11), build_corpus(300, 11)
    assert first.wires == second.wires and first.fields == second.fields
    assert first.addresses == second.addresses and first.kinds == second.kinds
    assert build_corpus(300, 12).wires != first.wires
    # Every segment has objects of its own (the generator shares a flow's addresses, and
    # one side's seq int is the other side's ack), so a pass meets each object once.
    assert _repeated(first.addresses) == []
    assert _repeated(first.fields) == []
    assert _shared(first.wires, first.fields) == []


def test_the_cases_of_an_operation_take_their_rounds_in_turn() -> None:
    log: list[str] = []

    def case(name: str, seconds: float) -> Case:
        def run() -> None:
            log.append(name)
            time.sleep(seconds)
        return Case("op", name, run, 4, list, [])

    cases = [case("fast", 0.003), case("slow", 0.006)]
    timings = time_cases(cases, budget=0.02, min_rounds=3)
    assert log[:2] == ["fast", "slow"]  # each calibrated once, then the rounds
    rounds = log[2:]
    assert len(rounds) == sum(map(len, timings))
    assert rounds[:6] == ["fast", "slow"] * 3
    assert len(timings[1]) == 3 <= len(timings[0])
    assert all(0.003 / 4 <= t < 0.1 for t in timings[0]) and all(0.006 / 4 <= t < 0.1 for t in timings[1])


def test_run_writes_figures(tmp_path, capsys):
    import run

    out = tmp_path / "bench.json"
    assert run.main(["--short", "--count", "300", "--op", "checksum 1500", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    timed = {r["impl"]: r["best_ns"] for r in figures["results"] if r["op"] == "checksum 1500"}
    assert timed["python"] > 0 and timed["python"] > timed.get("cython", 0)
    assert "checksum 1500" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--count", "0"], "0 is not in"),
    (["--count", "-5"], "-5 is not in"),
    (["--count", "1000000000"], "1000000000 is not in"),
    (["--count", "x"], "not a number"),
    (["--json", "/nonexistent/dir/x.json"], "no such directory"),
])
def test_run_refuses_bad_arguments_before_any_work(args, message, capsys, monkeypatch):
    import run

    def no_work(*args: Any) -> None:
        raise AssertionError("a corpus was built")

    monkeypatch.setattr(run.Workload, "create", no_work)
    with pytest.raises(SystemExit) as exit_info:
        run.main(args)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
