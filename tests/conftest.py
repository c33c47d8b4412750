"""The ``impl`` fixture: every behavioural test runs against both twins."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import types
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import settings

from fastseg import _impl, reference

# The benchmarks' corpus generator (a realistic, deterministic traffic mix written
# independently of fastseg) doubles as a source of test captures: ``import harness``.
sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))

# CI replays the same examples every run, so a landing never hangs on luck;
# local runs explore new ones (and keep failures in the example database).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _namespace(name: str, *modules: types.ModuleType) -> types.SimpleNamespace:
    functions = {fn: getattr(module, fn) for module in modules for fn in module.__all__}
    return types.SimpleNamespace(name=name, **functions)


PYTHON = _namespace("python", reference)
COMPILED_ERROR: Optional[str] = None
try:
    CYTHON: Optional[types.SimpleNamespace] = _namespace(
        "cython", *(_impl.twin(role, "cython") for role in ("codec", "checksum", "seq")))
except ImportError as exc:  # pragma: no cover - depends on the build
    CYTHON, COMPILED_ERROR = None, str(exc)

REQUIRE_EXTENSIONS = os.environ.get("FASTSEG_REQUIRE_EXTENSIONS", "") not in ("", "0")


def _missing(reason: str) -> None:
    """A compiled twin is missing: a failure where the extensions are required, else a skip."""
    if REQUIRE_EXTENSIONS:
        pytest.fail(reason)
    pytest.skip(reason)


def compiled_twin(role: str) -> types.ModuleType:
    """The compiled twin of ``role`` (see ``fastseg._impl.ROLES``), or skip (fail if required)."""
    try:
        return _impl.twin(role, "cython")
    except ImportError as exc:
        _missing(f"compiled {role} twin not built: {exc}")
        raise  # not reached: _missing raises


def compiled_if_built(role: str) -> Optional[types.ModuleType]:
    """The compiled twin of ``role``, None in a pure-Python build; a failure where required."""
    try:
        return _impl.twin(role, "cython")
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            pytest.fail(f"compiled {role} twin not built: {exc}")
        return None


def synth_capture() -> types.ModuleType:
    """``tools/synth_capture.py``, the generator of capture mixes, as a module."""
    path = Path(__file__).resolve().parents[1] / "tools" / "synth_capture.py"
    spec = importlib.util.spec_from_file_location("synth_capture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stable_repr(value: object) -> str:
    """A test id from ``repr`` without object addresses, the same in every process (as
    pytest-xdist's workers must collect the same ids)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _cython_or_skip() -> types.SimpleNamespace:
    if CYTHON is None:
        _missing(f"compiled twins not built: {COMPILED_ERROR}")
    assert CYTHON is not None
    return CYTHON


@pytest.fixture(params=["cython", "python"])
def impl(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    """One twin's whole API as a namespace: ``impl.unpack``, ``impl.pack``, ..."""
    return _cython_or_skip() if request.param == "cython" else PYTHON


@pytest.fixture
def twins() -> tuple[types.SimpleNamespace, types.SimpleNamespace]:
    """(compiled, reference), for differential tests."""
    return _cython_or_skip(), PYTHON


@pytest.fixture(params=["predicted", "step-by-step"])
def arrival_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a connection test with header prediction on, then with every segment taken through
    the step-by-step checks of RFC 9293 §3.10.7.4 (``Connection.header_prediction``)."""
    from fastseg.conn import Connection

    monkeypatch.setattr(Connection, "header_prediction", request.param == "predicted")
    return str(request.param)
