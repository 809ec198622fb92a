"""Whether gradient recording is on (torch's grad mode) where a statement runs.

``torch.no_grad()``, ``torch.inference_mode()`` and ``torch.set_grad_enabled(False)`` turn it
off; ``torch.enable_grad()`` and ``torch.set_grad_enabled(True)`` turn it back on, and the
innermost switch wins: ``with torch.enable_grad():`` inside a ``no_grad`` block, or a Lightning
``validation_step`` (run by the framework under ``no_grad``) that calls
``torch.set_grad_enabled(True)`` to fine-tune a copy of its model, records gradients again.
Each works as a ``with`` context and as a decorator; ``set_grad_enabled`` also as a plain call,
which switches the mode for the statements after it.

A switch is ``True`` when it turns recording off (the code then runs under ``no_grad``),
``False`` when it turns it on, and ``None`` when the expression is no switch or its flag cannot
be read (``torch.set_grad_enabled(is_train)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

if TYPE_CHECKING:
    from dllint.semantics.scopes import Scope

_TURN_OFF = frozenset({"torch.no_grad", "torch.inference_mode"})
_TURN_ON = frozenset({"torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad"})
_SET = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled", "torch.autograd.grad_mode.set_grad_enabled"})
_FLAGS = {"True": True, "False": False}


def grad_switch(expr: cst.BaseExpression, scope: "Scope") -> Optional[bool]:
    """What a ``with`` item or a decorator does to gradient recording (see the module's doc)."""
    func = expr.func if isinstance(expr, cst.Call) else expr
    qualified = scope.resolve(func)
    if qualified in _TURN_OFF:
        if qualified == "torch.inference_mode" and _flag(expr, "mode") is False:
            return None  # inference_mode(False) leaves the mode as it was
        return True
    if qualified in _TURN_ON:
        return False
    if qualified in _SET:
        flag = _flag(expr, "mode")
        return None if flag is None else not flag
    return None


def grad_mode_statement(statement: cst.BaseSmallStatement, scope: "Scope") -> Optional[bool]:
    """The switch a plain ``torch.set_grad_enabled(flag)`` statement makes for the statements
    after it (a ``torch.no_grad()`` called alone does nothing)."""
    if type(statement) is not cst.Expr or type(statement.value) is not cst.Call:
        return None
    call = statement.value
    return grad_switch(call, scope) if scope.resolve(call.func) in _SET else None


def _flag(expr: cst.BaseExpression, keyword: str) -> Optional[bool]:
    """The literal ``True``/``False`` given as the call's first argument (or ``keyword=``)."""
    if not isinstance(expr, cst.Call) or not expr.args:
        return None
    first = expr.args[0]
    if first.keyword is not None and first.keyword.value != keyword:
        return None
    value = first.value
    return _FLAGS.get(value.value) if isinstance(value, cst.Name) else None
