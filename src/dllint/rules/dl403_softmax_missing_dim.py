from __future__ import annotations

from typing import Iterator

import libcst as cst

from dllint.findings import UNSAFE
from dllint.rules.base import Report, Rule, TextEdit
from dllint.semantics import (
    CallSite,
    FileSemantics,
    Instance,
    Layer,
    Tensor,
    short_name,
)
from dllint.semantics.ranks import rank, softmax_implicit_dim
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

    ## Why is this bad?
    Softmax turns a vector of scores into probabilities that sum to 1 — *which*
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

    ## Fix safety
    The fix (`--unsafe-fixes`) passes `dim=`. Where every evaluation that sees the call knows the
    input's rank, it is the dimension PyTorch's implicit rule picks for that rank — 1 for 2-D and
    4-D input, 0 for 1-D and 3-D — which keeps what the call computes (the fix's message says
    which rank and dim); where the rank is unknown, `dim=-1`, the class dimension of (batch,
    classes) scores. For the calls that raise without `dim` (`torch.softmax(x)`, `x.softmax()`)
    there is nothing to keep: `dim=1` for 4-D (N, C, H, W) maps, else `dim=-1`. There is no fix
    when the call is seen with inputs of ranks that call for different dims. It is unsafe because
    `dim=-1` matches the implicit choice only for 2-D input, and an implicit `dim=0` kept for 3-D
    input is often the very mistake this rule is about: check the shape.

    ## References
    - [PyTorch: torch.nn.functional.softmax](https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html) (`dim`)
    - [PyTorch: torch.nn.Softmax](https://pytorch.org/docs/stable/generated/torch.nn.Softmax.html)
    - [PyTorch: torch.nn.LogSoftmax](https://pytorch.org/docs/stable/generated/torch.nn.LogSoftmax.html)
    - [PyTorch source: `_get_softmax_dim`](https://github.com/pytorch/pytorch/blob/main/torch/nn/functional.py) ("Implicit dimension choice for softmax has been deprecated. Change the call to include dim=X as an argument.")
    """

    code = "DL403"
    name = "softmax-missing-dim"
    summary = "Softmax without an explicit dim"
    fixable = True
    fix_applicability = (UNSAFE,)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        for site in sem.calls_to(*_IMPLICIT_FUNCTIONS):
            if _missing(site.node, ("input", "dim")):
                yield self._report(sem, site, f"`{short_name(site.qualified)}` is called without `dim`: {_IMPLICIT}",
                                   _function_input_ranks(sem, site), ("input", "dim"), implicit=True)
        for site in sem.calls_to(*_IMPLICIT_MODULES):
            if _missing(site.node, ("dim",)):
                yield self._report(sem, site, f"`{short_name(site.qualified)}()` is built without `dim`: {_IMPLICIT}",
                                   _module_input_ranks(sem, site), ("dim",), implicit=True)
        for site in sem.calls_to(*_REQUIRED_FUNCTIONS):
            if _missing(site.node, ("input", "dim")):
                yield self._report(sem, site, _raises(f"`{site.qualified}`"), _function_input_ranks(sem, site),
                                   ("input", "dim"), implicit=False)
        for site in sem.method_calls(*_METHODS):
            if _missing(site.node, ("dim",)) and _tensor_receiver(sem, site):
                yield self._report(sem, site, _raises(f"`.{site.method}()`"), _receiver_ranks(sem, site),
                                   ("dim",), implicit=False)

    def _report(
        self, sem: FileSemantics, site: CallSite, message: str, ranks: set[int], params: tuple[str, ...], *, implicit: bool
    ) -> Report:
        """The finding, with a fix that passes ``dim``: the dimension PyTorch's implicit rule
        picks for the input's rank where every evaluation that saw the call knows it the same
        (so the behaviour is kept), else ``dim=-1`` (the last dimension: classes of (batch,
        classes) scores). For the calls that raise without ``dim`` there is no implicit rule to
        keep: ``dim=1`` for 4-D (N, C, H, W) maps, else ``dim=-1``. No fix when the call is
        seen with inputs of ranks that call for different dims."""
        dims = {softmax_implicit_dim(seen) if implicit else (1 if seen == 4 else -1) for seen in ranks}
        if len(dims) > 1:
            # seen with inputs of different ranks, for which no one dim does what the call did
            return Report(site.node, message + f" (this call is seen with {_ranks(ranks)} input: no automatic fix)")
        rank = next(iter(ranks)) if len(ranks) == 1 else None
        if implicit and rank is not None:
            dim = softmax_implicit_dim(rank)
            why = f"the input here is {rank}-D, for which PyTorch's implicit choice is dim={dim}: this keeps it"
        elif implicit:
            dim = -1
            why = ("the input's rank is unknown here; PyTorch's implicit choice is dim=1 for 2-D and 4-D input and "
                   "dim=0 for 1-D and 3-D: -1 matches it only for 2-D (batch, classes) scores — check the shape")
        else:
            dim = 1 if rank == 4 else -1
            why = ("the input is 4-D here: (N, C, H, W) maps are normalised over the channels" if rank == 4 else
                   "the last dimension, where (batch, classes) scores keep their classes — check the shape")
        edits = _dim_edits(site.node, params, dim)
        return Report(
            site.node,
            message,
            fix_message=f"Pass `dim={dim}` ({why})" if edits else None,
            edits=edits,
            applicability=UNSAFE,
        )


def _ranks(ranks: set[int]) -> str:
    ordered = sorted(ranks)
    return ", ".join(f"{r}-D" for r in ordered[:-1]) + f" and {ordered[-1]}-D"


def _function_input_ranks(sem: FileSemantics, site: CallSite) -> set[int]:
    found = set()
    for _, args, kwargs in sem.observed(site.node):
        value = args[0] if args else kwargs.get("input")
        found.add(rank(value))
    found.discard(None)
    return found  # type: ignore[return-value]


def _receiver_ranks(sem: FileSemantics, site: CallSite) -> set[int]:
    found = {rank(receiver) for receiver, _, _ in sem.observed(site.node)}
    found.discard(None)
    return found  # type: ignore[return-value]


def _module_input_ranks(sem: FileSemantics, site: CallSite) -> set[int]:
    """Ranks of what the layer built here is applied to, wherever that is seen."""
    found = set()
    for tensor in sem.evaluator.tensors:
        if tensor.kind == "module" and isinstance(tensor.target, Layer) and tensor.target.node is site.node and tensor.inputs:
            found.add(rank(tensor.inputs[0]))
    found.discard(None)
    return found  # type: ignore[return-value]


def _dim_edits(call: cst.Call, params: tuple[str, ...], dim: int) -> tuple[TextEdit, ...]:
    """``dim=<dim>`` put in place of a ``None`` dim, or added after the last argument."""
    written = bind_arguments(call, params).get("dim")
    if written is not None:
        return (TextEdit(written, str(dim)),)
    if not call.args:
        return (TextEdit(call.func, f"(dim={dim})", start="end", until=call),)
    return (TextEdit(call.args[-1].value, f", dim={dim}", start="end"),)


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
