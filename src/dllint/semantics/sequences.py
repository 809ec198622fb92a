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

from typing import TYPE_CHECKING, Optional

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
    return steps if isinstance(steps, int) and steps > 1 else None


def _shape(sem: "FileSemantics", value: Value) -> Optional[tuple]:
    """The sizes of a tensor, as far as constants fix them: shaped by ``view``/``reshape``,
    made from a NumPy array of known shape (``arrays.py``), with ``unsqueeze`` on top."""
    inserted: list[int] = []  # dims that unsqueeze calls add, outermost call first
    current = value
    for _ in range(20):
        if not isinstance(current, Tensor):
            return None
        if current.kind == "fresh":
            return _with_inserted(sem.evaluator.arrays.shape(current), inserted)
        if not current.inputs:
            return None
        if current.kind == "method" and current.target in _SAME_VALUES:
            current = current.inputs[0]
            continue
        if current.kind == "function" and current.target in _WRAPPERS:
            current = current.inputs[0]
            continue
        if current.kind == "method" and current.target == "unsqueeze":
            dim = _single_argument(sem, current)
            if not isinstance(dim, int) or isinstance(dim, bool):
                return None
            inserted.append(dim)
            current = current.inputs[0]
            continue
        if (current.kind == "method" and current.target in _SHAPING) or (
            current.kind == "function" and current.target in _SHAPING_FUNCTIONS
        ):
            return _with_inserted(_shape_arguments(sem, current), inserted)
        return None
    return None


def _with_inserted(shape: Optional[tuple], inserted: list[int]) -> Optional[tuple]:
    if shape is None:
        return None
    sizes = list(shape)
    for dim in reversed(inserted):  # the innermost unsqueeze ran first
        if not -len(sizes) - 1 <= dim <= len(sizes):
            return None
        sizes.insert(dim if dim >= 0 else len(sizes) + 1 + dim, 1)
    return tuple(sizes)


def _single_argument(sem: "FileSemantics", tensor: Tensor) -> object:
    call = tensor.node
    site = sem.site_of(call) if isinstance(call, cst.Call) else None
    if site is None or len(call.args) != 1:
        return UNKNOWN
    return fold(call.args[0].value, site.scope)


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
