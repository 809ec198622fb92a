from __future__ import annotations

from typing import Iterator

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import (
    CallSite,
    FileSemantics,
    Instance,
    Layer,
    Tensor,
    short_name,
)
from dllint.semantics.syntax import bind_arguments, has_star_args
from dllint.semantics.values import Constant, Container, Obj, Reference

# dim optional, implicit choice deprecated: (input, dim) for functions, (dim,) for modules.
_IMPLICIT_FUNCTIONS = (
    "torch.nn.functional.softmax", "torch.nn.functional.log_softmax", "torch.nn.functional.softmin",
)
_IMPLICIT_MODULES = ("torch.nn.Softmax", "torch.nn.LogSoftmax", "torch.nn.Softmin")
# dim required: the call raises a TypeError without it.
_REQUIRED_FUNCTIONS = (
    "torch.softmax", "torch.log_softmax", "torch.special.softmax", "torch.special.log_softmax",
    "torch.Tensor.softmax", "torch.Tensor.log_softmax",
)
_METHODS = ("softmax", "log_softmax")

_IMPLICIT = (
    "PyTorch then picks the dimension from the input's rank (dim=0 for 0-, 1- and 3-D input, dim=1 "
    "otherwise): deprecated, and wrong for an unbatched (C, H, W) image or a batch of 1-D scores — "
    "pass `dim=` explicitly (the class dimension: usually `dim=-1`, or `dim=1` for (N, C, H, W) maps)"
)


class SoftmaxMissingDim(Rule):
    """
    ## What it does
    Flags a softmax whose dimension is left to PyTorch: `F.softmax(x)`, `F.log_softmax(x)`,
    `F.softmin(x)`, `nn.Softmax()`, `nn.LogSoftmax()`, `nn.Softmin()` with no `dim` (or
    `dim=None`). It also flags `torch.softmax(x)`, `torch.log_softmax(x)` and the tensor
    methods `x.softmax()` / `x.log_softmax()` without a dim: those have no implicit choice at
    all and raise a `TypeError` when the line runs.

    Not flagged: any explicit dim, positional (`F.softmax(x, 1)`, `nn.Softmax(-1)`) or keyword;
    a dim that is a variable; calls with `*args`/`**kwargs`; `nn.Softmax2d` (it has no dim);
    your own `softmax` function or method.

    There is no automatic fix: PyTorch's implicit choice is dim=0 for 0-, 1- and 3-D input and
    dim=1 otherwise, so no single `dim=` keeps every call's behaviour. The message suggests
    the usual value (`dim=-1` for (batch, classes) scores — the same as the implicit choice
    for 2-D input — or `dim=1` for (N, C, H, W) maps); check the shape before applying it.

    ## Why is this bad?
    Softmax turns a vector of scores into probabilities that sum to 1 (seed §1.8) — *which*
    vector depends on the dimension it normalises over. Without `dim`, PyTorch guesses from the
    input's rank and emits a deprecation warning. The guess is right for the common (batch,
    classes) input and silently wrong elsewhere: a batch of scalar scores (1-D) or a single
    (C, H, W) image is normalised across dimension 0 — over the batch or the channels — so
    the "probabilities" of one sample depend on the other samples in the batch, and the
    result changes when the batch size or the input's rank changes (`unsqueeze`, a
    per-sample call at inference).

    ## Example
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    head = nn.Sequential(nn.Linear(512, 10), nn.LogSoftmax())

    def predict(logits):
        return F.softmax(logits).argmax(1)
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    head = nn.Sequential(nn.Linear(512, 10), nn.LogSoftmax(dim=1))

    def predict(logits):
        return F.softmax(logits, dim=-1).argmax(1)
    ```

    ## References
    - Seed notes §1.8 (softmax normalises a vector of scores into probabilities)
    - [PyTorch: torch.nn.functional.softmax](https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html)
      and [nn.Softmax](https://pytorch.org/docs/stable/generated/torch.nn.Softmax.html) (`dim`)
    - PyTorch source, `torch/nn/functional.py: _get_softmax_dim` ("Implicit dimension choice
      for softmax has been deprecated. Change the call to include dim=X as an argument.")
    """

    code = "DL403"
    name = "softmax-missing-dim"
    summary = "Softmax without an explicit dim"

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        for site in sem.calls_to(*_IMPLICIT_FUNCTIONS):
            if _missing(site.node, ("input", "dim")):
                yield Report(site.node, f"`{short_name(site.qualified)}` is called without `dim`: {_IMPLICIT}")
        for site in sem.calls_to(*_IMPLICIT_MODULES):
            if _missing(site.node, ("dim",)):
                yield Report(site.node, f"`{short_name(site.qualified)}()` is built without `dim`: {_IMPLICIT}")
        for site in sem.calls_to(*_REQUIRED_FUNCTIONS):
            if _missing(site.node, ("input", "dim")):
                yield Report(site.node, _raises(f"`{site.qualified}`"))
        for site in sem.method_calls(*_METHODS):
            if _missing(site.node, ("dim",)) and _tensor_receiver(sem, site):
                yield Report(site.node, _raises(f"`.{site.method}()`"))


def _raises(spelled: str) -> str:
    return (
        f"{spelled} is called without `dim`, which it requires: this line raises a TypeError when it runs — pass "
        "`dim=` (the class dimension: usually `dim=-1`, or `dim=1` for (N, C, H, W) maps)"
    )


def _missing(call: cst.Call, params: tuple[str, ...]) -> bool:
    """No ``dim`` passed (or ``dim=None`` written out), and no ``*args``/``**kwargs`` that might pass it."""
    if has_star_args(call):
        return False
    bound = bind_arguments(call, params)
    dim = bound.get("dim")
    return dim is None or (isinstance(dim, cst.Name) and dim.value == "None")


def _tensor_receiver(sem: FileSemantics, site: CallSite) -> bool:
    """``x.softmax()`` on what may be a tensor — not on ``self`` or an object of a class that
    defines its own ``softmax`` method."""
    receiver = site.receiver
    if isinstance(receiver, cst.Name) and receiver.value in ("self", "cls"):
        return False
    seen = [value for value, _, _ in sem.observed(site.node)]
    if any(isinstance(value, (Instance, Layer, Container, Obj, Reference, Constant)) for value in seen):
        return False
    if any(site.method in cls.methods for cls in sem.info.classes):
        # The file has its own ``softmax`` method: only a receiver seen to be a tensor counts.
        return any(isinstance(value, Tensor) for value in seen)
    return True
