from __future__ import annotations

import re
from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, Layer, catalog, short_name
from dllint.semantics.inits import MODULE_ITERATORS, guard_types, loop_over
from dllint.semantics.scopes import CallSite
from dllint.semantics.values import AttributeOf, Tensor

_CONSTANT_INITS = ("torch.nn.init.zeros_", "torch.nn.init.ones_", "torch.nn.init.constant_", "torch.nn.init.constant")
_WEIGHT = re.compile(r"^(weight|weight_(ih|hh)_l\d+(_reverse)?)$")
_CONSTANT_TENSORS = ("torch.zeros", "torch.ones", "torch.full")
_WEIGHT_MATRIX_NAME = re.compile(r"^(w|W|weight|weights|kernel|W_\w+|w_\w+|\w+_weight|\w+_W)$")


class ZeroWeightInit(Rule):
    """
    ## What it does
    Flags the weights of `Linear`, `Conv*`, `RNN`/`LSTM`/`GRU` and `Embedding` layers set to
    one constant — `nn.init.zeros_(m.weight)`, `nn.init.constant_(m.weight, c)`,
    `m.weight.data.zero_()`/`.fill_(c)`, or a 2-D `nn.Parameter(torch.zeros(out, in))` used as
    a weight matrix. Always flagged inside an init loop that does it to every layer of a
    type (`for m in self.modules(): if isinstance(m, nn.Linear): ...` or a function given to
    `model.apply`); for a single layer, flagged when that layer is a hidden one (its output
    feeds another layer with weights).

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
    broken and the block starts as the identity. None of those are flagged.

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

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for site, target in _constant_weight_writes(sem):
            report = self._judge(sem, site, target)
            if report is not None and id(report.node) not in reported:
                reported.add(id(report.node))
                yield report
        yield from self._zero_parameters(sem)

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

    def _zero_parameters(self, sem: FileSemantics) -> Iterator[Report]:
        for site in sem.calls_to("torch.nn.Parameter"):
            if not site.node.args or site.function is None or site.function.cls is None:
                continue
            tensor = site.node.args[0].value
            if not isinstance(tensor, cst.Call) or site.scope.resolve(tensor.func) not in _CONSTANT_TENSORS:
                continue
            if _rank(tensor) < 2:
                continue
            name = _assigned_attribute(site)
            if name is None or not _WEIGHT_MATRIX_NAME.match(name) or _reinitialised(sem, site.function.cls, name):
                continue
            for parameter in _values_built_by(sem, site.node):
                if sem.feeds_trainable(parameter):
                    yield Report(
                        site.node,
                        f"`self.{name}` is a weight matrix created as a constant tensor and never re-initialised: "
                        "its units start identical and never become different",
                    )
                    break


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


def _rank(call: cst.Call) -> int:
    args = [a for a in call.args if a.keyword is None and not a.star]
    if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
        return len(args[0].value.elements)
    if call.args and any(a.star for a in call.args):
        return 0
    return len(args)


def _assigned_attribute(site: CallSite) -> Optional[str]:
    cls = site.function.cls if site.function else None
    if cls is None:
        return None
    for assignment in cls.attribute_assignments:
        if assignment.value is site.node:
            return assignment.name
    return None


def _reinitialised(sem: FileSemantics, cls, name: str) -> bool:
    """Whether some method of the class writes ``self.<name>`` again (an init call, an in-place fill)."""
    for method in cls.methods.values():
        for site in method.calls:
            expressions = [a.value for a in site.node.args[:1]] + ([site.receiver] if site.receiver is not None else [])
            for expr in expressions:
                while isinstance(expr, cst.Attribute) and expr.attr.value == "data":
                    expr = expr.value
                if isinstance(expr, cst.Attribute) and expr.attr.value == name and (
                    (site.qualified or "").startswith("torch.nn.init.") or site.method in ("uniform_", "normal_", "copy_", "trunc_normal_")
                ):
                    return True
    return False


def _values_built_by(sem: FileSemantics, node: cst.Call) -> Iterator[Tensor]:
    for graph in sem.all_graphs():
        for tensor in graph.tensors:
            for source in tensor.inputs:
                if isinstance(source, Tensor) and source.kind == "parameter" and source.node is node:
                    yield source
