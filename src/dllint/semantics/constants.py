"""Literal folding: the value of an expression when the file alone determines it.

``3``, ``(3, 3)``, ``k // 2`` with ``k = 4`` bound once at module level, ``-1``,
``"same"``. Anything else is :data:`UNKNOWN`. Parameters fold only when the caller
supplies their values in ``env`` (how call-site values reach a layer built from a
parameter).
"""

from __future__ import annotations

import operator
from typing import Any, Mapping, Optional

import libcst as cst

from dllint.semantics.scopes import Scope


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value: compare with `is UNKNOWN`")


UNKNOWN: Any = _Unknown()

_BINARY = {
    "Add": operator.add,
    "Subtract": operator.sub,
    "Multiply": operator.mul,
    "Divide": operator.truediv,
    "FloorDivide": operator.floordiv,
    "Modulo": operator.mod,
    "Power": operator.pow,
}
_NAMED = {"True": True, "False": False, "None": None}
_MAX_DEPTH = 20


def fold(expr: Optional[cst.BaseExpression], scope: Scope, env: Optional[Mapping[str, Any]] = None) -> Any:
    if expr is None:
        return UNKNOWN
    return _fold(expr, scope, env or {}, 0)


def _fold(expr: cst.BaseExpression, scope: Scope, env: Mapping[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return UNKNOWN
    expr_type = type(expr)  # (exact types: isinstance on LibCST's ABC node classes is slow)
    if expr_type is cst.Name:
        if expr.value in _NAMED:
            return _NAMED[expr.value]
        if expr.value in env:
            return env[expr.value]
        bindings = scope.lookup(expr.value)
        if not bindings or len(bindings) != 1 or bindings[0].kind != "assign":
            return UNKNOWN
        defining = _scope_of(scope, expr.value)
        return _fold(bindings[0].value, defining, {}, depth + 1)
    if expr_type in _LITERALS:
        return literal_value(expr)
    if isinstance(expr, cst.UnaryOperation):
        value = _fold(expr.expression, scope, env, depth + 1)
        if value is UNKNOWN or not isinstance(value, (int, float, bool)):
            return UNKNOWN
        if isinstance(expr.operator, cst.Minus):
            return -value
        if isinstance(expr.operator, cst.Plus):
            return +value
        if isinstance(expr.operator, cst.Not):
            return not value
        return UNKNOWN
    if isinstance(expr, cst.BinaryOperation):
        left = _fold(expr.left, scope, env, depth + 1)
        right = _fold(expr.right, scope, env, depth + 1)
        return arithmetic(type(expr.operator).__name__, left, right)
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        return _fold_subscript(expr, scope, env, depth)
    if isinstance(expr, (cst.Tuple, cst.List)):
        values = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                return UNKNOWN
            value = _fold(element.value, scope, env, depth + 1)
            if value is UNKNOWN:
                return UNKNOWN
            values.append(value)
        return tuple(values)
    return UNKNOWN


_LITERALS = (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)


def literal_value(expr: cst.BaseExpression) -> Any:
    """The value of a number or string literal (UNKNOWN if it has none, e.g. an f-string).

    LibCST's ``evaluated_value`` runs ``ast.literal_eval`` (a compile) for every literal;
    numbers and plain strings without escapes are read directly, with the same result."""
    expr_type = type(expr)
    try:
        text = expr.value if expr_type is not cst.ConcatenatedString else ""  # type: ignore[attr-defined]
        if expr_type is cst.Integer:
            return int(text.replace("_", ""), 0)
        if expr_type is cst.Float:
            return float(text.replace("_", ""))
        if expr_type is cst.SimpleString and text[0] in "'\"" and "\\" not in text and "\r" not in text:
            quote = 3 if text[:3] in ('"""', "'''") else 1
            return text[quote:-quote]
    except (ValueError, IndexError):
        pass
    try:
        return expr.evaluated_value  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - e.g. an f-string piece: just not a constant
        return UNKNOWN


def _fold_subscript(expr: cst.Subscript, scope: Scope, env: Mapping[str, Any], depth: int) -> Any:
    owner = _fold(expr.value, scope, env, depth + 1)
    if not isinstance(owner, (tuple, str)):
        return UNKNOWN
    element = expr.slice[0].slice
    try:
        if isinstance(element, cst.Index):
            index = _fold(element.value, scope, env, depth + 1)
            return owner[index] if isinstance(index, int) else UNKNOWN
        bounds = [_fold(part, scope, env, depth + 1) if part is not None else None for part in (element.lower, element.upper, element.step)]
        if any(b is UNKNOWN or not (b is None or isinstance(b, int)) for b in bounds):
            return UNKNOWN
        return owner[slice(*bounds)]
    except (IndexError, ValueError):
        return UNKNOWN


def arithmetic(operator_name: str, left: Any, right: Any) -> Any:
    """``left <op> right`` for two folded numbers (the operator named as LibCST names it:
    ``Add``, ``FloorDivide`` …); UNKNOWN for anything else."""
    function = _BINARY.get(operator_name)
    if function is None or left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
        return UNKNOWN
    if operator_name == "Power" and abs(right) > 64:
        return UNKNOWN
    try:
        return function(left, right)
    except (ArithmeticError, ValueError, OverflowError):
        return UNKNOWN


def _scope_of(scope: Scope, name: str) -> Scope:
    """The scope whose bindings hold ``name`` as seen from ``scope`` (for folding its value there)."""
    current: Optional[Scope] = scope
    first = True
    while current is not None:
        if (first or current.kind != "class") and name in current.bindings:
            return current
        first = False
        current = current.parent
    return scope


def as_int_tuple(value: Any) -> Optional[tuple[int, ...]]:
    """``3`` → ``(3,)``; ``(3, 3)`` → ``(3, 3)``; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value,)
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    return None


def per_dimension(value: Optional[tuple[int, ...]], dims: int) -> Optional[list[int]]:
    """A conv argument (``3`` or ``(3, 5)``) as one value per spatial dimension."""
    if value is None:
        return None
    if len(value) == 1:
        return [value[0]] * dims
    return list(value) if len(value) == dims else None
