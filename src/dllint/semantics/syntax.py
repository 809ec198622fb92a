"""Small, fast helpers over LibCST nodes.

LibCST's own traversal (``node.visit`` / ``node.children``) rebuilds every node it passes,
which costs more than the parse itself; :func:`children_of` reads the dataclass fields
directly and skips whitespace, punctuation and comments, which no rule asks about.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Iterator, Optional, Sequence

import libcst as cst

_SKIPPED_FIELD_PREFIXES = (
    "whitespace", "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after", "header", "footer",
    "newline", "colon", "equal", "lbracket", "rbracket", "lbrace", "rbrace", "dot", "asynchronous",
    "indent", "trailing_whitespace", "first_line", "empty_lines", "arrow", "star_tok", "operator",
)
_child_fields: dict[type, tuple[str, ...]] = {}


def _fields_of(node_type: type) -> tuple[str, ...]:
    fields = _child_fields.get(node_type)
    if fields is None:
        fields = tuple(
            f.name for f in dataclasses.fields(node_type)
            if not f.name.startswith(_SKIPPED_FIELD_PREFIXES) and _may_hold_node(f.type)
        )
        _child_fields[node_type] = fields
    return fields


def _may_hold_node(annotation: object) -> bool:
    """False for fields declared to hold only text (``Name.value: str``, ``Arg.star:
    Literal[...]``): leaves then have no fields to look at. True when in doubt."""
    if annotation is str:
        return False
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return False
    if origin is typing.Union:
        return any(_may_hold_node(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    if annotation is cst.MaybeSentinel:
        return False
    return True


# LibCST's node classes are ABCs: ``isinstance(x, cst.CSTNode)`` that fails goes through
# ABCMeta.__instancecheck__, which is slow on a hot path. Ask once per type instead.
_node_types: dict[type, bool] = {}


def is_node_type(node_type: type) -> bool:
    known = _node_types.get(node_type)
    if known is None:
        known = _node_types[node_type] = issubclass(node_type, cst.CSTNode)
    return known


def children_of(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's child nodes, read straight off its dataclass fields (no whitespace,
    punctuation or comments)."""
    node_types = _node_types
    found: list[cst.CSTNode] = []
    for name in _fields_of(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            for item in value:
                item_type = type(item)
                if node_types.get(item_type) or (item_type not in node_types and is_node_type(item_type)):
                    found.append(item)
        elif node_types.get(value_type) or (value_type not in node_types and is_node_type(value_type)):
            found.append(value)
    return found


def iter_tree(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node below (and including) ``node``, parents before children, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = children_of(current)
        children.reverse()
        stack.extend(children)


_STATEMENT_TYPES = (
    cst.BaseStatement, cst.BaseSmallStatement, cst.BaseSuite, cst.Else, cst.Finally, cst.ExceptHandler,
    cst.ExceptStarHandler, cst.MatchCase,
)
_statement_types: dict[type, bool] = {}


def iter_statements(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every statement below ``node`` (compound ones, simple lines and their small
    statements, blocks and clauses), in source order, without entering expressions: what
    :func:`iter_tree` yields of these, for a fraction of the walk."""
    stack = [node]
    known = _statement_types
    while stack:
        current = stack.pop()
        yield current
        children = []
        for child in children_of(current):
            child_type = type(child)
            keep = known.get(child_type)
            if keep is None:
                keep = known[child_type] = issubclass(child_type, _STATEMENT_TYPES)
            if keep:
                children.append(child)
        children.reverse()
        stack.extend(children)


def dotted_name(expr: cst.BaseExpression) -> Optional[str]:
    """``torch.nn.Conv2d`` for a Name/Attribute chain, else None."""
    parts = []
    while type(expr) is cst.Attribute:
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    parts.append(expr.value)
    return ".".join(reversed(parts))


def bind_arguments(call: cst.Call, params: Sequence[str]) -> dict[str, cst.BaseExpression]:
    """Map a call's arguments onto parameter names (positional by ``params``, then keywords).

    Star-arguments stop positional binding: after ``*args`` we no longer know which
    parameter a later positional argument lands on.
    """
    bound: dict[str, cst.BaseExpression] = {}
    position = 0
    positional_known = True
    for arg in call.args:
        if arg.star:
            positional_known = False
            continue
        if arg.keyword is not None:
            bound[arg.keyword.value] = arg.value
        elif positional_known:
            if position < len(params):
                bound[params[position]] = arg.value
            position += 1
    return bound


def has_star_args(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


def keyword(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def argument(call: cst.Call, position: int, name: str) -> Optional[cst.BaseExpression]:
    """What a call gives a parameter: by keyword, else at its position (None when absent, or
    when a star-argument comes first)."""
    given = keyword(call, name)
    if given is not None:
        return given
    values = positional(call)
    return values[position] if position < len(values) else None


def positional(call: cst.Call) -> list[cst.BaseExpression]:
    """The positional arguments before any star-argument."""
    values = []
    for arg in call.args:
        if arg.star or arg.keyword is not None:
            break
        values.append(arg.value)
    return values


_EMPTY_MODULE = cst.Module(body=[])


def source_text(node: cst.CSTNode, limit: int = 60) -> str:
    """A node's source code as a message quotes it, shortened past ``limit`` characters."""
    text = _EMPTY_MODULE.code_for_node(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."
