from __future__ import annotations

import re
from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, Layer, catalog, short_name
from dllint.semantics.inits import MODULE_ITERATORS, InitWrite, guard_types, loop_over, rewritten_weights
from dllint.semantics.scopes import CallSite
from dllint.semantics.values import AttributeOf, Tensor
from dllint.semantics.weights import initial, rank

_CONSTANT_INITS = ("torch.nn.init.zeros_", "torch.nn.init.ones_", "torch.nn.init.constant_", "torch.nn.init.constant")
_WEIGHT = re.compile(r"^(weight|weight_(ih|hh)_l\d+(_reverse)?)$")
_CONSTANT_NAMES = frozenset({"zeros_", "ones_", "constant_", "zero_", "fill_"})


class ZeroWeightInit(Rule):
    """
    ## What it does
    Flags the weights of `Linear`, `Conv*`, `RNN`/`LSTM`/`GRU` and `Embedding` layers set to
    one constant — `nn.init.zeros_(m.weight)`, `nn.init.constant_(m.weight, c)`,
    `m.weight.data.zero_()`/`.fill_(c)`, `layer.weight = nn.Parameter(torch.zeros(out, in))` —
    and raw weight matrices created constant: `nn.Parameter(torch.zeros(d_in, d_out))` or
    `torch.zeros(d_in, d_out, requires_grad=True)` applied with `x @ W`, `torch.mm`,
    `torch.matmul` or `F.linear`, in a model class or in from-scratch module-level code.
    Always flagged inside an init loop that does it to every layer of a type (`for m in
    self.modules(): if isinstance(m, nn.Linear): ...` or a function given to `model.apply`);
    for a single layer or weight, flagged when it is a hidden one (its output feeds another
    layer with weights).

    What counts is the weight's *final* initial state: a zero that a later init replaces — the
    parent model's `self.apply(self._init_weights)`, Hugging Face's `post_init()`, timm's
    `named_apply(init_fn, self)` or an init loop at the end of `__init__`, a
    `reset_parameters()` called after it — is not flagged; a zero written after a random init
    is.

    Not judged, in a notebook: networks it only demonstrates — builds, prints, runs
    forward, initialises or inspects, but never trains (no optimizer gets their parameters, no
    training loop runs them, they are not saved, and they are not handed to code dllint cannot
    see into, such as a book's training helper). A notebook cannot be imported, so nobody else
    trains them either.

    ## Why is this bad?
    If every weight of a layer starts at the same value, every unit of that layer computes
    the same output and receives the same gradient, so after any number of steps the units
    are still copies of each other: the layer behaves like a single unit. Random
    initialisation is what breaks this symmetry (Goodfellow et al., *Deep Learning*, §8.4). With ReLU the situation is worse still: a zero
    pre-activation sits exactly at ReLU's kink, where PyTorch's gradient is 0.

    Zero is fine — and common on purpose — for biases, for the scale (gamma) of normalisation
    layers (ResNet's `zero_init_residual`), and for a single *output* or *projection* layer
    whose output ends a residual branch (`zero_module(...)` in diffusion models, ControlNet's
    zero convolutions, the LoRA `B` matrix): the layers before it are random, so symmetry is
    broken and the block starts as the identity. None of those are flagged, nor are constant
    tensors that are not trained (masks, buffers, a fixed averaging matrix).

    ## Example
    ```python
    import torch.nn as nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256)
            self.fc2 = nn.Linear(256, 10)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.weight)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())
    ```

    ## Use instead
    ```python
    import torch.nn as nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256)
            self.fc2 = nn.Linear(256, 10)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())
    ```

    ## References
    - Rumelhart, Hinton & Williams, [Learning representations by back-propagating errors](https://doi.org/10.1038/323533a0), Nature 1986
    - Glorot & Bengio, [Understanding the difficulty of training deep feedforward neural networks](https://proceedings.mlr.press/v9/glorot10a.html), AISTATS 2010
    - Goodfellow, Bengio & Courville, [Deep Learning](https://www.deeplearningbook.org/contents/optimization.html), §8.4 (initialisation must break the symmetry between units)
    - [PyTorch: torch.nn.init](https://pytorch.org/docs/stable/nn.init.html)
    - Runtime counterpart: DLP008 symmetric-units (`dllint probe`)
    """

    code = "DL101"
    name = "zero-weight-init"
    summary = "Weights of a layer initialised to one constant"
    judges_initialisation = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        writes = {id(write.node): write for write in sem.init_writes}
        for site, target in _constant_weight_writes(sem):
            write = writes.get(id(site.node))
            if write is not None and _replaced_later(sem, write):
                continue
            report = self._judge(sem, site, target)
            if report is not None and id(report.node) not in reported:
                reported.add(id(report.node))
                yield report
        yield from self._constant_weights(sem, reported)
        yield from self._assigned_weights(sem, reported)
        yield from self._raw_weights_written(sem, reported, writes)

    def _judge(self, sem: FileSemantics, site: CallSite, target: cst.Attribute) -> Optional[Report]:
        what = _describe_init(site)
        owner = target.value
        if isinstance(owner, cst.Name):
            layer_types = guard_types(site, owner.value)
            if layer_types is None:
                return None
            if layer_types:
                weighted = [name for name in layer_types if _has_weight_matrix(catalog.layer_op(name))]
                if weighted and _any_hidden(sem, site, weighted) is not False:
                    names = ", ".join(f"`{short_name(name)}`" for name in weighted)
                    return Report(
                        site.node,
                        f"{what} gives the weight of every {names} the same constant: all units of each "
                        "layer start identical, get identical gradients and never become different",
                    )
                return None
            loop = loop_over(site, owner.value)
            if loop is not None and loop[0] in MODULE_ITERATORS:
                return Report(
                    site.node,
                    f"{what} gives the weight of every module in the model the same constant: the units "
                    "of each layer start identical and never become different",
                )
        for layer in _layers_written(sem, site):
            if not _has_weight_matrix(layer.op):
                continue
            if sem.feeds_trainable(layer):
                return Report(
                    site.node,
                    f"{what} gives the weight of a hidden `{short_name(layer.qualified)}` one constant value: its "
                    "units start identical, get identical gradients and never learn different features",
                )
        return None

    def _constant_weights(self, sem: FileSemantics, reported: set[int]) -> Iterator[Report]:
        """Raw weights (``nn.Parameter(torch.zeros(d_in, d_out))``, ``torch.zeros(..., requires_grad=True)``)
        applied as a hidden product's weight, never re-initialised."""
        rewritten = rewritten_weights(sem)
        for weight, uses in sem.raw_weights.weights():
            node = weight.node
            if id(node) in rewritten or id(node) in reported:
                continue
            start = initial(sem, weight)
            if start.kind != "constant" or rank(start.draw) < 2:
                continue
            if any(use.graph.hidden(use.product) for use in uses):
                reported.add(id(node))
                yield Report(
                    node,
                    f"{_spelled(sem, weight)} is a weight matrix created as a constant tensor and never re-initialised: "
                    "its units start identical, get identical gradients and never become different — draw it at random "
                    "(`torch.randn(d_in, d_out) / math.sqrt(d_in)`, or `nn.init.kaiming_normal_`)",
                )

    def _raw_weights_written(self, sem: FileSemantics, reported: set[int], writes: dict[int, InitWrite]) -> Iterator[Report]:
        """``nn.init.zeros_(W1)``, ``W1.data.fill_(0.5)`` on a raw weight applied as a hidden product's
        weight, with nothing after it."""
        timeline = sem.init_timeline
        uses = sem.weight_uses
        for write in writes.values():
            if write.name not in _CONSTANT_NAMES or write.partial or id(write.node) in reported:
                continue
            for target in timeline.written(write):
                tensor = target.tensor
                if tensor is None or tensor.node is None or not target.certain or timeline.superseded(write, target):
                    continue
                hidden = [use for use in uses.get(id(tensor.node), ()) if use.graph.hidden(use.product)]
                if hidden and rank(initial(sem, tensor).draw) >= 2:
                    reported.add(id(write.node))
                    yield Report(
                        write.node,
                        f"{_describe_init(write.site)} gives every entry of the weight matrix {_spelled(sem, tensor)} one "
                        "constant value: its units start identical, get identical gradients and never learn different features",
                    )
                    break

    def _assigned_weights(self, sem: FileSemantics, reported: set[int]) -> Iterator[Report]:
        """``layer.weight = nn.Parameter(torch.zeros(out, in))`` on a hidden layer, not re-initialised after."""
        timeline = sem.init_timeline
        layers = {id(layer): layer for layer in sem.layers}
        for (layer_key, parameter), entry in timeline.assignments():
            node = entry.value.node if entry.value is not None else None
            layer = layers.get(layer_key)
            if node is None or layer is None or id(node) in reported or not _WEIGHT.match(parameter):
                continue
            if timeline.final((layer_key, parameter)) is not entry or not _has_weight_matrix(layer.op):
                continue
            start = initial(sem, entry.value)
            if start.kind != "constant" or rank(start.draw) < 2 or not sem.feeds_trainable(layer):
                continue
            reported.add(id(node))
            yield Report(
                node,
                f"the weight of a hidden `{short_name(layer.qualified)}` is replaced by a constant tensor: its units "
                "start identical, get identical gradients and never learn different features",
            )


def _any_hidden(sem: FileSemantics, site: CallSite, layer_types: list[str]) -> Optional[bool]:
    """For an init method of a model class: whether any layer of the given types in that
    model is a hidden layer. None when the model is not known (a free function given to
    ``model.apply``): then every layer of the type is assumed to be hit."""
    function = site.function
    cls = function.cls if function is not None else None
    graphs = [graph for graph in sem.forward_graphs if cls is not None and graph.cls is cls]
    applications = [
        tensor for graph in graphs for tensor, layer in graph.module_applications() if layer.qualified in layer_types
    ]
    if not applications:
        return None
    return any(graph.hidden(tensor) for graph in graphs for tensor in applications if tensor in graph.tensors)


def _constant_weight_writes(sem: FileSemantics) -> Iterator[tuple[CallSite, cst.Attribute]]:
    for site in sem.calls_to(*_CONSTANT_INITS):
        if site.node.args:
            target = _weight_attribute(site.node.args[0].value)
            if target is not None:
                yield site, target
    for site in sem.method_calls("zero_", "fill_"):
        receiver = site.receiver
        if receiver is not None:
            target = _weight_attribute(receiver)
            if target is not None:
                yield site, target


def _weight_attribute(expr: cst.BaseExpression) -> Optional[cst.Attribute]:
    """``m.weight`` for ``m.weight``, ``m.weight.data``."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    if isinstance(expr, cst.Attribute) and _WEIGHT.match(expr.attr.value):
        return expr
    return None


def _describe_init(site: CallSite) -> str:
    if site.qualified:
        return f"`{short_name(site.qualified)}`"
    return f"`.{site.method}()`"


def _has_weight_matrix(op: Optional[catalog.Op]) -> bool:
    return op is not None and op.trainable and op.family != "bilinear"


def _layers_written(sem: FileSemantics, site: CallSite) -> Iterator[Layer]:
    for callee, args, _ in sem.observed(site.node):
        target = args[0] if site.qualified else callee
        if isinstance(target, AttributeOf):
            owner, attribute = target.path
            if isinstance(owner, Layer) and _WEIGHT.match(attribute):
                yield owner


def _replaced_later(sem: FileSemantics, write: InitWrite) -> bool:
    """Whether every weight the write sets is set again afterwards (``self.apply(self._init_weights)``
    at the end of ``__init__``, ``reset_parameters()`` after a custom init), as far as the order is known."""
    timeline = sem.init_timeline
    targets = [target for target in timeline.written(write) if target.layer is None or _WEIGHT.match(target.parameter)]
    return bool(targets) and all(timeline.superseded(write, target) for target in targets)


def _spelled(sem: FileSemantics, weight: Tensor) -> str:
    """``self.W``/``W1`` when the weight is assigned to a name, else ``this tensor``."""
    node = weight.node
    for cls in sem.info.classes:
        for assignment in cls.attribute_assignments:
            if assignment.value is node:
                return f"`self.{assignment.name}`"
    for scope in [sem.info.scope] + [function.scope for function in sem.info.functions]:
        for name, bindings in scope.bindings.items():
            if any(binding.value is node for binding in bindings):
                return f"`{name}`"
    return "this tensor"
