"""The public surface: names, twin parity, stubs and the implementation switches."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Optional

import pytest
from conftest import _cython_or_skip

import fastseg
from fastseg import _impl, reference

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


def test_compiled_codec_has_no_docstring_writer():
    """Docstrings are set as attributes of Cython function objects, not written into C."""
    compiled = _cython_or_skip()
    codec = sys.modules[compiled.unpack.__module__]
    assert not hasattr(codec, "document")
    assert compiled.unpack.__doc__ == reference.unpack.__doc__


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


def test_no_extensions_forces_python():
    result = _run("import fastseg, fastseg.capture as c, fastseg.capture.columns as k, fastseg._impl as i; "
                  "print(fastseg.IMPLEMENTATION, fastseg.unpack.__module__, i.storage.__name__, "
                  "c.IMPLEMENTATION, k.IMPLEMENTATION)",
                  FASTSEG_NO_EXTENSIONS="1")
    assert result.stdout.split() == ["python", "fastseg._codec_py", "fastseg._segment_py", "python",
                                     "python"], result.stderr
    both = _run("import fastseg", FASTSEG_REQUIRE_EXTENSIONS="1", FASTSEG_NO_EXTENSIONS="1")
    assert both.returncode != 0 and "contradict" in both.stderr


def _copy_without(tmp_path: Path, role: str, replacement: Optional[bytes]) -> Path:
    """A copy of the installed fastseg whose compiled twin of ``role`` is gone, or is
    ``replacement`` (bytes that are not a loadable extension); the copy's parent directory."""
    _cython_or_skip()
    compiled = importlib.import_module(_impl.ROLES[role][0])
    root = tmp_path / "site"
    shutil.copytree(Path(fastseg.__file__).parent, root / "fastseg")
    target = root / "fastseg" / Path(compiled.__file__).relative_to(Path(fastseg.__file__).parent)
    target.unlink()
    if replacement is not None:
        target.write_bytes(replacement)
    return root


CHOICE = ("import fastseg, fastseg.capture as c, fastseg.capture.columns as k, fastseg._impl as i; "
          "print(fastseg.__file__, fastseg.IMPLEMENTATION, i.storage.__name__, c.IMPLEMENTATION, "
          "k.IMPLEMENTATION, fastseg.unpack.__module__)")


@pytest.mark.parametrize("role", ["storage", "codec", "columns"])
def test_a_missing_compiled_twin_means_python_for_all(tmp_path: Path, role: str) -> None:
    """All or nothing: one compiled twin missing, and every role is served by Python."""
    root = _copy_without(tmp_path, role, None)
    result = _run(CHOICE, PYTHONPATH=str(root))
    where, *choice = result.stdout.split()
    assert where.startswith(str(root)), result.stderr  # the copy, not the installed package
    assert choice == ["python", "fastseg._segment_py", "python", "python", "fastseg._codec_py"]
    required = _run(CHOICE, PYTHONPATH=str(root), FASTSEG_REQUIRE_EXTENSIONS="1")
    assert required.returncode != 0
    assert f"compiled twins not built: {_impl.ROLES[role][0]}" in required.stderr


def test_a_broken_compiled_twin_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    root = _copy_without(tmp_path, "codec", b"not an extension module")
    result = _run(CHOICE, PYTHONPATH=str(root))
    assert result.returncode != 0 and "ImportError" in result.stderr and not result.stdout


def test_twin_names_each_role_and_refuses_other_implementations() -> None:
    for role, (_, python) in _impl.ROLES.items():
        assert _impl.twin(role, "python").__name__ == python
    with pytest.raises(ValueError, match="'cython' or 'python'"):
        _impl.twin("codec", "fast")


def test_stubs_match_compiled_modules():
    _cython_or_skip()
    stubtest = pytest.importorskip("mypy.stubtest")
    modules = ["fastseg._addr_c", "fastseg._codec_c", "fastseg._checksum_c", "fastseg._options_c",
               "fastseg._seq_c", "fastseg._segment_c", "fastseg.capture._reader_c",
               "fastseg.capture._columns_c", "fastseg.analyze._script_c"]
    assert stubtest.test_stubs(stubtest.parse_options(modules)) == 0


def test_every_subpackage_is_declared_for_the_wheel() -> None:
    """setuptools ships only the packages pyproject.toml lists (others at best as data)."""
    root = Path(__file__).resolve().parents[1]
    project = (root / "pyproject.toml").read_text()
    listed = project.split("[tool.setuptools]", 1)[1].split("]", 1)[0]
    declared = set(re.findall(r'"(fastseg[\w.]*)"', listed))
    found = {".".join(init.parent.relative_to(root).parts)
             for init in (root / "fastseg").rglob("__init__.py")}
    assert found == declared
