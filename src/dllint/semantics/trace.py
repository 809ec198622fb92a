"""What a root evaluation saw: the events of a training or inference loop, in execution order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.values import Value

if TYPE_CHECKING:
    from dllint.semantics.frameworks import Driver
    from dllint.semantics.scopes import CallSite, FunctionInfo


class Event:
    """Something a training or inference loop does, in execution order.

    kind: forward | recurrent | backward | step | zero_grad | clip | eval | train | unscale | requires_grad
    target: the model (forward/eval/train), the loss (backward) or the optimizer (step/zero_grad)
    recurrent: an ``nn.RNN``/``LSTM``/``GRU`` layer (or cell) applied (target: the layer, with
    ``output`` and ``args`` as for a forward)
    requires_grad: ``model.requires_grad_(flag)`` or ``p.requires_grad = flag`` (target: the model,
    or the parameter — a :class:`ParameterOf` in a loop over ``model.parameters()``; args: (flag,))
    zero_grad also stands for the other ways of clearing gradients: ``p.grad = None`` (node:
    the assigned attribute), ``p.grad.zero_()``, helpers named ``*zero_grad*``
    mode: for forward: the model's mode at that moment (train | eval | caller | self | unknown)
    driver: for a step that a framework runs (a Lightning or Hugging Face ``Trainer``, a DeepSpeed
    engine), what it does around it (``frameworks.Driver``: clipping, clearing); for a backward
    run through a framework (``accelerator.backward``, ``fabric.backward``, Lightning's
    ``manual_backward``), how to clip with it; else None
    """

    __slots__ = (
        "kind", "node", "target", "site", "no_grad", "iterations", "conditional", "stack", "mode", "output", "args",
        "driver",
    )

    def __init__(
        self,
        kind: str,
        node: cst.CSTNode,
        target: Value,
        site: Optional["CallSite"],
        no_grad: bool,
        iterations: tuple[tuple[cst.CSTNode, int], ...],
        conditional: bool,
        stack: tuple["FunctionInfo", ...],
        mode: str = "",
        output: Optional[Value] = None,
        args: tuple[Value, ...] = (),
        driver: Optional["Driver"] = None,
    ) -> None:
        self.kind = kind
        self.node = node
        self.target = target
        self.site = site
        self.no_grad = no_grad
        self.iterations = iterations
        self.conditional = conditional
        self.stack = stack
        self.mode = mode
        self.output = output
        self.args = args
        self.driver = driver

    def __repr__(self) -> str:
        return f"<Event {self.kind}>"


class Trace:
    """What one root evaluation saw."""

    __slots__ = ("root", "events", "returns", "complete", "path", "span")

    def __init__(
        self,
        root: Optional["FunctionInfo"],
        events: Optional[list[Event]] = None,
        returns: Optional[list[Value]] = None,
        complete: bool = True,
        path: str = "",
    ) -> None:
        self.root = root
        self.events: list[Event] = [] if events is None else events
        self.returns: list[Value] = [] if returns is None else returns
        self.complete = complete
        self.path = path  # the conditions chosen on this run, in words ("" when it chose none)
        self.span = (0, 0)  # the evaluator's tensors computed by this run: tensors[start:end]
