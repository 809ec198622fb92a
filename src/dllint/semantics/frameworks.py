"""Training loops that frameworks run for you, as events of the evaluator's traces.

Most training code does not write ``loss.backward(); optimizer.step()`` by hand: a framework
runs the loop and calls the user's code from it. This module (mixed into the evaluator, like
``library.py``) says what these frameworks do, so that every training-loop rule sees their
loops the way it sees a hand-written one:

* **Lightning** (``lightning``, ``pytorch_lightning``). ``trainer.fit(module)`` runs, per
  iteration, ``module.train()``, then with automatic optimisation ``zero_grad``, the module's
  ``training_step``, ``backward`` of the loss it returns (a tensor, or ``{"loss": ...}``),
  clipping, and the ``step`` of the optimizers ``configure_optimizers`` returns (one
  ``training_step`` per optimizer when it takes ``optimizer_idx``, as Lightning 1.x did); then
  ``validation_step`` and its epoch hook in eval mode under ``no_grad``, and ``train()`` again.
  The Trainer clips when it was built with ``gradient_clip_val`` (also through
  ``**kwargs`` of a known dict, ``LightningCLI(trainer_defaults=...)``, or the ``default=`` of
  the ``argparse`` option it is read from) or when the module overrides
  ``configure_gradient_clipping``. Manual optimisation (``self.automatic_optimization =
  False``) leaves backward, clipping and step to ``training_step``: ``self.optimizers()`` is
  what ``configure_optimizers`` returned, ``self.toggle_optimizer(opt)`` switches off the
  gradients of the models the other optimizers update. ``validation_step``, ``test_step``,
  ``predict_step`` and their hooks run in eval mode under ``no_grad`` (also when evaluated on
  their own); ``trainer.validate/test/predict(module)`` run them. ``LightningCLI(Module)``
  builds a Trainer and fits the module.
* **Fabric.** ``fabric.setup(model, optimizer)`` (and ``setup_module``/``setup_optimizers``/
  ``setup_dataloaders``) returns what it is given; ``fabric.backward(loss)`` is a backward;
  ``fabric.clip_gradients(...)`` clips.
* **Accelerate.** ``accelerator.prepare(...)`` (and its ``prepare_*`` variants,
  ``unwrap_model``) returns what it is given; ``accelerator.backward(loss)`` is a backward;
  ``accelerator.clip_grad_norm_/clip_grad_value_`` clip; inside ``with
  accelerator.accumulate(model):`` the prepared optimizer's ``step``/``zero_grad`` happen on
  accumulation boundaries only (deliberate accumulation: their events are conditional).
* **Hugging Face** ``Trainer``/``Seq2SeqTrainer`` (and TRL's trainers, which derive from it).
  ``trainer.train()`` runs, per iteration, ``model.train()``, the model on a batch (or the
  subclass's ``compute_loss``, or its own ``training_step``), ``backward``, clipping at
  ``TrainingArguments.max_grad_norm`` (1.0 by default; ``0``/``None`` turns it off), the step
  of an ``AdamW`` over the model's parameters and ``model.zero_grad()``. ``evaluate()``/
  ``predict()`` run it (or the subclass's ``prediction_step``) in eval mode; a subclass's
  ``prediction_step`` receives its model in eval mode.
* **DeepSpeed.** ``engine, optimizer, _, _ = deepspeed.initialize(model=model, ...)``: the
  engine is the model for forward passes; ``engine.backward(loss)`` is a backward and
  ``engine.step()`` a step that clears the gradients itself and clips at the config's
  ``gradient_clipping`` (0 by default) — read from a literal dict, or from a JSON file found
  relative to the linted file (stdlib ``json``; the places looked at are ``sem.read_paths``, so that
  a cached result goes stale when the config changes).
* **FSDP.** ``FullyShardedDataParallel(model)`` / ``fully_shard(model)`` return the model
  (``model.clip_grad_norm_(...)`` is a clipping call like any other).

A step that a framework runs carries a :class:`Driver` (``Event.driver``): which framework,
whether it clips (yes, no, or unknown), whether it clears the gradients itself, and how the
user changes its clipping — what a report about it needs. The step event's node is where the
user acts: the ``Trainer(...)`` call (Lightning; else the ``fit`` call), the
``TrainingArguments(...)`` that sets ``max_grad_norm`` (else the ``Trainer(...)``), the
``engine.step()`` call (DeepSpeed).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import libcst as cst

from dllint.project import unless_lightning_handles_clipping
from dllint.semantics.config_values import ConfigValue
from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.paths import UNKNOWN_LOOP_UNROLL, State
from dllint.semantics.syntax import dotted_name, keyword
from dllint.semantics.values import (
    AttributeOf,
    Constant,
    Container,
    Instance,
    Merge,
    Obj,
    Param,
    Starred,
    Unknown,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.evaluator import Evaluator
    from dllint.semantics.scopes import ClassInfo, FunctionInfo


class Driver:
    """What runs an optimizer step for the user, and what it does around it.

    framework: how a message names it (``the Lightning `Trainer```)
    clips: True (it clips the gradients before the step), False (surely not), None (unknown:
        set outside the code, in a config file or on the command line)
    clears: it clears the gradients itself before the next backward
    hook: the user's method the framework trains through (``LitLSTM.training_step``), or ""
    setting: how clipping is set now, in words (``gradient_clip_val`` is not set), or ""
    fix: what to change, in words
    unless: for a module class of another file, a predicate on the project index that drops
        a report when that class handles its clipping itself (``project.py``)
    """

    __slots__ = ("framework", "clips", "clears", "hook", "setting", "fix", "unless")

    def __init__(self, framework: str, clips: Optional[bool], *, clears: bool, hook: str = "", setting: str = "",
                 fix: str = "", unless: Optional[Callable] = None) -> None:
        self.framework = framework
        self.clips = clips
        self.clears = clears
        self.hook = hook
        self.setting = setting
        self.fix = fix
        self.unless = unless

    def __repr__(self) -> str:
        return f"<Driver {self.framework} clips={self.clips}>"


# --- names ------------------------------------------------------------------------------------

TRAINER = "lightning.Trainer"
LIGHTNING_CLI = "lightning.LightningCLI"
FABRIC = "lightning.Fabric"
ACCELERATOR = "accelerate.Accelerator"
ACCUMULATE = "accelerate.Accelerator.accumulate"
HF_TRAINER = "transformers.Trainer"
HF_ARGUMENTS = "transformers.TrainingArguments"
DEEPSPEED_INITIALIZE = "deepspeed.initialize"
WRAPPER = "fsdp"

_LIGHTNING_ROOTS = ("lightning", "pytorch_lightning")
_FSDP = frozenset({
    "torch.distributed.fsdp.FullyShardedDataParallel",
    "torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
    "torch.distributed.fsdp.fully_shard",
    "torch.distributed._composable.fsdp.fully_shard",
})


@lru_cache(maxsize=1024)
def framework_kind(qualified: str) -> Optional[str]:
    """Which framework object (or call) a qualified name builds, by the kinds above; None for
    anything else."""
    parts = qualified.split(".")
    root, name = parts[0], parts[-1]
    if root in _LIGHTNING_ROOTS and name == "Trainer":
        return TRAINER
    if root in _LIGHTNING_ROOTS and name == "LightningCLI":
        return LIGHTNING_CLI
    if root in (*_LIGHTNING_ROOTS, "lightning_fabric") and name == "Fabric":
        return FABRIC
    if root == "accelerate" and name == "Accelerator":
        return ACCELERATOR
    if (root == "transformers" and name in ("Trainer", "Seq2SeqTrainer")) or (root == "trl" and name.endswith("Trainer")):
        return HF_TRAINER
    if (root == "transformers" and name in ("TrainingArguments", "Seq2SeqTrainingArguments")) or (
        root == "trl" and name.endswith("Config")
    ):
        return HF_ARGUMENTS
    if qualified == DEEPSPEED_INITIALIZE:
        return DEEPSPEED_INITIALIZE
    if qualified in _FSDP:
        return WRAPPER
    return None


def is_lightning_module_name(qualified: Optional[str]) -> bool:
    if not qualified:
        return False
    parts = qualified.split(".")
    return parts[0] in _LIGHTNING_ROOTS and parts[-1] == "LightningModule"


def lightning_module(sem: "FileSemantics", cls: "ClassInfo") -> bool:
    """Whether a class of this file derives (through classes of this file) from Lightning's
    ``LightningModule``."""
    return any(is_lightning_module_name(base) for owner in _lineage(sem, cls) for base in owner.bases)


def hf_trainer_class(sem: "FileSemantics", cls: "ClassInfo") -> bool:
    """Whether a class of this file derives from the Hugging Face ``Trainer`` (or TRL's)."""
    return any(base is not None and framework_kind(base) == HF_TRAINER for owner in _lineage(sem, cls) for base in owner.bases)


def _lineage(sem: "FileSemantics", cls: "ClassInfo") -> list["ClassInfo"]:
    found = [cls]
    index = 0
    while index < len(found) and len(found) < 20:
        for base in sem.local_bases(found[index]):
            if base not in found:
                found.append(base)
        index += 1
    return found


def automatic_optimization(sem: "FileSemantics", cls: "ClassInfo") -> bool:
    """Whether a Lightning module leaves backward and step to the Trainer: nothing in the class
    or its bases of this file sets ``automatic_optimization`` to anything but ``True`` (an
    assignment on ``self``, a class attribute, a property)."""
    for owner in _lineage(sem, cls):
        for assignment in owner.attribute_assignments:
            if assignment.name == "automatic_optimization" and not _is_true(assignment.value):
                return False
        for binding in owner.scope.bindings.get("automatic_optimization", ()):
            if binding.kind != "assign" or binding.value is None or not _is_true(binding.value):
                return False
    return True


def class_traits(sem: "FileSemantics", cls: "ClassInfo") -> frozenset[str]:
    """What the project index needs to know of a class's framework behaviour in other files:
    ``manual_optimization`` (a Lightning module that runs its own backward and step)."""
    return frozenset() if automatic_optimization(sem, cls) else frozenset({"manual_optimization"})


def _is_true(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


_EVAL_HOOK = re.compile(
    r"(on_)?(validation|test|predict)_(step|step_end|epoch_start|epoch_end|batch_start|batch_end|start|end)"
)
_HF_EVAL_METHODS = frozenset({"prediction_step", "evaluate", "evaluation_loop", "prediction_loop", "predict"})


def eval_hook(sem: "FileSemantics", function: "FunctionInfo") -> Optional[str]:
    """``lightning`` for a Lightning module's ``validation_step``/``test_step``/``predict_step``
    or one of their hooks (the Trainer runs them in eval mode under ``no_grad``);
    ``transformers`` for a Hugging Face Trainer subclass's ``prediction_step``/``evaluate``
    (the model it receives is in eval mode); None otherwise."""
    cls = function.cls
    if cls is None:
        return None
    if _EVAL_HOOK.fullmatch(function.name) and lightning_module(sem, cls):
        return "lightning"
    if function.name in _HF_EVAL_METHODS and hf_trainer_class(sem, cls):
        return "transformers"
    return None


def drives_training(function: "FunctionInfo") -> bool:
    """Whether a function hands a model to a framework's training or evaluation loop
    (``trainer.fit(model)``, ``LightningCLI(Model)``): it is then a root of its own."""
    for site in function.calls:
        method = site.method
        if method in ("fit", "validate"):
            return True
        called = method or (site.node.func.value if type(site.node.func) is cst.Name else "")
        if called == "LightningCLI" and site.qualified is not None and framework_kind(site.qualified) == LIGHTNING_CLI:
            return True
    return False


# --- configuration values -----------------------------------------------------------------------

_MISSING = object()


def _setting(kwargs: dict[str, Value], name: str) -> Any:
    """A keyword argument's value; ``_MISSING`` when surely not passed; None when it may come
    through ``**kwargs`` of unknown contents."""
    if name in kwargs:
        return kwargs[name]
    spread = kwargs.get("**")
    if spread is None:
        return _MISSING
    return _dict_item(spread, name)


def _dict_item(value: Value, name: str) -> Any:
    """``config[name]`` of a dict whose keys are all known; ``_MISSING`` when it has no such key."""
    if isinstance(value, Container) and value.keys is not None and value.complete and len(value.keys) == len(value.items):
        return value.items[value.keys.index(name)] if name in value.keys else _MISSING
    return None


def _positive(value: Any) -> Optional[bool]:
    """Whether a clipping threshold clips: a positive number yes; ``0``/``None``/``False`` no."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)):
        return value > 0
    return None


def _argparse_default(sem: "FileSemantics", expr: Optional[cst.BaseExpression]) -> Any:
    """``args.gradient_clip_val`` read from an ``argparse`` option of this file
    (``parser.add_argument("--gradient_clip_val", type=float, default=0.0)``): the option's
    name and default (None when it has none); UNKNOWN when the file defines no single such option."""
    if not isinstance(expr, cst.Attribute):
        return UNKNOWN
    name = expr.attr.value
    found = []
    for site in sem.method_calls("add_argument"):
        flags = [fold(arg.value, site.scope) for arg in site.node.args if arg.keyword is None]
        dest = keyword(site.node, "dest")
        names = {str(flag).lstrip("-").replace("-", "_") for flag in flags if isinstance(flag, str) and flag.startswith("--")}
        if (dest is not None and fold(dest, site.scope) == name) or (dest is None and name in names):
            default = keyword(site.node, "default")
            found.append((next(str(f) for f in flags if isinstance(f, str)), fold(default, site.scope) if default is not None else None))
    return found[0] if len(found) == 1 else UNKNOWN


def _find_json(sem: "FileSemantics", path: str) -> Any:
    """A JSON config file named by a relative (or absolute) path, found next to the linted file
    or in a folder above it (scripts are run from their folder or the project's root)."""
    filename = sem.source.filename
    if filename in ("-", "<stdin>") or not path.endswith(".json"):
        return None
    directory = os.path.dirname(os.path.abspath(filename))
    for _ in range(4):
        candidate = os.path.join(directory, path)
        sem.read_paths.append(candidate)
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as handle:
                    return json.load(handle)
            except (OSError, ValueError):
                return None
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return None


# --- the evaluator's side -----------------------------------------------------------------------

FRAMEWORK_METHODS = frozenset({
    "fit", "validate", "test", "predict", "train", "evaluate",  # Lightning / Hugging Face trainers
    "setup", "setup_module", "setup_optimizers", "setup_dataloaders",  # Fabric
    "prepare", "prepare_model", "prepare_optimizer", "prepare_data_loader", "prepare_scheduler", "unwrap_model",
    "accumulate",  # Accelerate
    "backward", "step",  # Accelerate, Fabric, DeepSpeed engines
    "optimizers", "toggle_optimizer", "untoggle_optimizer", "manual_backward",  # a Lightning module's own
})

_PASS_THROUGH = {
    FABRIC: ("setup", "setup_module", "setup_optimizers", "setup_dataloaders"),
    ACCELERATOR: ("prepare", "prepare_model", "prepare_optimizer", "prepare_data_loader", "prepare_scheduler", "unwrap_model"),
}
_LIGHTNING_SELF = ("optimizers", "toggle_optimizer", "untoggle_optimizer")
# A backward run through a framework: where its clipping call goes (``Event.driver`` of the backward).
_BACKWARD_DRIVERS = {
    ACCELERATOR: Driver(
        "Accelerate", None, clears=False,
        fix="call `accelerator.clip_grad_norm_(model.parameters(), max_norm)` between `accelerator.backward(loss)` "
            "and `step()` (it unscales mixed-precision gradients first)",
    ),
    FABRIC: Driver(
        "Fabric", None, clears=False,
        fix="call `fabric.clip_gradients(model, optimizer, max_norm=1.0)` between `fabric.backward(loss)` and `step()`",
    ),
    "lightning.module": Driver(
        "Lightning", None, clears=False,
        fix='call `self.clip_gradients(optimizer, gradient_clip_val=1.0, gradient_clip_algorithm="norm")` between '
            "`self.manual_backward(loss)` and `step()`",
    ),
}
_HF_STAGES = ("train", "evaluate", "predict")
_RECEIVER_NAMES = (("accelerator", ACCELERATOR), ("fabric", FABRIC), ("engine", "deepspeed.engine"))


class FrameworksMixin:
    """Framework calls and the loops they run (mixed into the evaluator)."""

    def _framework_call(self: "Evaluator", qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value],
                        node: cst.Call, state: State) -> Optional[Value]:
        """A call of a framework's constructor or function; None for any other name."""
        kind = framework_kind(qualified)
        if kind is None:
            return None
        if kind == WRAPPER:
            wrapped = args[0] if args else kwargs.get("module")
            return wrapped if wrapped is not None else Unknown()
        if kind == DEEPSPEED_INITIALIZE:
            return self._deepspeed_initialize(args, kwargs, node)
        built = Obj(kind, node, args, kwargs)
        if kind == LIGHTNING_CLI:
            run = kwargs.get("run")
            model = args[0] if args else kwargs.get("model_class")
            if model is not None and not (isinstance(run, Constant) and run.value is False):
                self._lightning_stage(built, self._instantiate(model, node), "fit", node, state)
        return built

    def _framework_method(self: "Evaluator", receiver: Value, name: str, args: tuple[Value, ...],
                          kwargs: dict[str, Value], node: cst.Call, state: State) -> Optional[Value]:
        """A method of a framework object (or of a Lightning module, a Hugging Face Trainer
        subclass, a DeepSpeed engine); None when the call is not one."""
        kind = self._framework_of(receiver, name, node)
        if kind is None:
            return None
        if kind in _PASS_THROUGH and name in _PASS_THROUGH[kind]:
            if len(args) == 1 and not isinstance(args[0], Starred):
                return args[0]
            given = [a for a in args if not isinstance(a, Starred)]
            return Container("list", given, node, complete=len(given) == len(args))
        if (name == "backward" and kind in (ACCELERATOR, FABRIC, "deepspeed.engine")) or name == "manual_backward":
            loss = args[0] if args else kwargs.get("loss", Unknown())
            self._event("backward", node, loss, driver=_BACKWARD_DRIVERS.get(kind))
            return Constant(None)
        if kind == ACCELERATOR and name == "accumulate":
            return Obj(ACCUMULATE, node, args)
        if kind == "deepspeed.engine" and name == "step":
            self._event("step", node, receiver, args=args, driver=self._engine_driver(receiver))
            return Constant(None)
        if kind == TRAINER and name in ("fit", "validate", "test", "predict"):
            model = args[0] if args else kwargs.get("model")
            if model is not None:
                self._lightning_stage(receiver, model, name, node, state)
            return Unknown()
        if kind == HF_TRAINER and name in ("train", "evaluate", "predict"):
            self._hf_stage(receiver, name, node, state)
            return Unknown()
        if kind == "lightning.module":
            return self._lightning_module_method(receiver, name, args, node, state)
        return None

    def _framework_of(self: "Evaluator", receiver: Value, name: str, node: cst.Call) -> Optional[str]:
        if name not in FRAMEWORK_METHODS:
            return None
        if name == "manual_backward":  # Lightning's name: ``self.manual_backward(loss)``, whatever ``self`` is
            return "lightning.module"
        for option in options_of(receiver):
            if isinstance(option, Obj) and option.qualified in (TRAINER, FABRIC, ACCELERATOR, HF_TRAINER, LIGHTNING_CLI):
                return option.qualified
            if id(option) in self.engines and name in ("backward", "step"):
                return "deepspeed.engine"
            if isinstance(option, Instance) and option.cls is not None:
                if name in _LIGHTNING_SELF and lightning_module(self.sem, option.cls) and self.sem.find_method(option.cls, name) is None:
                    return "lightning.module"
                if name in _HF_STAGES and hf_trainer_class(self.sem, option.cls) and self.sem.find_method(option.cls, name) is None:
                    return HF_TRAINER
        if name in ("backward", "step") and all(isinstance(o, (Unknown, Param, AttributeOf)) for o in options_of(receiver)):
            # A framework object whose value dllint does not have (``self.accelerator``, an
            # ``engine`` parameter): named for what it is.
            spelled = (dotted_name(node.func.value) or "").rsplit(".", 1)[-1].lower() if isinstance(node.func, cst.Attribute) else ""
            for suffix, kind in _RECEIVER_NAMES:
                if spelled.endswith(suffix) and (name == "backward" or kind == "deepspeed.engine"):
                    return kind
        return None

    # Lightning --------------------------------------------------------------------------------

    def _instantiate(self: "Evaluator", model: Value, node: cst.Call) -> Value:
        """``LightningCLI(LitModel)``: the class given, built with its defaults."""
        from dllint.semantics.values import ClassRef

        if isinstance(model, ClassRef):
            return self.instance_of(model.cls, {}, node)
        return model

    def _lightning_stage(self: "Evaluator", trainer: Value, model: Value, stage: str, node: cst.Call, state: State) -> None:
        clips, setting, where = self._lightning_clipping(trainer, node)
        for option in options_of(model)[:2]:
            if not isinstance(option, Instance):
                continue
            if option.cls is not None:
                self._lightning_loop(option, stage, clips, setting, where, node, state)
            elif option.qualified and option.origin == "constructed" and stage == "fit":
                self._lightning_external(option, clips, setting, where, node)

    def _lightning_clipping(self: "Evaluator", trainer: Value, node: cst.Call) -> tuple[Optional[bool], str, cst.CSTNode]:
        """Whether the Trainer clips, how it is set (in words), and where a report goes: the
        ``Trainer(...)`` call (or ``LightningCLI(...)``), else the ``fit`` call."""
        verdicts: set[Optional[bool]] = set()
        setting = ""
        where: cst.CSTNode = node
        for option in options_of(trainer):
            if not isinstance(option, Obj) or option.qualified not in (TRAINER, LIGHTNING_CLI) or option.node is None:
                verdicts.add(None)
                continue
            where = option.node
            if option.qualified == LIGHTNING_CLI:
                defaults = option.kwargs.get("trainer_defaults")
                value = _dict_item(defaults, "gradient_clip_val") if defaults is not None else None
                value = None if value is _MISSING else value  # set in a config file or on the command line
            else:
                value = _setting(option.kwargs, "gradient_clip_val")
            if value is _MISSING:
                verdicts.add(False)
                setting = "`gradient_clip_val` is not set"
            elif isinstance(value, ConfigValue) and value.overridable:
                verdicts.add(_positive(value.value))
                setting = f"`gradient_clip_val` is the default `{value.source} {value.setting!r}`"
            elif isinstance(value, Constant):
                verdicts.add(_positive(value.value))
                setting = f"`gradient_clip_val={value.value!r}`"
            elif isinstance(option.node, cst.Call):
                found = _argparse_default(self.sem, keyword(option.node, "gradient_clip_val"))
                if found is UNKNOWN:
                    verdicts.add(None)
                else:
                    flag, default = found
                    verdicts.add(_positive(default))
                    setting = f"`gradient_clip_val` is the default `{flag} {default!r}`"
            else:
                verdicts.add(None)
        clips = verdicts.pop() if len(verdicts) == 1 else None
        return clips, setting, where

    def _lightning_loop(self: "Evaluator", module: Instance, stage: str, clips: Optional[bool], setting: str,
                        where: cst.CSTNode, node: cst.Call, state: State) -> None:
        cls = module.cls
        assert cls is not None
        find = self.sem.find_method
        training_step = find(cls, "training_step") if stage == "fit" else None
        evaluation = {"fit": "validation", "validate": "validation", "test": "test", "predict": "predict"}[stage]
        hooks = [find(cls, f"{evaluation}_step"), find(cls, f"on_{evaluation}_epoch_end")]
        hooks = [hook for hook in hooks if hook is not None]
        automatic = automatic_optimization(self.sem, cls)
        optimizers = self._lightning_optimizers(module, node, state) if training_step is not None else []
        if find(cls, "configure_gradient_clipping") is not None:
            clips, setting = True, ""
        driver = Driver(
            "Lightning `Trainer`", clips, clears=True, hook=f"`{cls.name}.training_step`", setting=setting,
            fix="pass `gradient_clip_val=1.0` to the `Trainer` (or clip in the module's `configure_gradient_clipping`)",
        )
        frame = self._frames[-1]
        saved = frame.iterations
        try:
            for index in range(UNKNOWN_LOOP_UNROLL if training_step is not None else 1):
                frame.iterations = saved + ((node, index),)
                if training_step is not None:
                    self._set_mode(module, "train", state)
                    self._event("train", node, module, mode="train")
                    self._lightning_training_step(module, training_step, automatic, optimizers, driver, where, node, state)
                if hooks:
                    self._framework_evaluation(module, node, state, lambda: [
                        self._call_function(hook, _unknown_args(hook), {}, module, node, state) for hook in hooks
                    ])
                    if stage == "fit":
                        self._set_mode(module, "train", state)
                        self._event("train", node, module, mode="train")
        finally:
            frame.iterations = saved

    def _lightning_training_step(self: "Evaluator", module: Instance, training_step: "FunctionInfo", automatic: bool,
                                 optimizers: list[Value], driver: Driver, where: cst.CSTNode, node: cst.Call,
                                 state: State) -> None:
        per_optimizer = automatic and len(optimizers) > 1 and any(p.name.value == "optimizer_idx" for p in training_step.params)
        rounds: list[tuple[dict[str, Value], list[Value]]] = (
            [({"optimizer_idx": Constant(i)}, [optimizer]) for i, optimizer in enumerate(optimizers)]
            if per_optimizer else [({}, optimizers or [Unknown()])]
        )
        for kwargs, stepped in rounds:
            if automatic:
                for optimizer in stepped:
                    self._event("zero_grad", node, optimizer)
            output = self._call_function(training_step, (Unknown(), Unknown()), kwargs, module, node, state)
            if not automatic:
                continue
            loss = _loss_of(output)
            if loss is None:
                continue
            # Lightning's closure runs backward and step right after ``training_step``: the
            # events stand inside it (a no_grad forward there belongs to the training step).
            self._stack.append(training_step)
            try:
                self._event("backward", node, loss)
                for optimizer in stepped:
                    self._event("step", where, optimizer, driver=driver)
            finally:
                self._stack.pop()

    def _lightning_external(self: "Evaluator", module: Instance, clips: Optional[bool], setting: str,
                            where: cst.CSTNode, node: cst.Call) -> None:
        """``trainer.fit(model)`` of a module class defined in another file: a training step
        whose verdict the project index completes (is the class automatic, does it clip)."""
        assert module.qualified is not None
        name = module.qualified.rsplit(".", 1)[-1]
        driver = Driver(
            "Lightning `Trainer`", clips, clears=True, hook=f"`{name}.training_step`", setting=setting,
            fix="pass `gradient_clip_val=1.0` to the `Trainer` (or clip in the module's `configure_gradient_clipping`)",
            unless=unless_lightning_handles_clipping((module.qualified,)),
        )
        loss = self._tensor("module", module, (), node)
        self._event("backward", node, loss)
        self._event("step", where, Unknown(), driver=driver)

    def _lightning_optimizers(self: "Evaluator", module: Instance, node: cst.Call, state: State) -> list[Value]:
        """The optimizers a Lightning module's ``configure_optimizers`` returns (an optimizer, a
        list, ``([optimizers], [schedulers])``, ``{"optimizer": ...}`` or a list of those)."""
        assert module.cls is not None
        configure = self.sem.find_method(module.cls, "configure_optimizers")
        if configure is None:
            return []
        cache = self.lightning_optimizers
        key = id(module)
        if key not in cache:
            cache[key] = []  # a configure_optimizers that asks for self.optimizers()
            cache[key] = list(_optimizers_in(self._call_function(configure, (), {}, module, node, state), 0))
        return cache[key]

    def _lightning_module_method(self: "Evaluator", module: Value, name: str, args: tuple[Value, ...],
                                 node: cst.Call, state: State) -> Value:
        instance = next(o for o in options_of(module) if isinstance(o, Instance) and o.cls is not None)
        optimizers = self._lightning_optimizers(instance, node, state)
        if name == "optimizers":
            if len(optimizers) == 1:
                return optimizers[0]
            return Container("list", list(optimizers), node, complete=bool(optimizers))
        # toggle_optimizer(opt): every parameter the other optimizers update, and this one
        # does not, stops requiring gradients until untoggle_optimizer(opt).
        from dllint.semantics.optimizers import covers, updated_models

        chosen = args[0] if args else Unknown()
        mine = updated_models(self.sem, chosen) or []
        flag = Constant(name == "untoggle_optimizer")
        for other in optimizers:
            if any(other is option for option in options_of(chosen)):
                continue
            models = updated_models(self.sem, other)
            for model in models if models is not None else [Unknown()]:
                if not covers(mine, model):
                    self._event("requires_grad", node, model, args=(flag,))
        return Constant(None)

    def _framework_evaluation(self: "Evaluator", model: Value, node: cst.Call, state: State, run: Callable[[], Any],
                              no_grad: bool = True) -> None:
        """``run()`` as a framework's evaluation loop runs it: the model in eval mode, under
        ``no_grad`` (Lightning's evaluation loops, the Hugging Face Trainer's own prediction)."""
        self._set_mode(model, "eval", state)
        self._event("eval", node, model, mode="eval")
        frame = self._frames[-1]
        saved = frame.no_grad
        frame.no_grad = frame.no_grad or no_grad
        try:
            run()
        finally:
            frame.no_grad = saved

    # Hugging Face Trainer ---------------------------------------------------------------------

    def _hf_stage(self: "Evaluator", trainer: Value, stage: str, node: cst.Call, state: State) -> None:
        for option in options_of(trainer)[:2]:
            cls = option.cls if isinstance(option, Instance) else None
            for model, arguments, built_at in self._hf_constructions(option)[:2]:
                if stage == "train":
                    self._hf_train(option, cls, model, arguments, built_at, node, state)
                else:
                    self._hf_evaluate(option, cls, model, node, state)

    def _hf_constructions(self: "Evaluator", trainer: Value) -> list[tuple[Value, Optional[Value], Optional[cst.CSTNode]]]:
        """The models and ``TrainingArguments`` a Trainer was built with, and where: the
        library's ``Trainer(...)``, or each construction of a subclass of this file seen so far
        (the evaluator keeps one instance of a class whose ``__init__`` is the library's)."""
        if isinstance(trainer, Obj) and trainer.qualified == HF_TRAINER:
            calls = [(trainer.args, trainer.kwargs, trainer.node)]
        elif isinstance(trainer, Instance) and trainer.cls is not None:
            calls = self.constructions.get(id(trainer.cls), [])
        else:
            return []
        found = []
        for args, kwargs, node in calls:
            model = kwargs.get("model", args[0] if args else None)
            if model is None:
                continue
            arguments = kwargs.get("args", args[1] if len(args) > 1 else None)
            if arguments is None and "**" in kwargs:
                arguments = Unknown()
            found.append((model, arguments, node))
        return found

    def _hf_clipping(self: "Evaluator", arguments: Optional[Value], built_at: Optional[cst.CSTNode]) -> tuple[Optional[bool], str, Optional[cst.CSTNode]]:
        if arguments is None:
            return True, "", built_at  # the default TrainingArguments: max_grad_norm=1.0
        verdicts: set[Optional[bool]] = set()
        setting, where = "", built_at
        for option in options_of(arguments):
            if not (isinstance(option, Obj) and option.qualified == HF_ARGUMENTS):
                verdicts.add(None)
                continue
            value = _setting(option.kwargs, "max_grad_norm")
            if value is _MISSING:
                verdicts.add(True)
            elif isinstance(value, Constant):
                verdicts.add(_positive(value.value))
                setting, where = f"`max_grad_norm={value.value!r}`", option.node
            else:
                verdicts.add(None)
        return (verdicts.pop() if len(verdicts) == 1 else None), setting, where

    def _hf_train(self: "Evaluator", trainer: Value, cls: Optional["ClassInfo"], model: Value, arguments: Optional[Value],
                  built_at: Optional[cst.CSTNode], node: cst.Call, state: State) -> None:
        clips, setting, where = self._hf_clipping(arguments, built_at)
        driver = Driver(
            "Hugging Face `Trainer`", clips, clears=True, setting=setting,
            fix="set `max_grad_norm` to a positive value in `TrainingArguments` (its default is 1.0; 0 or None turns clipping off)",
        )
        optimizer = Obj("torch.optim.AdamW", node, (Obj("parameters", node, (model,)),))
        training_step = self.sem.find_method(cls, "training_step") if cls is not None else None
        compute_loss = self.sem.find_method(cls, "compute_loss") if cls is not None else None
        frame = self._frames[-1]
        saved = frame.iterations
        try:
            for index in range(UNKNOWN_LOOP_UNROLL):
                frame.iterations = saved + ((node, index),)
                self._set_mode(model, "train", state)
                self._event("train", node, model, mode="train")
                if training_step is not None:  # the subclass's own step runs its backward
                    self._call_function(training_step, (model, Unknown()), {}, trainer, node, state)
                else:
                    if compute_loss is not None:
                        loss = self._call_function(compute_loss, (model, Unknown()), {}, trainer, node, state)
                    else:
                        loss = self._forward_call(model, (Unknown(),), node, state)
                    self._event("backward", node, loss)
                self._event("step", where or node, optimizer, driver=driver)
                self._event("zero_grad", node, model)
        finally:
            frame.iterations = saved

    def _hf_evaluate(self: "Evaluator", trainer: Value, cls: Optional["ClassInfo"], model: Value, node: cst.Call, state: State) -> None:
        prediction_step = self.sem.find_method(cls, "prediction_step") if cls is not None else None
        if prediction_step is not None:
            self._framework_evaluation(model, node, state, lambda: self._call_function(
                prediction_step, (model, Unknown(), Constant(False)), {}, trainer, node, state), no_grad=False)
        else:
            self._framework_evaluation(model, node, state, lambda: self._forward_call(model, (Unknown(),), node, state))

    # DeepSpeed --------------------------------------------------------------------------------

    def _deepspeed_initialize(self: "Evaluator", args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Value:
        """``engine, optimizer, loader, scheduler = deepspeed.initialize(...)``: the engine is
        the model (its forward passes are the model's); its ``step()`` clips at the config's
        ``gradient_clipping``."""
        model = kwargs.get("model", args[1] if len(args) > 1 else Unknown())
        config = kwargs.get("config", kwargs.get("config_params", args[9] if len(args) > 9 else None))
        clips, setting = self._deepspeed_clipping(config)
        driver = Driver(
            "DeepSpeed engine", clips, clears=True, setting=setting, fix='set `"gradient_clipping": 1.0` in the DeepSpeed config',
        )
        for option in options_of(model):
            self.engines[id(option)] = driver
        optimizer = kwargs.get("optimizer", args[2] if len(args) > 2 else None)
        if optimizer is None:
            optimizer = Obj("deepspeed.optimizer", node, (Obj("parameters", node, (model,)),))
        loader = kwargs.get("training_data", Unknown())
        return Container("list", [model, optimizer, loader, Unknown()], node)

    def _deepspeed_clipping(self: "Evaluator", config: Optional[Value]) -> tuple[Optional[bool], str]:
        """Whether the engine clips (DeepSpeed's default ``gradient_clipping`` is 0: no), and
        how its config sets it, in words."""
        if config is None:
            return None, ""  # ``args.deepspeed_config``: a file named on the command line
        verdicts: set[Optional[bool]] = set()
        setting = "its config sets no `gradient_clipping`"
        for option in options_of(config):
            if isinstance(option, Constant) and isinstance(option.value, str):
                loaded = _find_json(self.sem, option.value)
                value = loaded.get("gradient_clipping", 0.0) if isinstance(loaded, dict) else UNKNOWN
            else:
                item = _dict_item(option, "gradient_clipping")
                value = 0.0 if item is _MISSING else item.value if isinstance(item, Constant) else UNKNOWN
            if value is not UNKNOWN and value != 0.0:
                setting = f"its config sets `gradient_clipping` to {value!r}"
            verdicts.add(None if value is UNKNOWN else _positive(value))
        return (verdicts.pop() if len(verdicts) == 1 else None), setting

    def _engine_driver(self: "Evaluator", engine: Value) -> Driver:
        for option in options_of(engine):
            if id(option) in self.engines:
                return self.engines[id(option)]
        return Driver("DeepSpeed engine", None, clears=True)  # an engine passed in: its config is elsewhere

    # entry into a framework's hook -----------------------------------------------------------

    def _framework_entry(self: "Evaluator", function: "FunctionInfo", self_value: Optional[Value], state: State) -> bool:
        """A framework hook evaluated on its own starts as the framework calls it: a Lightning
        evaluation hook with its module in eval mode under ``no_grad`` (returns True), a Hugging
        Face ``prediction_step`` with the model it receives in eval mode."""
        hook = eval_hook(self.sem, function)
        if hook == "lightning" and self_value is not None:
            self._set_mode(self_value, "eval", state)
            return True
        if hook == "transformers" and "model" in state.env:
            self._set_mode(state.env["model"], "eval", state)
        return False


def _unknown_args(function: "FunctionInfo") -> tuple[Value, ...]:
    """Unknown values for a hook's parameters after ``self`` that have no default (a batch, its index)."""
    positional = [*function.node.params.posonly_params, *function.node.params.params][1:]
    return tuple(Unknown() for param in positional if param.default is None)


def _loss_of(output: Value) -> Optional[Value]:
    """What Lightning backpropagates from a ``training_step``'s result: the tensor, or the
    ``"loss"`` of a dict; None when it returns nothing (the batch is skipped)."""
    options = []
    for option in options_of(output):
        if isinstance(option, Constant) and option.value is None:
            continue
        if isinstance(option, Container) and option.keys is not None:
            item = _dict_item(option, "loss")
            if item is _MISSING:
                continue
            options.append(item if item is not None else Unknown())
        else:
            options.append(option)
    if not options:
        return None
    return options[0] if len(options) == 1 else Merge(tuple(options))


def _optimizers_in(value: Value, depth: int) -> Iterator[Value]:
    if depth > 4:
        return
    for option in options_of(value):
        if isinstance(option, Obj) and "sched" not in option.qualified.lower():
            yield option
        elif isinstance(option, Container) and option.keys is not None:
            item = _dict_item(option, "optimizer")
            if isinstance(item, Value):
                yield from _optimizers_in(item, depth + 1)
        elif isinstance(option, Container):
            items = option.items
            if len(items) == 2 and all(isinstance(item, Container) and item.keys is None for item in items):
                items = items[:1]  # ([optimizers], [schedulers])
            for item in items:
                yield from _optimizers_in(item, depth + 1)
