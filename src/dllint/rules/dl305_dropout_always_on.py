from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule, TextEdit
from dllint.semantics import FileSemantics, catalog, fold, short_name
from dllint.semantics.scopes import ClassInfo, FunctionInfo, Scope
from dllint.semantics.syntax import bind_arguments, has_star_args

# Functional dropout whose ``training`` argument defaults to True. (``alpha_dropout`` and
# ``feature_alpha_dropout`` default to ``training=False``; ``torch.dropout`` has no default.)
_ALWAYS_ON = tuple(
    f"torch.nn.functional.{name}" for name in ("dropout", "dropout1d", "dropout2d", "dropout3d")
)
_PARAMS = ("input", "p", "training", "inplace")
# Methods that only ever run while training (Lightning's hook): dropout there is meant to be on.
_TRAINING_ONLY = frozenset({"training_step"})


class DropoutAlwaysOn(Rule):
    """
    ## What it does
    Flags dropout that `model.eval()` cannot switch off:

    - `F.dropout(x, p)` (and `F.dropout1d/2d/3d`) called in a method of an `nn.Module`, or in a
      helper function that a module's `forward` calls, without a `training` argument
      (positional or keyword). Its default is `training=True`.
    - An `nn.Dropout(...)` layer constructed inside `forward`: a freshly built module is in
      training mode, whatever mode the model is in.

    Not flagged: `F.dropout(x, p, training=self.training)` or `F.dropout(x, p, self.training)`
    (any `training` argument, including an explicit `training=True` for deliberate Monte-Carlo
    dropout); functional dropout in plain functions that no module calls; dropout with
    `p=0`; `F.alpha_dropout`, whose `training` defaults to False; a Lightning
    `training_step`, which only runs in training.

    ## Why is this bad?
    Dropout is a training-time regulariser (Srivastava et al., 2014): at evaluation the network must use
    all its units, and `model.eval()` is how PyTorch tells every *registered* `nn.Dropout`
    layer to stop. The functional `F.dropout` does not know about the module it is called
    from — it only sees its `training` argument, which defaults to True — and a dropout module
    created on the fly in `forward` is not registered and starts in training mode. Either way
    the model keeps zeroing random units at test time: predictions are noisy and
    systematically worse, and two runs on the same input disagree (the same failure as
    forgetting `model.eval()`, DL502).

    ## Example
    ```python
    import torch.nn as nn
    import torch.nn.functional as F


    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(512, 256)
            self.fc2 = nn.Linear(256, 10)

        def forward(self, x):
            x = F.dropout(F.relu(self.fc1(x)), p=0.5)
            return self.fc2(x)
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torch.nn.functional as F


    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(512, 256)
            self.fc2 = nn.Linear(256, 10)

        def forward(self, x):
            x = F.dropout(F.relu(self.fc1(x)), p=0.5, training=self.training)
            return self.fc2(x)
    ```

    ## References
    - Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](https://jmlr.org/papers/v15/srivastava14a.html), JMLR 2014 (dropout at training time only; the full network at test time)
    - [PyTorch: torch.nn.functional.dropout](https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html) (`training=True` by default)
    - [PyTorch: Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    - Runtime counterpart: DLP006 train-mode-inference (`dllint probe`)
    """

    code = "DL305"
    name = "dropout-always-on"
    summary = "Dropout that model.eval() cannot turn off"
    fixable = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        called_from_forward = _dropout_calls_in_forwards(sem)
        for site in sem.calls_to(*_ALWAYS_ON):
            call = site.node
            bound = bind_arguments(call, _PARAMS)
            if "training" in bound or has_star_args(call) or _no_op(bound, site.scope) or site.only_in_training:
                continue
            owner = _module_class_of(sem, site.scope)
            method = _method_of(site.scope)
            if method is not None and method.name in _TRAINING_ONLY:
                continue
            if owner is None and id(call) not in called_from_forward:
                continue
            where = f"in `{owner.name}`" if owner is not None else "in a helper that a module's `forward` calls"
            reported.add(id(call))
            yield Report(
                call,
                f"`{short_name(site.qualified)}` {where} has no `training` argument, and it defaults to True: "
                "this dropout stays on after `model.eval()` — pass `training=self.training`",
                fix_message="Pass `training=self.training`",
                edits=_training_edit(call, method.self_name) if owner is not None and method is not None else (),
            )
        for qualified, op in catalog.LAYERS.items():
            if op.kind != "dropout":
                continue
            for site in sem.calls_to(qualified):
                function = site.function
                if function is None or id(site.node) in reported:
                    continue
                owner = _module_class_of(sem, site.scope)
                if owner is None or not _inside_forward(site.scope):
                    continue
                reported.add(id(site.node))
                yield Report(
                    site.node,
                    f"`{short_name(qualified)}` is constructed inside `{owner.name}.forward`: a new module is in "
                    "training mode and is not registered, so `model.eval()` never reaches it and it keeps "
                    "dropping units at evaluation — create it in `__init__` (or use "
                    "`F.dropout(x, p, training=self.training)`)",
                )


def _method_of(scope: Scope) -> Optional[FunctionInfo]:
    """The method (of any class) whose body — or a function nested in it — holds the scope."""
    current: Optional[Scope] = scope
    while current is not None:
        if current.kind == "function" and current.info is not None and current.info.cls is not None:
            return current.info  # type: ignore[return-value]
        current = current.parent
    return None


def _module_class_of(sem: FileSemantics, scope: Scope) -> Optional[ClassInfo]:
    """The nn.Module class whose method (or a function nested in one) holds the scope."""
    method = _method_of(scope)
    if method is None or method.cls is None:
        return None
    return method.cls if sem.is_module_class(method.cls) else None


def _inside_forward(scope: Scope) -> bool:
    method = _method_of(scope)
    return method is not None and method.name == "forward"


def _dropout_calls_in_forwards(sem: FileSemantics) -> set[int]:
    """Functional dropout calls that the forward pass of a model class runs (through inlined
    same-file helpers)."""
    found: set[int] = set()
    for graph in sem.forward_graphs:
        for tensor in graph.tensors:
            if tensor.kind == "function" and tensor.target in _ALWAYS_ON and tensor.node is not None:
                found.add(id(tensor.node))
    return found


def _no_op(bound: dict[str, cst.BaseExpression], scope: Scope) -> bool:
    p = fold(bound["p"], scope) if "p" in bound else 0.5
    return isinstance(p, (int, float)) and not isinstance(p, bool) and p == 0


def _training_edit(call: cst.Call, self_name: Optional[str]) -> tuple[TextEdit, ...]:
    if not self_name or not call.args or any(arg.star for arg in call.args):
        return ()
    last = call.args[-1]
    text = cst.Module(body=[]).code_for_node(last.value)
    return (TextEdit(last.value, f"{text}, training={self_name}.training"),)
