"""The public surface: names, twin parity, stubs and the implementation switches."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest
from conftest import _cython_or_skip

import fastseg
from fastseg import reference

FUNCTIONS = sorted(reference.__all__)


def test_public_names():
    for name in fastseg.__all__:
        assert hasattr(fastseg, name), name
    assert set(FUNCTIONS) <= set(fastseg.__all__)
    assert fastseg.IMPLEMENTATION in ("cython", "python")
    assert issubclass(fastseg.DecodeError, ValueError) and issubclass(fastseg.EncodeError, ValueError)
    for error in (fastseg.TruncatedSegment, fastseg.BadDataOffset, fastseg.BadOption):
        assert issubclass(error, fastseg.DecodeError)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_twins_share_signature_and_doc(name):
    compiled = getattr(_cython_or_skip(), name)
    python = getattr(reference, name)
    strip = [p.replace(annotation=inspect.Parameter.empty)
             for p in inspect.signature(python).parameters.values()]
    assert list(inspect.signature(compiled).parameters.values()) == strip
    assert compiled.__doc__ == python.__doc__ and python.__doc__


def test_document_takes_only_the_compiled_codecs_own_functions():
    compiled = _cython_or_skip()
    codec = sys.modules[compiled.unpack.__module__]
    for other in (len, compiled.internet_checksum, reference.unpack, print):
        with pytest.raises(TypeError, match=r"takes a function of fastseg\._codec_c"):
            codec.document(other, "x")
    with pytest.raises(TypeError):
        codec.document(compiled.unpack, b"not a str")
    assert compiled.unpack.__doc__ == reference.unpack.__doc__  # untouched by the refusals


@pytest.mark.parametrize("name", FUNCTIONS)
def test_facade_serves_the_active_twin(name):
    active = getattr(fastseg, name)
    if fastseg.IMPLEMENTATION == "python":
        assert active is getattr(reference, name)
    else:
        assert active is getattr(_cython_or_skip(), name)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FASTSEG_")}
    environ.update(env)
    # cwd: away from the source tree, which "python -c" would put first on sys.path
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environ,
                          cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=60)


BLOCK_COMPILED = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name in ("fastseg._codec_c", "fastseg._segment_c"):
                raise ImportError("compiled twin hidden by the test")
    sys.meta_path.insert(0, Block())
    import fastseg
    print(fastseg.IMPLEMENTATION)
"""


def test_no_extensions_forces_python():
    result = _run("import fastseg, fastseg.segment as s; "
                  "print(fastseg.IMPLEMENTATION, fastseg.unpack.__module__, s.CORE_IMPLEMENTATION)",
                  FASTSEG_NO_EXTENSIONS="1")
    assert result.stdout.split() == ["python", "fastseg._codec_py", "python"], result.stderr


def test_missing_compiled_twin_falls_back():
    result = _run(BLOCK_COMPILED)
    assert result.stdout.strip() == "python", result.stderr


def test_require_extensions_forbids_fallback():
    result = _run(BLOCK_COMPILED, FASTSEG_REQUIRE_EXTENSIONS="1")
    assert result.returncode != 0 and "ImportError: compiled twin hidden" in result.stderr
    both = _run("import fastseg", FASTSEG_REQUIRE_EXTENSIONS="1", FASTSEG_NO_EXTENSIONS="1")
    assert both.returncode != 0 and "contradict" in both.stderr


def test_stubs_match_compiled_modules():
    _cython_or_skip()
    stubtest = pytest.importorskip("mypy.stubtest")
    modules = ["fastseg._codec_c", "fastseg._checksum_c", "fastseg._seq_c", "fastseg._segment_c",
               "fastseg.capture._reader_c", "fastseg.capture._columns_c"]
    assert stubtest.test_stubs(stubtest.parse_options(modules)) == 0
