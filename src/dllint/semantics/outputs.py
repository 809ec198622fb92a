"""What becomes of an output activation (a softmax, sigmoid or log-softmax that a loss is fed),
and whether it can be taken out: the facts behind the loss rules' fixes.

An *activation site* is the code that applies it: a call (``F.softmax(z, dim=1)``,
``z.sigmoid()``, ``torch.log(F.softmax(z, 1))``) or a layer built by one constructor call
(``nn.Softmax(dim=1)``), however many times the evaluations ran it. It can be taken out when:

- it sits directly in the loss call (``criterion(F.softmax(z, 1), y)``): its output goes
  nowhere else (:func:`inline_in`); or
- it is the model's last operation — the value a ``forward`` returns, or the last layer of
  an ``nn.Sequential`` used as the model — and the model's output is used by losses of the
  given families only (:func:`consumers`): each call of the model is passed straight to such
  a loss, or assigned to a name whose every use is such a loss's prediction; the model is not
  handed to code outside this file (where its output could go anywhere) nor returned to it;
  and inside the model nothing else consumes the activation's output.

Only what the evaluations of this file see counts: a model class imported and called by
another file is not visible here (the fixes built on this are unsafe for that reason too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.syntax import bind_arguments, dotted_name, iter_tree
from dllint.semantics.values import (
    ClassRef,
    FunctionRef,
    Layer,
    Merge,
    Param,
    Tensor,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.losses import Origin

_KEEPING_KINDS = ("identity", "reshape", "dropout")
_MAX_DEPTH = 60


def site_key(tensor: Tensor) -> int:
    """Which activation site a tensor comes from: its layer's constructor call, or its call."""
    if tensor.kind == "module" and isinstance(tensor.target, Layer):
        return id(tensor.target.node)
    return id(tensor.node)


class Removal:
    """How to take an activation out of the code: replace ``node`` (the activation call) with
    the text of ``replacement`` (what it was applied to); or, for the last layer of an
    ``nn.Sequential(...)`` (``previous`` set), delete the argument ``node`` from the end of
    the argument before it."""

    __slots__ = ("node", "replacement", "previous")

    def __init__(
        self, node: cst.CSTNode, replacement: Optional[cst.BaseExpression] = None, previous: Optional[cst.Arg] = None
    ) -> None:
        self.node = node
        self.replacement = replacement
        self.previous = previous


def removal(sem: "FileSemantics", tensor: Tensor) -> Optional[Removal]:
    """How to remove the activation that produced ``tensor``, or None when it is not written
    in a form this can edit."""
    if tensor.kind == "module" and isinstance(tensor.target, Layer):
        if _in_sequential(sem, tensor.target.node):
            return _sequential_element(sem, tensor.target.node)
        if not isinstance(tensor.node, cst.Call) or not any(
            callee is tensor.target for callee, _, _ in sem.observed(tensor.node)
        ):
            return None  # applied through something else (a container, a helper): not at this call
    applied_to = activation_input(tensor)
    return Removal(tensor.node, applied_to) if applied_to is not None else None


def activation_input(tensor: Tensor) -> Optional[cst.BaseExpression]:
    """The expression an activation is applied to: ``z`` in ``F.softmax(z, dim=1)``,
    ``torch.sigmoid(z)``, ``z.softmax(-1)``, ``self.act(z)`` (a layer applied directly),
    ``torch.log(F.softmax(z, 1))`` and ``F.softmax(z, 1).log()``."""
    node = tensor.node
    if not isinstance(node, cst.Call) or any(arg.star for arg in node.args):
        return None
    if tensor.kind == "method" and isinstance(node.func, cst.Attribute):
        receiver = node.func.value
        if tensor.target == "log":
            return _inner_activation(tensor, receiver)
        return receiver
    if tensor.kind == "function":
        first = bind_arguments(node, ("input",)).get("input")
        if first is None:
            return None
        if tensor.target == "torch.log":
            return _inner_activation(tensor, first)
        return first
    if tensor.kind == "module" and len(node.args) == 1 and node.args[0].keyword is None:
        return node.args[0].value
    return None


def _inner_activation(log: Tensor, written: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    inner = log.inputs[0] if log.inputs else None
    if isinstance(inner, Tensor) and inner.node is written:
        return activation_input(inner)
    return None


def _in_sequential(sem: "FileSemantics", constructor: cst.Call) -> Optional[cst.Call]:
    """The ``nn.Sequential(...)`` call that takes the layer built by ``constructor`` as an argument."""
    arg = sem.structure.parent(constructor)
    call = sem.structure.parent(arg) if isinstance(arg, cst.Arg) else None
    if not isinstance(call, cst.Call) or arg.value is not constructor:
        return None
    site = sem.site_of(call)
    return call if site is not None and site.qualified == "torch.nn.Sequential" else None


def _sequential_element(sem: "FileSemantics", constructor: cst.Call) -> Optional[Removal]:
    """The layer built by ``constructor`` as the last of two or more layers written in an
    ``nn.Sequential(...)`` call."""
    call = _in_sequential(sem, constructor)
    arg = sem.structure.parent(constructor)
    if call is None or not isinstance(arg, cst.Arg) or arg.keyword is not None or any(a.star for a in call.args):
        return None
    if len(call.args) < 2 or call.args[-1] is not arg or _indexed(sem, call):
        return None
    return Removal(arg, previous=call.args[-2])


def _indexed(sem: "FileSemantics", sequential: cst.Call) -> bool:
    """Whether the Sequential's layers are also reached by position (``model[:-1]``,
    ``self.net[-1]``) somewhere in the file: removing its last layer would shift them. The
    Sequential is known by the name or attribute it is assigned to; one assigned nowhere
    plain counts as indexed."""
    assignment = sem.structure.parent(sequential)
    holder = None
    if isinstance(assignment, cst.Assign) and assignment.value is sequential and len(assignment.targets) == 1:
        holder = dotted_name(assignment.targets[0].target)
    if holder is None:
        return True
    last = holder.rsplit(".", 1)[-1]
    for node in iter_tree(sem.module):
        if isinstance(node, cst.Subscript):
            indexed = dotted_name(node.value)
            if indexed is not None and indexed.rsplit(".", 1)[-1] == last:
                return True
    return False


def inline_in(sem: "FileSemantics", origin: "Origin", loss: cst.Call) -> bool:
    """Whether the activation is written directly as the loss call's prediction."""
    tensor = origin.tensor
    if tensor is None or tensor.kind not in ("function", "method") or not isinstance(tensor.node, cst.Call):
        return False
    return sem.structure.prediction_of(tensor.node) is loss


def loss_families(sem: "FileSemantics", call: cst.CSTNode) -> set[str]:
    """The loss families a call computes in the evaluations that ran it (empty: not a loss)."""
    return {application.family for application in sem.loss_applications if application.node is call}


def consumers(sem: "FileSemantics", origin: "Origin", families: tuple[str, ...]) -> Optional[list[cst.Call]]:
    """The loss calls the model's output goes to when the activation is the model's last
    operation and its output is used by losses of ``families`` only (module docstring); None
    when that does not hold."""
    tensor = origin.tensor
    if tensor is None or origin.deferred:
        return None
    key = site_key(tensor)
    if not _inside_models_only_as_output(sem, key):
        return None
    events = [
        event
        for trace in sem.traces
        for event in trace.events
        if event.kind == "forward" and event.output is not None and _reaches(event.output, key, 0)
    ]
    if not events:
        return None
    if not _at_the_end(sem, tensor, events):
        return None
    losses: list[cst.Call] = []
    for event in events:
        if _returned_by_forward(sem, event.node):
            continue  # a submodule applied as the model's last step: the model's own call is the use
        used = _loss_uses(sem, event.node, families)
        if used is None:
            return None
        losses.extend(call for call in used if all(call is not known for known in losses))
    models = [option for event in events for option in options_of(event.target)]
    if _escapes(sem, models):
        return None
    return losses


def comes_from(value: Optional[Value], tensor: Tensor) -> bool:
    """Whether ``value`` is the output of the activation that produced ``tensor`` (the same
    site), possibly reshaped, indexed or clamped, on every path."""
    return value is not None and _reaches(value, site_key(tensor), 0)


def from_parameters(value: Optional[Value]) -> bool:
    """Whether ``value`` is computed from a function's parameters in an evaluation of that
    function on its own (no caller supplied them): it says nothing about what a caller passes."""
    if value is None:
        return False
    for option in options_of(value):
        if isinstance(option, Param):
            continue
        if not isinstance(option, Tensor):
            return False
        if not any(
            isinstance(tensor.target, Param) or any(isinstance(item, Param) for item in tensor.inputs)
            for tensor in _lineage(option)
        ):
            return False
    return True


def _lineage(tensor: Tensor, limit: int = 500) -> list[Tensor]:
    found: list[Tensor] = []
    stack: list[Value] = [tensor]
    seen: set[int] = set()
    while stack and len(found) < limit:
        current = stack.pop()
        if id(current) in seen or not isinstance(current, Tensor):
            continue
        seen.add(id(current))
        found.append(current)
        for item in current.inputs:
            stack.extend(options_of(item))
    return found


def _reaches(value: Value, key: int, depth: int) -> bool:
    """Whether ``value`` is the activation's output, possibly reshaped, indexed or clamped."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, Merge):
        return all(_reaches(option, key, depth + 1) for option in value.options)
    if not isinstance(value, Tensor):
        return False
    if site_key(value) == key:
        return True
    op = value.module_op
    keeps = value.kind == "subscript" or (op is not None and op.kind in _KEEPING_KINDS)
    return keeps and bool(value.inputs) and _reaches(value.inputs[0], key, depth + 1)


def _inside_models_only_as_output(sem: "FileSemantics", key: int) -> bool:
    """In every forward graph (and Sequential) that applies the activation, it is returned and
    nothing else in the graph consumes it."""
    for graph in sem.all_graphs():
        applied = [tensor for tensor in graph.tensors if site_key(tensor) == key]
        if not applied:
            continue
        returned = {id(value) for value in graph.returned_values()}
        for tensor in applied:
            if graph.consumers.get(id(tensor)) or id(tensor) not in returned:
                return False
    return True


def _at_the_end(sem: "FileSemantics", tensor: Tensor, events) -> bool:
    """The activation is the model's last operation, as written: the expression a ``forward``
    returns, or the call of a Sequential model whose last layer it is."""
    node = tensor.node
    return any(node is event.node for event in events) or _returned_by_forward(sem, node)


def _returned_by_forward(sem: "FileSemantics", node: Optional[cst.CSTNode]) -> bool:
    """``node`` is the expression a ``forward`` method returns."""
    if node is None:
        return False
    parent = sem.structure.parent(node)
    if not isinstance(parent, cst.Return) or parent.value is not node:
        return False
    function = sem.structure.scope_node(node)
    return isinstance(function, cst.FunctionDef) and function.name.value == "forward"


def _loss_uses(sem: "FileSemantics", call: cst.CSTNode, families: tuple[str, ...]) -> Optional[list[cst.Call]]:
    """The losses a model call's output goes to, when it goes to losses of ``families`` only:
    passed straight as the prediction, or assigned to a name used only that way."""
    structure = sem.structure
    loss = structure.prediction_of(call)
    if loss is not None:
        return [loss] if _is_loss_of(sem, loss, families) else None
    assignment = structure.parent(call)
    if not (
        isinstance(assignment, cst.Assign)
        and assignment.value is call
        and len(assignment.targets) == 1
        and isinstance(assignment.targets[0].target, cst.Name)
    ):
        return None
    name = assignment.targets[0].target.value
    stores, loads = structure.name_uses(structure.scope_node(call), name)
    if len(stores) != 1 or not loads:
        return None
    found = []
    for load in loads:
        loss = structure.prediction_of(load)
        if loss is None or not _is_loss_of(sem, loss, families):
            return None
        found.append(loss)
    return found


def _is_loss_of(sem: "FileSemantics", call: cst.Call, families: tuple[str, ...]) -> bool:
    found = loss_families(sem, call)
    return bool(found) and found <= set(families)


def _escapes(sem: "FileSemantics", models: list[Value]) -> bool:
    """Whether a model is handed to code this file does not hold (a trainer, a library, an
    unknown callable) or returned from the file's top-level functions."""
    wanted = {id(model) for model in models}
    for observations in sem.evaluator.observed.values():
        for callee, args, kwargs in observations:
            if any(isinstance(option, (FunctionRef, ClassRef)) for option in options_of(callee)):
                continue
            passed = list(args) + list(kwargs.values())
            if any(id(option) in wanted for value in passed for option in options_of(value)):
                return True
    for trace in sem.traces:
        if any(id(option) in wanted for value in trace.returns for option in options_of(value)):
            return True
    return False
