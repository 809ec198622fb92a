"""Shapes of NumPy arrays that code builds with constant sizes, for the tensors made from them.

Tutorials feed recurrent layers sequences they generate with NumPy: ``steps =
np.linspace(start, end, TIME_STEP)``, ``x_np = np.sin(steps)``, ``torch.from_numpy(x_np[np.newaxis,
:, np.newaxis])`` is a ``(1, TIME_STEP, 1)`` sequence. Knowing that length is what tells a
ten-step sine wave from a document (``sequences.py``). Only what is certain is kept: an
operation whose result shape is not known from constants gives no shape.

A size is exact where constants fix it, an upper bound where the code draws it from a
bounded range (``np.linspace(a, b, 10 * np.random.randint(1, 4))`` has at most 30 points), or
None where only the number of dimensions is known (``np.eye(n_class)`` with ``n_class =
len(vocabulary)``).

Python lists have shapes too, for the arrays and tensors made from them: ``[word_dict[w] for w
in "i like dog".split()]`` has 3 elements, ``np.eye(n_class)[that]`` is ``(3, None)``, and
``torch.FloatTensor(batch)`` of a list that a loop over three literal sentences filled with
such rows is ``(3, 3, None)``. A list's length is exact only where nothing was skipped: a
display, a comprehension over something of known length, appends that ran once per iteration
of loops the evaluation visited in full (an append under ``if`` or in a loop that was cut short
leaves it unknown). Its elements' shape is what the elements seen agree on: an array or tensor
made from a list must be rectangular, so the elements the evaluation did not visit have that
shape too. An element of unknown value counts as a number: were it itself a sequence, the
array would have more dimensions than computed, which a layer expecting that many rejects.

Shapes are held by the identity of the evaluator's values (an array is an ``Obj`` of a
``numpy`` call; a tensor made from it a ``fresh`` ``Tensor``), so that ``data.resize((21, 1))``
reshapes the array the name holds.
"""

from __future__ import annotations

from typing import Callable, Optional

import libcst as cst

from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.scopes import Scope
from dllint.semantics.values import Constant, Container, Obj, Unknown, Value

Shape = tuple[Optional[int], ...]  # None: a size not known
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
_IDENTITY = frozenset({"numpy.eye", "numpy.identity"})
# Array methods that keep the shape.
_SAME_SHAPE_METHODS = frozenset({"astype", "copy", "__abs__"})
# ``torch`` calls that make a tensor of an array's shape.
FROM_ARRAY = frozenset(
    {
        "torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor",
        "torch.LongTensor", "torch.IntTensor",
    }
)
_NO_ITEMS = ()  # the element shape of a list that has none yet: any element's will do


class Arrays:
    """The shapes known for values of one evaluation."""

    def __init__(self) -> None:
        self._shapes: dict[int, tuple[Value, Shape]] = {}
        # Lists: (list, length or None, the shape of its elements or None, whether it has any)
        self._lists: dict[int, tuple[Value, Optional[int], Optional[Shape], bool]] = {}

    def shape(self, value: Value) -> Optional[Shape]:
        found = self._shapes.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        listed = self._lists.get(id(value))
        if listed is None or listed[0] is not value or listed[2] is None or not listed[3]:
            return None
        return (listed[1],) + listed[2]

    def length(self, value: Value) -> Optional[int]:
        """How many elements a string, tuple, list or array has, when that is exact."""
        if isinstance(value, Constant) and isinstance(value.value, (str, tuple, list)):
            return len(value.value)
        listed = self._lists.get(id(value))
        if listed is not None and listed[0] is value:
            return listed[1]
        if isinstance(value, Obj) and value.qualified == "builtins.range":
            count = value.kwargs.get("count")
            return count.value if isinstance(count, Constant) and isinstance(count.value, int) else None
        if isinstance(value, Obj) and value.qualified in ("builtins.enumerate", "builtins.reversed") and len(value.args) == 1:
            return self.length(value.args[0])
        shape = self.shape(value)
        return shape[0] if shape else None

    def changed(self, container: Value) -> None:
        """An element of the list was replaced: its length stays, its elements' shape is lost."""
        listed = self._lists.get(id(container))
        if listed is not None and listed[0] is container:
            self._lists[id(container)] = (container, listed[1], None, listed[3])

    def listed(self, container: Value, items: list[Value], length: Optional[int]) -> None:
        """A list made at once (a display, a comprehension): ``length`` elements, of which
        ``items`` were seen."""
        self._lists[id(container)] = (container, length, _common(self._element_shape(item) for item in items), bool(items))

    def appended(self, container: Value, item: Value, counted: bool) -> None:
        """``container.append(item)``; ``counted``: the append runs exactly once here."""
        listed = self._lists.get(id(container))
        if listed is None or listed[0] is not container:
            return
        _, length, elements, seen = listed
        shape = self._element_shape(item)
        self._lists[id(container)] = (
            container,
            length + 1 if counted and length is not None else None,
            _common((elements, shape)) if seen else shape,
            True,
        )

    def joined(self, result: Value, left: Value, right: Value) -> None:
        """``left + right`` of two lists."""
        parts = [self._lists.get(id(v)) for v in (left, right)]
        if any(part is None or part[0] is not v for part, v in zip(parts, (left, right))):
            return
        (_, n, a, a_seen), (_, m, b, b_seen) = parts  # type: ignore[misc]
        shapes = [shape for shape, seen in ((a, a_seen), (b, b_seen)) if seen]
        self._lists[id(result)] = (result, n + m if n is not None and m is not None else None, _common(shapes), bool(shapes))

    def repeated(self, result: Value, items: Value, times: Value) -> None:
        """``items * times`` of a list and a known count."""
        listed = self._lists.get(id(items))
        if listed is None or listed[0] is not items:
            return
        count = times.value if isinstance(times, Constant) and isinstance(times.value, int) and not isinstance(times.value, bool) else None
        length = listed[1] * max(count, 0) if count is not None and listed[1] is not None else None
        self._lists[id(result)] = (result, length, listed[2], listed[3])

    def _element_shape(self, item: Value) -> Optional[Shape]:
        if isinstance(item, Constant):
            number = isinstance(item.value, (int, float)) and not isinstance(item.value, bool)
            return () if number else None
        if type(item) is Unknown:
            return ()  # see the module docstring: a sequence there would add dimensions
        return self.shape(item)

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
        elif qualified in _IDENTITY and len(args) == 1:
            size = _sizes(args[0])
            side = size[0] if size is not None and len(size) == 1 else None
            self.remember(result, (side, side))

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

    def subscript(self, owner: Value, expr: cst.Subscript, fold: Fold, result: Value, index: Optional[Value] = None) -> None:
        """``x[:-1]``, ``x[np.newaxis, :, np.newaxis]``, ``x[0]`` of an array of known shape;
        ``x[rows]`` with a list of indices (``np.eye(n_class)[word_ids]``, one-hot rows)."""
        shape = self.shape(owner)
        if shape is None:
            return
        rows = self.shape(index) if index is not None and not isinstance(index, Constant) else None
        if rows is not None:
            self.remember(result, rows + shape[1:] if shape else None)
        else:
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


def _common(shapes) -> Optional[Shape]:
    """The shape elements agree on: sizes that differ (or are not known) become None; None
    when their numbers of dimensions differ or one is not known."""
    found: Optional[Shape] = None
    first = True
    for shape in shapes:
        if shape is None:
            return None
        if first:
            found, first = shape, False
        elif found is None or len(found) != len(shape):
            return None
        else:
            found = tuple(a if a == b else None for a, b in zip(found, shape))
    return _NO_ITEMS if first else found


def _product(shape: Shape) -> Optional[int]:
    total = 1
    for size in shape:
        if size is None:
            return None
        total *= size
    return total


def _resolve_minus_one(wanted: Shape, shape: Shape) -> Optional[Shape]:
    known = _product(shape)
    return wanted if known is not None and _product(wanted) == known else None


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
        size = dims.pop(0)
        result.append(len(range(size)[slice(*bounds)]) if size is not None else None)
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
