"""The semantics' fast paths give exactly what the slow, general ones give."""

from __future__ import annotations

import libcst as cst
import pytest

from dllint.semantics.constants import UNKNOWN, literal_value
from dllint.semantics.syntax import children_of

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
            children = children_of(node)
            assert [id(c) for c in children] == [id(c) for c in _slow_children(node)], (path, type(node))
            stack.extend(children)


POSITION_CASES = [
    "", "\n", "x = 1", "x = 1\n", "x = 1\r\ny = 2\r\n", "x = 1\ry = 2\r", "# only a comment",
    "if x:\n    y = (\n        1 +\n        2\n    )  # c\n\n\n@d\nclass A(B):\n    '''doc\n    string'''\n",
    "def f(a, *, b=1, **k) -> int:\n    return [i for i in a if i]\n",
    "x = f'{a!r:>{w}}' 'tail'\nlambda: (yield)\n",
]


def _reference_positions(module: cst.Module):
    from libcst.metadata import MetadataWrapper, PositionProvider

    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


@pytest.mark.parametrize("text", POSITION_CASES)
def test_positions_match_libcsts_provider_on_edge_cases(text: str) -> None:
    from dllint.semantics.positions import Positions

    module = cst.parse_module(text)
    expected = _reference_positions(module)
    got = Positions(module)
    assert len(got) == len(expected)
    for node, span in expected.items():
        assert got[node] == span, type(node)


def test_positions_match_libcsts_provider_on_the_fixtures() -> None:
    from pathlib import Path

    from dllint.semantics.positions import Positions

    paths = sorted((Path(__file__).parents[1] / "rules" / "fixtures").rglob("*.py"))
    paths += sorted((Path(__file__).parents[2] / "src" / "dllint").rglob("*.py"))[:30]
    for path in paths:
        module = cst.parse_module(path.read_bytes())
        expected = _reference_positions(module)
        got = Positions(module)
        assert len(got) == len(expected), path
        for node, span in expected.items():
            assert got[node] == span, (path, type(node))


def test_statement_walk_yields_the_statements_of_the_full_walk() -> None:
    from pathlib import Path

    from dllint.semantics.syntax import iter_statements, iter_tree

    kinds = (cst.BaseStatement, cst.BaseSmallStatement, cst.BaseSuite, cst.Else, cst.Finally, cst.ExceptHandler,
             cst.ExceptStarHandler, cst.MatchCase)
    paths = sorted((Path(__file__).parents[1] / "rules" / "fixtures").rglob("*.py"))[:60]
    texts = [p.read_text(encoding="utf-8") for p in paths] + [
        "match x:\n    case 1:\n        a = 1\n    case _:\n        b: int = 2\ntry:\n    pass\nexcept* E:\n    c += 1\n"
        "finally:\n    d = 4\nwhile x:\n    e = 5\nelse:\n    f = 6\nf = lambda: (g := 1)\n",
    ]
    for text in texts:
        module = cst.parse_module(text)
        expected = [id(n) for n in iter_tree(module) if isinstance(n, kinds)]
        got = [id(n) for n in iter_statements(module) if n is not module]
        assert got == expected
