"""Where losses are computed, and what their predictions are.

A *loss application* is one call of a torch loss — a criterion object
(``criterion = nn.CrossEntropyLoss(); criterion(out, y)``, ``self.loss_fn(...)``) or a
functional loss (``F.cross_entropy(out, y)``) — as seen by one evaluation, with the values
that reached it. The evaluator follows those values through local variables, same-file
helpers and the ``forward`` of model classes, so the prediction of ``criterion(model(x), y)``
is the tensor the model's last operation produced.

:func:`origin` says what a prediction *is*: the output of a ``softmax``, ``sigmoid`` or
``log_softmax`` (however it is spelled: ``nn.Softmax`` as a model's last layer,
``F.softmax``, ``torch.softmax``, ``.softmax()``; ``torch.log(softmax(x))`` counts as a
log-softmax), raw ``logits`` (the output of a layer with weights, ``F.linear`` or a matrix
product), or unknown. For a model class defined in another file of the run the answer is
deferred to the project index (``Origin.deferred``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.project import LOGITS, unless_output_is_not
from dllint.semantics import catalog
from dllint.semantics.scopes import FunctionInfo
from dllint.semantics.values import (
    Container,
    Instance,
    Layer,
    Merge,
    Reference,
    Starred,
    Tensor,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

# Output activations a loss cares about, and "logits" for the raw output of a weighted layer.
OUTPUT_FAMILIES = ("softmax", "sigmoid", "log_softmax")

# Operations that keep what a tensor *is* (probabilities stay probabilities): reshapes and
# views, dtype/device moves, dropout, indexing, clamping into a range.
_KEEPING_KINDS = ("identity", "reshape", "dropout")
_CLAMPS = frozenset({"clamp", "clamp_", "clip", "clip_", "torch.clamp", "torch.clip"})
_LOGS = frozenset({"log", "torch.log"})
_MATMULS = frozenset({"torch.matmul", "torch.mm", "torch.bmm", "torch.einsum"})
_MAX_DEPTH = 60


class Origin:
    """What a value is, as far as a loss is concerned.

    family: softmax | sigmoid | log_softmax | logits | None (unknown, or different on
            different paths)
    tensor: the operation that made it so (``nn.Softmax`` applied, ``F.log_softmax``, the
            ``nn.Linear``), for messages; None when deferred
    spelled: ``log(softmax)`` when a log-softmax was written as ``torch.log(softmax(x))``;
             ``head:fc`` when it is the last layer of a head put on a zoo model (``model.fc = ...``)
    deferred: model classes of other files whose forward output decides (all must agree)
    key: for a deferred origin read off an element of the model's output (``out["probs"]``,
         ``out.logits``, ``logits, aux = model(x)``), which element (``output_key``); None for
         the whole output
    """

    __slots__ = ("family", "tensor", "spelled", "deferred", "key")

    def __init__(
        self, family: Optional[str], tensor: Optional[Tensor] = None, spelled: str = "", deferred: tuple[str, ...] = (),
        key: Optional[str] = None,
    ) -> None:
        self.family = family
        self.tensor = tensor
        self.spelled = spelled
        self.deferred = deferred
        self.key = key

    def __repr__(self) -> str:
        return f"Origin({self.family!r}, spelled={self.spelled!r}, deferred={self.deferred!r}, key={self.key!r})"

    def deferred_output(self) -> str:
        """How a message names a deferred origin: ``the output of `Net``` / ``the `probs` output of `Net```."""
        model = f"`{self.deferred[0].rsplit('.', 1)[-1]}`"
        if self.key is None:
            return f"the output of {model}"
        return f"{describe_key(self.key)} of {model}'s output"

    def unless(self, families: tuple[str, ...]):
        """The report's ``unless`` for a deferred origin: the index must confirm the family."""
        return unless_output_is_not(self.deferred, families, self.key)

    @property
    def known(self) -> bool:
        return self.family is not None and not self.deferred


_UNKNOWN_ORIGIN = Origin(None)


def origin(sem: "FileSemantics", value: Optional[Value]) -> Origin:
    """What ``value`` is: the output activation (or raw logits) that produced it on every
    path, looking through reshapes, dropout, indexing and clamping. Different answers on
    different branches (``x if self.training else x.softmax(-1)``) give an unknown origin."""
    if value is None:
        return _UNKNOWN_ORIGIN
    found = [_origin_one(sem, option, 0) for option in options_of(value)]
    if not found:
        return _UNKNOWN_ORIGIN
    families = {item.family for item in found}
    if len(families) != 1 or None in families:
        return _UNKNOWN_ORIGIN
    deferred = tuple(dict.fromkeys(name for item in found for name in item.deferred))
    if deferred and any(not item.deferred for item in found):
        return _UNKNOWN_ORIGIN  # part known here, part decided elsewhere: keep it simple
    if deferred and len({item.key for item in found}) != 1:
        return _UNKNOWN_ORIGIN
    first = found[0]
    return Origin(first.family, first.tensor, first.spelled, deferred, first.key)


def output_key(subscript: Tensor) -> str:
    """How the project index names the element of a model's output a subscript reads: a
    field or dict key by its name (``logits``), a position as ``[0]``, an unknown index ``?``."""
    key = subscript.target
    if isinstance(key, bool) or key is None:
        return "?"
    if isinstance(key, int):
        return f"[{key}]"
    return str(key)


def describe_key(key: str) -> str:
    if key.startswith("["):
        return f"element {key[1:-1]}"
    return "an element" if key == "?" else f"the `{key}` element"


def _origin_one(sem: "FileSemantics", value: Value, depth: int) -> Origin:
    current = value
    key: Optional[str] = None  # the element of the producer's output read, when it was indexed right there
    while isinstance(current, Tensor) and depth < _MAX_DEPTH:
        depth += 1
        op = current.module_op
        keeps = (
            current.kind == "subscript"
            or (op is not None and op.kind in _KEEPING_KINDS)
            or (current.kind in ("method", "function") and current.target in _CLAMPS)
        )
        if not keeps or not current.inputs:
            break
        key = output_key(current) if current.kind == "subscript" else None
        nxt = current.inputs[0]
        if isinstance(nxt, Merge):
            return origin(sem, nxt) if depth < _MAX_DEPTH else _UNKNOWN_ORIGIN
        current = nxt
    if not isinstance(current, Tensor):
        return _UNKNOWN_ORIGIN
    op = current.module_op
    if op is not None and op.kind == "activation" and op.family in OUTPUT_FAMILIES:
        return Origin(op.family, current)
    if current.kind in ("method", "function") and current.target in _LOGS and current.inputs:
        inner = origin(sem, current.inputs[0]) if depth < _MAX_DEPTH else _UNKNOWN_ORIGIN
        if inner.family == "softmax" and inner.known:
            return Origin("log_softmax", current, "log(softmax)")
        return _UNKNOWN_ORIGIN
    if (op is not None and op.trainable and op.kind == "affine") or _is_matmul(current):
        return Origin(LOGITS, current)
    if current.kind == "module" and isinstance(current.target, Instance):
        return _model_origin(sem, current, key)
    return _UNKNOWN_ORIGIN


def _is_matmul(tensor: Tensor) -> bool:
    if tensor.kind == "binop" and tensor.target == "MatrixMultiply":
        return True
    return tensor.kind == "function" and tensor.target in _MATMULS


def _model_origin(sem: "FileSemantics", tensor: Tensor, key: Optional[str] = None) -> Origin:
    """A model applied whose forward was not expanded here: a class of this file (too deep to
    inline) answers from its forward graph; a class of another file from the project index.
    ``key``: the element of its output that was read (``out["probs"]``), if any."""
    model: Instance = tensor.target
    if model.cls is not None:
        fields = sem.class_output_fields(model.cls)
        if key is not None and fields is not None:
            family = fields.get(key)
        elif key is not None and not key.startswith("[") and key != "?":
            family = None  # a named field of an output that is no record
        else:
            family = sem.class_output(model.cls)
            if family is None and sem.class_returns_logits(model.cls):
                family = LOGITS
        return Origin(family, tensor) if family is not None else _UNKNOWN_ORIGIN
    if model.origin == "zoo":
        return _replaced_head_origin(sem, model, tensor)
    if model.origin != "constructed" or not model.qualified:
        return _UNKNOWN_ORIGIN
    if model.qualified.startswith(("torch.", "transformers.")):
        return _UNKNOWN_ORIGIN
    # Known only by name: the index decides. The family here is a placeholder that every
    # deferred option shares; the rule asks the index for the family it cares about.
    return Origin("deferred", None, "", (model.qualified,), key)


def output_elements(sem: "FileSemantics", value: Value) -> Optional[dict[str, Value]]:
    """What a forward returns, element by element, when it returns a container: a tuple or
    list (``[0]``, ``[1]``, and ``[-1]``… from the end), a dict by its string keys, a record
    or a dataclass/``NamedTuple`` instance by its fields (and a ``NamedTuple``'s positions).
    None for anything else (a tensor)."""
    from dllint.semantics.config_values import Record, is_record_class, tuple_fields

    if isinstance(value, Container) and value.kind in ("list", "dict") and value.complete:
        if value.keys is not None:
            return {key: item for key, item in zip(value.keys, value.items) if isinstance(key, str)}
        count = len(value.items)
        return {**{f"[{i}]": item for i, item in enumerate(value.items)},
                **{f"[{i - count}]": item for i, item in enumerate(value.items)}}
    if isinstance(value, Record):
        return dict(value.fields)
    if isinstance(value, Instance) and value.cls is not None and value.attrs is not None \
            and is_record_class(sem.evaluator, value.cls):
        elements = dict(value.attrs)
        order = tuple_fields(sem.evaluator, value) or []
        elements.update({f"[{i}]": value.attrs[name] for i, name in enumerate(order) if name in value.attrs})
        return elements
    return None


# The attribute that holds a zoo classifier's last layer: ``fc`` (ResNet, Inception, RegNet),
# ``classifier`` (VGG, DenseNet, MobileNet, EfficientNet, ConvNeXt), ``head``/``heads`` (ViT,
# Swin, timm models). Replacing it is how transfer learning sets the number of classes.
_HEAD_NAMES = ("fc", "classifier", "head", "heads", "last_linear")


def _replaced_head_origin(sem: "FileSemantics", model: Instance, tensor: Tensor) -> Origin:
    """A zoo model whose classification head the code replaced (``model.fc =
    nn.Sequential(nn.Linear(512, 10), nn.Softmax(dim=1))``) outputs what that head outputs."""
    heads = [name for name in _HEAD_NAMES if model.attrs and name in model.attrs]
    if len(heads) != 1:
        return _UNKNOWN_ORIGIN
    family, applied = _module_output(sem, model.attrs[heads[0]], 0)  # type: ignore[index]
    if family is None:
        return _UNKNOWN_ORIGIN
    return Origin(family, applied or tensor, f"head:{heads[0]}")


def _module_output(sem: "FileSemantics", module: Value, depth: int) -> tuple[Optional[str], Optional[Tensor]]:
    """What applying a module object yields, read off its structure without applying it: the
    family of a layer, of a Sequential's last item, of a model class's forward."""
    if depth > 8:
        return None, None
    if isinstance(module, Layer):
        op = module.op
        if op.kind == "activation" and op.family in OUTPUT_FAMILIES:
            return op.family, Tensor("module", module, (), module.node)
        if op.kind == "affine":
            return LOGITS, Tensor("module", module, (), module.node)
        return None, None
    if isinstance(module, Container) and module.kind == "sequential" and module.complete and module.items:
        for item in reversed(module.items):
            if isinstance(item, Layer) and item.op.kind in _KEEPING_KINDS:
                continue  # Dropout / Flatten / Identity after the last layer keep its output
            return _module_output(sem, item, depth + 1)
        return None, None
    if isinstance(module, Instance) and module.cls is not None:
        family = sem.class_output(module.cls) or (LOGITS if sem.class_returns_logits(module.cls) else None)
        return family, None
    return None, None


# --- loss applications ------------------------------------------------------------------------

class LossApplication:
    """One call of a torch loss in one evaluation.

    family: cross_entropy | nll | bce | bce_with_logits | kl_div | other (catalog families)
    qualified: the loss class or function (``torch.nn.CrossEntropyLoss``, ``torch.nn.functional.nll_loss``)
    criterion: the loss object when it is a module (its constructor arguments:
               ``criterion.arg("label_smoothing")``), None for a functional loss
    prediction / target: the values passed as ``input`` and ``target`` (None if not passed)
    """

    __slots__ = ("node", "family", "qualified", "criterion", "prediction", "target", "function")

    def __init__(
        self,
        node: cst.Call,
        family: str,
        qualified: str,
        criterion: Optional[Layer],
        prediction: Optional[Value],
        target: Optional[Value],
        function: Optional[FunctionInfo],
    ) -> None:
        self.node = node
        self.family = family
        self.qualified = qualified
        self.criterion = criterion
        self.prediction = prediction
        self.target = target
        self.function = function


def loss_applications(sem: "FileSemantics") -> list[LossApplication]:
    """Every loss call the evaluations saw, once per distinct evaluation (a call inside a
    helper appears once per caller that inlined it). Functions that call a loss but that no
    root evaluation reached (a Lightning ``training_step``, a ``compute_loss`` helper nobody
    in the file calls) are evaluated on their own first, with unknown arguments."""
    sem.traces  # noqa: B018 - the roots, then the forward graphs and Sequentials, come first
    sem.forward_graphs  # noqa: B018
    sem.sequential_chains  # noqa: B018
    _evaluate_unreached_loss_functions(sem)
    result: list[LossApplication] = []
    for site in sem.info.calls:
        for callee, args, kwargs in sem.evaluator.observed.get(id(site.node), ()):
            prediction = args[0] if args else kwargs.get("input")
            target = args[1] if len(args) > 1 else kwargs.get("target")
            if isinstance(prediction, Starred):
                continue
            for family, qualified, criterion in _losses_of(callee):
                result.append(LossApplication(site.node, family, qualified, criterion, prediction, target, site.function))
    return result


def _losses_of(callee: Value) -> list[tuple[str, str, Optional[Layer]]]:
    """The torch losses a callee may be, one per family: a criterion chosen by a branch
    (``nn.BCELoss() if binary else nn.CrossEntropyLoss()``) is each of them on some path.
    Nothing when one of the options is not a torch loss."""
    losses: dict[str, tuple[str, str, Optional[Layer]]] = {}
    for option in options_of(callee):
        if isinstance(option, Layer) and option.op.kind == "loss":
            losses.setdefault(option.op.family, (option.op.family, option.qualified, option))
            continue
        op = catalog.function_op(option.qualified) if isinstance(option, Reference) else None
        if op is None or op.kind != "loss":
            return []
        losses.setdefault(op.family, (op.family, option.qualified, None))
    return list(losses.values())


_LOSS_WORDS = ("loss", "criterion", "criteria")


def _evaluate_unreached_loss_functions(sem: "FileSemantics") -> None:
    """Run the functions that compute a loss (and the same-file functions that call them, so
    that concrete models reach the loss) when no root evaluation reached them."""
    functions = sem.info.functions
    relevant = {id(f) for f in functions if any(_may_call_loss(site) for site in f.calls)}
    if not relevant:
        return
    by_name: dict[str, list[FunctionInfo]] = {}
    for function in functions:
        by_name.setdefault(function.name, []).append(function)
    for _ in range(3):  # callers, and their callers
        added = set()
        for function in functions:
            if id(function) in relevant:
                continue
            for site in function.calls:
                name = site.method or (site.node.func.value if isinstance(site.node.func, cst.Name) else None)
                if name and any(id(callee) in relevant for callee in by_name.get(name, ())):
                    added.add(id(function))
                    break
        if not added:
            break
        relevant |= added
    observed = sem.evaluator.observed
    for function in functions:
        if id(function) not in relevant or any(id(site.node) in observed for site in function.calls):
            continue
        self_value = sem.generic_instance(function.cls) if function.cls is not None and function.self_name else None
        sem.evaluator.run_function(function, self_value)


def _may_call_loss(site) -> bool:
    op = catalog.function_op(site.qualified) or catalog.layer_op(site.qualified)
    if op is not None and op.kind == "loss":
        return True
    func = site.node.func
    if type(func) is cst.Call:  # nn.CrossEntropyLoss()(out, y)
        return _may_call_loss_name(func.func)
    return _may_call_loss_name(func)


def _may_call_loss_name(func: cst.BaseExpression) -> bool:
    name = func.attr.value if type(func) is cst.Attribute else func.value if type(func) is cst.Name else ""
    lowered = name.lower()
    return any(word in lowered for word in _LOSS_WORDS)


def loss_inputs(sem: "FileSemantics", losses: tuple[str, ...], inputs: tuple[str, ...]) -> list[tuple[LossApplication, Origin]]:
    """The loss calls of one of the ``losses`` families whose prediction is one of ``inputs``
    (origin families: ``softmax``, ``sigmoid``, ``log_softmax``, ``logits``), one per call:
    an evaluation that shows it here wins; otherwise one where it depends on model classes of
    other files (``origin.deferred``: report with :func:`dllint.project.unless_output_is_not`)."""
    found: dict[int, tuple[LossApplication, Origin]] = {}
    for application in sem.loss_applications:
        if application.family not in losses:
            continue
        seen = origin(sem, application.prediction)
        if seen.deferred:
            if id(application.node) not in found:
                found[id(application.node)] = (application, seen)
        elif seen.family in inputs:
            previous = found.get(id(application.node))
            if previous is None or previous[1].deferred:
                found[id(application.node)] = (application, seen)
    return list(found.values())


def produced_in(sem: "FileSemantics", origin: Origin) -> Optional[FunctionInfo]:
    """The function whose code applied the origin's operation (``Net.forward`` for a model
    whose last layer is the softmax), or None when unknown."""
    node = origin.tensor.node if origin.tensor is not None else None
    site = sem.site_of(node) if isinstance(node, cst.Call) else None
    return site.function if site is not None else None


def describe_origin(sem: "FileSemantics", application: LossApplication, origin: Origin) -> str:
    """How a message names what produced a loss's input: ```F.softmax``` , or
    ```nn.Softmax``` in `Net.forward`` when a model's forward applied it elsewhere."""
    from dllint.semantics import describe

    if origin.tensor is None:
        return "an operation"
    spelled = describe(origin.tensor)
    if origin.spelled.startswith("head:"):
        return f"{spelled}, the last layer of the head assigned to the model's `.{origin.spelled[5:]}`"
    where = produced_in(sem, origin)
    if where is not None and where is not application.function:
        spelled = f"{spelled} in `{where.qualname}`"
    layer = origin.tensor.target
    if isinstance(layer, Layer) and layer.choices is not None and layer.choices.defaults:
        # a model whose output layer a command-line default put there
        spelled = f"{spelled} (built when {', '.join(layer.choices.defaults)})"
    return spelled


