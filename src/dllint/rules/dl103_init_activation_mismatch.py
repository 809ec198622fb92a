from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, Layer, Tensor, describe, short_name
from dllint.semantics.inits import (
    InitWrite,
    applications,
    in_residual_branch,
    next_operations,
    scale_reaches_weights,
)
from dllint.semantics.values import Constant

_XAVIER = ("xavier_uniform_", "xavier_normal_")
_KAIMING = ("kaiming_uniform_", "kaiming_normal_")
_SPECIFIC = ("direct", "self", "class")


class _Verdict:
    __slots__ = ("layer", "activation")

    def __init__(self, layer: Layer, activation: Tensor) -> None:
        self.layer = layer
        self.activation = activation


# The variance a mismatched init loses (Xavier before ReLU halves it) compounds with depth:
# one hidden layer loses it once, which training absorbs.
MIN_MISMATCHED_LAYERS = 2


class InitActivationMismatch(Rule):
    """
    ## What it does
    Flags an initialisation whose scale is derived for one kind of activation applied to
    layers followed by another:
    - Xavier/Glorot (`nn.init.xavier_uniform_`/`xavier_normal_` with the default gain 1) on a
      layer whose output goes through a ReLU-family activation (ReLU, LeakyReLU, GELU, SiLU…);
    - Kaiming/He (`nn.init.kaiming_uniform_`/`kaiming_normal_` with `nonlinearity="relu"`, or
      the default `"leaky_relu"` with a small slope) on a layer whose output goes through
      tanh or sigmoid.

    The activation that follows each layer is read from the forward pass (`forward`
    dataflow and `nn.Sequential` order), so an init loop over `self.modules()` or an init
    function given to `model.apply` is judged layer by layer.

    Not flagged: nets where each layer's init matches its own activation (a tanh branch with
    Xavier next to a ReLU branch with He); the final (pre-loss) layer and any layer whose
    activation output feeds no further layer (sigmoid/tanh outputs, gates such as
    squeeze-and-excitation); layers normalised right after (BatchNorm/LayerNorm/GroupNorm
    between the layer and the activation); layers inside a residual branch (transformer and
    ResNet blocks: Xavier + LayerNorm + residual is the standard transformer recipe); an
    explicit gain (`gain=nn.init.calculate_gain("relu")`, or a deliberately tiny
    `gain=0.01` that starts a flow or residual branch near the identity); Kaiming with `a=math.sqrt(5)`
    (PyTorch's own default init) or another large negative slope; a layer given its own
    init elsewhere in the file (unless this init loop runs after it and replaces it); an init
    a later one replaces (the parent's `self.apply(self._init_weights)`, Hugging Face's
    `post_init()`, a specific init after the loop): the final initial state is what is judged;
    a file where only one hidden layer is mismatched (a two-layer head: the variance is scaled
    once, which does not compound).

    Not judged: files that publish trained weights for their models (a Hugging Face
    `PreTrainedModel` family, timm's `@register_model`, torchvision's `WeightsEnum`, weights
    downloaded by URL, a pretrained zoo model's state dict loaded into the file's model,
    checkpoints the file downloads and then loads from the same path or directory:
    `urlretrieve(url, os.path.join(CKPT_DIR, name))` then
    `Model.load_from_checkpoint(os.path.join(CKPT_DIR, name))`):
    their initialisation is the recipe those weights were trained with.

    Not judged either, in a notebook: networks it only demonstrates — builds, prints, runs
    forward, initialises or inspects, but never trains (no optimizer gets their parameters, no
    training loop runs them, they are not saved, and they are not handed to code dllint cannot
    see into, such as a book's training helper). A notebook cannot be imported, so nobody else
    trains them either.

    ## Why is this bad?
    Both schemes pick the weight variance that keeps the activation variance constant from
    layer to layer — but for different activations. Xavier (Glorot & Bengio, 2010) assumes an activation
    that is linear around 0 (tanh): `Var(w) = 2 / (fan_in + fan_out)`. ReLU zeroes half of its
    inputs, halving the variance at every layer, so with Xavier the signal shrinks by about
    `1/√2` per ReLU layer and vanishes in a deep stack (He et al., 2015, §2.2, show the
    ReLU case). He initialisation doubles the variance (`2 / fan_in`) to compensate
    — which, in front of tanh or sigmoid, pushes pre-activations into the saturated tails
    where the gradient is nearly 0.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(),
        nn.Linear(512, 10),
    )
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(),
        nn.Linear(512, 10),
    )
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
    ```

    ## References
    - Glorot & Bengio, [Understanding the difficulty of training deep feedforward neural networks](https://proceedings.mlr.press/v9/glorot10a.html), AISTATS 2010 (Xavier initialisation, derived for activations linear around 0)
    - He, Zhang, Ren & Sun, [Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification](https://arxiv.org/abs/1502.01852), ICCV 2015 (§2.2: the variance for ReLU)
    - [PyTorch: torch.nn.init.calculate_gain](https://pytorch.org/docs/stable/nn.init.html#torch.nn.init.calculate_gain)
    - Runtime counterpart: DLP007 activation-scale-drift (`dllint probe`)
    """

    code = "DL103"
    name = "init-activation-mismatch"
    summary = "Xavier init before ReLU layers, or He init before tanh/sigmoid layers"
    judges_architecture = True  # (an init recipe that published weights were trained with)
    judges_initialisation = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        candidates = [(write, scheme) for write in sem.init_writes if (scheme := _scheme(write)) is not None]
        if not candidates:
            return
        uses = applications(sem)
        specific = _specifically_initialised(sem)
        timeline = sem.init_timeline
        reports: list[Report] = []
        layers: set[int] = set()
        for write, scheme in candidates:
            mismatched: list[_Verdict] = []
            seen: set[int] = set()
            for target in timeline.written(write):
                layer = target.layer
                if layer is None or not target.certain or target.parameter != "weight" or id(layer.node) in seen:
                    continue
                if timeline.superseded(write, target):
                    continue  # a later init replaces it
                seen.add(id(layer.node))
                own = specific.get(id(layer.node), write)
                if target.via not in _SPECIFIC and own is not write and not timeline.later_than(own, write, target):
                    continue  # the layer gets its own init elsewhere, not replaced by this one
                verdict = _judge(layer, scheme, uses.get(id(layer.node), ()))
                if verdict is not None:
                    mismatched.append(verdict)
            if mismatched:
                layers.update(id(verdict.layer.node) for verdict in mismatched)
                reports.append(Report(write.node, _message(write, scheme, mismatched)))
        if len(layers) >= MIN_MISMATCHED_LAYERS:
            yield from reports  # one mismatched hidden layer scales the variance once: harmless


def _scheme(write: InitWrite) -> Optional[str]:
    """``xavier`` (gain-1 Glorot) or ``he-relu`` (Kaiming with the ReLU gain), else None."""
    if write.method:
        return None
    if write.name in _XAVIER:
        gain = write.arg("gain", 1.0)
        return "xavier" if _number(gain) and 0.8 <= gain <= 1.2 else None  # gain=0.01: a deliberately tiny init
    if write.name in _KAIMING:
        nonlinearity = write.arg("nonlinearity", "leaky_relu")
        slope = write.arg("a", 0)
        if nonlinearity == "relu" or (nonlinearity == "leaky_relu" and _number(slope) and abs(slope) <= 0.3):
            return "he-relu"
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _specifically_initialised(sem: FileSemantics) -> dict[int, InitWrite]:
    """Layers (by node) a weight initialiser names directly (``nn.init.x_(self.fc.weight)``):
    that init is the one meant for the layer, whatever a loop over all layers does."""
    found: dict[int, InitWrite] = {}
    for write in sem.init_writes:
        if write.method and write.name not in ("normal_", "uniform_"):
            continue
        for target in sem.init_timeline.written(write):
            if target.layer is not None and target.via in _SPECIFIC and target.parameter.startswith("weight"):
                found[id(target.layer.node)] = write
    return found


def _judge(layer: Layer, scheme: str, uses) -> Optional[_Verdict]:
    """The activation that makes the scheme wrong for this layer, if every application agrees
    that the layer is a hidden one feeding that activation, unnormalised and outside a
    residual branch."""
    op = layer.op
    if op.kind != "affine" or op.family in ("embedding", "bilinear"):
        return None
    if not uses:
        return None
    found: Optional[_Verdict] = None
    for graph, tensor in uses:
        if in_residual_branch(graph, tensor):
            return None
        for following in next_operations(graph, tensor):
            if following is None:
                continue
            after = following.module_op
            if after is None:
                continue
            if after.kind == "norm":
                return None
            if after.kind != "activation":
                continue
            wrong = (scheme == "xavier" and after.family == "relu") or (scheme == "he-relu" and after.saturating)
            right = (scheme == "xavier" and after.saturating) or (scheme == "he-relu" and after.family == "relu")
            if right:
                return None  # also used where the pairing is right: not a clear mismatch
            if wrong and after.saturating and _gates(graph, following):
                return None  # sigmoid/tanh as a gate (squeeze-and-excitation, GLU-like): not a hidden activation
            if wrong and scale_reaches_weights(graph, following) and found is None:
                found = _Verdict(layer, following)
    return found


def _callee(write: InitWrite) -> str:
    func = write.node.func
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else write.name


def _gates(graph, activation: Tensor) -> bool:
    """Whether the activation's output multiplies something that is not a constant."""
    for consumer in graph.consumers.get(id(activation), ()):
        if consumer.kind == "binop" and consumer.target == "Multiply":
            if any(not isinstance(other, Constant) for other in consumer.inputs if other is not activation):
                return True
    return False


def _message(write: InitWrite, scheme: str, mismatched: list[_Verdict]) -> str:
    qualified = write.site.qualified or ""
    init = f"`{short_name(qualified)}`" if qualified.startswith("torch.") else f"`{_callee(write)}`"
    layers = sorted({f"`{short_name(v.layer.qualified)}`" for v in mismatched})
    activations = sorted({describe(v.activation) for v in mismatched})
    count = f"{len(mismatched)} layers" if len(mismatched) > 1 else "a layer"
    kinds = ", ".join(layers)
    if scheme == "xavier":
        return (
            f"{init} (Xavier, gain 1) initialises {count} ({kinds}) followed by the ReLU-family "
            f"{', '.join(activations)}: Xavier assumes an activation linear around 0, ReLU halves the variance at "
            "every layer and the signal shrinks with depth — use `nn.init.kaiming_uniform_(w, nonlinearity=\"relu\")` "
            "(He init) or pass `gain=nn.init.calculate_gain(\"relu\")`"
        )
    return (
        f"{init} (He init, ReLU gain) initialises {count} ({kinds}) followed by {', '.join(activations)}: the "
        "doubled variance pushes tanh/sigmoid into their saturated tails where the gradient vanishes — use "
        "`nn.init.xavier_uniform_` (or `gain=nn.init.calculate_gain(\"tanh\")`) for these layers"
    )
