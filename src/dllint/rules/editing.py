"""Building fixes: the edits several rules make (take an output activation out, rename a torch
callable, add a statement before or after another). Each returns the edits, or None when the
code is not in a form the edit can be made safely; the rule then offers no fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.rules.base import TextEdit
from dllint.semantics.outputs import Removal, consumers, inline_in, removal
from dllint.semantics.syntax import dotted_name

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.losses import LossApplication, Origin


def remove_activation(
    sem: "FileSemantics", application: "LossApplication", origin: "Origin", families: tuple[str, ...]
) -> Optional[tuple[tuple[TextEdit, ...], list[cst.Call]]]:
    """The edits that take out the activation feeding a loss — written in the loss call, or the
    model's last operation when the model's output goes to losses of ``families`` only — and
    the loss calls that then receive the raw output. None when neither holds."""
    tensor = origin.tensor
    if tensor is None or origin.deferred:
        return None
    if inline_in(sem, origin, application.node):
        losses: Optional[list[cst.Call]] = [application.node]
    else:
        losses = consumers(sem, origin, families)
    if not losses:
        return None
    found = removal(sem, tensor)
    if found is None:
        return None
    return _removal_edits(found), losses


def _removal_edits(found: Removal) -> tuple[TextEdit, ...]:
    """Delete a Sequential's last layer from the end of the layer before it; or unwrap the
    activation call around its input, keeping the input's text as written (two deletions)."""
    if found.previous is not None:
        assert isinstance(found.node, cst.Arg)
        return (TextEdit(found.previous.value, "", start="end", until=found.node.value),)
    assert found.replacement is not None
    return (
        TextEdit(found.node, "", until=found.replacement, end="start"),
        TextEdit(found.replacement, "", start="end", until=found.node),
    )


def rename_callee(sem: "FileSemantics", call: cst.Call, old: str, new: str) -> Optional[tuple[TextEdit, ...]]:
    """Edits that make ``call`` call the torch callable ``new`` instead of ``old`` (both
    canonical qualified names in the same module, e.g. ``torch.nn.BCELoss`` →
    ``torch.nn.BCEWithLogitsLoss``): rename the attribute of ``nn.BCELoss(...)``; for a bare
    name, use ``new``'s name when it is already imported, or add it to the ``from ... import``
    that brought in ``old``. None when neither is possible."""
    site = sem.site_of(call)
    if site is None or site.qualified != old:
        return None
    new_module, new_name = new.rsplit(".", 1)
    func = call.func
    if isinstance(func, cst.Attribute):
        if site.scope.resolve(func.value) != new_module:
            return None
        return (TextEdit(func.attr, new_name),)
    if not isinstance(func, cst.Name):
        return None
    if site.scope.resolve(cst.Name(new_name)) == new:
        return (TextEdit(func, new_name),)
    statement = _import_of(sem, func.value, old)
    if statement is None:
        return None
    if site.scope.lookup(new_name):
        return None  # the new name already means something else here
    last = statement.names[-1]
    end = last.asname.name if last.asname is not None else last.name
    return (TextEdit(func, new_name), TextEdit(end, f", {new_name}", start="end"))


def _import_of(sem: "FileSemantics", name: str, qualified: str) -> Optional[cst.ImportFrom]:
    """The module-level ``from <module> import <name>`` (no alias) that binds ``name`` to ``qualified``."""
    module, last = qualified.rsplit(".", 1)
    if name != last:
        return None
    for statement in sem.module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if (
                isinstance(small, cst.ImportFrom)
                and not small.relative
                and small.module is not None
                and dotted_name(small.module) == module
                and not isinstance(small.names, cst.ImportStar)
                and any(alias.asname is None and dotted_name(alias.name) == name for alias in small.names)
            ):
                return small
    return None


def statement_before(sem: "FileSemantics", statement: cst.CSTNode, text: str) -> Optional[TextEdit]:
    """Insert the statement ``text`` on its own line before ``statement``, at its indentation."""
    indentation = sem.structure.indentation(statement)
    if indentation is None:
        return None
    return TextEdit.before(statement, f"{text}\n{indentation}")


def statement_after(sem: "FileSemantics", statement: cst.CSTNode, text: str) -> Optional[TextEdit]:
    """Insert the statement ``text`` on its own line after (the last line of) ``statement``, at
    its indentation."""
    indentation = sem.structure.indentation(statement)
    if indentation is None:
        return None
    newline = "\r\n" if "\r\n" in sem.text else "\n"
    return TextEdit.after_line_of(statement, f"{indentation}{text}{newline}")
