"""Which models an optimizer updates, and which models a gradient-clearing call clears.

An optimizer is built from parameters: ``Adam(G.parameters())``,
``Adam(itertools.chain(E.parameters(), D.parameters()))``, ``SGD([{"params": m.parameters()}])``,
``Adam(list(a.parameters()) + list(b.parameters()))``, ``Adam(filter(lambda p: ..., m.parameters()))``.
The answer is the list of models whose ``parameters()`` went in, or None when dllint cannot
tell (an optimizer passed in as an argument, raw parameter tensors, a list built elsewhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.modes import held_by
from dllint.semantics.syntax import iter_tree
from dllint.semantics.trace import Event
from dllint.semantics.values import (
    Container,
    Instance,
    Layer,
    Obj,
    ParameterOf,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

_PARAMETER_METHODS = ("parameters", "named_parameters")
_PASS_THROUGH = ("itertools.chain",)


def optimizer_of(step: Event) -> Value:
    """What a ``step`` event updates: the optimizer, or the one passed to ``scaler.step(optimizer)``."""
    for option in options_of(step.target):
        if isinstance(option, Obj) and option.qualified.endswith("GradScaler") and step.args:
            return step.args[0]
    return step.target


def updated_models(sem: "FileSemantics", optimizer: Value) -> Optional[list[Value]]:
    """The models whose parameters the optimizer updates; None when that is unknown."""
    models: list[Value] = []
    for option in options_of(optimizer):
        if not isinstance(option, Obj) or not option.qualified.startswith("torch.optim."):
            return None
        params = option.args[0] if option.args else option.kwargs.get("params")
        if params is None:
            return None
        found = _models_in(sem, params, 0)
        if found is None:
            return None
        models.extend(found)
    return models or None


def covers(models: list[Value], model: Value) -> bool:
    """Whether ``model`` is one of ``models`` or held by one of them (``gan.generator``)."""
    return any(_is_or_holds(owner, model) for owner in models)


def clears(sem: "FileSemantics", event: Event, model: Value) -> bool:
    """Whether a ``zero_grad`` event clears ``model``'s gradients — counted as yes when what it
    clears is unknown (an optimizer passed in, a helper of another file)."""
    for option in options_of(event.target):
        if isinstance(option, Obj) and option.qualified.startswith("torch.optim."):
            updated = updated_models(sem, option)
            if updated is None or covers(updated, model):
                return True
        elif isinstance(option, (Instance, Container, Layer)):
            if _is_or_holds(option, model):
                return True
        elif isinstance(option, ParameterOf):
            if any(_is_or_holds(owner, model) for owner in options_of(option.model)):
                return True
        else:
            return True
    return False


def _is_or_holds(owner: Value, model: Value) -> bool:
    return any(owner is option for option in options_of(model)) or held_by(owner, model)


def _models_in(sem: "FileSemantics", params: Value, depth: int) -> Optional[list[Value]]:
    if depth > 6:
        return None
    models: list[Value] = []
    for option in options_of(params):
        if isinstance(option, Obj) and option.qualified == "parameters" and option.args:
            models.append(option.args[0])
        elif isinstance(option, Obj) and option.qualified in _PASS_THROUGH:
            found = [_models_in(sem, argument, depth + 1) for argument in option.args]
            if not found or any(f is None for f in found):
                return None
            models.extend(m for f in found for m in f)  # type: ignore[union-attr]
        elif isinstance(option, Container) and option.complete and option.items:
            items = option.items
            if option.keys is not None:  # a parameter group: {"params": ..., "lr": ...}
                items = [item for key, item in zip(option.keys, option.items) if key == "params"]
            found = [_models_in(sem, item, depth + 1) for item in items]
            if not found or any(f is None for f in found):
                return None
            models.extend(m for f in found for m in f)  # type: ignore[union-attr]
        elif isinstance(getattr(option, "node", None), cst.CSTNode):
            # ``list(G.parameters()) + list(D.parameters())``, ``[p for p in m.parameters() if ...]``,
            # ``filter(fn, m.parameters())``: the evaluator does not list these elements; the
            # ``parameters()`` calls in the expression say whose they are.
            found = _models_called_in(sem, option.node)  # type: ignore[union-attr]
            if found is None:
                return None
            models.extend(found)
        else:
            return None
    return models


def _models_called_in(sem: "FileSemantics", node: cst.CSTNode) -> Optional[list[Value]]:
    models: list[Value] = []
    for inner in iter_tree(node):
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and inner.func.attr.value in _PARAMETER_METHODS:
            seen = sem.observed(inner)
            if not seen:
                return None
            models.extend(option for receiver, _, _ in seen for option in options_of(receiver))
    return models or None
