"""Training and inference loops, read off the evaluator's traces.

A *training step* is a ``backward`` followed (in the same trace) by an optimizer ``step``;
what happens between them (clipping, unscaling) and which models produced the loss come
with it. Questions about a model ("does it hold an LSTM?", "does it have Dropout or
BatchNorm?") are answered here for every kind of model value — a class of this file, an
``nn.Sequential``, a class from another file of the run (answered later by the project
index), or a model of unknown class.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from dllint.semantics.modes import model_like_name
from dllint.semantics.optimizers import covers, optimizer_of, updated_models
from dllint.semantics.trace import Event, Trace
from dllint.semantics.values import (
    MODEL_COPIES,
    AttributeOf,
    Container,
    FunctionRef,
    Instance,
    Layer,
    Obj,
    Param,
    Tensor,
    Unknown,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.frameworks import Driver


class TrainingStep:
    __slots__ = ("trace", "backward", "step", "between")

    def __init__(
        self, trace: Trace, backward: Event, step: Optional[Event], between: Optional[list[Event]] = None
    ) -> None:
        self.trace = trace
        self.backward = backward
        self.step = step
        self.between: list[Event] = [] if between is None else between

    @property
    def driver(self) -> Optional["Driver"]:
        """The framework that runs the step (a Lightning or Hugging Face ``Trainer``, a DeepSpeed
        engine), or None for a step the code calls itself."""
        return self.step.driver if self.step is not None else None

    @property
    def clipped(self) -> bool:
        """Whether the gradients may be clipped before the step: a clipping call between the
        backward and the step, or a framework that clips (or may: set outside the code)."""
        driver = self.driver
        return any(event.kind == "clip" for event in self.between) or (driver is not None and driver.clips is not False)


def training_steps(sem: "FileSemantics") -> list[TrainingStep]:
    steps = []
    for trace in sem.traces:
        events = trace.events
        for index, event in enumerate(events):
            if event.kind != "backward":
                continue
            between: list[Event] = []
            found: Optional[Event] = None
            for later in events[index + 1:]:
                if later.kind == "backward":
                    break
                if later.kind == "step":
                    found = later
                    break
                between.append(later)
            steps.append(TrainingStep(trace, event, found, between))
    return steps


def ancestors(value: Value, limit: int = 5000) -> Iterator[Tensor]:
    """Every tensor the value was computed from (itself included), breadth first."""
    queue = list(options_of(value))
    seen: set[int] = set()
    while queue and len(seen) < limit:
        current = queue.pop(0)
        if id(current) in seen or not isinstance(current, Tensor):
            continue
        seen.add(id(current))
        yield current
        for source in current.inputs:
            queue.extend(options_of(source))


# --- what a model holds -----------------------------------------------------------------------

class Verdict:
    """Whether a model holds some kind of layer: known yes/no here, or to be decided by the
    project index for the classes named in ``deferred`` (classes defined in other files)."""

    __slots__ = ("holds", "deferred")

    def __init__(self, holds: Optional[bool], deferred: tuple[str, ...] = ()) -> None:
        self.holds = holds
        self.deferred = deferred

    def __repr__(self) -> str:
        return f"Verdict({self.holds!r}, {self.deferred!r})"

    @property
    def certain(self) -> bool:
        return self.holds is True


def holds(sem: "FileSemantics", model: Value, families: frozenset[str], *, unknown: bool) -> Verdict:
    """Does ``model`` contain a layer of one of ``families`` (op families or kinds such as
    ``recurrent``, ``dropout``, ``batch``)? ``unknown`` is the answer for a model whose class
    cannot be known (from a zoo, a checkpoint, a parameter)."""
    deferred: list[str] = []
    answer: Optional[bool] = False
    for option in options_of(model):
        verdict = _holds_one(sem, option, families, unknown)
        if verdict.holds:
            return Verdict(True)
        deferred.extend(verdict.deferred)
        if verdict.holds is None:
            answer = None
    if deferred and answer is False:
        return Verdict(None, tuple(dict.fromkeys(deferred)))
    return Verdict(answer, tuple(dict.fromkeys(deferred)))


def _holds_one(sem: "FileSemantics", model: Value, families: frozenset[str], unknown: bool) -> Verdict:
    if isinstance(model, Layer):
        return Verdict(model.op.family in families or model.op.kind in families)
    if isinstance(model, Container):
        from dllint.semantics import families_of

        return _from_families(families_of(model), families, unknown)
    if isinstance(model, Instance):
        if model.cls is not None:
            return _from_families(sem.instance_contains(model), families, unknown)
        if model.origin in ("loaded", "pretrained") or model.qualified is None:
            return Verdict(unknown)
        if model.origin == "zoo":
            return Verdict(unknown)
        return Verdict(None, (model.qualified,))
    return Verdict(unknown)


def _from_families(found: set[str], families: frozenset[str], unknown: bool) -> Verdict:
    if found & families:
        return Verdict(True)
    externals = tuple(item[len("external:"):] for item in found if item.startswith("external:"))
    if "unknown" in found and unknown:
        return Verdict(None if externals else True, externals)
    if externals:
        return Verdict(None, externals)
    return Verdict(False)


# --- models called in a loop ------------------------------------------------------------------

def looks_like_model(sem: "FileSemantics", value: Value, call: cst.CSTNode, *, modules_only: bool = True) -> bool:
    """Whether a called value is plausibly a model (not an arbitrary callable): an nn.Module
    class of this file, a Sequential, a model from a zoo or a checkpoint, or an object of
    unknown class whose name (``model``, ``net``, ``BertModel``…) says it is one — never a
    plain function (``def net(X): ...``), even one a caller passes for a parameter named
    ``net``: it has no ``.eval()``. With ``modules_only=False`` such a function counts too
    when its name says model (a from-scratch RNN ``rnn(X, state, params)`` computes like one:
    what a question about gradients through its outputs needs)."""
    if modules_only and calls_plain_function(sem, call):
        return False
    called = _called_name(call)
    for option in options_of(value):
        if isinstance(option, FunctionRef):
            if modules_only:
                return False
            continue
        if isinstance(option, Instance):
            if option.cls is not None:
                return sem.is_module_class(option.cls)
            if option.origin in ("zoo", "loaded", "pretrained"):
                return True
            return model_like_name(called) or model_like_name((option.qualified or "").rsplit(".", 1)[-1])
        if isinstance(option, Container):
            return option.kind in ("sequential", "module_list", "module_dict")
        if isinstance(option, Layer):
            return option.op.kind in ("dropout", "norm")
    return model_like_name(called)



def calls_plain_function(sem: "FileSemantics", call: cst.CSTNode) -> bool:
    """Whether every run that reaches a call knowing its callee calls a plain function of this
    file there, never a module: ``net(X)`` in ``evaluate_accuracy(data_iter, net)`` when the
    callers in this file pass ``def net(X): ...`` (d2l's models written from scratch)."""
    if not isinstance(call, cst.Call):
        return False
    known = [
        option
        for callee, _, _ in sem.observed(call)
        for option in options_of(callee)
        if not isinstance(option, (Param, AttributeOf, Unknown))
    ]
    return bool(known) and all(
        isinstance(option, FunctionRef) and not (option.bound_self is not None and option.function.name == "forward")
        for option in known
    )


def _called_name(call: cst.CSTNode) -> str:
    func = call.func if isinstance(call, cst.Call) else None
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return ""


INFERENCE_NAME = re.compile(r"(^|_)(predict|prediction|predictions|infer|inference|evaluate|evaluation|eval|validate|validation|val|test)(_|$)", re.I)


def inference_function(event: Event) -> Optional[str]:
    """The name of a function on the call stack that says it does inference, if any."""
    for function in reversed(event.stack):
        if function.name.startswith("test_") or function.name.startswith("_test"):
            continue  # pytest tests: shape checks in train mode are not inference
        if INFERENCE_NAME.search(function.name):
            return function.name
    return None


def trained_after(sem: "FileSemantics", call: cst.CSTNode) -> bool:
    """Whether the model called at ``call`` is trained again after that call, in some run:
    a later forward of the same model outside ``no_grad`` whose output a ``backward`` then
    differentiates (the next epoch after a validation pass, say)."""
    for trace in sem.traces:
        events = trace.events
        for index, event in enumerate(events):
            if event.kind != "forward" or event.node is not call:
                continue
            models = {id(option) for option in options_of(event.target)}
            outputs: set[int] = set()
            for later in events[index + 1:]:
                if later.kind == "forward" and not later.no_grad and later.output is not None and any(
                    id(option) in models for option in options_of(later.target)
                ):
                    outputs.update(id(option) for option in options_of(later.output))
                elif later.kind == "backward" and outputs and any(
                    id(tensor) in outputs for tensor in ancestors(later.target)
                ):
                    return True
    return False


# --- what a model's output is used for ---------------------------------------------------------

# Operations that turn an output into a decision or a score: a forward whose output meets one
# of them is inference (a prediction, a metric, a validation loss); one whose output is only
# printed or measured (``y.size()``) is a shape check.
_PREDICTION_METHODS = frozenset({
    "argmax", "argmin", "max", "min", "topk", "sort", "argsort", "softmax", "log_softmax", "sigmoid", "round", "item",
    "tolist", "eq", "ne", "ge", "gt", "le", "lt",
})
_PREDICTION_FUNCTIONS = frozenset({
    "torch.argmax", "torch.argmin", "torch.max", "torch.min", "torch.topk", "torch.sort", "torch.argsort",
    "torch.softmax", "torch.sigmoid", "torch.round", "torch.eq", "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax", "torch.nn.functional.sigmoid",
})
_MAX_USES = 200


def used_as_prediction(sem: "FileSemantics", trace: Trace, output: Optional[Value]) -> bool:
    """Whether a forward's output is used as a prediction in this run: it (or what is
    computed from it) meets an argmax/max/topk/threshold/comparison, a loss, or leaves the
    computation — returned by a function, stored in a list, handed to a metric."""
    if output is None:
        return False
    escaped = sem.evaluator.escaped
    return any(_decides(tensor) if derived else id(tensor) in escaped for tensor, derived in _uses(sem, trace, output))


# A model's output scored: a class picked (argmax, max, topk) or compared with the labels.
_SCORING_METHODS = frozenset({"argmax", "argmin", "max", "min", "topk", "round", "eq", "ne", "ge", "gt", "le", "lt"})
_SCORING_FUNCTIONS = frozenset({"torch.argmax", "torch.argmin", "torch.max", "torch.min", "torch.topk", "torch.round", "torch.eq"})


def scored_only(sem: "FileSemantics", trace: Trace, output: Optional[Value]) -> bool:
    """Whether a forward's output is scored and nothing else in this run: what is computed from
    it meets an argmax/max/topk or a comparison (accuracy against the labels), and never a loss
    nor any ``backward`` — the model is tested, not trained, by that call."""
    if output is None:
        return False
    backward_targets = {
        id(option) for event in trace.events if event.kind == "backward" for option in options_of(event.target)
    }
    scored = False
    visited = 0
    for tensor, derived in _uses(sem, trace, output):
        visited += not derived
        if id(tensor) in backward_targets or (derived and tensor.module_op is not None and tensor.module_op.kind == "loss"):
            return False
        scored = scored or derived and (
            tensor.kind == "compare"
            or (tensor.kind == "method" and tensor.target in _SCORING_METHODS)
            or (tensor.kind == "function" and tensor.target in _SCORING_FUNCTIONS)
        )
    return scored and visited < _MAX_USES  # every use seen


def _uses(sem: "FileSemantics", trace: Trace, output: Value) -> Iterator[tuple[Tensor, bool]]:
    """A walk over what this run computes from a forward's output, up to ``_MAX_USES``
    tensors: each tensor reached (False: the output's own tensors first), and each consumer
    of it as it is found (True)."""
    start, end = trace.span
    consumers: dict[int, list[Tensor]] = {}
    for tensor in sem.evaluator.tensors[start:end]:
        for source in tensor.inputs:
            for option in options_of(source):
                consumers.setdefault(id(option), []).append(tensor)
    queue = list(_tensors_in(output))
    seen: set[int] = set()
    while queue and len(seen) < _MAX_USES:
        tensor = queue.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        yield tensor, False
        for consumer in consumers.get(id(tensor), ()):
            yield consumer, True
            queue.append(consumer)


def _tensors_in(value: Value, depth: int = 0) -> Iterator[Tensor]:
    """The tensors a value is or holds (a forward that returns a tuple or a dict)."""
    for option in options_of(value):
        if isinstance(option, Tensor):
            yield option
        elif isinstance(option, Container) and option.kind in ("list", "dict") and depth < 3:
            for item in option.items:
                yield from _tensors_in(item, depth + 1)


def _decides(tensor: Tensor) -> bool:
    if tensor.kind == "compare":
        return True
    if tensor.kind == "method":
        return tensor.target in _PREDICTION_METHODS
    if tensor.kind == "function":
        return tensor.target in _PREDICTION_FUNCTIONS
    op = tensor.module_op
    if op is not None and op.kind == "loss":
        return True
    return tensor.kind == "module" and not isinstance(tensor.target, (Layer, Container, Instance))


def recalibrates(events: list[Event], forward: Event) -> bool:
    """Whether a forward runs in train mode on purpose: the latest mode switch of its model
    before it is an explicit ``train()`` with no ``backward`` since — BatchNorm statistics
    recomputed under ``no_grad`` (SWA's ``update_bn``), Monte Carlo dropout."""
    position = next((index for index, event in enumerate(events) if event is forward), None)
    if position is None:
        return False
    for event in reversed(events[:position]):
        if event.kind == "backward":
            return False
        if event.kind in ("train", "eval") and any(a is b for a in options_of(event.target) for b in options_of(forward.target)):
            return event.kind == "train"
    return False


def fine_tuned_copy(sem: "FileSemantics", events: list[Event], forward: Event) -> bool:
    """Whether a forward runs a copy of a model (``copy.deepcopy(model)``) that an optimizer of
    its own has stepped (after a ``backward``) earlier in this run: MAML's inner loop or
    test-time adaptation fine-tunes a throw-away copy in train mode on purpose, and what the
    copy then predicts belongs to that procedure."""
    copies = [option for option in options_of(forward.target) if isinstance(option, Obj) and option.qualified in MODEL_COPIES]
    if not copies:
        return False
    differentiated = False
    for event in events:
        if event is forward:
            return False
        if event.kind == "backward":
            differentiated = True
        elif event.kind == "step" and differentiated:
            updated = updated_models(sem, optimizer_of(event))
            if updated is not None and any(covers(updated, copy) for copy in copies):
                return True
    return False


def part_of_training_step(events: list[Event], forward: Event) -> bool:
    """Whether a forward belongs to a training step: a ``backward`` runs in the same loop
    iteration (an action picked before the update, a batch's accuracy after it), or nested in
    that iteration after the forward (it opens the loop that trains). A backward nested in it
    *before* the forward is a training loop that has finished."""
    depth = len(forward.iterations)
    after = False
    for event in events:
        if event is forward:
            after = True
        elif event.kind == "backward" and (
            event.iterations == forward.iterations or (after and event.iterations[:depth] == forward.iterations)
        ):
            return True
    return False


def trained_before(events: list[Event], forward: Event) -> bool:
    """Whether the run trains the forward's model before that forward: a forward of it with
    gradients on whose loss a ``backward`` differentiates, then an optimizer ``step``."""
    models = {id(option) for option in options_of(forward.target)}
    outputs: set[int] = set()
    differentiated = False
    for event in events:
        if event is forward:
            return False
        if event.kind == "forward" and not event.no_grad and event.output is not None and any(
            id(option) in models for option in options_of(event.target)
        ):
            outputs.update(id(option) for option in options_of(event.output))
        elif event.kind == "backward" and outputs and any(id(tensor) in outputs for tensor in ancestors(event.target)):
            differentiated = True
        elif event.kind == "step" and differentiated:
            return True
    return False


def trained_in_file(sem: "FileSemantics", model: Value) -> bool:
    """Whether some run of this file differentiates an output of ``model``: a ``backward``
    reaches what one of its forwards with gradients on computed (it is being trained, or
    fine-tuned, here)."""
    models = {id(option) for option in options_of(model)}
    for trace in sem.traces:
        outputs: set[int] = set()
        for event in trace.events:
            if event.kind == "forward" and not event.no_grad and event.output is not None and any(
                id(option) in models for option in options_of(event.target)
            ):
                outputs.update(id(option) for option in options_of(event.output))
            elif event.kind == "backward" and outputs and any(id(tensor) in outputs for tensor in ancestors(event.target)):
                return True
    return False


def top_level_prediction(sem: "FileSemantics", trace: Trace, forward: Event) -> bool:
    """Whether a forward at a script's or notebook's top level (no function on its stack) is a
    prediction: its output is scored (argmax, max, a comparison) and nothing else, and the file
    never trains that model. The top level is the body of the run, as a ``predict()`` is that
    of a function: what the output is used for says it is inference, with no name to go by."""
    return not forward.stack and scored_only(sem, trace, forward.output) and not trained_in_file(sem, forward.target)


# --- calling contexts across files -------------------------------------------------------------

def received_models(sem: "FileSemantics", models: Iterator[Value]) -> list[tuple[str, str]]:
    """(function, parameter) for the models a module-level function of this file receives as
    parameters: what its callers in other files pass decides what they are."""
    found: list[tuple[str, str]] = []
    for model in models:
        for option in options_of(model):
            if isinstance(option, Param) and option.function.cls is None and option.function.scope.parent is sem.info.scope:
                key = (f"{sem.module_name}.{option.function.qualname}", option.name)
                if key not in found:
                    found.append(key)
    return found


def parameters_deciding(sem: "FileSemantics", events: list[Event]) -> Optional[list[tuple[str, str, bool]]]:
    """For one call seen in several evaluations, where the model is a parameter in each (its
    own function's, and inlined into the callers of this file): (function, parameter, called
    here) for each module-level function whose callers in other files say what the model is.
    ``called here``: the function's callers in this file were evaluated too (the model they
    pass is another of these parameters), so other files need not call it. None when a model
    is the parameter of a method or nested function: no summary of other files speaks of it."""
    found: list[tuple[str, str, bool]] = []
    for event in events:
        for option in options_of(event.target):
            if not isinstance(option, Param):
                continue
            function = option.function
            called_here = any(
                function in other.stack and any(
                    isinstance(passed, Param) and passed.function is not function for passed in options_of(other.target)
                )
                for other in events
            )
            received = received_models(sem, [option])
            if not received:
                if called_here:
                    continue
                return None
            key = (*received[0], called_here)
            if key not in found:
                found.append(key)
    return found


def called_elsewhere(events: list[Event]) -> tuple[str, ...]:
    """The functions of other files (maybe) called among these events."""
    return tuple(dict.fromkeys(event.target.qualified for event in events if event.kind == "call"))
