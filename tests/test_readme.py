"""The README and the documentation: their examples run as written, their paths exist."""

from __future__ import annotations

import doctest
import importlib.util
import pathlib
import re
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.rst"))


def _markdown_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _rst_blocks(path: pathlib.Path, language: str) -> list[str]:
    """The bodies of ``.. code-block:: language`` directives, dedented."""
    text = path.read_text(encoding="utf-8")
    pattern = rf"^\.\. code-block:: {language}\n\n((?:(?:   .*)?\n)+)"
    return [textwrap.dedent(body) for body in re.findall(pattern, text, re.M)]


def test_readme_python_blocks_run() -> None:
    blocks = _markdown_blocks("python")
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    for block in blocks:  # one namespace, as a reader following the tour would have
        exec(compile(block, str(README), "exec"), namespace)


#: Blocks that use an optional extra run only where it is installed (CI installs each).
OPTIONAL = {"fastseg.capture.dask": "dask"}


def test_docs_python_blocks_run() -> None:
    count = 0
    for path in DOCS:
        for block in _rst_blocks(path, "python"):
            needs = [module for marker, module in OPTIONAL.items() if marker in block]
            if any(importlib.util.find_spec(module) is None for module in needs):
                continue
            exec(compile(block, str(path), "exec"), {})
            count += 1
    assert count >= 3


def test_docs_pycon_blocks_pass_as_doctests() -> None:
    import fastseg

    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for path in DOCS:
        for number, block in enumerate(_rst_blocks(path, "pycon")):
            test = parser.get_doctest(block, {"fastseg": fastseg}, f"{path.name}-{number}", str(path), 0)
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted >= 5


def test_readme_layout_matches_the_tree() -> None:
    """Every path the Layout table names exists, and every top-level folder is in it."""
    text = README.read_text(encoding="utf-8").split("## Layout", 1)[1]
    named = set(re.findall(r"`([^`\s]+)`", text))
    for path in named:
        if "*" in path:
            assert list(ROOT.glob(path)), path
        elif "/" in path or path.endswith(".py"):
            candidates = [ROOT / path, ROOT / "fastseg" / path]
            assert any(c.exists() for c in candidates), path
    folders = {p.name + "/" for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    folders -= {"build/", "dist/", "__pycache__/"} | {p for p in folders if p.endswith(".egg-info/")}
    assert folders <= named, folders - named
    packages = {f"fastseg/{p.name}/" for p in (ROOT / "fastseg").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= named, packages - named


def test_readme_is_a_users_readme() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "pip install fastseg-tcp" in text
    assert not re.search(r"\b(issue|target|yardstick)\b", text, re.I)
