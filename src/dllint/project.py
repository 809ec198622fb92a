"""The project index: what each file of a run defines, so that a model class defined in
``models.py`` is known when ``train.py`` trains it.

Each file contributes a small picklable :class:`ModuleSummary` (built from the semantics the
rules already computed — no second parse); the engine merges them once every file is read
and evaluates the reports that depend on other files against the merged index.

A report that depends on a class defined in another file carries an ``unless``: one of the
picklable predicates at the end of this module, asked of the merged index (the report is
dropped when it is True). This module imports nothing of the LibCST-based analysis, so a run
whose files all come from the result cache never imports LibCST.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Optional

# What a model's forward returns when it ends in a weighted layer with no activation after it.
LOGITS = "logits"


class ClassSummary:
    __slots__ = ("qualified", "bases", "is_module", "contains", "output", "logits", "methods", "traits")

    def __init__(
        self,
        qualified: str,
        bases: tuple[str, ...],
        is_module: bool,
        contains: frozenset[str],
        output: Optional[str],
        logits: bool = False,
        methods: frozenset[str] = frozenset(),
        traits: frozenset[str] = frozenset(),
    ) -> None:
        self.qualified = qualified
        self.bases = bases
        self.is_module = is_module
        # op families among its submodules (``recurrent``, ``dropout``, ``batch`` …) and
        # ``external:<qualified>`` for submodule classes defined elsewhere
        self.contains = contains
        self.output = output  # softmax | sigmoid | log_softmax | None
        # forward returns raw logits (a weighted layer's output, no activation after it) on every path
        self.logits = logits
        self.methods = methods
        # how a framework trains it: ``manual_optimization`` (a Lightning module that runs
        # its own backward and step)
        self.traits = traits

    def __repr__(self) -> str:
        return f"<ClassSummary {self.qualified}>"


class ModelArgument:
    """What a call passes for one argument that is a model: the op families it is known to
    hold (``external:<qualified>`` for classes of other files) and its train/eval mode then."""

    __slots__ = ("families", "mode")

    def __init__(self, families: frozenset[str], mode: str) -> None:
        self.families = families
        self.mode = mode  # train | eval | unknown (…)


class CallSummary:
    """A call of a function of another file, with the models it passes (by position and keyword)."""

    __slots__ = ("callee", "args", "kwargs")

    def __init__(self, callee: str, args: tuple[Optional[ModelArgument], ...], kwargs: dict[str, ModelArgument]) -> None:
        self.callee = callee
        self.args = args
        self.kwargs = kwargs


class FunctionSummary:
    """A module-level function: its parameters and what it does to the models and optimizers
    it is given (``clip``, ``zero_grad``, ``eval``, ``train``)."""

    __slots__ = ("qualified", "params", "effects")

    def __init__(self, qualified: str, params: tuple[str, ...], effects: frozenset[str]) -> None:
        self.qualified = qualified
        self.params = params
        self.effects = effects


class ModuleSummary:
    __slots__ = ("module", "filename", "classes", "functions", "calls")

    def __init__(self, module: str, filename: str, classes: Optional[dict[str, ClassSummary]] = None) -> None:
        self.module = module
        self.filename = filename
        self.classes: dict[str, ClassSummary] = {} if classes is None else classes
        self.functions: dict[str, FunctionSummary] = {}
        self.calls: list[CallSummary] = []


class ProjectIndex:
    def __init__(self) -> None:
        self.classes: dict[str, ClassSummary] = {}
        self._by_suffix: dict[str, list[ClassSummary]] = {}
        self.functions: dict[str, FunctionSummary] = {}
        self._functions_by_suffix: dict[str, list[FunctionSummary]] = {}
        self._calls: list[CallSummary] = []
        self._callers: Optional[dict[str, list[CallSummary]]] = None

    @classmethod
    def from_summaries(cls, summaries: Iterable[ModuleSummary]) -> "ProjectIndex":
        index = cls()
        for summary in summaries:
            for qualified, item in summary.classes.items():
                index.classes[qualified] = item
                parts = qualified.split(".")
                for start in range(1, len(parts)):
                    index._by_suffix.setdefault(".".join(parts[start:]), []).append(item)
            for qualified, function in getattr(summary, "functions", {}).items():
                index.functions[qualified] = function
                parts = qualified.split(".")
                for start in range(1, len(parts)):
                    index._functions_by_suffix.setdefault(".".join(parts[start:]), []).append(function)
            index._calls.extend(getattr(summary, "calls", ()))
        return index

    def lookup_function(self, qualified: str) -> Optional[FunctionSummary]:
        """The module-level function of the run a call names (an unambiguous suffix counts)."""
        found = self.functions.get(qualified)
        if found is not None:
            return found
        matches = self._functions_by_suffix.get(qualified, [])
        if not matches and "." in qualified:
            matches = self._functions_by_suffix.get(qualified.rsplit(".", 1)[1], [])
        return matches[0] if len(matches) == 1 else None

    def arguments_passed(self, function: str, param: str) -> list[ModelArgument]:
        """What the calls of the run (from other files) pass to one parameter of a function,
        for the calls that pass a model there."""
        if self._callers is None:
            self._callers = {}
            for call in self._calls:
                callee = self.lookup_function(call.callee)
                if callee is not None:
                    self._callers.setdefault(callee.qualified, []).append(call)
        target = self.lookup_function(function)
        if target is None:
            return []
        passed = []
        for call in self._callers.get(target.qualified, ()):
            argument = call.kwargs.get(param)
            if argument is None and param in target.params:
                position = target.params.index(param)
                argument = call.args[position] if position < len(call.args) else None
            if argument is not None:
                passed.append(argument)
        return passed

    def holds(self, argument: ModelArgument, family: str) -> Optional[bool]:
        """Whether a model passed as an argument holds a layer of ``family``."""
        if family in argument.families:
            return True
        verdicts = [self.contains(item[len("external:"):], family) for item in argument.families if item.startswith("external:")]
        if any(verdicts):
            return True
        return None if "unknown" in argument.families or None in verdicts else False

    def lookup(self, qualified: str) -> Optional[ClassSummary]:
        """The class an import refers to. Imports may be written relative to a different root
        than the one the index uses (``models.Net`` vs ``src.models.Net``): an unambiguous
        suffix match counts."""
        found = self.classes.get(qualified)
        if found is not None:
            return found
        matches = self._by_suffix.get(qualified, [])
        if not matches and "." in qualified:
            # Re-exported from a package's __init__ (``ultralytics.YOLO``): the one class of
            # that name in the run, if there is exactly one.
            matches = self._by_suffix.get(qualified.rsplit(".", 1)[1], [])
        return matches[0] if len(matches) == 1 else None

    def contains(self, qualified: str, family: str, _seen: Optional[set[str]] = None) -> Optional[bool]:
        """Whether the class (with its bases and submodule classes, across files) holds a layer
        of ``family``; None when the class is not in the index or only partly known."""
        seen = _seen if _seen is not None else set()
        if qualified in seen:
            return False
        seen.add(qualified)
        item = self.lookup(qualified)
        if item is None:
            return None
        if family in item.contains:
            return True
        unknown = "unknown" in item.contains
        for other in [base for base in item.bases] + [c[len("external:"):] for c in item.contains if c.startswith("external:")]:
            verdict = self.contains(other, family, seen)
            if verdict:
                return True
            if verdict is None and self._may_be_project_class(other):
                unknown = True
        return None if unknown else False

    def defines(self, qualified: str, method: str, _seen: Optional[set[str]] = None) -> bool:
        """Whether the class or one of its bases in the run defines ``method``."""
        seen = _seen if _seen is not None else set()
        item = self.lookup(qualified)
        if item is None or qualified in seen:
            return False
        seen.add(qualified)
        return method in item.methods or any(self.defines(base, method, seen) for base in item.bases)

    def has_trait(self, qualified: str, trait: str, _seen: Optional[set[str]] = None) -> bool:
        """Whether the class or one of its bases in the run has ``trait``."""
        seen = _seen if _seen is not None else set()
        item = self.lookup(qualified)
        if item is None or qualified in seen:
            return False
        seen.add(qualified)
        return trait in item.traits or any(self.has_trait(base, trait, seen) for base in item.bases)

    def ancestry_known(self, qualified: str, known: Callable[[str], bool], _seen: Optional[set[str]] = None) -> bool:
        """Whether every base of the class, up its hierarchy, is a class of the run or one that
        ``known`` accepts (a library base whose behaviour dllint knows)."""
        seen = _seen if _seen is not None else set()
        if qualified in seen:
            return True
        seen.add(qualified)
        item = self.lookup(qualified)
        if item is None:
            return False
        return all(known(base) or self.ancestry_known(base, known, seen) for base in item.bases)

    def output(self, qualified: str) -> Optional[str]:
        item = self.lookup(qualified)
        return item.output if item is not None else None

    def returns_logits(self, qualified: str) -> Optional[bool]:
        """Whether the class's forward returns raw logits; None when the class is not indexed."""
        item = self.lookup(qualified)
        return item.logits if item is not None else None

    def output_family(self, qualified: str, _depth: int = 0) -> Optional[str]:
        """What a model class of the run returns: an output activation family, ``logits``, or None.
        A class without its own ``forward`` returns what the base class that defines it returns."""
        item = self.lookup(qualified)
        if item is None or _depth > 8:
            return None
        if "forward" not in item.methods:
            bases = [base for base in item.bases if self.lookup(base) is not None]
            return self.output_family(bases[0], _depth + 1) if len(bases) == 1 else None
        family = self.output(qualified)
        if family is None and self.returns_logits(qualified):
            return LOGITS
        return family

    @staticmethod
    def _may_be_project_class(qualified: str) -> bool:
        return not qualified.startswith(("torch.", "builtins.", "typing."))


# --- deferred verdicts: a report's ``unless`` -------------------------------------------------

def unless_output_is_not(names: tuple[str, ...], families: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a report that holds only if the named classes end in one of ``families``."""
    return partial(_output_is_not, names, families)


def _output_is_not(names: tuple[str, ...], families: tuple[str, ...], index: ProjectIndex) -> bool:
    return any(index.output_family(name) not in families for name in names)


def unless_none_hold_or_custom_call(names: tuple[str, ...], families: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a model called like a function: drop the report when the index knows the classes
    hold none of the families, or when a class overrides ``__call__`` (a predictor wrapper
    such as ultralytics' ``YOLO``, whose call is not a plain forward pass)."""
    return partial(_none_hold_or_custom_call, names, families)


def _none_hold_or_custom_call(names: tuple[str, ...], families: tuple[str, ...], index: ProjectIndex) -> bool:
    none_hold = all(index.contains(name, family) is False for name in names for family in families)
    return none_hold or any(index.defines(name, "__call__") for name in names)


def unless_not_known_to_hold(names: tuple[str, ...], families: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """Drop the report unless the index confirms that one of the classes holds a family."""
    return partial(_none_known_to_hold, names, families)


def _none_known_to_hold(names: tuple[str, ...], families: tuple[str, ...], index: ProjectIndex) -> bool:
    return not any(index.contains(name, family) is True for name in names for family in families)


def unless_no_caller_passes(function: str, param: str, families: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a report about a model that a function receives as ``param``: it holds only when a
    call from another file of the run passes a model holding one of ``families``."""
    return partial(_no_caller_passes, function, param, families)


def _no_caller_passes(function: str, param: str, families: tuple[str, ...], index: ProjectIndex) -> bool:
    return not any(index.holds(argument, family) for argument in index.arguments_passed(function, param) for family in families)


def unless_callers_evaluate(function: str, param: str) -> Callable[[ProjectIndex], bool]:
    """For a report that a function runs a model it receives without ``.eval()``: dropped when
    the calls of the run pass it in eval mode, every one of them."""
    return partial(_callers_evaluate, function, param)


def _callers_evaluate(function: str, param: str, index: ProjectIndex) -> bool:
    passed = index.arguments_passed(function, param)
    return bool(passed) and all(argument.mode == "eval" for argument in passed)


def unless_callee_does(callees: tuple[str, ...], effect: str) -> Callable[[ProjectIndex], bool]:
    """For a report that nothing clips (clears, evaluates …): dropped when one of the functions
    of other files called at that point does it (``utils.clip_gradients(model)``)."""
    return partial(_callee_does, callees, effect)


def _callee_does(callees: tuple[str, ...], effect: str, index: ProjectIndex) -> bool:
    return any(
        function is not None and effect in function.effects for function in (index.lookup_function(name) for name in callees)
    )


def unless_all(*predicates: Callable[[ProjectIndex], bool]) -> Callable[[ProjectIndex], bool]:
    """Drop the report only when every predicate says so."""
    return partial(_all_of, predicates)


def _all_of(predicates: tuple[Callable[[ProjectIndex], bool], ...], index: ProjectIndex) -> bool:
    return all(predicate(index) for predicate in predicates)


def unless_any(*predicates: Callable[[ProjectIndex], bool]) -> Callable[[ProjectIndex], bool]:
    """Drop the report when any of the predicates says so."""
    return partial(_any_of, predicates)


def _any_of(predicates: tuple[Callable[[ProjectIndex], bool], ...], index: ProjectIndex) -> bool:
    return any(predicate(index) for predicate in predicates)


def unless_lightning_handles_clipping(names: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a Lightning ``Trainer`` without clipping that fits a module class of another file:
    drop the report unless the index shows that the class trains with automatic optimisation
    and does not clip in its own ``configure_gradient_clipping`` (every base class known)."""
    return partial(_lightning_handles_clipping, names)


def _lightning_handles_clipping(names: tuple[str, ...], index: ProjectIndex) -> bool:
    return any(
        not index.ancestry_known(name, _lightning_or_torch_base)
        or index.defines(name, "configure_gradient_clipping")
        or index.has_trait(name, "manual_optimization")
        for name in names
    )


def _lightning_or_torch_base(qualified: str) -> bool:
    parts = qualified.split(".")
    return (parts[0] in ("lightning", "pytorch_lightning") and parts[-1] == "LightningModule") or qualified in (
        "torch.nn.Module", "builtins.object",
    )
