from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import libcst as cst

from dllint.findings import UNSAFE
from dllint.rules.base import Report, Rule, TextEdit
from dllint.semantics import UNKNOWN, FileSemantics, fold, short_name
from dllint.semantics.catalog import LAYERS
from dllint.semantics.syntax import bind_arguments

_BATCH_NORMS = tuple(name for name, op in LAYERS.items() if op.kind == "norm" and op.family == "batch")
# A positional eps above this is read as a momentum (real eps values are 1e-5 … 1e-3).
_MAX_EPS = 0.01
# Keras' default momentum is 0.99, its GAN examples use 0.8; PyTorch's default is 0.1. At 0.5
# the two conventions agree (1 - 0.5 = 0.5): only momenta above it read as Keras'.
_KERAS_MOMENTUM_ABOVE = 0.5


class BatchNormEpsAsMomentum(Rule):
    """
    ## What it does
    Flags a `BatchNorm1d/2d/3d` (also `SyncBatchNorm` and `LazyBatchNorm*d`) given
    - a *positional* `eps` between 0.01 and 1 — `nn.BatchNorm2d(64, 0.8)`: the second positional
      argument of these layers is `eps`, not `momentum` (for `LazyBatchNorm*d`, which has no
      `num_features`, the first one is);
    - or a `momentum` above 0.5 — `nn.BatchNorm2d(64, momentum=0.9)`: Keras' convention.

    Values are folded from literals, module constants and the arguments a model class was built
    with. Not flagged: `eps=` given by keyword (an explicit choice); small positional values
    (`nn.BatchNorm2d(64, 1e-3)`, real epsilons); `momentum=None` (a cumulative average);
    momenta up to 0.5 (at 0.5 both conventions mean the same average).

    ## Why is this bad?
    Batch normalisation divides each feature by `sqrt(var + eps)`. `eps` only guards against a
    division by zero, so it is tiny (1e-5 by default). With `eps=0.8`, a feature whose batch
    variance is 0.01 is divided by about 0.9 instead of 0.1: it is barely normalised, and the
    layer no longer does what batch normalisation is for — the activations keep the scale the
    previous layer gave them. Code ported from Keras, whose `BatchNormalization(momentum=0.8)`
    is written `BatchNorm2d(64, 0.8)` by someone who assumed the same argument order, does this
    silently; one widely copied collection of GAN implementations has dozens of such calls.

    The momentum itself is the same trap one step later: Keras' `momentum` is the weight of the
    *old* running average (`running = momentum * running + (1 - momentum) * batch`), PyTorch's
    the weight of the *new* batch (`running = (1 - momentum) * running + momentum * batch`,
    default 0.1). `momentum=0.9` in PyTorch makes the running statistics — what the model uses
    in `eval()` mode — little more than the last batch's, so evaluation outputs jump with it.

    ## Example
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
        nn.BatchNorm2d(64, 0.8),
        nn.LeakyReLU(0.2, inplace=True),
    )
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),
        nn.BatchNorm2d(64, momentum=0.2),
        nn.LeakyReLU(0.2, inplace=True),
    )
    ```

    ## Fix safety
    The fix (`--unsafe-fixes`) guesses what the author meant, so it is unsafe: a positional eps
    of 0.5 or more becomes `momentum=1 - value` (`nn.BatchNorm2d(64, 0.8)` →
    `nn.BatchNorm2d(64, momentum=0.2)`: Keras' 0.8 is PyTorch's 0.2), a smaller one
    `momentum=value` (read as PyTorch's own convention), and `eps` goes back to its default;
    `momentum=m` above 0.5 becomes `momentum=1 - m` (`0.9` → `0.1`). Both change what the layer
    computes in training. The fix is offered only where the written argument is a number — not a
    constant or a parameter that other layers share — and the eps fix only when it is the last
    positional argument and no momentum is passed as well.

    ## References
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), 2015 (Algorithm 1: ε is "a constant added to the mini-batch variance for numerical stability"; §3.1, the population statistics used at inference)
    - [PyTorch: torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html) (signature `BatchNorm2d(num_features, eps=1e-05, momentum=0.1, ...)`, and the note that its momentum differs from the optimizer's and the conventional notion)
    - [Keras: BatchNormalization](https://keras.io/api/layers/normalization_layers/batch_normalization/) (`momentum=0.99`: the weight of the old moving average)
    """

    code = "DL306"
    name = "batchnorm-eps-as-momentum"
    summary = "BatchNorm given a momentum-like eps, or a Keras-convention momentum"
    fixable = True
    fix_applicability = (UNSAFE,)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for layer in sem.layers:
            if layer.op.kind != "norm" or layer.op.family != "batch":
                continue
            found = _misuse(layer.node, layer.args, layer.arg)
            if found is None:
                continue
            parameter, value = found
            node, note = layer.report_site(parameter)
            if id(node) in reported:
                continue
            reported.add(id(node))
            yield _report(node, layer.qualified, parameter, value, note, layer.args if node is layer.node else None)
        for site in sem.calls_to(*_BATCH_NORMS):
            if id(site.node) in reported:
                continue  # evaluated above; this catches constructions no evaluation reached
            args = bind_arguments(site.node, LAYERS[site.qualified].params)
            found = _misuse(site.node, args, _folder(site.node, args, site.scope))
            if found is None:
                continue
            reported.add(id(site.node))
            yield _report(site.node, site.qualified, found[0], found[1], "", args)


def _folder(call: cst.Call, args: dict[str, cst.BaseExpression], scope) -> Callable[[str, Any], Any]:
    def value(name: str, default: Any) -> Any:
        if name not in args:
            return UNKNOWN if any(arg.star for arg in call.args) else default
        return fold(args[name], scope)

    return value


def _misuse(call: cst.Call, args: dict[str, cst.BaseExpression], value: Callable[[str, Any], Any]) -> Optional[tuple[str, float]]:
    """("eps", v) for a positional eps that looks like a momentum, ("momentum", m) for a
    Keras-convention momentum, or None."""
    eps = value("eps", 1e-5)
    if _is_number(eps) and _MAX_EPS < eps < 1 and _positional(call, args.get("eps")):
        return "eps", eps
    momentum = value("momentum", 0.1)
    if _is_number(momentum) and _KERAS_MOMENTUM_ABOVE < momentum < 1:
        return "momentum", momentum
    return None


def _report(node: cst.CSTNode, qualified: str, parameter: str, value: float, note: str,
            args: Optional[dict[str, cst.BaseExpression]]) -> Report:
    """The finding; ``args`` (the call's bound arguments) when it is reported at the layer's own
    call, where the fix may edit them."""
    layer = short_name(qualified)
    if parameter == "eps":
        meant = _complement(value) if value > _KERAS_MOMENTUM_ABOVE else value
        signature = ", ".join(LAYERS[qualified].params[:3])
        message = (
            f"`{layer}` gets {value:g} as `eps`, not `momentum`{note} (its positional arguments are "
            f"`{signature}`, ...): "
            f"every feature is divided by sqrt(var + {value:g}), so features of small variance are barely "
            "normalised — if you meant a momentum, pass it by keyword: "
            + _conventions(value, meant)
        )
        edits = _eps_to_momentum(node, args, meant) if args is not None else ()
        return _fixed(node, message, edits, f"Pass `momentum={meant:g}` and keep the default eps")
    meant = _complement(value)
    message = (
        f"`{layer}` has `momentum={value:g}`{note}, Keras' convention: "
        + _conventions(value, meant)
        + f"; with {value:g} the running statistics used in `eval()` are mostly the last batch's"
    )
    literal = args.get("momentum") if args is not None else None
    edits = (TextEdit(literal, f"{meant:g}"),) if _is_literal(literal) else ()
    return _fixed(node, message, edits, f"Use `momentum={meant:g}`")


def _fixed(node: cst.CSTNode, message: str, edits: tuple[TextEdit, ...], fix_message: str) -> Report:
    return Report(node, message, fix_message=fix_message if edits else None, edits=edits, applicability=UNSAFE)


def _eps_to_momentum(call: cst.CSTNode, args: dict[str, cst.BaseExpression], meant: float) -> tuple[TextEdit, ...]:
    """Replace the positional eps with ``momentum=meant`` — only when it is a number, the last
    positional argument, and no momentum is passed as well."""
    eps = args.get("eps")
    if not isinstance(call, cst.Call) or not _is_literal(eps) or "momentum" in args or any(a.star for a in call.args):
        return ()
    positional = [arg for arg in call.args if arg.keyword is None]
    if not positional or positional[-1].value is not eps:
        return ()
    return (TextEdit(eps, f"momentum={meant:g}"),)


def _conventions(value: float, meant: float) -> str:
    if value > _KERAS_MOMENTUM_ABOVE:
        return (
            f"Keras' momentum weights the old running average, PyTorch's weights the new batch (default 0.1), "
            f"so Keras' {value:g} is PyTorch's `momentum={meant:g}`"
        )
    return f"`momentum={meant:g}` (PyTorch's momentum weights the new batch; Keras' would be {_complement(value):g})"


def _positional(call: cst.Call, expr: Optional[cst.BaseExpression]) -> bool:
    return expr is not None and any(arg.value is expr and arg.keyword is None for arg in call.args)


def _is_literal(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, (cst.Float, cst.Integer))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _complement(value: float) -> float:
    return round(1 - value, 6)
