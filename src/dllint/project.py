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

import copy
import os
from functools import partial
from typing import Callable, Iterable, Optional, Union

# What a model's forward returns when it ends in a weighted layer with no activation after it.
LOGITS = "logits"
# ``models.*``: any class of the module ``models`` (or any value of the dict ``models``), the
# one picked by a name the code does not know (``getattr(models, args.arch)``).
WILDCARD = ".*"


class ClassSummary:
    __slots__ = ("qualified", "bases", "is_module", "contains", "output", "logits", "methods", "fields", "traits", "hidden", "hidden_paths")

    def __init__(
        self,
        qualified: str,
        bases: tuple[str, ...],
        is_module: bool,
        contains: frozenset[str],
        output: Optional[str],
        logits: bool = False,
        methods: frozenset[str] = frozenset(),
        hidden: frozenset[str] = frozenset(),
        hidden_paths: frozenset[str] = frozenset(),
        fields: Optional[dict[str, str]] = None,
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
        # torch layer classes (``torch.nn.Linear``) whose output its forward feeds into further
        # layers with weights: hidden layers, for the init rules
        self.hidden = hidden
        # the same layers by attribute path (``fc1``, ``attn.q_proj``)
        self.hidden_paths = hidden_paths
        # forward returns a container (tuple, dict, output record) on every path: what each
        # element is (``{"logits": "logits", "probs": "sigmoid", "[0]": "logits"}``); None otherwise
        self.fields = fields
        # how a framework trains it: ``manual_optimization`` (a Lightning module that runs
        # its own backward and step)
        self.traits = traits

    def __repr__(self) -> str:
        return f"<ClassSummary {self.qualified}>"


class ModelArgument:
    """What a call passes for one argument that is a model: the op families it is known to
    hold (``external:<qualified>`` for classes of other files) and its train/eval mode then.
    :data:`NOT_A_MODEL` stands for an argument that is surely no model (a function of the
    calling file): it holds nothing and has no mode."""

    __slots__ = ("families", "mode")

    def __init__(self, families: frozenset[str], mode: str) -> None:
        self.families = families
        self.mode = mode  # train | eval | unknown (…) | none (not a model)


NOT_A_MODEL = ModelArgument(frozenset(), "none")


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
    __slots__ = ("module", "filename", "classes", "functions", "calls", "names", "star_imports", "exports", "choices", "values", "applied", "saved")

    def __init__(
        self,
        module: str,
        filename: str,
        classes: Optional[dict[str, ClassSummary]] = None,
        names: Optional[dict[str, Optional[str]]] = None,
        star_imports: tuple[str, ...] = (),
        exports: Optional[tuple[str, ...]] = None,
        choices: Optional[dict[str, tuple[str, ...]]] = None,
        values: Optional[dict[str, tuple]] = None,
        applied: tuple[tuple[str, str], ...] = (),
        saved: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.module = module
        self.filename = filename
        self.classes: dict[str, ClassSummary] = {} if classes is None else classes
        self.functions: dict[str, FunctionSummary] = {}
        self.calls: list[CallSummary] = []
        # Its namespace (``semantics/namespace.py``): each top-level name with the qualified
        # name it stands for (None: some other value), the modules it star-imports in order,
        # its ``__all__`` when spelled out.
        self.names: dict[str, Optional[str]] = {} if names is None else names
        self.star_imports = star_imports
        self.exports = exports
        # names bound to a dict/list of classes or functions: the qualified names of its values
        self.choices: dict[str, tuple[str, ...]] = {} if choices is None else choices
        # configuration values it offers, by qualified name (``semantics/config_values.py``:
        # ``("value", 0.9, "config.DROPOUT", False)``, records of argparse defaults ...)
        self.values: dict[str, tuple] = {} if values is None else values
        # (init function, model class) for each ``model.apply(init_fn)`` of an init function
        # defined in another file: what that function's writes reach
        self.applied = applied
        # (checkpoint path, model class) for each ``torch.save(model, "path")`` of a whole model
        self.saved = saved

    def __repr__(self) -> str:
        return f"<ModuleSummary {self.module} {self.filename}>"

    def exported(self, name: str) -> Optional[bool]:
        """Whether ``from <module> import *`` brings ``name``: True, False, or None when that
        depends on what its own star imports bring."""
        if self.exports is not None:
            return name in self.exports
        if name.startswith("_"):
            return False
        return True if name in self.names else (None if self.star_imports else False)


class ProjectIndex:
    """Every class of the run, and every module's namespace, merged.

    Names are resolved the way Python resolves them where the run holds the modules involved:
    ``models.Net`` is the class ``Net`` of the module ``models`` — or whatever ``models`` binds
    to ``Net`` (``from .resnet import ResNet as Net``, an alias), or what its star imports bring
    (honouring their ``__all__``). Two files with the same module name (``model.py`` in two
    tutorial folders) are told apart by the file that asks: :meth:`seen_from` gives the index as
    one file sees it, where its own folder's ``model`` wins. Where the run does not hold the
    module (``ultralytics.YOLO`` with only ``ultralytics/engine/model.py`` linted), an
    unambiguous suffix match of the class's name counts."""

    def __init__(self) -> None:
        self.classes: dict[str, ClassSummary] = {}
        self._by_suffix: dict[str, list[ClassSummary]] = {}
        self._modules: dict[str, list[ModuleSummary]] = {}
        self._modules_by_suffix: dict[str, list[ModuleSummary]] = {}
        self._home: dict[int, ModuleSummary] = {}  # id of a ClassSummary -> the module defining it
        self.origin: Optional[str] = None  # the file whose names are resolved (see seen_from)
        self.functions: dict[str, FunctionSummary] = {}
        self._functions_by_suffix: dict[str, list[FunctionSummary]] = {}
        self._calls: list[tuple[str, CallSummary]] = []  # (the calling file, the call)
        self._callers: Optional[dict[str, list[CallSummary]]] = None
        self.applied: dict[str, list[str]] = {}  # init function as imported -> the model classes it is applied to
        self.saved: dict[str, list[str]] = {}  # checkpoint file name -> the model classes saved under it
        self.values: dict[str, tuple] = {}
        self._values_by_suffix: dict[str, list[str]] = {}

    @classmethod
    def from_summaries(cls, summaries: Iterable[ModuleSummary]) -> "ProjectIndex":
        index = cls()
        for summary in summaries:
            index._modules.setdefault(summary.module, []).append(summary)
            module_parts = summary.module.split(".")
            for start in range(1, len(module_parts)):
                index._modules_by_suffix.setdefault(".".join(module_parts[start:]), []).append(summary)
            for qualified, item in summary.classes.items():
                index.classes[qualified] = item
                index._home[id(item)] = summary
                parts = qualified.split(".")
                for start in range(1, len(parts)):
                    index._by_suffix.setdefault(".".join(parts[start:]), []).append(item)
            for qualified, function in getattr(summary, "functions", {}).items():
                index.functions[qualified] = function
                parts = qualified.split(".")
                for start in range(1, len(parts)):
                    index._functions_by_suffix.setdefault(".".join(parts[start:]), []).append(function)
            index._calls.extend((summary.filename, call) for call in getattr(summary, "calls", ()))
            for qualified, fact in getattr(summary, "values", {}).items():
                index.values[qualified] = fact
                parts = qualified.split(".")
                for start in range(1, len(parts) - 1):  # a module and a name at least: ``config.DROPOUT``
                    index._values_by_suffix.setdefault(".".join(parts[start:]), []).append(qualified)
            for function, model in getattr(summary, "applied", ()):
                index.applied.setdefault(function, []).append(model)
            for path, model in getattr(summary, "saved", ()):
                index.saved.setdefault(os.path.basename(path), []).append(model)
        return index

    def value(self, qualified: str) -> Optional[tuple]:
        """The configuration value another file gives an imported name (exactly, or by an
        unambiguous dotted suffix: ``config.DROPOUT`` for ``src.config.DROPOUT``)."""
        found = self.values.get(qualified)
        if found is not None:
            return found
        matches = self._values_by_suffix.get(qualified, [])
        return self.values[matches[0]] if len(matches) == 1 else None

    def values_for(self, wanted: Iterable[str]) -> dict[str, tuple]:
        """The configuration values of the names a file looked up, by the names it used."""
        found = {}
        for name in wanted:
            fact = self.value(name)
            if fact is not None:
                found[name] = fact
        return found

    def saved_classes(self, path: str) -> list[str]:
        """The model classes the run saves whole under a checkpoint file of that name
        (``torch.save(model, "char-rnn.pt")``): what ``torch.load("char-rnn.pt")`` gives back."""
        return self.saved.get(os.path.basename(path), [])

    def applications(self, function: str) -> list[str]:
        """The model classes an init function (``pkg.utils.init_weights``) is applied to in the
        run, whatever root the applying files import it relative to (``utils.init_weights``)."""
        found: list[str] = []
        for imported, models in self.applied.items():
            if imported == function or function.endswith("." + imported) or imported.endswith("." + function):
                found.extend(models)
        return found

    def hides_path(self, qualified: str, path: str, _depth: int = 0) -> bool:
        """Whether the layer at an attribute path of the class is a hidden one, in the class's
        forward or in its bases' (which build the layers a subclass inherits)."""
        item = self.lookup(qualified)
        if item is None or _depth > 8:
            return False
        if path in item.hidden_paths:
            return True
        return any(self.hides_path(base, path, _depth + 1) for base in item.bases)

    def hides(self, qualified: str, layers: tuple[str, ...], _seen: Optional[set[str]] = None) -> Optional[bool]:
        """Whether the class (with its bases and submodule classes, across files) has a hidden
        layer of one of those torch classes; None when the class is not in the index."""
        seen = _seen if _seen is not None else set()
        if qualified in seen:
            return False
        seen.add(qualified)
        item = self.lookup(qualified)
        if item is None:
            return None
        if set(layers) & set(item.hidden):
            return True
        others = list(item.bases) + [c[len("external:"):] for c in item.contains if c.startswith("external:")]
        return any(self.hides(other, layers, seen) for other in others)

    def lookup_function(self, qualified: str, origin: Optional[str] = None) -> Optional[FunctionSummary]:
        """The module-level function of the run a call names, as seen from ``origin`` (by
        default the view's file): followed through re-exports and star imports where the run
        holds the modules; otherwise an unambiguous suffix counts."""
        resolved = self._resolve(qualified, origin if origin is not None else self.origin, set())
        if isinstance(resolved, _Defined):
            return resolved.module.functions.get(resolved.qualified)
        if not isinstance(resolved, str):
            return None
        qualified = resolved
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
            for filename, call in self._calls:
                callee = self.lookup_function(call.callee, filename)
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

    def named_elsewhere(self, qualified: str) -> bool:
        """Whether a file of the run other than the class's own binds a name to the class or to
        its module (``from cvt import Block``, ``import cvt``, ``from cvt import *``), as
        Python resolves those imports from that file."""
        item = self.classes.get(qualified)
        home = self._home.get(id(item)) if item is not None else None
        if home is None:
            return True  # the index does not hold it: nothing says who builds it
        for summaries in self._modules.values():
            for summary in summaries:
                if summary is home:
                    continue
                origin = summary.filename
                for target in (*(target for target in summary.names.values() if target), *summary.star_imports):
                    if self._module(target, origin) is home or (
                        target.rsplit(".", 1)[-1] == qualified.rsplit(".", 1)[-1] and self.lookup(target, origin) is item
                    ):
                        return True
        return False

    def seen_from(self, filename: Optional[str]) -> "ProjectIndex":
        """The index as the file ``filename`` sees it: the names a report of that file holds are
        resolved from there."""
        view = copy.copy(self)
        view.origin = filename
        return view

    def home(self, item: ClassSummary) -> Optional[str]:
        """The file that defines a class of the index."""
        module = self._home.get(id(item))
        return module.filename if module is not None else None

    def lookup(self, qualified: str, origin: Optional[str] = None) -> Optional[ClassSummary]:
        """The class a name refers to (as seen from ``origin``, by default the view's file)."""
        origin = origin if origin is not None else self.origin
        found = self._resolve(qualified, origin, set())
        if isinstance(found, (_Choices, _Defined)):
            return None
        if not isinstance(found, str):
            return found
        return self._by_name(found)

    def _by_name(self, qualified: str) -> Optional[ClassSummary]:
        """A class of a module the run does not hold. Imports may be written relative to a
        different root than the one the index uses (``models.Net`` vs ``src.models.Net``): an
        unambiguous suffix match counts."""
        found = self.classes.get(qualified)
        if found is not None:
            return found
        matches = self._by_suffix.get(qualified, [])
        if not matches and "." in qualified:
            # Re-exported from a package's __init__ that the run does not hold
            # (``ultralytics.YOLO``): the one class of that name in the run, if there is exactly one.
            matches = self._by_suffix.get(qualified.rsplit(".", 1)[1], [])
        return matches[0] if len(matches) == 1 else None

    def _resolve(self, qualified: str, origin: Optional[str], seen: set) -> Union[ClassSummary, None, str, "_Choices", "_Defined"]:
        """The class ``qualified`` names; None when the run's modules show it is no class of
        the run (or cannot tell between two); the name itself when no module of the run
        holds it."""
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self._module(".".join(parts[:cut]), origin)
            if module is _AMBIGUOUS:
                return None
            if module is not None:
                return self._resolve_in(module, parts[cut:], seen)  # type: ignore[arg-type]
        return qualified

    def _resolve_in(self, module: ModuleSummary, rest: list[str], seen: set) -> Union[ClassSummary, None, str, "_Choices", "_Defined"]:
        key = (id(module), ".".join(rest))
        if key in seen:
            return None
        seen.add(key)
        item = module.classes.get(f"{module.module}.{key[1]}")
        if item is not None:
            return item
        name = rest[0]
        if name in module.names:
            target = module.names[name]
            if target is None and len(rest) == 1 and name in module.choices:
                return _Choices(module, module.choices[name])
            if target == f"{module.module}.{name}":
                return _Defined(module, target) if len(rest) == 1 else None  # a function of the module
            if target is None:
                return None  # a value that is no class
            return self._resolve(".".join([target, *rest[1:]]), module.filename, seen)
        for star in reversed(module.star_imports):
            source = self._module(star, module.filename)
            if not isinstance(source, ModuleSummary):
                continue  # a library's, or a file the run did not analyse
            exported = source.exported(name)
            if exported is False:
                continue
            found = self._resolve_in(source, rest, seen)
            if found is not None or exported:
                return found
        return None

    def _module(self, name: str, origin: Optional[str]) -> Union[ModuleSummary, None, object]:
        """The module of the run that ``import name`` finds from the file ``origin``: None
        when the run holds none, ``_AMBIGUOUS`` when it cannot tell between several."""
        candidates = self._modules.get(name) or self._modules_by_suffix.get(name)
        if not candidates:
            # Imported from a root above the run's module names (``src.models`` for
            # ``src/models.py`` in a folder without ``__init__.py``): the file must sit there.
            parts = name.split(".")
            for start in range(1, len(parts)):
                found = self._modules.get(".".join(parts[start:]))
                if found:
                    folders = parts[:start]
                    candidates = [m for m in found if _in_folders(m.filename, folders, len(parts) - start)]
                    break
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        if origin is None:
            return _AMBIGUOUS
        # Two files of one module name: the one nearest the importing file (its own folder
        # first, as a script's sys.path does).
        closeness = [_shared_folders(origin, candidate.filename) for candidate in candidates]
        best = max(closeness)
        return candidates[closeness.index(best)] if closeness.count(best) == 1 else _AMBIGUOUS

    def candidates(self, qualified: str, origin: Optional[str] = None) -> Optional[list[Optional[ClassSummary]]]:
        """The classes ``X.*`` may be — any class of the module ``X`` (``getattr(models,
        args.arch)``), or any value of the dict or list ``X`` of another file
        (``MODELS[args.arch]``) — None for each value that is no class the index knows; None
        when the index does not know ``X``."""
        origin = origin if origin is not None else self.origin
        base = qualified[: -len(WILDCARD)]
        module = self._module(base, origin)
        if isinstance(module, ModuleSummary):
            found = [item for item in self._visible_classes(module, set()).values() if item.is_module]
            return found or None
        chosen = self._resolve(base, origin, set())
        if isinstance(chosen, _Choices):
            return [self.lookup(name, chosen.module.filename) for name in chosen.names]
        return None

    def _visible_classes(self, module: ModuleSummary, seen: set[int]) -> dict[str, ClassSummary]:
        """Every class a module's namespace holds: its own, imported, star-imported."""
        if id(module) in seen:
            return {}
        seen.add(id(module))
        found: dict[str, ClassSummary] = {}
        for star in module.star_imports:
            source = self._module(star, module.filename)
            if isinstance(source, ModuleSummary):
                for name, item in self._visible_classes(source, seen).items():
                    if source.exported(name) is not False:
                        found[name] = item
        for name in module.names:
            item = self.lookup(f"{module.module}.{name}", module.filename)
            if item is not None:
                found[name] = item
        return found

    def contains(self, qualified: str, family: str, _seen: Optional[set[int]] = None,
                 origin: Optional[str] = None) -> Optional[bool]:
        """Whether the class (with its bases and submodule classes, across files) holds a layer
        of ``family``; None when the class is not in the index or only partly known. For
        ``X.*``: whether any of the classes it may be holds one (False when none does)."""
        seen = _seen if _seen is not None else set()
        if qualified.endswith(WILDCARD):
            options = self.candidates(qualified, origin)
            if not options:
                return None
            verdicts = [self._item_contains(item, family, set(seen)) if item is not None else None for item in options]
            return True if True in verdicts else None if None in verdicts else False
        item = self.lookup(qualified, origin)
        return self._item_contains(item, family, seen) if item is not None else None

    def _item_contains(self, item: ClassSummary, family: str, seen: set[int]) -> Optional[bool]:
        if id(item) in seen:
            return False
        seen.add(id(item))
        if family in item.contains:
            return True
        unknown = "unknown" in item.contains
        home = self.home(item)
        for other in [base for base in item.bases] + [c[len("external:"):] for c in item.contains if c.startswith("external:")]:
            verdict = self.contains(other, family, seen, home)
            if verdict:
                return True
            if verdict is None and self._may_be_project_class(other):
                unknown = True
        return None if unknown else False

    def defines(self, qualified: str, method: str, _seen: Optional[set[int]] = None,
                origin: Optional[str] = None) -> bool:
        """Whether the class (any class ``X.*`` may be) or one of its bases in the run defines ``method``."""
        seen = _seen if _seen is not None else set()
        if qualified.endswith(WILDCARD):
            options = self.candidates(qualified, origin) or []
            return any(self._item_defines(item, method, seen) for item in options if item is not None)
        item = self.lookup(qualified, origin)
        return self._item_defines(item, method, seen) if item is not None else False

    def _item_defines(self, item: ClassSummary, method: str, seen: set[int]) -> bool:
        if id(item) in seen:
            return False
        seen.add(id(item))
        home = self.home(item)
        return method in item.methods or any(self.defines(base, method, seen, home) for base in item.bases)

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

    def output_family(
        self, qualified: str, key: Optional[str] = None, _depth: int = 0, origin: Optional[str] = None
    ) -> Optional[str]:
        """What a model class of the run returns: an output activation family, ``logits``, or None.
        A class without its own ``forward`` returns what the base class that defines it returns.
        For ``X.*``: what every class it may be returns, when they agree. ``key``: what one
        element of the output is (``probs``, ``[0]``; ``?`` for an unknown index) — of a tensor
        output, an index reads part of the same tensor."""
        if qualified.endswith(WILDCARD):
            options = self.candidates(qualified, origin) or []
            families = {self._item_output(item, key, _depth) if item is not None else None for item in options}
            return families.pop() if len(families) == 1 else None
        item = self.lookup(qualified, origin)
        return self._item_output(item, key, _depth) if item is not None else None

    def _item_output(self, item: ClassSummary, key: Optional[str], depth: int) -> Optional[str]:
        if depth > 8:
            return None
        if "forward" not in item.methods:
            home = self.home(item)
            bases = [base for base in item.bases if self.lookup(base, home) is not None]
            return self.output_family(bases[0], key, depth + 1, home) if len(bases) == 1 else None
        if key is not None:
            if item.fields is not None:
                return item.fields.get(key)
            if not key.startswith("[") and key != "?":
                return None  # a named field of an output that is no record
        if item.output is None and item.logits:
            return LOGITS
        return item.output

    @staticmethod
    def _may_be_project_class(qualified: str) -> bool:
        return not qualified.startswith(("torch.", "builtins.", "typing."))


_AMBIGUOUS = object()


class _Defined:
    """A function (or other def) a module of the run defines itself."""

    __slots__ = ("module", "qualified")

    def __init__(self, module: ModuleSummary, qualified: str) -> None:
        self.module = module
        self.qualified = qualified


class _Choices:
    """A name of ``module`` bound to a dict or list of these qualified names."""

    __slots__ = ("module", "names")

    def __init__(self, module: ModuleSummary, names: tuple[str, ...]) -> None:
        self.module = module
        self.names = names


def _shared_folders(a: str, b: str) -> int:
    """How many leading folders two files' paths share."""
    first, second = _folders(a), _folders(b)
    shared = 0
    for x, y in zip(first, second):
        if x != y:
            break
        shared += 1
    return shared


def _folders(filename: str) -> list[str]:
    return os.path.dirname(os.path.abspath(filename)).replace(os.sep, "/").split("/")


def _in_folders(filename: str, folders: list[str], depth: int) -> bool:
    """Whether a module file (``depth`` parts deep in its package) sits in ``folders``."""
    path = _folders(filename)
    if os.path.splitext(os.path.basename(filename))[0] == "__init__":
        path = path[:-1]
    path = path[: len(path) - (depth - 1)] if depth > 1 else path
    return path[len(path) - len(folders):] == folders


# --- deferred verdicts: a report's ``unless`` -------------------------------------------------

def unless_output_is_not(
    names: tuple[str, ...], families: tuple[str, ...], key: Optional[str] = None
) -> Callable[[ProjectIndex], bool]:
    """For a report that holds only if the named classes end in one of ``families`` (their
    output's element ``key``, when one was read)."""
    return partial(_output_is_not, names, families, key)


def _output_is_not(names: tuple[str, ...], families: tuple[str, ...], key: Optional[str], index: ProjectIndex) -> bool:
    return any(index.output_family(name, key) not in families for name in names)


def unless_none_hold_or_custom_call(names: tuple[str, ...], families: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a model called like a function: drop the report when the index knows the classes
    hold none of the families, or when a class overrides ``__call__`` (a predictor wrapper
    such as ultralytics' ``YOLO``, whose call is not a plain forward pass)."""
    return partial(_none_hold_or_custom_call, names, families)


def _none_hold_or_custom_call(names: tuple[str, ...], families: tuple[str, ...], index: ProjectIndex) -> bool:
    none_hold = all(index.contains(name, family) is False for name in names for family in families)
    return none_hold or any(index.defines(name, "__call__") for name in names)


def unless_outside_the_run(names: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a call of an object whose class is imported and not named like a model
    (``Speech2Text``, a library's inference wrapper): drop the report when no file of the run
    defines the class either — nothing says it is a module at all."""
    return partial(_outside_the_run, names)


def _outside_the_run(names: tuple[str, ...], index: ProjectIndex) -> bool:
    return all(index.lookup(name) is None for name in names)


def unless_checkpoints_hold_none(paths: tuple[str, ...], families: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a model loaded whole from checkpoint files: drop the report when the run saves a
    model under each of those names and every class saved there is known to hold none of the
    families (``train.py`` saves a dropout-free RNN that ``predict.py`` loads)."""
    return partial(_checkpoints_hold_none, paths, families)


def _checkpoints_hold_none(paths: tuple[str, ...], families: tuple[str, ...], index: ProjectIndex) -> bool:
    for path in paths:
        classes = index.saved_classes(path)
        if not classes or any(index.contains(name, family) is not False for name in classes for family in families):
            return False
    return True


def unless_path_not_hidden(classes: tuple[str, ...], path: str) -> Callable[[ProjectIndex], bool]:
    """For a write to ``module.<path>.weight`` under ``isinstance(module, C)``: drop the report
    unless the index knows that the layer at ``path`` of one of the classes is a hidden one."""
    return partial(_path_not_hidden, classes, path)


def _path_not_hidden(classes: tuple[str, ...], path: str, index: ProjectIndex) -> bool:
    return not any(index.hides_path(name, path) for name in classes)


def unless_never_hides(function: Optional[str], models: tuple[str, ...], layers: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For an init function's write to every layer of some torch classes: drop the report
    unless a model it is applied to (``models``, or those the run applies ``function`` to)
    has a hidden layer of one of those classes."""
    return partial(_never_hides, function, models, layers)


def _never_hides(function: Optional[str], models: tuple[str, ...], layers: tuple[str, ...], index: ProjectIndex) -> bool:
    candidates = list(models) + (index.applications(function) if function else [])
    return not any(index.hides(model, layers) for model in candidates)


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


def unless_callers_run_it_safely(
    function: str, param: str, families: tuple[str, ...], called_here: bool = False
) -> Callable[[ProjectIndex], bool]:
    """For a report that a function runs a model it receives without ``.eval()``: dropped when
    the calls of the run from other files all pass, for that parameter, something with which
    that is harmless — a model in eval mode, a model known to hold none of ``families``, or no
    model at all (a plain function: ``rnn(X, state, params)``). Some such call must exist,
    unless ``called_here``: the function's callers in its own file were judged already."""
    return partial(_callers_run_it_safely, function, param, families, called_here)


def _callers_run_it_safely(function: str, param: str, families: tuple[str, ...], called_here: bool, index: ProjectIndex) -> bool:
    passed = index.arguments_passed(function, param)
    return (bool(passed) or called_here) and all(
        argument.mode == "eval" or all(index.holds(argument, family) is False for family in families) for argument in passed
    )


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


def unless_named_only_in_its_file(classes: tuple[str, ...]) -> Callable[[ProjectIndex], bool]:
    """For a report that holds only in the standalone defaults of classes that their own file
    builds with arguments every time (internal helpers): dropped unless another file of the
    run names one of them — imports it, star-imports or imports its module — and so may
    build it with its defaults."""
    return partial(_named_only_in_its_file, classes)


def _named_only_in_its_file(classes: tuple[str, ...], index: ProjectIndex) -> bool:
    return not any(index.named_elsewhere(name) for name in classes)


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
