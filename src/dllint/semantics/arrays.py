"""Shapes of NumPy arrays that code builds with constant sizes, for the tensors made from them.

Tutorials feed recurrent layers sequences they generate with NumPy: ``steps =
np.linspace(start, end, TIME_STEP)``, ``x_np = np.sin(steps)``, ``torch.from_numpy(x_np[np.newaxis,
:, np.newaxis])`` is a ``(1, TIME_STEP, 1)`` sequence. Knowing that length is what tells a
ten-step sine wave from a document (``sequences.py``). Only what is certain is kept: an
operation whose result shape is not known from constants gives no shape.

A size is exact where constants fix it, or an upper bound where the code draws it from a
bounded range (``np.linspace(a, b, 10 * np.random.randint(1, 4))`` has at most 30 points).

Shapes are held by the identity of the evaluator's values (an array is an ``Obj`` of a
``numpy`` call; a tensor made from it a ``fresh`` ``Tensor``), so that ``data.resize((21, 1))``
reshapes the array the name holds.
"""

from __future__ import annotations

from typing import Callable, Optional

import libcst as cst

from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.scopes import Scope
from dllint.semantics.values import Constant, Container, Value

Shape = tuple[int, ...]
Fold = Callable[[cst.BaseExpression], object]

# Functions of one array that keep its shape.
_ELEMENTWISE = frozenset(
    f"numpy.{name}"
    for name in (
        "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "exp", "log", "log1p", "sqrt",
        "square", "abs", "absolute", "sign", "floor", "ceil", "round", "float32", "float64", "array", "asarray",
        "copy", "negative", "reciprocal",
    )
)
# Array methods that keep the shape.
_SAME_SHAPE_METHODS = frozenset({"astype", "copy", "__abs__"})
# ``torch`` calls that make a tensor of an array's shape.
FROM_ARRAY = frozenset(
    {"torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor"}
)


class Arrays:
    """The shapes known for values of one evaluation."""

    def __init__(self) -> None:
        self._shapes: dict[int, tuple[Value, Shape]] = {}

    def shape(self, value: Value) -> Optional[Shape]:
        found = self._shapes.get(id(value))
        return found[1] if found is not None and found[0] is value else None

    def remember(self, value: Value, shape: Optional[Shape]) -> None:
        if shape is not None:
            self._shapes[id(value)] = (value, shape)

    def called(self, qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value], result: Value,
               bound: Callable[[int, str], Optional[int]]) -> None:
        """The shape of what a ``numpy`` function returned, when its arguments fix it.
        ``bound(position, keyword)``: the largest value the argument written there can take."""
        if qualified == "numpy.linspace":
            num = args[2] if len(args) > 2 else kwargs.get("num")
            sizes = _sizes(num) if num is not None else (50,)
            if sizes is None:
                at_most = bound(2, "num")
                sizes = (at_most,) if at_most is not None else None
            self.remember(result, sizes)
        elif qualified == "numpy.arange" and len(args) == 1 and not kwargs:
            self.remember(result, _sizes(args[0]))
        elif qualified in ("numpy.zeros", "numpy.ones", "numpy.empty") and args:
            self.remember(result, _sizes(args[0]))
        elif qualified in ("numpy.random.rand", "numpy.random.randn") and args:
            self.remember(result, _sizes_of_each(args))
        elif qualified in _ELEMENTWISE and len(args) == 1:
            self.remember(result, self.shape(args[0]))

    def method(self, receiver: Value, name: str, args: tuple[Value, ...], result: Value) -> bool:
        """A method of an array whose shape is known: True when it changed the receiver in place."""
        shape = self.shape(receiver)
        if shape is None:
            return False
        if name == "resize" and args:
            self.remember(receiver, _sizes_of_each(args) if len(args) > 1 else _sizes(args[0]))
            return True
        if name == "reshape" and args:
            wanted = _sizes_of_each(args) if len(args) > 1 else _sizes(args[0])
            self.remember(result, _resolve_minus_one(wanted, shape) if wanted is not None else None)
        elif name in _SAME_SHAPE_METHODS:
            self.remember(result, shape)
        elif name == "flatten" and not args:
            self.remember(result, (_product(shape),))
        return False

    def subscript(self, owner: Value, expr: cst.Subscript, fold: Fold, result: Value) -> None:
        """``x[:-1]``, ``x[np.newaxis, :, np.newaxis]``, ``x[0]`` of an array of known shape."""
        shape = self.shape(owner)
        if shape is not None:
            self.remember(result, _indexed(shape, expr, fold))


def _sizes(value: Optional[Value]) -> Optional[Shape]:
    """``20``, ``(21, 1)`` (a literal tuple, or one written with names: ``(seq_length + 1, 1)``)."""
    if isinstance(value, Container) and value.kind in ("tuple", "list") and value.complete:
        return _sizes_of_each(tuple(value.items))
    if not isinstance(value, Constant):
        return None
    if isinstance(value.value, bool):
        return None
    if isinstance(value.value, int):
        return (value.value,) if value.value >= 0 else None
    if isinstance(value.value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.value):
        return value.value
    return None


def _sizes_of_each(args: tuple[Value, ...]) -> Optional[Shape]:
    sizes = [_sizes(arg) for arg in args]
    if any(size is None or len(size) != 1 for size in sizes):
        return None
    return tuple(size[0] for size in sizes if size is not None)


def _product(shape: Shape) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _resolve_minus_one(wanted: Shape, shape: Shape) -> Optional[Shape]:
    return wanted if _product(wanted) == _product(shape) else None


def _indexed(shape: Shape, expr: cst.Subscript, fold: Fold) -> Optional[Shape]:
    result: list[int] = []
    dims = list(shape)
    for element in expr.slice:
        part = element.slice
        if isinstance(part, cst.Index):
            if _is_new_axis(part.value):
                result.append(1)
                continue
            index = fold(part.value)
            if not dims or not isinstance(index, int) or isinstance(index, bool):
                return None
            dims.pop(0)
            continue
        if not isinstance(part, cst.Slice) or not dims:
            return None
        bounds = [fold(bound) if bound is not None else None for bound in (part.lower, part.upper, part.step)]
        if any(b is UNKNOWN or (b is not None and (not isinstance(b, int) or isinstance(b, bool))) for b in bounds):
            return None
        result.append(len(range(dims.pop(0))[slice(*bounds)]))
    return tuple(result + dims)


def _is_new_axis(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value == "None"
    return isinstance(expr, cst.Attribute) and expr.attr.value == "newaxis"


def upper_bound(expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> Optional[int]:
    """The largest non-negative integer an expression can take, when constants and bounded
    draws fix it: ``10 * steps`` with ``steps = np.random.randint(1, 4)`` is at most 30."""
    if depth > 8:
        return None
    value = fold(expr, scope)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(expr, cst.Name):
        bindings = scope.lookup(expr.value)
        if bindings and len(bindings) == 1 and bindings[0].kind == "assign" and bindings[0].value is not None:
            return upper_bound(bindings[0].value, scope, depth + 1)
        return None
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Multiply)):
        left, right = upper_bound(expr.left, scope, depth + 1), upper_bound(expr.right, scope, depth + 1)
        if left is None or right is None:
            return None
        return left + right if isinstance(expr.operator, cst.Add) else left * right
    if isinstance(expr, cst.Call) and len(expr.args) == 2 and not any(arg.keyword or arg.star for arg in expr.args):
        qualified = scope.resolve(expr.func)
        low, high = (fold(arg.value, scope) for arg in expr.args)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low < 0:
            return None
        if qualified == "numpy.random.randint":
            return high - 1 if high > low else None  # the high end is excluded
        if qualified == "random.randint":
            return high if high >= low else None
    return None
