"""Benchmarks compare the twins within one run: the ``twin`` fixture gives each in turn."""

from __future__ import annotations

import pytest

from fastseg import _impl, reference

try:
    _CODEC, _CHECKSUM, _SEQ = _impl.compiled()
except ImportError:  # pragma: no cover - depends on the build
    _CODEC = _CHECKSUM = _SEQ = None


@pytest.fixture(params=["cython", "python"])
def twin(request: pytest.FixtureRequest):
    """A namespace of one twin's functions; benchmarks of a twin share a group per operation."""
    if request.param == "python":
        return reference
    if _CODEC is None:
        pytest.skip("compiled twins not built")
    import types

    return types.SimpleNamespace(
        **{name: getattr(module, name) for module in (_CODEC, _CHECKSUM, _SEQ) for name in module.__all__}
    )
