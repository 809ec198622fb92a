from __future__ import annotations

import re
from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.project import unless_never_hides, unless_path_not_hidden
from dllint.semantics import FileSemantics, Instance, catalog, fold, options_of, short_name
from dllint.semantics.inits import (
    InitWrite,
    Written,
    applied_to,
    guard_types,
    rescaled,
    rewritten_weights,
    scale_reaches_weights,
)
from dllint.semantics.syntax import iter_tree, keyword
from dllint.semantics.weights import initial

_NORMALS = ("normal_", "trunc_normal_", "trunc_normal_tf_")
_WEIGHT = re.compile(r"^(weight|weight_(ih|hh)_l\d+(_reverse)?|weight_orig)$")
_MHA_WEIGHTS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")


class UnscaledNormalInit(Rule):
    """
    ## What it does
    Flags weights drawn from a normal distribution with standard deviation 1 (or more) for a
    layer whose output feeds further layers:
    - `nn.init.normal_(w)` and `nn.init.trunc_normal_(w)` with the default `std=1`;
    - `nn.init.normal_(w, 0.1)` — the second positional argument is the **mean**, so the std
      is still 1;
    - `w.data.normal_(0, 1)` / `w.normal_()`;
    - `layer.weight = nn.Parameter(torch.randn(out, in))`;
    - a raw weight matrix drawn with std 1 — `nn.Parameter(torch.randn(out, in))`,
      `torch.randn(in, out, requires_grad=True)`, `torch.normal(0, 1, size)`, or a
      `torch.randn` tensor later given `.requires_grad_()` or handed to an optimizer — used as
      a weight (`x @ W`, `torch.mm`, `torch.matmul`, `F.linear(x, W)`), in a model class or in
      from-scratch module-level code, with no scaling and no later re-initialisation.

    What counts is the weight's *final* initial state: a std-1 draw that a later init
    replaces (the parent's `self.apply(self._init_weights)`, Hugging Face's `post_init()`, an
    init loop at the end of `__init__`) is not flagged.

    The weight can be a layer's (`self.fc.weight`), every layer of a type in an init loop or
    init function (`if isinstance(m, nn.Linear): nn.init.normal_(m.weight)`), or a parameter
    of a model class named in such a guard (Hugging Face `_init_weights`).

    Not flagged: `randn(...) * scale`, `randn(...) / math.sqrt(fan_in)` (or a product
    rescaled right after, as in equalised-learning-rate layers); a small std
    (`std=0.02`, `std=1 / math.sqrt(d)`); an unknown std; embeddings (`nn.Embedding` is
    initialised with std 1 by PyTorch itself, and position embeddings, class tokens or latent
    queries that are added or attended to rather than multiplied, and tables indexed by the
    data, `C[idx]`); tensors that are not trained weights (noise, `requires_grad=False` random
    projections, a forward pass written out with plain `torch.randn` tensors that nothing
    trains, a latent code optimised through a weight); weights that are
    normalised before use (`F.normalize(W)`, cosine classifiers); draws scaled right after
    (`w.data.normal_(0, 1).mul_(0.01)`, `w.data *= 0.01`); layers normalised right
    after (BatchNorm/LayerNorm/GroupNorm divide the weight scale away); output layers, and
    layers whose output ends at a residual add, a gate or a discrete choice (the logits of a
    Gumbel-softmax or argmax codebook selection, where the scale only acts as a temperature —
    wav2vec 2.0's quantizer uses std 1 on purpose) rather than flowing into further layers.

    Not judged, in a notebook: networks it only demonstrates — builds, prints, runs
    forward, initialises or inspects, but never trains (no optimizer gets their parameters, no
    training loop runs them, they are not saved, and they are not handed to code dllint cannot
    see into, such as a book's training helper). A notebook cannot be imported, so nobody else
    trains them either.

    ## Why is this bad?
    A unit of a layer with fan-in `n` sums `n` products `w·x`. With `w ~ N(0, 1)` the sum has
    a standard deviation about `√n` times that of its inputs — 16× for 256 inputs, 28× for
    784 — and the factor compounds layer after layer. The activations explode, or, with tanh
    and sigmoid, pin the units in their flat saturated tails where the gradient is almost 0
    (Glorot & Bengio, 2010, measured exactly this in deep tanh networks). Xavier (Glorot &
    Bengio, 2010) and He (He et al., 2015) initialisation scale the std by `1/√fan_in` (times
    a gain) precisely to keep the activation scale constant with depth.

    ## Example
    ```python
    import torch
    import torch.nn as nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(784, 256)
            self.out = nn.Linear(256, 10)
            nn.init.normal_(self.hidden.weight, 0.01)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(784, 256)
            self.out = nn.Linear(256, 10)
            nn.init.normal_(self.hidden.weight, std=0.01)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))
    ```

    ## References
    - Glorot & Bengio, [Understanding the difficulty of training deep feedforward neural networks](https://proceedings.mlr.press/v9/glorot10a.html), AISTATS 2010
    - He, Zhang, Ren & Sun, [Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification](https://arxiv.org/abs/1502.01852), ICCV 2015
    - [PyTorch: torch.nn.init.normal_](https://pytorch.org/docs/stable/nn.init.html#torch.nn.init.normal_)
    - [PyTorch: torch.nn.init.kaiming_normal_](https://pytorch.org/docs/stable/nn.init.html#torch.nn.init.kaiming_normal_)
    - Runtime counterpart: DLP007 activation-scale-drift (`dllint probe`)
    """

    code = "DL102"
    name = "unscaled-normal-init"
    summary = "Weights drawn with standard deviation 1"
    judges_initialisation = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        hidden_layers: Optional[set[int]] = None
        timeline = sem.init_timeline
        for write in sem.init_writes:
            std = _std(write)
            if std is None or std < 1:
                continue
            if hidden_layers is None:
                hidden_layers = hidden_layer_nodes(sem)
            targets = [
                target
                for target in timeline.written(write)
                if target.certain and _hidden_weight(sem, target, hidden_layers) and not timeline.superseded(write, target)
            ]
            if id(write.node) in reported or _rescaled_after(sem, write):
                continue
            if targets:
                reported.add(id(write.node))
                yield Report(write.node, _message(write, std, targets))
                continue
            deferred = _applied_elsewhere(sem, write)
            if deferred is not None:
                reported.add(id(write.node))
                function, models, layers = deferred
                yield Report(write.node, _message(write, std, [], layers), unless=unless_never_hides(function, models, layers))
                continue
            guarded = _class_defined_elsewhere(sem, write)
            if guarded is not None:
                reported.add(id(write.node))
                classes, path = guarded
                yield Report(write.node, _message(write, std, []), unless=unless_path_not_hidden(classes, path))
        yield from self._randn_parameters(sem, reported)
        yield from self._assigned_weights(sem, reported, hidden_layers)

    def _randn_parameters(self, sem: FileSemantics, reported: set[int]) -> Iterator[Report]:
        rewritten = rewritten_weights(sem)
        for weight, uses in sem.raw_weights.weights():
            node = weight.node
            key = id(node)
            if key in rewritten or key in reported or initial(sem, weight).kind != "unit":
                continue
            if not any(scale_reaches_weights(use.graph, use.product) and not rescaled(use.graph, use.product) for use in uses):
                continue
            reported.add(key)
            yield Report(node, _draw_message(sem, initial(sem, weight).draw))

    def _assigned_weights(self, sem: FileSemantics, reported: set[int], hidden_layers: Optional[set[int]]) -> Iterator[Report]:
        """``layer.weight = nn.Parameter(torch.randn(out, in))`` on a hidden layer, not re-initialised after."""
        timeline = sem.init_timeline
        for (layer_key, parameter), entry in timeline.assignments():
            node = entry.value.node if entry.value is not None else None
            if node is None or id(node) in reported or not _WEIGHT.match(parameter) or timeline.final((layer_key, parameter)) is not entry:
                continue
            if initial(sem, entry.value).kind != "unit":
                continue
            if hidden_layers is None:
                hidden_layers = hidden_layer_nodes(sem)
            layers = [layer for layer in sem.layers if id(layer) == layer_key]
            if not any(_hidden_weight(sem, Written(layer, parameter, "direct"), hidden_layers) for layer in layers):
                continue
            reported.add(id(node))
            yield Report(node, _draw_message(sem, initial(sem, entry.value).draw))


def _draw_message(sem: FileSemantics, draw) -> str:
    site = sem.site_of(draw) if isinstance(draw, cst.Call) else None
    qualified = site.qualified if site is not None and site.qualified else ""
    spelled = f"`{qualified}`" if qualified.startswith("torch.") else f"`.{site.method}()`" if site is not None and site.method else "a std-1 draw"
    return (
        f"this weight matrix is drawn from {spelled} (std 1) and used unscaled: each unit sums "
        "fan-in products, so the activation scale grows by about √fan_in per layer — scale it "
        "(`torch.randn(out, in) / math.sqrt(in)`) or initialise it with `nn.init.kaiming_normal_` / "
        "`nn.init.xavier_normal_`"
    )


def _std(write: InitWrite) -> Optional[float]:
    if write.name not in _NORMALS:
        return None
    std = write.arg("std", 1.0)
    if isinstance(std, bool) or not isinstance(std, (int, float)):
        return None
    return float(std)


def _mean_for_std(write: InitWrite) -> bool:
    """``normal_(w, 0.1)`` / ``w.normal_(0.1)``: a lone positional number that is the mean."""
    if "std" in write.args or "mean" not in write.args:
        return False
    mean = write.args["mean"]
    return keyword(write.node, "mean") is not mean and fold(mean, write.site.scope) not in (0, 0.0)


def _applied_elsewhere(sem: FileSemantics, write: InitWrite) -> Optional[tuple[Optional[str], tuple[str, ...], tuple[str, ...]]]:
    """For a write to every torch layer of some classes in an init function whose models are
    in other files — the function is applied to imported model classes, or applied nowhere in
    this file (another file imports it): (the function as other files import it, the
    imported model classes, the layer classes); None otherwise."""
    function = write.site.function
    root = write.root
    if function is None or function.cls is not None or root is None or root not in {p.name.value for p in function.params}:
        return None
    layers = tuple(q for q in (guard_types(write.site, root) or ()) if catalog.layer_op(q) is not None)
    if not layers or len(write.path) != 1 or not _WEIGHT.match(write.path[0]):
        return None
    receivers = [option for model, _ in applied_to(sem, function) for option in options_of(model)]
    imported = tuple(sorted({r.qualified for r in receivers if isinstance(r, Instance) and r.cls is None and r.qualified}))
    if imported:
        return None, imported, layers
    if receivers or function.scope.parent is not sem.info.scope:
        return None
    return f"{sem.module_name}.{function.name}", (), layers


def _class_defined_elsewhere(sem: FileSemantics, write: InitWrite) -> Optional[tuple[tuple[str, ...], str]]:
    """For ``init(module.fc1.weight)`` under ``isinstance(module, C)`` where the layer comes from
    another file (C imported, or a class of this file whose base class builds it — a Hugging
    Face modular file): (the classes, the layer's attribute path)."""
    root = write.root
    if root is None or len(write.path) < 2 or not (_WEIGHT.match(write.path[-1]) or write.path[-1] in _MHA_WEIGHTS):
        return None
    classes = []
    for qualified in guard_types(write.site, root) or ():
        if catalog.layer_op(qualified) is not None or qualified.startswith("torch."):
            continue
        local = sem.local_class(qualified)
        if local is not None and any(
            isinstance(option, Instance) and option.attrs and write.path[0] in option.attrs
            for option in options_of(sem.generic_instance(local))
        ):
            continue  # the layer is built here: judged here
        classes.append(qualified)
    return (tuple(classes), ".".join(write.path[:-1])) if classes else None


def _message(write: InitWrite, std: float, targets: list[Written], layer_classes: tuple[str, ...] = ()) -> str:
    qualified = write.site.qualified or ""
    spelled = f"`{short_name(qualified)}`" if qualified.startswith("torch.") else f"`{_callee(write)}`" if qualified else f"`.{write.name}()`"
    if _mean_for_std(write):
        why = f"{spelled}'s second positional argument is the *mean*; the std stays at its default of 1"
    elif "std" in write.args:
        why = f"{spelled} draws with std {std:g}"
    else:
        why = f"{spelled} draws with its default std of 1"
    layers = sorted({f"`{short_name(t.layer.qualified)}`" for t in targets if t.layer is not None} | {f"`{short_name(q)}`" for q in layer_classes})
    what = f"the weights of hidden {', '.join(layers)} layers" if layers else "a hidden weight matrix"
    return (
        f"{why} for {what}: each unit sums fan-in products, so the activation scale grows by about √fan_in "
        "per layer and activations explode or saturate with depth — pass a small `std=` (e.g. 0.02 or "
        "1/√fan_in) or use `nn.init.kaiming_normal_` / `nn.init.xavier_normal_`"
    )


def _callee(write: InitWrite) -> str:
    """How the initialiser is spelled in the source: ``init.normal_`` (transformers, timm)."""
    func = write.node.func
    parts = []
    while isinstance(func, cst.Attribute):
        parts.append(func.attr.value)
        func = func.value
    if isinstance(func, cst.Name):
        parts.append(func.value)
    return ".".join(reversed(parts)) or write.name


def _hidden_weight(sem: FileSemantics, target: Written, hidden_layers: set[int]) -> bool:
    layer = target.layer
    if layer is not None:
        op = layer.op
        if op.kind == "attention" and op.family == "multihead":
            return target.parameter in _MHA_WEIGHTS
        if not op.trainable or op.family in ("embedding", "bilinear") or not _WEIGHT.match(target.parameter):
            return False
        return id(layer.node) in hidden_layers
    tensor = target.tensor
    return tensor is not None and tensor.node is not None and _used_as_hidden_weight(sem, tensor.node)


def hidden_layer_nodes(sem: FileSemantics) -> set[int]:
    """Layer constructions (by id of node) whose output's scale some forward pass carries into
    further weighted layers."""
    found: set[int] = set()
    for graph in sem.all_graphs():
        for tensor, layer in graph.module_applications():
            if id(layer.node) not in found and scale_reaches_weights(graph, tensor):
                found.add(id(layer.node))
    return found


def _used_as_hidden_weight(sem: FileSemantics, node: cst.CSTNode) -> bool:
    return any(
        scale_reaches_weights(use.graph, use.product) and not rescaled(use.graph, use.product)
        for use in sem.weight_uses.get(id(node), ())
    )


_SCALING_METHODS = ("mul_", "div_")


def _rescaled_after(sem: FileSemantics, write: InitWrite) -> bool:
    """``w.data.normal_(0, 1).mul_(0.01)``, or, later in the same function, ``w.data.mul_(c)``,
    ``w.data *= c``, ``w.data /= c``: the draw is scaled afterwards."""
    function = write.site.function
    spelled = _spelling(sem, write.target)
    for site in sem.method_calls(*_SCALING_METHODS):
        if site.receiver is write.node:
            return True
        if site.function is function and site.order > write.site.order and site.receiver is not None:
            receiver = site.receiver
            while isinstance(receiver, cst.Attribute) and receiver.attr.value == "data":
                receiver = receiver.value
            if _spelling(sem, receiver) == spelled:
                return True
    if function is not None:
        for node in iter_tree(function.node):
            if isinstance(node, cst.AugAssign) and isinstance(node.operator, (cst.MultiplyAssign, cst.DivideAssign)):
                target = node.target
                while isinstance(target, cst.Attribute) and target.attr.value == "data":
                    target = target.value
                if _spelling(sem, target) == spelled:
                    return True
    return False


def _spelling(sem: FileSemantics, expr: cst.CSTNode) -> str:
    return sem.module.code_for_node(expr)
