"""The ``impl`` fixture: every behavioural test runs against both twins."""

from __future__ import annotations

import os
import types
from typing import Optional

import pytest
from hypothesis import settings

from fastseg import _impl, reference

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
    CYTHON: Optional[types.SimpleNamespace] = _namespace("cython", *_impl.compiled())
except ImportError as exc:  # pragma: no cover - depends on the build
    CYTHON, COMPILED_ERROR = None, str(exc)

REQUIRE_EXTENSIONS = os.environ.get("FASTSEG_REQUIRE_EXTENSIONS", "") not in ("", "0")


def _cython_or_skip() -> types.SimpleNamespace:
    if CYTHON is None:
        reason = f"compiled twins not built: {COMPILED_ERROR}"
        if REQUIRE_EXTENSIONS:
            pytest.fail(reason)
        pytest.skip(reason)
    return CYTHON


@pytest.fixture(params=["cython", "python"])
def impl(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    """One twin's whole API as a namespace: ``impl.unpack``, ``impl.pack``, ..."""
    return _cython_or_skip() if request.param == "cython" else PYTHON


@pytest.fixture
def twins() -> tuple[types.SimpleNamespace, types.SimpleNamespace]:
    """(compiled, reference), for differential tests."""
    return _cython_or_skip(), PYTHON
