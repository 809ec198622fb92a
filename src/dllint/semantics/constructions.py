"""Which configurations of a model class are real paths of the run.

Each class of a file is judged on its own, with its defaults (the *standalone*
configuration), and once per set of arguments its constructions pass
(``contexts.py``). The standalone configuration stands for whoever builds the class where
dllint cannot see: another file, a user of a library, code that passes a class around. When
every mention of the class in its file is a construction that the evaluation ran with
arguments, and the class is no export of its module (``__all__``), it is an internal helper:
its defaults are no path of this file, and are one of the run only if another file names the
class (``project.unless_named_only_in_its_file``).

:func:`reality` says it of a layer: built by code that runs, or by a configuration that is
real (through the instances that built it) — or real only if another file names one of some
classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.contexts import ROOT, STANDALONE
from dllint.semantics.namespace import exports
from dllint.semantics.values import Instance, Layer

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.scopes import ClassInfo

# Real whatever other files do; else the classes of which another file must name one.
REAL: Optional[frozenset[str]] = None

_NOT_BUILDING = ("super", "isinstance", "issubclass", "type")


class _Mentions(cst.CSTVisitor):
    """Where each of some names is mentioned as a value: the calls it is the callee of, and
    whether it appears any other way (passed around, stored, subclassed)."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.calls: dict[str, list[cst.Call]] = {}
        self.other: set[str] = set()

    def visit_Call(self, node: cst.Call) -> Optional[bool]:
        if isinstance(node.func, cst.Name) and node.func.value in self.names:
            self.calls.setdefault(node.func.value, []).append(node)
            for arg in node.args:
                arg.value.visit(self)
            return False
        if isinstance(node.func, cst.Name) and node.func.value in _NOT_BUILDING:
            return False  # ``super(Net, self)``, ``isinstance(m, Block)``: no instance built
        return True

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names:
            self.other.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> Optional[bool]:
        node.value.visit(self)
        return False  # ``x.Block`` is no mention of the class ``Block``

    def visit_ClassDef(self, node: cst.ClassDef) -> Optional[bool]:
        for base in node.bases:
            base.visit(self)
        for decorator in node.decorators:
            decorator.visit(self)
        node.body.visit(self)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> Optional[bool]:
        for param in (*node.params.params, *node.params.kwonly_params, *node.params.posonly_params):
            if param.default is not None:
                param.default.visit(self)
        for decorator in node.decorators:
            decorator.visit(self)
        node.body.visit(self)
        return False

    def visit_Annotation(self, node: cst.Annotation) -> Optional[bool]:
        return False

    def visit_Arg(self, node: cst.Arg) -> Optional[bool]:
        node.value.visit(self)
        return False

    def visit_Import(self, node: cst.Import) -> Optional[bool]:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> Optional[bool]:
        return False


def internal_helpers(sem: "FileSemantics") -> frozenset[int]:
    """The classes of the file (by id) whose every mention is a construction the evaluation
    ran with arguments, none listed in ``__all__``: their standalone defaults are no path
    of this file."""
    known = sem.__dict__.get("_internal_helpers")
    if known is not None:
        return known
    classes = list(sem.info.classes)
    by_name: dict[str, list["ClassInfo"]] = {}
    for cls in classes:
        by_name.setdefault(cls.name, []).append(cls)
    mentions = _Mentions({name for name, found in by_name.items() if len(found) == 1})
    sem.module.visit(mentions)
    exported = set(exports(sem.info) or ())
    helpers = set()
    for name, calls in mentions.calls.items():
        if name in mentions.other or name in exported:
            continue
        if all(_built_with_arguments(sem, call) for call in calls):
            helpers.add(id(by_name[name][0]))
    result = sem.__dict__["_internal_helpers"] = frozenset(helpers)
    return result


def _built_with_arguments(sem: "FileSemantics", call: cst.Call) -> bool:
    """The evaluation ran the construction, with arguments spelled out (no ``*args``/``**kwargs``,
    which may well be empty)."""
    if not call.args or any(arg.star for arg in call.args):
        return False
    return bool(sem.observed(call))


def reality(sem: "FileSemantics", layer: Layer) -> Optional[frozenset[str]]:
    """Whether a layer is built on a real path of the run: :data:`REAL`, or the classes one of
    which another file must name (their standalone defaults are the only configurations that
    build it); an empty set: none is real."""
    evaluator = sem.evaluator
    builder = evaluator.layer_builder.get(id(layer))
    if builder is None:
        return REAL
    return _instance_reality(sem, builder, set())


def _instance_reality(sem: "FileSemantics", instance: Instance, seen: set) -> Optional[frozenset[str]]:
    evaluator = sem.evaluator
    key = evaluator.configuration_key.get(id(instance))
    if key is None or key in seen:
        return REAL if key is None else frozenset()
    seen.add(key)
    helpers = internal_helpers(sem)
    needed: set[str] = set()
    for context in evaluator.built_from.get(key, ()):
        if context is ROOT:
            return REAL
        if context is STANDALONE:
            if instance.cls is None or id(instance.cls) not in helpers:
                return REAL
            needed.add(instance.cls.qualified)
            continue
        found = _instance_reality(sem, context, seen)
        if found is REAL:
            return REAL
        needed |= found
    return frozenset(needed)
