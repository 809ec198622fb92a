"""How many time steps a recurrent layer runs over, when the code fixes it.

Backpropagation through time multiplies one Jacobian per step: the gradient of an RNN over the
28 rows of an MNIST image or a 20-point sine wave cannot explode the way it can over a
sentence, a document or an audio clip of variable length. The length is known when the
layer's input was shaped with constant sizes (``images.reshape(-1, 28, 28)``, ``x.view(-1,
TIME_STEP, INPUT_SIZE)`` with module-level constants) or made from a NumPy array of known
shape (``torch.from_numpy(np.sin(np.linspace(a, b, 20))[None, :, None])``) — its time
dimension is dim 1 with ``batch_first=True``, else dim 0.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, Optional

import libcst as cst

from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.values import Layer, Tensor, Value

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

_SHAPING = frozenset({"view", "reshape"})
_SAME_VALUES = frozenset({"to", "cuda", "cpu", "float", "double", "half", "contiguous", "requires_grad_", "data", "detach"})
_SHAPING_FUNCTIONS = frozenset({"torch.reshape"})
_WRAPPERS = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})


def time_steps(sem: "FileSemantics", application: Tensor) -> Optional[int]:
    """The number of time steps of one application of a recurrent layer (``module`` tensor
    whose target is an RNN/LSTM/GRU), when the code fixes it; None otherwise."""
    layer = application.target
    if not isinstance(layer, Layer) or layer.op.kind != "recurrent" or not application.inputs:
        return None
    if layer.op.family.endswith("cell"):
        return None  # a cell runs one step per call: the loop around it sets the length
    shape = _shape(sem, application.inputs[0])
    if shape is None:
        return None
    batch_first = layer.arg("batch_first", False)
    if batch_first is UNKNOWN or len(shape) != 3:
        return None
    steps = shape[1] if batch_first else shape[0]
    # One step per call is a sequence unrolled by a Python loop around the call (a char-RNN
    # fed one character at a time): its length is the loop's, not known here.
    return steps if isinstance(steps, int) and steps > 1 else None  # None: a size not known


def _shape(sem: "FileSemantics", value: Value) -> Optional[tuple]:
    """The sizes of a tensor, as far as constants fix them: shaped by ``view``/``reshape``,
    made from a NumPy array or a Python list of known shape (``arrays.py``), with
    ``unsqueeze``, ``transpose``, ``permute`` and an ``nn.Embedding`` lookup on top."""
    pending: list[Callable[[list], Optional[list]]] = []  # what the calls do, outermost first
    current = value
    for _ in range(20):
        if not isinstance(current, Tensor):
            return None
        if current.kind == "fresh":
            return _apply(sem.evaluator.arrays.shape(current), pending)
        if not current.inputs:
            return None
        if current.kind == "method" and current.target in _SAME_VALUES:
            current = current.inputs[0]
            continue
        if current.kind == "function" and current.target in _WRAPPERS:
            current = current.inputs[0]
            continue
        if current.kind == "module" and isinstance(current.target, Layer) and current.target.op.family == "embedding":
            width = current.target.arg("embedding_dim")
            pending.append(partial(_appended, width if isinstance(width, int) and not isinstance(width, bool) else None))
            current = current.inputs[0]
            continue
        if current.kind == "method" and current.target in _REARRANGING:
            dims = _int_arguments(sem, current)
            if dims is None:
                return None
            pending.append(partial(_REARRANGING[current.target], dims))
            current = current.inputs[0]
            continue
        if (current.kind == "method" and current.target in _SHAPING) or (
            current.kind == "function" and current.target in _SHAPING_FUNCTIONS
        ):
            return _apply(_shape_arguments(sem, current), pending)
        return None
    return None


def _apply(shape: Optional[tuple], pending: list[Callable[[list], Optional[list]]]) -> Optional[tuple]:
    if shape is None:
        return None
    sizes: Optional[list] = list(shape)
    for step in reversed(pending):  # the innermost call ran first
        if sizes is None:
            return None
        sizes = step(sizes)
    return tuple(sizes) if sizes is not None else None


def _unsqueezed(dims: tuple[int, ...], sizes: list) -> Optional[list]:
    if len(dims) != 1 or not -len(sizes) - 1 <= dims[0] <= len(sizes):
        return None
    dim = dims[0]
    return sizes[:dim if dim >= 0 else len(sizes) + 1 + dim] + [1] + sizes[dim if dim >= 0 else len(sizes) + 1 + dim:]


def _transposed(dims: tuple[int, ...], sizes: list) -> Optional[list]:
    if len(dims) != 2 or not all(-len(sizes) <= d < len(sizes) for d in dims):
        return None
    swapped = list(sizes)
    swapped[dims[0]], swapped[dims[1]] = sizes[dims[1]], sizes[dims[0]]
    return swapped


def _permuted(dims: tuple[int, ...], sizes: list) -> Optional[list]:
    if sorted(d % len(sizes) for d in dims if -len(sizes) <= d < len(sizes)) != list(range(len(sizes))):
        return None
    return [sizes[d] for d in dims]


def _appended(size: Optional[int], sizes: list) -> list:
    return sizes + [size]


_REARRANGING: dict[str, Callable[[tuple[int, ...], list], Optional[list]]] = {
    "unsqueeze": _unsqueezed, "transpose": _transposed, "permute": _permuted,
}


def _int_arguments(sem: "FileSemantics", tensor: Tensor) -> Optional[tuple[int, ...]]:
    """The dims a ``transpose(0, 1)``/``permute(1, 0, 2)``/``unsqueeze(0)`` call passes, folded."""
    call = tensor.node
    site = sem.site_of(call) if isinstance(call, cst.Call) else None
    if site is None or any(arg.keyword is not None or arg.star for arg in call.args):
        return None
    values = [arg.value for arg in call.args]
    if len(values) == 1 and isinstance(values[0], (cst.Tuple, cst.List)):
        values = [element.value for element in values[0].elements]  # permute((1, 0, 2))
    folded = tuple(fold(v, site.scope) for v in values)
    if not folded or not all(isinstance(d, int) and not isinstance(d, bool) for d in folded):
        return None
    return folded  # type: ignore[return-value]


def _shape_arguments(sem: "FileSemantics", tensor: Tensor) -> Optional[tuple]:
    """The sizes a ``view``/``reshape`` call passes, folded (``-1`` stays ``-1``)."""
    call = tensor.node
    site = sem.site_of(call) if isinstance(call, cst.Call) else None
    if site is None:
        return None
    sizes = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
    if tensor.kind == "function":
        sizes = sizes[1:]  # torch.reshape(x, shape)
    if len(sizes) == 1 and isinstance(sizes[0], (cst.Tuple, cst.List)):
        sizes = [element.value for element in sizes[0].elements]
    folded = tuple(fold(size, site.scope) for size in sizes)
    return None if any(value is UNKNOWN for value in folded) else folded
