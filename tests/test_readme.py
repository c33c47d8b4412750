"""The README's examples run as written."""

from __future__ import annotations

import doctest
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_python_blocks_run():
    blocks = _blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_pycon_blocks_pass_as_doctests():
    import fastseg

    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for number, block in enumerate(_blocks("pycon")):
        test = parser.get_doctest(block, {"fastseg": fastseg}, f"README-{number}", str(README), 0)
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted >= 5


def test_transition_table_is_current():
    from fastseg.conn.states import transition_table

    text = README.read_text(encoding="utf-8")
    copy = text.split("<!-- transitions -->\n", 1)[1].split("\n<!-- /transitions -->", 1)[0]
    assert copy == transition_table()
