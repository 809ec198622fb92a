from __future__ import annotations

import re
from typing import Any, Iterator, Optional

import libcst as cst

from dllint.findings import UNSAFE
from dllint.rules.base import Report, Rule, TextEdit
from dllint.rules.editing import rename_callee
from dllint.semantics import UNKNOWN, FileSemantics, fold
from dllint.semantics.scopes import CallSite
from dllint.semantics.syntax import bind_arguments, keyword
from dllint.semantics.values import Constant, options_of

# The Adam family whose ``weight_decay`` is an L2 term added to the gradient, by canonical
# name (``torch.optim.adam.Adam`` is the same class as ``torch.optim.Adam``).
_ADAM_FAMILY = re.compile(r"^torch\.optim\.(?:[a-z_]+\.)?(Adam|Adamax|NAdam|RAdam)$")
_PARAMS = ("params", "lr", "betas", "eps", "weight_decay")


class AdamL2WeightDecay(Rule):
    """
    ## What it does
    Flags `torch.optim.Adam(..., weight_decay=w)` with a `w` that is surely greater than 0
    (a literal, or a name or default argument that folds to a constant), and the same for
    `Adamax`, `NAdam` and `RAdam`, whose `weight_decay` is also an L2 term added to the
    gradient (unless `decoupled_weight_decay=True`, which `Adam`, `NAdam` and `RAdam` accept
    in recent PyTorch versions). A per-group `{"params": ..., "weight_decay": w}` literal is
    checked the same way.

    Not flagged: `AdamW`; `SGD` (and other non-adaptive optimizers, where L2 and weight
    decay are the same thing); `weight_decay=0`; a weight decay that is not known to be
    positive (a function parameter without a default, a config value); `Adagrad` and
    `RMSprop` (also coupled, but not what `AdamW` replaces).

    Off by default: L2-regularised Adam is a legitimate, if usually inferior, choice, and
    changing it changes the tuned hyperparameters.

    ## Why is this bad?
    L2 regularisation (for SGD, the same thing as weight decay)
    adds `w * θ` to the gradient so that weights stay small. With plain SGD that is exactly
    weight decay: every step shrinks `θ` by `lr * w * θ`. Adam, however, divides each
    gradient component by the running root-mean-square of that component's gradients (Kingma &
    Ba, 2015: per-parameter adaptive learning rates). The L2 term is divided too, so
    weights with large, frequent gradients are barely decayed and weights with small
    gradients are decayed strongly — the regularisation no longer does what the
    hyperparameter says, and it is entangled with the learning rate. `AdamW`
    (Loshchilov & Hutter) applies the decay to the weights directly, outside the adaptive
    scaling; it generalises better and its `weight_decay` can be tuned independently.

    ## Example
    ```python
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    ```

    ## Use instead
    ```python
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    ```
    (Decoupled decay is not numerically the same as L2: re-tune `weight_decay`, typically
    to a larger value such as 1e-2.)

    ## Fix safety
    The fix (`--unsafe-fixes`) replaces `Adam` with `AdamW`, with the same arguments
    (`torch.optim.Adam(...)` → `torch.optim.AdamW(...)`; a `from torch.optim import Adam` gets
    `AdamW` added). It is offered only for `Adam`, with `weight_decay` passed to the call itself
    (else AdamW's default of 1e-2 would apply to the parameter groups that set none, where Adam
    applied 0) and without `decoupled_weight_decay`. It is unsafe because decoupled weight decay
    is not L2: the same value regularises differently, so re-tune `weight_decay`.

    ## References
    - Loshchilov & Hutter, [Decoupled Weight Decay Regularization](https://arxiv.org/abs/1711.05101), ICLR 2019
    - Kingma & Ba, [Adam: A Method for Stochastic Optimization](https://arxiv.org/abs/1412.6980), ICLR 2015
    - [PyTorch: torch.optim.Adam](https://pytorch.org/docs/stable/generated/torch.optim.Adam.html) (`weight_decay` adds an L2 penalty to the gradient)
    - [PyTorch: torch.optim.AdamW](https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html)
    """

    code = "DL505"
    name = "adam-l2-weight-decay"
    summary = "Adam with L2 `weight_decay` instead of decoupled weight decay (AdamW)"
    default_enabled = False
    fixable = True
    fix_applicability = (UNSAFE,)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        for site in sem.info.calls:
            qualified = site.qualified
            match = _ADAM_FAMILY.match(qualified) if qualified else None
            if match is None:
                continue
            if _decoupled(site) is not False:
                continue
            decay = _positive_weight_decay(sem, site)
            if decay is None:
                continue
            name = match.group(1)
            edits = _to_adamw(sem, site) if name == "Adam" else None
            yield Report(
                site.node,
                f"`{name}` with `weight_decay={decay:g}` adds an L2 term to the gradient, which {name}'s "
                "adaptive scaling then divides away unevenly — this is not weight decay; use "
                "`torch.optim.AdamW` (decoupled weight decay) and re-tune `weight_decay`",
                fix_message="Use `AdamW` (then re-tune `weight_decay`: decoupled decay is not the same number)"
                if edits else None,
                edits=edits or (),
                applicability=UNSAFE,
            )


def _to_adamw(sem: FileSemantics, site: CallSite) -> Optional[tuple[TextEdit, ...]]:
    """``Adam(...)`` → ``AdamW(...)`` with the same arguments, when ``weight_decay`` is passed
    to the call itself (AdamW's default, 1e-2, would otherwise replace Adam's 0 for the
    parameter groups that do not set theirs) and ``decoupled_weight_decay`` is not."""
    if keyword(site.node, "decoupled_weight_decay") is not None or "weight_decay" not in bind_arguments(site.node, _PARAMS):
        return None
    if site.qualified != "torch.optim.Adam":
        return None
    return rename_callee(sem, site.node, "torch.optim.Adam", "torch.optim.AdamW")


def _decoupled(site: CallSite) -> Optional[bool]:
    """False when ``decoupled_weight_decay`` is surely off (absent or False)."""
    value = keyword(site.node, "decoupled_weight_decay")
    if value is None:
        return None if any(arg.star == "**" for arg in site.node.args) else False
    folded = fold(value, site.scope)
    return None if folded is UNKNOWN else bool(folded)


def _positive_weight_decay(sem: FileSemantics, site: CallSite) -> Optional[float]:
    """The weight decay when it is surely > 0 (top level or any literal param group)."""
    bound = bind_arguments(site.node, _PARAMS)
    if "weight_decay" in bound:
        value = _known_value(sem, site, bound["weight_decay"], "weight_decay", _PARAMS.index("weight_decay"))
        if _positive(value):
            return float(value)
    groups = bound.get("params")
    if isinstance(groups, (cst.List, cst.Tuple)):
        for element in groups.elements:
            group = element.value
            if not isinstance(group, cst.Dict):
                continue
            for item in group.elements:
                if isinstance(item, cst.DictElement) and fold(item.key, site.scope) == "weight_decay":
                    value = fold(item.value, site.scope)
                    if _positive(value):
                        return float(value)
    return None


def _known_value(sem: FileSemantics, site: CallSite, expr: cst.BaseExpression, name: str, position: int) -> Any:
    folded = fold(expr, site.scope)
    if folded is not UNKNOWN:
        return folded
    # A name: what the evaluator saw reach the call, in every evaluation that ran it.
    seen: list[Any] = []
    for _, args, kwargs in sem.observed(site.node):
        value = kwargs.get(name)
        if value is None and len(args) > position:
            value = args[position]
        if value is None:
            return UNKNOWN
        for option in options_of(value):
            if not isinstance(option, Constant):
                return UNKNOWN
            seen.append(option.value)
    if not seen or not all(_positive(v) for v in seen):
        return UNKNOWN
    return min(seen)


def _positive(value: Any) -> bool:
    return value is not UNKNOWN and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
