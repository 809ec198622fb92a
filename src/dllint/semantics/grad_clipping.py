"""Gradient clipping written by hand, over every parameter in a loop.

Besides ``torch.nn.utils.clip_grad_norm_``/``clip_grad_value_`` (``library.py``), code clips
with what those functions do inside, on each parameter of a ``for`` loop:

- by value: ``for p in model.parameters(): p.grad.data.clamp_(-clip, clip)`` (also
  ``p.grad.clamp_(min=-c, max=c)``, ``clip_``);
- by norm: ``p.grad.data.mul_(clip_coef)`` (or ``div_``, or ``p.grad.data *= clip_coef``) where
  the factor is computed from a norm of the gradients — ``total_norm = ...; clip_coef =
  max_norm / (total_norm + 1e-6)``, d2l's ``param.grad.data.mul_(theta / norm)`` and
  ``param.grad.data *= (theta / norm)``.

A rescale by a factor that is no norm (``p.grad.mul_(1.0 / accumulation_steps)``) is not
clipping, nor is a clamp of the weights (``p.data.clamp_(-0.01, 0.01)``, WGAN's weight
clipping) or of one named tensor's gradient (``images.grad.clamp_(...)``): the receiver must
be the gradient of the loop's own variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

import libcst as cst

from dllint.semantics.syntax import children_of

if TYPE_CHECKING:
    from dllint.semantics.scopes import CallSite, Scope

_BOUNDS = frozenset({"clamp_", "clip_"})
_RESCALES = frozenset({"mul_", "div_"})
_NORM_WORD = "norm"
MAX_FOLLOWED_NAMES = 20


def clips_gradients(site: Optional["CallSite"]) -> bool:
    """Whether the call clips the gradient of every parameter a loop goes over, by hand."""
    if site is None:
        return False
    func = site.node.func
    if type(func) is not cst.Attribute or func.attr.value not in _BOUNDS | _RESCALES:
        return False
    parameter = _gradient_of(func.value)
    if parameter is None or not any(_loop_binds(loop, parameter) for loop in site.loops):
        return False
    if func.attr.value in _BOUNDS:
        return True
    factor = next((arg.value for arg in site.node.args if arg.keyword is None and not arg.star), None)
    return factor is not None and _from_norm(factor, site.scope)


def rescales_gradients(node: cst.AugAssign, scope: "Scope", loops: Iterable[cst.CSTNode]) -> bool:
    """Whether ``p.grad.data *= factor`` (or ``/=``) clips, by norm, the gradient of every
    parameter one of the enclosing ``loops`` goes over. ``loops`` is only iterated once the
    statement is seen to rescale a gradient (finding the loops is the costly part)."""
    if type(node.operator) not in (cst.MultiplyAssign, cst.DivideAssign):
        return False
    parameter = _gradient_of(node.target)
    return (
        parameter is not None and any(_loop_binds(loop, parameter) for loop in loops) and _from_norm(node.value, scope)
    )


def _gradient_of(receiver: cst.BaseExpression) -> Optional[str]:
    """``p`` for ``p.grad``, ``p.grad.data``, ``p.grad.detach()``; else None."""
    if type(receiver) is cst.Attribute and receiver.attr.value == "data":
        receiver = receiver.value
    elif (type(receiver) is cst.Call and type(receiver.func) is cst.Attribute and receiver.func.attr.value == "detach"
          and not receiver.args):
        receiver = receiver.func.value
    if type(receiver) is cst.Attribute and receiver.attr.value == "grad" and type(receiver.value) is cst.Name:
        return receiver.value.value
    return None


def _loop_binds(loop: cst.CSTNode, name: str) -> bool:
    if type(loop) is not cst.For:
        return False
    targets = [loop.target]
    while targets:
        target = targets.pop()
        if type(target) is cst.Name and target.value == name:
            return True
        if type(target) in (cst.Tuple, cst.List):
            targets.extend(element.value for element in target.elements)
    return False


def _from_norm(expression: cst.BaseExpression, scope: "Scope") -> bool:
    """Whether an expression is computed from a norm: it names one (``total_norm``, ``norm``,
    ``x.norm(2)``, ``torch.linalg.vector_norm``), itself or through the assignments of the
    names it reads in the function."""
    pending = [expression]
    followed: set[str] = set()
    while pending:
        node = pending.pop()
        if type(node) is cst.Name:
            if _names_norm(node.value):
                return True
            if node.value not in followed and len(followed) < MAX_FOLLOWED_NAMES:
                followed.add(node.value)
                pending.extend(_assigned(node.value, scope))
            continue
        if type(node) is cst.Attribute and _names_norm(node.attr.value):
            return True
        pending.extend(children_of(node))
    return False


def _assigned(name: str, scope: "Scope") -> list[cst.BaseExpression]:
    """What the function assigns to a name (``x = ...``, ``x += ...``); nothing for a name
    bound outside the function."""
    bindings = scope.bindings.get(name, ())
    values = []
    for binding in bindings:
        if binding.value is not None:
            values.append(binding.value)
        elif type(binding.node) is cst.AugAssign:
            values.append(binding.node.value)
    return values


def _names_norm(identifier: str) -> bool:
    return _NORM_WORD in identifier.lower().split("_")
