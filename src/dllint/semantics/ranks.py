"""How many dimensions a tensor has, where the code makes it plain.

Known from what builds it — ``torch.randn(8, 10)``, ``torch.zeros((4, 3, 32, 32))``,
``torch.tensor([[1., 2.]])`` — and from what reshapes it — ``x.view(B, -1)``,
``x.reshape(-1, C)``, ``x.flatten(1)``, ``nn.Flatten()``, ``x.unsqueeze(0)``, integer
indexing ``x[:, -1]`` — and kept through the operations that do not change it (activations,
dropout, normalisation, ``Linear`` and convolutions, element-wise arithmetic, dtype and device
moves). Anything else (a model's input, a function parameter, a matrix product, a reduction)
is unknown: None.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from dllint.semantics.syntax import bind_arguments
from dllint.semantics.values import Layer, Tensor, Value, options_of

_MAX_DEPTH = 60
_SIZED_CONSTRUCTORS = frozenset(
    f"torch.{name}" for name in ("zeros", "ones", "empty", "randn", "rand")
)
_LIKE_CONSTRUCTORS = frozenset(
    f"torch.{name}" for name in ("zeros_like", "ones_like", "full_like", "empty_like", "randn_like", "rand_like")
)
_KEEPING_KINDS = frozenset({"activation", "dropout", "norm", "identity", "pad"})
_KEEPING_AFFINE = frozenset({"linear", "conv", "conv_transpose"})
_KEEPING_METHODS = frozenset({
    "contiguous", "float", "half", "double", "bfloat16", "to", "type_as", "clone", "detach", "cpu", "cuda",
    "permute", "transpose", "clamp", "clamp_", "clip", "abs", "exp", "log", "neg", "sqrt", "relu", "sigmoid",
    "tanh", "softmax", "log_softmax",
})
_LIKE_METHODS = frozenset({"view_as", "reshape_as", "expand_as"})


def rank(value: Optional[Value]) -> Optional[int]:
    """The number of dimensions of ``value`` when it is the same known number on every
    path, else None."""
    if value is None:
        return None
    found = {_rank(option, 0) for option in options_of(value)}
    return found.pop() if len(found) == 1 else None


def _rank(value: Value, depth: int) -> Optional[int]:
    if not isinstance(value, Tensor) or depth > _MAX_DEPTH:
        return None
    node = value.node
    if value.kind == "fresh" and isinstance(node, cst.Call):
        return _constructed(value.target, node, depth)
    source = value.inputs[0] if value.inputs else None

    def source_rank() -> Optional[int]:
        return _rank_of(source, depth)

    if value.kind == "subscript":
        return _indexed(source_rank(), node)
    if value.kind == "binop":
        if value.target == "MatrixMultiply":
            return None
        ranks = [_rank_of(item, depth) for item in value.inputs if isinstance(item, Tensor)]
        return max(ranks) if ranks and None not in ranks else None  # broadcasting: the larger rank
    if value.kind == "module" and isinstance(value.target, Layer):
        return _layer_output(value.target, source_rank)
    if value.kind in ("method", "function") and isinstance(node, cst.Call):
        name = value.target.rsplit(".", 1)[-1] if isinstance(value.target, str) else ""
        return _operation(name, value, node, source_rank, depth)
    return None


def _rank_of(value: Optional[Value], depth: int) -> Optional[int]:
    if value is None:
        return None
    found = {_rank(option, depth + 1) for option in options_of(value)}
    return found.pop() if len(found) == 1 else None


def _constructed(qualified: str, call: cst.Call, depth: int) -> Optional[int]:
    if any(arg.star for arg in call.args):
        return None
    positional = [arg.value for arg in call.args if arg.keyword is None]
    if qualified in _SIZED_CONSTRUCTORS:
        size = bind_arguments(call, ("size",)).get("size")
        if len(positional) == 1 or (not positional and size is not None):
            single = positional[0] if positional else size
            if isinstance(single, (cst.Tuple, cst.List)):
                return len(single.elements)
            return 1 if isinstance(single, cst.Integer) else None
        return len(positional) or None
    if qualified == "torch.tensor" and positional:
        return _nesting(positional[0])
    return None


def _nesting(expr: cst.BaseExpression) -> Optional[int]:
    """Dimensions of a nested list literal: ``[[1, 2], [3, 4]]`` has 2; a scalar has 0."""
    depth = 0
    while isinstance(expr, (cst.List, cst.Tuple)):
        if not expr.elements:
            return depth + 1
        depth += 1
        first = expr.elements[0]
        if isinstance(first, cst.StarredElement):
            return None
        expr = first.value
    if isinstance(expr, (cst.Integer, cst.Float)) or (
        isinstance(expr, cst.UnaryOperation) and isinstance(expr.expression, (cst.Integer, cst.Float))
    ):
        return depth
    return None


def _indexed(source: Optional[int], node: Optional[cst.CSTNode]) -> Optional[int]:
    """``x[:, -1]`` drops a dimension per integer index, ``x[None]`` adds one."""
    if source is None or not isinstance(node, cst.Subscript):
        return None
    result = source
    for element in node.slice:
        index = element.slice
        if isinstance(index, cst.Slice):
            continue
        value = index.value if isinstance(index, cst.Index) else None
        if isinstance(value, cst.Name) and value.value == "None":
            result += 1
        elif isinstance(value, cst.Integer) or (
            isinstance(value, cst.UnaryOperation) and isinstance(value.expression, cst.Integer)
        ):
            result -= 1
        elif not isinstance(value, cst.Ellipsis):
            return None  # a tensor or list index: advanced indexing
    return result if result >= 0 else None


def _layer_output(layer: Layer, source_rank) -> Optional[int]:
    op = layer.op
    if op.kind == "reshape" and op.family == "flatten":
        start, end = layer.arg("start_dim", 1), layer.arg("end_dim", -1)
        return start + 1 if isinstance(start, int) and start >= 0 and end == -1 else None
    if op.kind in _KEEPING_KINDS or (op.kind == "affine" and op.family in _KEEPING_AFFINE):
        return source_rank()
    return None


def _operation(name: str, tensor: Tensor, call: cst.Call, source_rank, depth: int) -> Optional[int]:
    if any(arg.star for arg in call.args):
        return None
    method = tensor.kind == "method"
    arguments = [arg.value for arg in call.args if arg.keyword is None]
    if not method:
        arguments = arguments[1:]  # torch.reshape(x, shape): the tensor comes first
    if name in ("view", "reshape"):
        shape = bind_arguments(call, ("shape",) if method else ("input", "shape")).get("shape")
        if len(arguments) == 1 or (not arguments and shape is not None):
            single = arguments[0] if arguments else shape
            if isinstance(single, (cst.Tuple, cst.List)):
                return len(single.elements)
            return 1 if isinstance(single, cst.Integer) or _is_negative_one(single) else None
        return len(arguments) or None
    if name == "flatten":
        bound = bind_arguments(call, ("start_dim", "end_dim") if method else ("input", "start_dim", "end_dim"))
        start = _literal_int(bound.get("start_dim"), 0)
        end = _literal_int(bound.get("end_dim"), -1)
        return start + 1 if start is not None and start >= 0 and end == -1 else None
    if name == "unsqueeze":
        rank_before = source_rank()
        return rank_before + 1 if rank_before is not None else None
    if name in _LIKE_METHODS and method and tensor.inputs[1:]:
        return _rank_of(tensor.inputs[1], depth)
    op = tensor.op
    keeps = name in _KEEPING_METHODS or (op is not None and op.kind in _KEEPING_KINDS)
    return source_rank() if keeps else None


def _literal_int(expr: Optional[cst.BaseExpression], default: int) -> Optional[int]:
    """An integer literal (``1``, ``-1``); ``default`` when the argument is absent."""
    if expr is None:
        return default
    if isinstance(expr, cst.Integer):
        return int(expr.value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus) and isinstance(expr.expression, cst.Integer):
        return -int(expr.expression.value)
    return None


def _is_negative_one(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.UnaryOperation)
        and isinstance(expr.operator, cst.Minus)
        and isinstance(expr.expression, cst.Integer)
        and expr.expression.value == "1"
    )


def softmax_implicit_dim(rank_: int) -> int:
    """The dimension PyTorch's deprecated implicit choice picks for a softmax over a tensor of
    this rank (``torch/nn/functional.py: _get_softmax_dim``): 0 for 0-, 1- and 3-D input, else 1."""
    return 0 if rank_ in (0, 1, 3) else 1
