"""Raw weights: trainable tensors applied with a matrix product instead of through a layer.

From-scratch code (d2l, Karpathy's makemore, a hand-written RNN cell) keeps its weights as
plain tensors and applies them itself::

    W1 = nn.Parameter(torch.randn(784, 256) * 0.01)      # an nn.Parameter
    W2 = torch.randn(256, 10, requires_grad=True)        # a tensor created trainable
    W3 = torch.randn(10, 10); W3.requires_grad_()         # made trainable afterwards
    h = torch.tanh(X @ W1 + b1); y = torch.mm(h, W2)     # @, mm, matmul, F.linear, F.conv2d

For the rules such a weight is a layer like any other: its initial values (constant, drawn
with std 1, scaled…) are judged like a layer's initialisation, two of its products back to
back collapse like two ``nn.Linear``, and sigmoid/tanh between its products stack like
between layers.

A weight is *trainable* when it is an ``nn.Parameter`` (not ``requires_grad=False``), created
with ``requires_grad=True``, given ``.requires_grad_()`` / ``.requires_grad = True``, or handed
to a ``torch.optim`` optimizer. A plain tensor none of those apply to (a forward pass written
out to show shapes, a fixed DCT basis, a random projection) is not a weight here.

Raw weights are keyed by the node that creates them (``nn.Parameter(...)``, ``torch.randn(...)``,
``torch.randn(...) * 0.01``): one entry for every evaluation that built them — a module-level
weight is evaluated once by the module body and once more for the functions that read it.

Beyond the forward passes of model classes (:attr:`FileSemantics.all_graphs`), the products of
module-level code and plain functions (``def net(X): return relu(X @ W1 + b1) @ W2 + b2``)
are read from the dataflow of each root evaluation (:func:`trace_graphs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.syntax import bind_arguments, keyword
from dllint.semantics.values import Constant, Container, Tensor, Value, options_of

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics, ForwardGraph

# Products whose operands are a weight and a flowing tensor.
_PRODUCT_FUNCTIONS = frozenset({"torch.matmul", "torch.mm", "torch.bmm", "torch.einsum", "torch.nn.functional.linear"})
_PRODUCT_METHODS = frozenset({"matmul", "mm", "bmm"})
# Methods that keep a tensor's identity as a weight: transposes, reshapes, device and dtype moves.
_VIEW_METHODS = frozenset({"t", "T", "mT", "H", "data", "requires_grad_", "cuda", "cpu", "contiguous"})

_CONSTANT_DRAWS = frozenset({"torch.zeros", "torch.zeros_like", "torch.ones", "torch.ones_like", "torch.full", "torch.full_like"})
_UNIT_DRAWS = frozenset({"torch.randn", "torch.randn_like"})
_UNINITIALISED = frozenset({"torch.empty", "torch.empty_like", "torch.Tensor", "torch.FloatTensor"})


def created_trainable(tensor: Tensor) -> bool:
    """``nn.Parameter(t)`` (not frozen with ``requires_grad=False``), or a tensor constructor
    called with ``requires_grad=True``."""
    node = tensor.node
    if not isinstance(node, cst.Call):
        return False
    flag = keyword(node, "requires_grad")
    if tensor.kind == "parameter":
        positional = [a for a in node.args if a.keyword is None and not a.star][1:2]
        flag = flag if flag is not None else (positional[0].value if positional else None)
        return not (isinstance(flag, cst.Name) and flag.value == "False")
    return tensor.kind == "fresh" and isinstance(flag, cst.Name) and flag.value == "True"


def weight_operands(tensor: Tensor) -> tuple[Value, ...]:
    """The operands of a product that may be its weight: both sides of ``a @ b`` /
    ``torch.matmul`` / ``torch.mm``, the weight of ``F.linear`` / ``F.conv*d``; () for any other
    operation."""
    if tensor.kind == "binop" and tensor.target == "MatrixMultiply":
        return tensor.inputs
    if tensor.kind == "function" and tensor.target in _PRODUCT_FUNCTIONS:
        return tensor.inputs[1:2] if tensor.target == "torch.nn.functional.linear" else tensor.inputs
    if tensor.kind == "function" and isinstance(tensor.target, str) and tensor.op is not None and tensor.op.kind == "affine":
        return tensor.inputs[1:2]  # F.conv2d(x, weight)
    if tensor.kind == "method" and tensor.target in _PRODUCT_METHODS:
        return tensor.inputs
    return ()


def through_views(value: Value) -> Optional[Tensor]:
    """The tensor a weight operand is, looking through transposes, reshapes, indexing and
    ``.requires_grad_()`` — not through arithmetic (``W * scale``, ``F.normalize(W)``: then
    what multiplies is not the raw weight)."""
    current = value
    for _ in range(8):
        if not isinstance(current, Tensor):
            return None
        op = current.module_op
        if current.kind == "method" and current.inputs and (
            current.target in _VIEW_METHODS or (op is not None and op.kind == "reshape")
        ):
            current = current.inputs[0]
        elif current.kind == "subscript" and current.inputs and _slices(current.node):
            current = current.inputs[0]
        else:
            return current
    return None


def _slices(node: Optional[cst.CSTNode]) -> bool:
    """``W[:, :k]``, ``W[0]``: a view of the tensor; not ``C[idx]``, a lookup (an embedding table
    indexed by the data)."""
    if not isinstance(node, cst.Subscript):
        return False
    for element in node.slice:
        index = element.slice
        if isinstance(index, cst.Slice):
            continue
        value = index.value
        if isinstance(value, cst.UnaryOperation):
            value = value.expression
        if not isinstance(value, (cst.Integer, cst.Ellipsis)) and not (isinstance(value, cst.Name) and value.value == "None"):
            return False
    return True


class WeightUse:
    __slots__ = ("graph", "product", "parameter")

    def __init__(self, graph: "ForwardGraph", product: Tensor, parameter: Tensor) -> None:
        self.graph = graph
        self.product = product  # the matrix product's output
        self.parameter = parameter  # the weight tensor itself (an ``nn.Parameter``, or a raw weight)


class RawWeights:
    """Every trainable raw weight of a file and its products (built once, on first use)."""

    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self._trainable = _made_trainable(sem)
        self.uses: dict[int, list[WeightUse]] = {}  # by id of the weight's creating node
        self._products: dict[int, Tensor] = {}  # id of a product -> its trainable raw weight
        for graph in all_graphs(sem):
            for tensor in graph.tensors:
                candidates = [w for w in map(through_views, weight_operands(tensor)) if w is not None and weight_like(w)]
                if len(candidates) == 2:
                    candidates = candidates[1:]  # ``z @ W`` of two created tensors: the weight is on the right
                for weight in candidates:
                    if weight.node is None:
                        continue
                    self.uses.setdefault(id(weight.node), []).append(WeightUse(graph, tensor, weight))
                    if self.trainable(weight):
                        self._products[id(tensor)] = weight

    def trainable(self, tensor: Tensor) -> bool:
        return created_trainable(tensor) or (tensor.node is not None and id(tensor.node) in self._trainable)

    def weight_of(self, product: Tensor) -> Optional[Tensor]:
        """The trainable raw weight a product applies, if it is one."""
        return self._products.get(id(product))

    def weights(self) -> Iterator[tuple[Tensor, list[WeightUse]]]:
        """Each trainable raw weight (one value per creating node) with its products."""
        for uses in self.uses.values():
            weight = uses[0].parameter
            if self.trainable(weight):
                yield weight, uses


def weight_like(tensor: Tensor) -> bool:
    """A tensor the code creates (an ``nn.Parameter``, a constructor, a scaled draw
    ``torch.randn(...) * 0.01``, ``torch.empty(...).normal_()``), not one computed from the data."""
    if tensor.kind in ("parameter", "fresh"):
        return True
    if tensor.kind == "binop":
        return any(isinstance(s, Tensor) and s.kind == "fresh" for s in tensor.inputs) and not _flowing(tensor)
    return tensor.kind == "method" and bool(tensor.inputs) and isinstance(tensor.inputs[0], Tensor) and tensor.inputs[0].kind == "fresh"


def feeding_raw_products(sem: "FileSemantics", graph: "ForwardGraph") -> set[int]:
    """Ids of the tensors whose values flow — through activations, norms, dropout, reshapes,
    bias adds — into a product with a trainable raw weight: the hidden units of a from-scratch
    network (``ForwardGraph.hidden`` asks the same of every layer with weights)."""
    from dllint.semantics import _passes_on as passes_on

    raw = sem.raw_weights
    in_graph = {id(tensor) for tensor in graph.tensors}
    targets = [tensor for tensor in graph.tensors if raw.weight_of(tensor) is not None]
    reached = {id(tensor) for tensor in targets}
    found: set[int] = set()
    while targets:
        tensor = targets.pop()
        for source in tensor.inputs:
            for option in options_of(source):
                key = id(option)
                if key in found:
                    continue
                found.add(key)
                if key in in_graph and key not in reached and isinstance(option, Tensor) and passes_on(option):
                    reached.add(key)
                    targets.append(option)
    return found


def _flowing(tensor: Tensor) -> bool:
    """Whether a binop mixes in a tensor computed from the data (not a fresh or parameter one,
    nor a number computed from the constructor's arguments, ``d ** 0.5``)."""
    return any(isinstance(s, Tensor) and s.kind not in ("fresh", "parameter") and not _scalar(s) for s in tensor.inputs)


def _scalar(value: Value, depth: int = 0) -> bool:
    """Arithmetic on constants and function parameters only: ``1 / math.sqrt(d)``, ``d ** -0.5``."""
    from dllint.semantics.values import Param

    if isinstance(value, (Constant, Param)):
        return True
    if not isinstance(value, Tensor) or depth > 6 or value.kind not in ("binop", "unary", "function"):
        return False
    if value.kind == "function" and not (isinstance(value.target, str) and value.target.startswith("math.")):
        return False
    return all(_scalar(source, depth + 1) for source in value.inputs)


def _made_trainable(sem: "FileSemantics") -> set[int]:
    """Nodes of the tensors some code makes trainable after creating them: ``W.requires_grad_()``,
    ``W.requires_grad = True`` (also in a loop over a list of them), or an optimizer built over them."""
    evaluator = sem.evaluator
    sem.traces  # noqa: B018 - every root evaluated
    sem.forward_graphs  # noqa: B018
    found: set[int] = set()
    for tensor in evaluator.tensors:
        if tensor.kind == "method" and tensor.target == "requires_grad_" and tensor.inputs and not _false_argument(tensor.node):
            _add(found, tensor.inputs[0])
    for owner, name, value, _, _ in evaluator.tensor_assignments:
        if name == "requires_grad" and isinstance(value, Constant) and value.value is True:
            _add(found, owner)
    for site in sem.info.calls:
        if site.qualified is None or not site.qualified.startswith("torch.optim.") or site.qualified.count(".") != 2:
            continue
        for _, args, kwargs in sem.observed(site.node):
            for value in args[:1] + tuple(v for k, v in kwargs.items() if k == "params"):
                for option in options_of(value):
                    if isinstance(option, Container):
                        for item in option.items:
                            _add(found, item)
    return found


def _add(found: set[int], value: Value) -> None:
    for option in options_of(value):
        tensor = through_views(option)
        if tensor is not None and tensor.node is not None:
            found.add(id(tensor.node))


def _false_argument(node: Optional[cst.CSTNode]) -> bool:
    if not isinstance(node, cst.Call) or not node.args:
        return False
    flag = node.args[0].value
    return isinstance(flag, cst.Name) and flag.value == "False"


def all_graphs(sem: "FileSemantics") -> Iterator["ForwardGraph"]:
    yield from sem.all_graphs()
    yield from trace_graphs(sem)


def trace_graphs(sem: "FileSemantics") -> list["ForwardGraph"]:
    """The dataflow of each root evaluation (the module body, each function that trains or
    builds models): where module-level code and plain functions apply raw weights."""
    known = sem.__dict__.get("_trace_graphs")
    if known is None:
        from dllint.semantics import ForwardGraph

        tensors = sem.evaluator.tensors
        known = [
            ForwardGraph(None, tensors[start:end], trace.returns)
            for trace in sem.traces
            for start, end in (trace.span,)
            if end > start
        ]
        sem.__dict__["_trace_graphs"] = known
    return known


# --- initial values ------------------------------------------------------------------------------

class Initial:
    """What a weight starts as: ``constant`` (``torch.zeros``, ``torch.ones``, ``torch.full``),
    ``unit`` (std 1: ``torch.randn`` unscaled, ``torch.normal(0, 1, …)``, ``.normal_()``),
    ``scaled`` (a draw multiplied or divided by something, or with a small std),
    ``uninitialised`` (``torch.empty``) or ``unknown``; ``draw`` is the constructor call."""

    __slots__ = ("kind", "draw")

    def __init__(self, kind: str, draw: Optional[cst.CSTNode]) -> None:
        self.kind = kind
        self.draw = draw


def initial(sem: "FileSemantics", weight: Value) -> Initial:
    """The initial values of a weight tensor (an ``nn.Parameter``, a raw weight, or the value
    assigned to a layer's weight)."""
    current = weight
    scaled = False
    for _ in range(8):
        if not isinstance(current, Tensor):
            return Initial("unknown", None)
        if current.kind == "parameter":
            if not current.inputs:
                return Initial("unknown", None)
            current = current.inputs[0]
        elif current.kind == "method" and current.inputs and (
            current.target in _VIEW_METHODS or (current.module_op is not None and current.module_op.kind == "reshape")
        ):
            current = current.inputs[0]
        elif current.kind == "binop" and current.target in ("Multiply", "Divide") and not _flowing(current):
            sources = [s for s in current.inputs if isinstance(s, Tensor) and not _scalar(s)]
            if len(sources) != 1:
                return Initial("unknown", None)
            scaled = True
            current = sources[0]
        elif current.kind == "method" and current.target in ("normal_", "uniform_", "zero_", "fill_") and current.inputs:
            kind = _in_place_draw(sem, current)
            return Initial("scaled" if scaled and kind == "unit" else kind, current.node)
        elif current.kind == "fresh":
            kind = _fresh_draw(sem, current)
            if scaled and kind == "unit":
                kind = "scaled"
            return Initial(kind, current.node)
        else:
            return Initial("unknown", None)
    return Initial("unknown", None)


def _fresh_draw(sem: "FileSemantics", tensor: Tensor) -> str:
    target = tensor.target
    if target in _CONSTANT_DRAWS:
        return "constant"
    if target in _UNIT_DRAWS:
        return "unit"
    if target in _UNINITIALISED:
        return "uninitialised"
    if target == "torch.normal" and isinstance(tensor.node, cst.Call):
        std = _folded(sem, tensor.node, ("mean", "std"), "std", 1.0)
        if isinstance(std, (int, float)) and not isinstance(std, bool):
            return "unit" if std >= 1 else "scaled"
    return "unknown"


def _in_place_draw(sem: "FileSemantics", tensor: Tensor) -> str:
    """``torch.empty(...).normal_()``: what the in-place fill draws."""
    inner = tensor.inputs[0]
    if not (isinstance(inner, Tensor) and inner.kind == "fresh") or not isinstance(tensor.node, cst.Call):
        return "unknown"
    if tensor.target in ("zero_", "fill_"):
        return "constant"
    if tensor.target == "normal_":
        std = _folded(sem, tensor.node, ("mean", "std"), "std", 1.0)
        if isinstance(std, (int, float)) and not isinstance(std, bool):
            return "unit" if std >= 1 else "scaled"
    return "unknown"


def _folded(sem: "FileSemantics", node: cst.Call, params: tuple[str, ...], name: str, default):
    if any(arg.star for arg in node.args):
        return None
    expr = bind_arguments(node, params).get(name)
    if expr is None:
        return default
    site = sem.site_of(node)
    return fold(expr, site.scope) if site is not None else None


def rank(node: Optional[cst.CSTNode]) -> int:
    """How many sizes a tensor constructor is given (``torch.zeros(3, 4)``, ``torch.randn((3, 4))``:
    2); 0 when unknown."""
    sizes = _sizes(node)
    return len(sizes) if sizes is not None else 0


def _sizes(node: Optional[cst.CSTNode]) -> Optional[list[cst.BaseExpression]]:
    """The size expressions of a tensor constructor call; None when unknown (``*shape``)."""
    if not isinstance(node, cst.Call) or any(a.star for a in node.args):
        return None
    sizes = [a.value for a in node.args if a.keyword is None]
    size = keyword(node, "size")
    name = node.func.attr.value if isinstance(node.func, cst.Attribute) else node.func.value if isinstance(node.func, cst.Name) else ""
    if size is not None:
        sizes = [size]
    elif name == "normal":
        sizes = sizes[2:]  # torch.normal(mean, std, (out, in))
    if sizes and isinstance(sizes[0], (cst.Tuple, cst.List)):
        return [element.value for element in sizes[0].elements]  # torch.zeros((3, 4)), torch.full((3, 4), 0.5)
    return sizes[:-1] if name == "full" else sizes


def weight_shape(sem: "FileSemantics", weight: Tensor) -> Optional[list[tuple[cst.BaseExpression, object]]]:
    """The sizes a raw weight is created with, each as (expression, folded value or UNKNOWN):
    ``nn.Parameter(torch.randn(num_inputs, 256) * 0.01)`` → [(num_inputs, 784), (256, 256)]."""
    draw = initial(sem, weight).draw
    if isinstance(draw, cst.Call) and isinstance(draw.func, cst.Attribute) and draw.func.attr.value in ("normal_", "uniform_"):
        draw = draw.func.value  # torch.empty(a, b).normal_()
    sizes = _sizes(draw)
    if sizes is None:
        return None
    site = sem.site_of(draw) if isinstance(draw, cst.Call) else None
    scope = site.scope if site is not None else sem.info.scope
    folded = [fold(size, scope) for size in sizes]
    evaluated = _evaluated_sizes(sem, draw, len(sizes))  # the constructor arguments the evaluations passed
    if evaluated is not None:
        folded = [value if value is not UNKNOWN else seen for value, seen in zip(folded, evaluated)]
    return list(zip(sizes, folded))


def _evaluated_sizes(sem: "FileSemantics", draw: cst.Call, count: int) -> Optional[list[object]]:
    """The sizes a constructor call was given in the evaluations that ran it, when they agree."""
    from dllint.semantics.values import Constant

    found: list[object] = [UNKNOWN] * count
    for _, args, kwargs in sem.observed(draw):
        values = list(args)
        if "size" in kwargs:
            values = [kwargs["size"]]
        elif isinstance(draw.func, cst.Attribute) and draw.func.attr.value == "normal":
            values = values[2:]
        if values and isinstance(values[0], Container):
            values = list(values[0].items)
        if len(values) < count:
            return None
        for index, value in enumerate(values[:count]):
            if isinstance(value, Constant):
                if found[index] is not UNKNOWN and found[index] != value.value:
                    return None  # built with different sizes by different evaluations
                found[index] = value.value
    return found
