"""The language server's incremental reparse builds what a full LibCST parse builds.

Random edits (replacing lines with lines drawn from real model code and from the awkward
cases: comments at block ends, decorators, open brackets and strings, dedented ``else``) are
applied one after the other to one parser; after each, the reparsed module must render the
new text, give every node the position a full code generation gives it, and equal a fresh
full parse node for node.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dllint.semantics.positions import Positions
from dllint.server.reparse import IncrementalParser, split_lines

ROOT = Path(__file__).resolve().parents[2]
BASES = [
    (ROOT / "examples/broken/vgg_bn.py").read_text(),
    (ROOT / "examples/broken/char_rnn/train.py").read_text(),
    (ROOT / "examples/fixed/even_kernel_unet.py").read_text(),
    "# header comment\n\nimport torch\n\n\n@torch.no_grad()\ndef f(x):\n    if x:\n        return 1\n"
    "    # trailing block comment\n# top-level comment\nelse_ = 2\n\n\nclass A:\n  def g(self):\n    pass\n"
    "  # two-space block comment\n\n# footer comment\n",
    "x = 1\r\ny = [\r\n    2,\r\n]\r\ndef f():\r\n    return x\r\n",
]
AWKWARD = [
    "\n", "    # indented comment\n", "# comment\n", "@decorator\n", "def h(a,\n", "      b):\n", "    return a\n",
    "else:\n", "    pass\n", '"""\n', "x = '''\n", "'''\n", "if y:\n", "  z = 3\n", "class B(nn.Module):\n",
    "\tx = 1\n", "async def k():\n", "    await q\n", "try:\n", "except E:\n", "finally:\n", "y = (\n", ")\n",
]
POOL = sorted({line for base in BASES for line in split_lines(base)} | set(AWKWARD))


KINDS = ("lines", "character", "comment", "blank", "delete", "duplicate")


@st.composite
def edits(draw: st.DrawFn) -> list[tuple]:
    """Edits as (kind, where, how much, new lines); where and how much are fractions of the file.
    Most kinds keep the file valid (a character, a comment or a blank line, a line repeated),
    so that the reparse path is taken; "lines" usually breaks it."""
    return [
        (
            draw(st.sampled_from(KINDS)),
            draw(st.floats(0, 1)),
            draw(st.floats(0, 0.3)),
            draw(st.lists(st.sampled_from(POOL), max_size=4)),
            draw(st.sampled_from(["", " ", "    ", "        ", "  "])),
            draw(st.characters(categories=["Ll", "Nd"])),
        )
        for _ in range(draw(st.integers(1, 6)))
    ]


def apply(text: str, kind: str, where: float, size: float, lines: list[str], indent: str, char: str) -> str:
    old = split_lines(text)
    start = min(int(where * len(old)), max(len(old) - 1, 0))
    if kind == "lines":
        end = min(len(old), start + int(size * len(old)))
        return "".join(old[:start] + lines + old[end:])
    if kind == "character":
        positions = [i for i, c in enumerate(text) if c.isalnum()]
        if not positions:
            return text
        at = positions[int(where * (len(positions) - 1))]
        return text[:at] + char + text[at + 1:]
    if kind in ("comment", "blank"):
        return "".join(old[:start] + [indent + ("# note\n" if kind == "comment" else "\n")] + old[start:])
    if kind == "delete":
        return "".join(old[:start] + old[start + 1:])
    return "".join(old[:start + 1] + old[start:])


def full_parse(text: str) -> "cst.Module | Exception":
    try:
        return cst.parse_module(text)
    except Exception as error:  # noqa: BLE001 - whatever LibCST raises, the reparse must raise too
        return error


def check(parser: IncrementalParser, text: str) -> None:
    expected = full_parse(text)
    if isinstance(expected, Exception):
        with pytest.raises(type(expected)):
            parser.parse(text)
        return
    module, positions = parser.parse(text)
    # What a full parse renders: LibCST itself drops a blank line before an indented comment
    # at the very end of a module ("x = 1\n\n # c\n" renders as "x = 1\n # c\n").
    assert module.code == expected.code
    full = Positions(module)
    assert {node: positions[node] for node in full} == {node: full[node] for node in full}
    assert module.deep_equals(expected) or module.default_indent != expected.default_indent


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), steps=edits())
def test_reparsing_edit_by_edit_builds_what_a_full_parse_builds(base: str, steps) -> None:
    parser = IncrementalParser()
    parser.parse(base)
    text = base
    for step in steps:
        text = apply(text, *step)
        check(parser, text)


def test_an_edit_inside_one_function_reparses_only_that_function() -> None:
    text = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(50))
    parser = IncrementalParser()
    before, _ = parser.parse(text)
    edited = text.replace("return x + 20\n", "return x * 20\n")
    module, positions = parser.parse(edited)
    assert parser.reparsed_statements == 1
    assert module.code == edited
    assert [a is b for a, b in zip(before.body, module.body)] == [index != 20 for index in range(50)]
    assert positions[module.body[20]].start.line == 20 * 4 + 1
    assert positions[module.body[21]].start.line == 21 * 4 + 1


def test_a_syntax_error_keeps_the_last_good_parse_and_the_repair_is_incremental() -> None:
    text = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(20))
    parser = IncrementalParser()
    parser.parse(text)
    broken = text.replace("return x + 5\n", "return (x + 5\n")
    with pytest.raises(cst.ParserSyntaxError):
        parser.parse(broken)
    repaired = text.replace("return x + 5\n", "return (x + 5)\n")
    module, _ = parser.parse(repaired)
    assert module.code == repaired and parser.reparsed_statements == 1


def test_a_string_opened_in_the_edit_that_runs_into_the_rest_of_the_file_is_parsed_in_full() -> None:
    text = "a = 1\n\n\nb = 2\n\n\nc = 3\nd = '''\n'''\n"
    parser = IncrementalParser()
    parser.parse(text)
    edited = text.replace("a = 1\n", "a = '''\n")
    check(parser, edited)


def test_deleting_a_whole_statement_reparses_a_neighbour_not_the_file() -> None:
    text = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(20))
    parser = IncrementalParser()
    parser.parse(text)
    edited = text.replace("def f7(x):\n    return x + 7\n", "")
    module, _ = parser.parse(edited)
    assert module.code == edited and len(module.body) == 19
    assert parser.reparsed_statements == 2  # f6 (the edit began at its end) and f8 (it takes the blank lines left)
