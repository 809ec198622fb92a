from __future__ import annotations

from typing import Callable, Iterator, Optional

import libcst as cst

from dllint.findings import UNSAFE
from dllint.project import (
    unless_all,
    unless_any,
    unless_callee_does,
    unless_callers_run_it_safely,
    unless_checkpoints_hold_none,
    unless_none_hold_or_custom_call,
    unless_outside_the_run,
)
from dllint.rules.base import Report, Rule, TextEdit
from dllint.rules.editing import statement_after, statement_before
from dllint.semantics import FileSemantics, Instance, Param
from dllint.semantics.catalog import may_be_project_function
from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.loops import (
    fine_tuned_copy,
    holds,
    inference_function,
    looks_like_model,
    part_of_training_step,
    recalibrates,
    parameters_deciding,
    scored_only,
    top_level_prediction,
    trained_after,
    trained_before,
    used_as_prediction,
)
from dllint.semantics.modes import model_like_name
from dllint.semantics.module_models import deciding_views
from dllint.semantics.syntax import dotted_name
from dllint.semantics.trace import Event, Trace
from dllint.semantics.values import Obj, Value, options_of

_DROPOUT_OR_BN = frozenset({"dropout", "batch"})
_SCORED_AFTER_TRAINING = "its output scored after training"


class InferenceWithoutEval(Rule):
    """
    ## What it does
    Flags a model that contains Dropout or BatchNorm — or whose class cannot be known (loaded
    with `torch.load` from a checkpoint this file does not pickle itself, built by a model zoo,
    passed in as a parameter) called for inference
    with no `.eval()` on that model on the path before it. A call is inference when it runs
    with gradient recording off (inside `torch.no_grad()`/`torch.inference_mode()`, or after
    `torch.set_grad_enabled(False)`, unless an inner `torch.enable_grad()` turns it back on);
    when it runs in a function named like `predict`, `infer`, `evaluate`, `validate` or `test`
    and its output is used as a prediction; or when the same run trained the model before and
    the output now only meets an argmax/max or a comparison with the labels, never a loss or a
    backward (a test-set accuracy computed next to the training loop); or when a script's or
    notebook's top level calls a model that the file never trains and only scores its output
    that way (`_, pred = torch.max(vgg16(x).data, 1)`).

    Not flagged: `.eval()` earlier in the function, in a same-file helper it calls, or in every
    caller in the file; a model received as a parameter when every call of the run (in this
    file or others) passes there a model in eval mode, a model with neither Dropout nor
    BatchNorm, or a plain function; `model.train(False)`; `Model(...).eval()` chained; a module-level model
    put in eval mode (`detection.eval()`, or chained to its assignment) that a function reads,
    when the module body calls that function after the `.eval()` (a script, notebook cells run
    in order) — or at all, for the chained one; models from
    `from_pretrained` (already in eval mode); models whose class is known to have neither
    Dropout nor BatchNorm (InstanceNorm keeps no running statistics); `no_grad` forwards inside
    a training step (an EMA or momentum teacher); a model calling itself or its own submodules
    inside its methods (a `generate` method under `@torch.no_grad()`); evaluation that a
    framework runs in eval mode (Lightning's `validation_step`/`test_step`/`predict_step` and
    their hooks, a Hugging Face `Trainer`'s `evaluate`/`predict` and a subclass's
    `prediction_step`); an object of an imported class that no file of the run defines and
    whose class name does not say it is a model (`Speech2Text`, a library's inference
    wrapper); a plain function of this file (`def net(X): ...`, a model written from scratch),
    also when the callers pass it for a parameter named `net` — it has no `.eval()`; a copy of
    a model (`copy.deepcopy`) that the same run fine-tunes first (backward, optimizer step: the
    inner loop of MAML, test-time adaptation), whose train mode is deliberate; a wrapper never put in eval mode itself whose every
    Dropout/BatchNorm (and recurrent dropout between stacked layers) sits in a submodule that
    was (`encoder.eval(); decoder.eval(); GreedySearchDecoder(encoder, decoder)`). A model handed
    back by `accelerator.prepare`, `fabric.setup` or a wrapper (`DataParallel`, FSDP,
    `torch.compile`) is the same model, and so is a model restored with `torch.load(path)` from
    the pickle the file writes with `torch.save(model, path)` (the same path, or paths that
    cannot be compared while every model the file pickles whole is of one class): a restored CNN
    with neither Dropout nor BatchNorm is not flagged. A torchvision weights preset's
    `transforms()` (`ResNet50_Weights.DEFAULT.transforms()`) is a preprocessing transform, not
    a model: calling it is not inference. A model scored after training is not flagged when
    the scoring belongs to a training step (a batch's accuracy after its update, an action
    picked in each step of the loop that trains the model).

    ## Why is this bad?
    `torch.no_grad()` only stops gradient tracking; it does not change how layers behave. A
    model stays in training mode until `.eval()` is called: Dropout keeps zeroing random units
    (predictions become random and worse), and BatchNorm normalises each batch with *that
    batch's* statistics instead of the running averages collected during training — results
    depend on the batch, and a batch of one sample breaks (Ioffe & Szegedy, 2015, §3.1: at
    inference BN must use the mean and variance estimated on the training set).

    ## Example
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights="DEFAULT")
    with torch.no_grad():
        logits = model(images)
    ```

    ## Use instead
    ```python
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights="DEFAULT")
    model.eval()
    with torch.no_grad():
        logits = model(images)
    ```

    ## Fix safety
    The fix (`--unsafe-fixes`) inserts `model.eval()` before the inference block — the
    `with torch.no_grad():` (or `inference_mode()`) around the call, else the statement of the
    function that holds it — and, when the model is trained again afterwards (the next epoch
    after a validation pass), `model.train()` after that block. There is no fix when the model
    is scored after training in the same run (no `no_grad` block marks where the scoring
    starts: the statement around it may be the training loop), is not a plain name or
    attribute (`models[0](x)`), is rebound inside the block, or is trained again afterwards
    but the block can leave early (a `return` inside it: a `train()` after it would not run). It is unsafe because it changes the model's mode, which code that shares the
    model may depend on.

    ## References
    - [PyTorch: Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    - [PyTorch: torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html) (it does not change how layers behave)
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), ICML 2015, §3.1 (inference uses the population statistics)
    - Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](https://jmlr.org/papers/v15/srivastava14a.html), JMLR 2014
    - Runtime counterpart: DLP006 train-mode-inference (`dllint probe`)
    """

    code = "DL502"
    name = "inference-without-eval"
    summary = "Model used for inference while still in training mode"
    fixable = True
    fix_applicability = (UNSAFE,)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        occurrences: dict[int, list[tuple[Trace, Event, str]]] = {}
        for trace in sem.traces:
            backward_scopes = {
                (event.iterations, event.stack[-1] if event.stack else None)
                for event in trace.events
                if event.kind == "backward"
            }
            for event in trace.events:
                if event.kind != "forward" or not event.mode:
                    continue
                why = _inference_context(sem, trace, event)
                if why is None or recalibrates(trace.events, event):
                    continue
                if why == _SCORED_AFTER_TRAINING:
                    if part_of_training_step(trace.events, event):
                        continue
                elif _inside_training_step(event, backward_scopes):
                    continue
                if fine_tuned_copy(sem, trace.events, event):
                    continue
                if not looks_like_model(sem, event.target, event.node):
                    continue
                occurrences.setdefault(id(event.node), []).append((trace, event, why))
        for views in occurrences.values():
            event = _deciding(sem, deciding_views([(trace, event) for trace, event, _ in views]))
            if event is None or (event.mode == "attr" and _owner_evaluates_it(sem, event)):
                continue
            verdict = holds(sem, event.target, _DROPOUT_OR_BN, unknown=True)
            if verdict.holds is False:
                continue
            why = next(why for _, candidate, why in views if candidate is event)
            # No no_grad block marks where scoring starts: the statement around it may be the training loop.
            edits, fix_message = _fix(sem, event) if why != _SCORED_AFTER_TRAINING else ((), None)
            yield Report(
                event.node,
                f"this model is called for inference ({why}) without `.eval()` first: "
                f"{_consequence(sem, event)} — call `model.eval()` before inference",
                fix_message=fix_message,
                edits=edits,
                applicability=UNSAFE,
                unless=_unless(sem, event, [seen for _, seen, _ in views], verdict),
            )


def _unless(sem: FileSemantics, event: Event, events: list[Event], verdict) -> Optional[Callable]:
    """What can still drop the report once every file is read: the model's class (of another
    file) holds neither Dropout nor BatchNorm; or the model came in as a parameter (of this
    function, or of its callers in this file that pass theirs on) and every call from another
    file passes, there, a model in eval mode, one with neither Dropout nor BatchNorm, or no
    model at all (a plain function)."""
    conditions = []
    if not verdict.holds:
        conditions.append(unless_none_hold_or_custom_call(verdict.deferred, ("dropout", "batch")))
        if verdict.deferred and not any(model_like_name(name.rsplit(".", 1)[-1]) for name in verdict.deferred):
            conditions.append(unless_outside_the_run(verdict.deferred))
    checkpoints = _checkpoints(sem, event.target)
    if checkpoints:
        conditions.append(unless_checkpoints_hold_none(checkpoints, ("dropout", "batch")))
    contexts = parameters_deciding(sem, [seen for seen in events if seen.mode == "caller"]) if event.mode == "caller" else None
    if contexts:
        conditions.append(unless_all(*(
            unless_callers_run_it_safely(function, param, tuple(sorted(_DROPOUT_OR_BN)), called_here)
            for function, param, called_here in contexts
        )))
    factories = tuple(
        option.qualified for option in options_of(event.target) if isinstance(option, Obj) and may_be_project_function(option.qualified)
    )
    if factories:
        conditions.append(unless_callee_does(factories, "eval"))  # ``load_model()`` of another file calls ``.eval()``
    return unless_any(*conditions) if conditions else None


def _checkpoints(sem: FileSemantics, model: Value) -> tuple[str, ...]:
    """The checkpoint files a model is loaded whole from (``torch.load("rnn.pt")``), when
    that is all it may be."""
    paths = []
    for option in options_of(model):
        call = option.node if isinstance(option, Instance) and option.origin == "loaded" else None
        site = sem.site_of(call) if isinstance(call, cst.Call) and call.args else None
        path = fold(call.args[0].value, site.scope) if site is not None else UNKNOWN
        if not isinstance(path, str):
            return ()
        paths.append(path)
    return tuple(paths)


def _fix(sem: FileSemantics, event: Event) -> tuple[tuple[TextEdit, ...], Optional[str]]:
    """``model.eval()`` before the inference block — the ``with torch.no_grad():`` around the
    call, else the statement of the function that holds it — and, where the model is trained
    again afterwards, ``model.train()`` after that block. None when the model is not a plain
    name or attribute (``self.model``), is rebound inside the block, or the block can exit
    early while training resumes after it (a ``train()`` after it would not run)."""
    call = event.node
    func = getattr(call, "func", None)
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    model = dotted_name(func) if func is not None else None
    if model is None:
        return (), None
    structure = sem.structure
    block = structure.no_grad_block(call) or structure.top_statement(call, structure.scope_node(call))
    if block is None or structure.name_uses(block, model.split(".")[0])[0]:
        return (), None
    before = statement_before(sem, block, f"{model}.eval()")
    if before is None:
        return (), None
    if not trained_after(sem, call):
        return (before,), f"Call `{model}.eval()` before inference"
    after = statement_after(sem, block, f"{model}.train()") if not structure.exits_early(block) else None
    if after is None:
        return (), None
    return (before, after), f"Call `{model}.eval()` before inference and `{model}.train()` after it (training resumes)"


def _consequence(sem: FileSemantics, event: Event) -> str:
    dropout = holds(sem, event.target, frozenset({"dropout"}), unknown=False).holds
    batch = holds(sem, event.target, frozenset({"batch"}), unknown=False).holds
    if dropout and batch:
        return "its Dropout stays active and its BatchNorm normalises with this batch's statistics instead of the running ones"
    if dropout and batch is False:
        return "its Dropout stays active, so predictions are randomly perturbed"
    if batch and dropout is False:
        return "its BatchNorm normalises with this batch's statistics instead of the running ones"
    return "any Dropout stays active and any BatchNorm normalises with this batch's statistics instead of the running ones"


def _inference_context(sem: FileSemantics, trace: Trace, event: Event) -> Optional[str]:
    """Why a forward is inference: it runs under ``no_grad``, or in a function that says it
    predicts/evaluates *and* its output is used as a prediction (a name alone never is: a
    ``test()`` that prints the output's shape is a smoke test), or the run trained the model
    before and now only scores its output (argmax, accuracy; never a loss or a backward)."""
    if event.no_grad:
        return "under `torch.no_grad()`"
    name = inference_function(event)
    if name and used_as_prediction(sem, trace, event.output):
        return f"in `{name}()`"
    if trained_before(trace.events, event) and scored_only(sem, trace, event.output):
        return _SCORED_AFTER_TRAINING
    if top_level_prediction(sem, trace, event):
        return "its output read as a prediction at the top level, and this file never trains it"
    return None


def _owner_evaluates_it(sem: FileSemantics, event: Event) -> bool:
    """``self.model(x)`` in a method of an object that puts ``self.model`` in eval mode
    elsewhere (in its set-up method, say)."""
    function = event.stack[-1] if event.stack else None
    func = getattr(event.node, "func", None)
    if function is None or function.cls is None or not isinstance(func, cst.Attribute):
        return False
    owner = func.value
    if not (isinstance(owner, cst.Name) and owner.value == function.self_name):
        return False
    return sem.attribute_put_in_eval_mode(function.cls, func.attr.value)


def _inside_training_step(event: Event, backward_scopes) -> bool:
    function = event.stack[-1] if event.stack else None
    return any(
        iterations[: len(event.iterations)] == event.iterations and scope_function is function
        for iterations, scope_function in backward_scopes
    )


def _deciding(sem: FileSemantics, events: list[Event]) -> Optional[Event]:
    """One call seen in several traces (its own function's, and inlined into callers): the
    callers' view (train, eval, or unknown when their branches disagree) wins over the
    callee's "the caller decides"; one caller that surely passes a model in train mode is
    enough to flag it.

    A model that came in as a parameter (or an attribute of another object) with no caller in
    the file to say its mode is flagged only inside a function that says it does inference
    (``evaluate(model, loader)``): a helper that merely runs under ``no_grad`` — a warm-up, a
    draft model in speculative decoding — leaves the mode to its caller by contract."""
    training = next((event for event in events if event.mode == "train"), None)
    if training is not None or any(event.mode in ("eval", "unknown", "self") for event in events):
        return training
    return next(
        (
            event
            for event in events
            if event.mode in ("caller", "attr") and inference_function(event) and not _framework_hook(sem, event)
        ),
        None,
    )


def _framework_hook(sem: FileSemantics, event: Event) -> bool:
    """A method of a class derived from a class of another file or library (a Trainer's
    ``prediction_step``, a LightningModule's ``validation_step``): the framework that calls
    it owns the model's mode, and its caller is not in this file."""
    function = event.target.function if isinstance(event.target, Param) else (event.stack[-1] if event.stack else None)
    cls = function.cls if function is not None else None
    while cls is not None:
        if any(base is None or (not base.startswith("builtins.") and sem.local_class(base) is None) for base in cls.bases):
            return True
        bases = sem.local_bases(cls)
        cls = bases[0] if bases else None
    return False
