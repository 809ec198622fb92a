"""What ``torch.load`` gives back when this file pickles whole models with ``torch.save``.

``torch.save(model, PATH)`` pickles the module object itself (not its ``state_dict()``), and
``torch.load(PATH)`` unpickles that same object: a notebook that restores its CNN with ``try:
model = torch.load(PATH)`` (or ``if resume:``) and saves it with ``torch.save(model, PATH)``
holds a CNN on both paths, not a CNN or a model of unknown class.

A load gives back the models of the whole-model saves of this file whose path it matches —
equal constant paths after folding, or the same variable (``PATH``, ``args.checkpoint``; not
a file handle or a parameter of two functions) — and,
where a save's path cannot be compared with the load's (an f-string, a path built at run
time), only if every whole-model save of the file is of the same class (or the same tuple of
classes: ``torch.save([G, D], path)``). Otherwise the load stays a model of unknown class: a
checkpoint the file never writes, a state dict (``model.load_state_dict(torch.load(...))``, a
save of ``model.state_dict()`` or of a dict), a save of something this module cannot resolve
(``self.model``, a parameter, a name bound in another function), and a file that pickles
models of two classes under paths it cannot tell apart.

A saved name's value is the value of each of its assignments in the save's scope, except those
that load it (``model = torch.load(...)``) or re-bind the model itself (``model =
model.to(device)``, ``model = nn.DataParallel(model)``: the same model): the module's
assignments evaluated on their own, or, when the save sits in the function being run, in
that run's current state. Saves in other files are the project index's business
(``ProjectIndex.saved_classes``, for rules that defer to it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.constants import fold
from dllint.semantics.paths import Frame, State
from dllint.semantics.scopes import Binding, CallSite, Scope
from dllint.semantics.syntax import argument, dotted_name, iter_tree
from dllint.semantics.values import Constant, Container, Instance, Value, merge, options_of

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator

_SAME, _DIFFERENT, _UNCLEAR = "same", "different", "unclear"


class _Save:
    """One ``torch.save(obj, path)`` of the file that may pickle a whole model."""

    __slots__ = ("site", "obj", "path")

    def __init__(self, site: CallSite, obj: cst.BaseExpression, path: Optional[cst.BaseExpression]) -> None:
        self.site = site
        self.obj = obj
        self.path = path


class Checkpoints:
    """The file's whole-model saves, and what a ``torch.load`` of one of them gives back."""

    def __init__(self, evaluator: "Evaluator") -> None:
        self._evaluator = evaluator
        self._saves: Optional[list[_Save]] = None
        self._module_values: dict[int, Value] = {}  # per module-level binding (id): its value on its own
        self._resolving = False  # (a saved name's assignment may itself load: ``model = restore(PATH)``)

    def restored(self, node: cst.Call, path: Optional[Value], state: State) -> Optional[Value]:
        """The models ``torch.load`` (the call ``node``, its path argument's value ``path``)
        gives back, or None when that is not known."""
        if self._resolving:
            return None
        saves = self._whole_model_saves()
        if not saves or self._loads_state_dict(node):
            return None
        load_site = self._evaluator.sem.site_of(node)
        load_path = argument(node, 0, "f")
        if load_site is None or load_path is None:
            return None
        comparisons = [_compare(load_path, load_site.scope, path, save) for save in saves]
        candidates = [save for save, seen in zip(saves, comparisons) if seen != _DIFFERENT]
        if not candidates:
            return None
        self._resolving = True
        try:
            values = {id(save): self._saved_value(save, state) for save in (saves if _UNCLEAR in comparisons else candidates)}
        finally:
            self._resolving = False
        if any(value is None for value in values.values()):
            return None
        if _UNCLEAR in comparisons and len({_classes(value) for value in values.values()}) != 1:
            return None
        result: Optional[Value] = None
        for save in candidates:
            value = values[id(save)]
            result = value if result is None else merge(result, value)
        return result

    def _whole_model_saves(self) -> list[_Save]:
        """Every ``torch.save`` of the file whose object is not a state dict or a dict."""
        if self._saves is None:
            self._saves = []
            for site in self._evaluator.sem.info.calls:
                func = site.node.func
                if type(func) is not cst.Attribute or func.attr.value != "save" or site.qualified != "torch.save":
                    continue
                obj = argument(site.node, 0, "obj")
                if obj is None or _state_dict_or_dict(obj):
                    continue
                self._saves.append(_Save(site, obj, argument(site.node, 1, "f")))
        return self._saves

    def _loads_state_dict(self, node: cst.Call) -> bool:
        """``model.load_state_dict(torch.load(path))``: the load is a state dict."""
        for site in self._evaluator.sem.info.calls:
            if site.method == "load_state_dict" and any(arg.value is node for arg in site.node.args):
                return True
        return False

    def _saved_value(self, save: _Save, state: State) -> Optional[Value]:
        """The model (or list of models) a save pickles; None when not known to be models."""
        obj = save.obj
        if type(obj) is cst.Name:
            return _only_models(self._name_value(obj.value, save.site.scope, state))
        if type(obj) in (cst.List, cst.Tuple) and all(type(element.value) is cst.Name for element in obj.elements):
            items = [_only_models(self._name_value(element.value.value, save.site.scope, state)) for element in obj.elements]
            if any(item is None for item in items):
                return None
            return Container("list", items, obj)
        return None

    def _name_value(self, name: str, scope: Scope, state: State) -> Optional[Value]:
        evaluator = self._evaluator
        bindings = scope.lookup(name)
        if not bindings:
            return None
        module_scope = evaluator.sem.info.scope
        frame = evaluator._frames[-1]
        if module_scope.bindings.get(name) is bindings:
            in_current_state = False
        elif scope is frame.scope and frame.scope.bindings.get(name) is bindings:
            in_current_state = True
        else:
            return None  # a name of another function: its values there are not evaluated here
        result: Optional[Value] = None
        for binding in bindings:
            assigned = binding.node.value if type(binding.node) in (cst.Assign, cst.AnnAssign) else None
            if assigned is not None and (_calls_load(assigned, evaluator) or _mentions(assigned, name)):
                continue  # the load itself, or the same model moved, wrapped or restored
            if binding.kind != "assign" or binding.value is None:
                return None
            value = self._binding_value(binding, state if in_current_state else None)
            result = value if result is None else merge(result, value)
        return result

    def _binding_value(self, binding: Binding, state: Optional[State]) -> Value:
        """An assignment's value: in the current state, or (a module-level one) on its own."""
        evaluator = self._evaluator
        if state is None:
            known = self._module_values.get(id(binding))
            if known is not None:
                return known
        previous_trace, evaluator._trace = evaluator._trace, None  # (no events: this code runs elsewhere)
        if state is None:
            evaluator._frames.append(Frame(None, evaluator.sem.info.scope, None, [], False))
        try:
            value = evaluator._value(binding.value, state if state is not None else State({}))
        finally:
            if state is None:
                evaluator._frames.pop()
            evaluator._trace = previous_trace
        if state is None:
            self._module_values[id(binding)] = value
        return value


def _state_dict_or_dict(obj: cst.BaseExpression) -> bool:
    """``model.state_dict()``, ``{"model": model.state_dict(), ...}``, ``dict(...)``."""
    if type(obj) in (cst.Dict, cst.DictComp):
        return True
    if type(obj) is cst.Call:
        func = obj.func
        if type(func) is cst.Attribute and func.attr.value == "state_dict":
            return True
        if type(func) is cst.Name and func.value in ("dict", "OrderedDict"):
            return True
    return False


def _compare(load_path: cst.BaseExpression, load_scope: Scope, load_value: Optional[Value], save: _Save) -> str:
    """Whether a load's path and a save's path are the same file, different ones, or unclear."""
    if save.path is None:
        return _UNCLEAR
    loaded = load_value.value if isinstance(load_value, Constant) and isinstance(load_value.value, str) else fold(load_path, load_scope)
    saved = fold(save.path, save.site.scope)
    if isinstance(loaded, str) and isinstance(saved, str):
        return _SAME if os.path.normpath(loaded) == os.path.normpath(saved) else _DIFFERENT
    name = dotted_name(load_path)
    if name is not None and name == dotted_name(save.path) and _same_variable(name.split(".")[0], load_scope, save.site.scope):
        return _SAME
    return _UNCLEAR


def _same_variable(name: str, one: Scope, other: Scope) -> bool:
    """Whether a name is the same variable in both scopes, and one assigned a value (not the
    file handle of a ``with open(...) as f`` or a loop variable, rebound in between)."""
    bindings = one.lookup(name)
    return bindings is not None and bindings is other.lookup(name) and all(binding.kind != "other" for binding in bindings)


def _only_models(value: Optional[Value]) -> Optional[Value]:
    """The value when every option is a model object of a known class (a ``None`` placeholder
    dropped: ``model = None`` before it is built), else None."""
    if value is None:
        return None
    models = [option for option in options_of(value) if not (isinstance(option, Constant) and option.value is None)]
    if not models or not all(isinstance(option, Instance) and _class_of(option) is not None for option in models):
        return None
    result = models[0]
    for option in models[1:]:
        result = merge(result, option)
    return result


def _class_of(instance: Instance) -> Optional[str]:
    return instance.cls.qualified if instance.cls is not None else (instance.qualified if instance.origin != "loaded" else None)


def _classes(value: Value) -> tuple:
    """What a save pickles, as classes: a class name per option, a tuple of them per list."""
    if isinstance(value, Container):
        return tuple(_classes(item) for item in value.items)
    return tuple(sorted({_class_of(option) or "" for option in options_of(value) if isinstance(option, Instance)}))


def _calls_load(expr: cst.BaseExpression, evaluator: "Evaluator") -> bool:
    for node in iter_tree(expr):
        if type(node) is cst.Call:
            site = evaluator.sem.site_of(node)
            if site is not None and site.qualified == "torch.load":
                return True
    return False


def _mentions(expr: cst.BaseExpression, name: str) -> bool:
    return any(type(node) is cst.Name and node.value == name for node in iter_tree(expr))
