"""The semantics' fast paths give exactly what the slow, general ones give."""

from __future__ import annotations

import libcst as cst
import pytest

from dllint.semantics.constants import UNKNOWN, literal_value
from dllint.semantics.syntax import iter_children

LITERALS = [
    "0", "7", "1_000", "0x1F", "0o17", "0b101", "00", "10**3", "1.5", "1.", ".5", "1e-3", "1_0.2_5", "2E+4",
    "'abc'", '"abc"', "''", '""', "'''a\nb'''", '"""x"""', "'a\\nb'", "r'a\\d'", "b'x'", "'é'",
    "'a' 'b'", "u'x'", "f'{x}'",
]


@pytest.mark.parametrize("text", LITERALS)
def test_literal_values_match_libcst(text: str) -> None:
    expr = cst.parse_expression(text)
    if not isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        return
    try:
        expected = expr.evaluated_value
    except Exception:  # noqa: BLE001
        expected = UNKNOWN
    got = literal_value(expr)
    assert got == expected and type(got) is type(expected)


def _slow_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The reference: every CSTNode in a field that is not whitespace or punctuation."""
    import dataclasses

    from dllint.semantics.syntax import _SKIPPED_FIELD_PREFIXES

    found = []
    for f in dataclasses.fields(node):
        if f.name.startswith(_SKIPPED_FIELD_PREFIXES):
            continue
        value = getattr(node, f.name)
        if isinstance(value, cst.CSTNode):
            found.append(value)
        elif isinstance(value, (tuple, list)):
            found.extend(item for item in value if isinstance(item, cst.CSTNode))
    return found


def test_children_are_those_of_the_general_walk() -> None:
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "rules" / "fixtures").rglob("*.py"))[:40]:
        module = cst.parse_module(path.read_text(encoding="utf-8"))
        stack: list[cst.CSTNode] = [module]
        while stack:
            node = stack.pop()
            children = list(iter_children(node))
            assert [id(c) for c in children] == [id(c) for c in _slow_children(node)], (path, type(node))
            stack.extend(children)
