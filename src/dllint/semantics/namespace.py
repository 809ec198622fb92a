"""What a module's namespace holds, as other files of the run see it: the facts the project
index needs to resolve ``from models import *`` and ``from pkg import ResNet`` (a name a
package's ``__init__`` re-exports) the way Python does.

* ``names``: every name the module binds at the top level, with the qualified name it stands
  for when that is known (a class or function of the module, an import, an alias
  ``Net = ResNet``), None for any other value (``x = 3``);
* ``star_imports``: the modules it star-imports, in order (a later one wins);
* ``exports``: its ``__all__`` when the file spells it out (lists and tuples of strings,
  ``+=``, ``.extend``/``.append``), else None: a star import then takes every public name;
* ``choices``: names bound to a dict, list or tuple of classes or functions, with the
  qualified names of its values (what ``MODELS[args.arch]`` may be in another file).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from dllint.semantics.scopes import ModuleInfo

ALL = "__all__"
MAX_CHOICES = 64


def module_names(info: ModuleInfo) -> dict[str, Optional[str]]:
    scope = info.scope
    return {name: info.resolve_name(name, scope) for name in scope.bindings if name != ALL}


def choices(info: ModuleInfo) -> dict[str, tuple[str, ...]]:
    """Top-level names bound to a dict, list or tuple of classes or functions
    (``MODELS = {"unet": UNet, "vit": ViT}``), with the qualified names of its values: what
    ``MODELS[args.arch]`` may be in another file."""
    scope = info.scope
    found: dict[str, tuple[str, ...]] = {}
    for name, bindings in scope.bindings.items():
        if len(bindings) != 1 or bindings[0].kind != "assign":
            continue
        value = bindings[0].value
        if isinstance(value, cst.Dict):
            elements = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
            if len(elements) != len(value.elements):
                continue
        elif isinstance(value, (cst.List, cst.Tuple)):
            elements = [e.value for e in value.elements if not isinstance(e, cst.StarredElement)]
            if len(elements) != len(value.elements):
                continue
        else:
            continue
        if not 2 <= len(elements) <= MAX_CHOICES or not all(isinstance(e, (cst.Name, cst.Attribute)) for e in elements):
            continue
        resolved = [info.resolve(element, scope) for element in elements]
        if all(resolved):
            found[name] = tuple(dict.fromkeys(resolved))  # type: ignore[arg-type]
    return found


def star_imports(info: ModuleInfo) -> tuple[str, ...]:
    return tuple(info.scope.star_imports)


def exports(info: ModuleInfo) -> Optional[tuple[str, ...]]:
    """The module's ``__all__`` when the file spells it out; None when it has none or builds
    it in a way dllint does not follow."""
    bindings = info.scope.bindings.get(ALL)
    if not bindings:
        return None
    names: list[str] = []
    for binding in bindings:
        node = binding.node
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and binding.kind == "assign":
            listed = _strings(node.value)
            if listed is None:
                return None
            names = listed
        elif isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign):
            listed = _strings(node.value)
            if listed is None:
                return None
            names.extend(listed)
        else:
            return None
    for site in info.calls:
        func = site.node.func
        if site.scope is not info.scope or not isinstance(func, cst.Attribute):
            continue
        if not (isinstance(func.value, cst.Name) and func.value.value == ALL):
            continue
        argument = site.node.args[0].value if len(site.node.args) == 1 else None
        if func.attr.value == "extend":
            listed = _strings(argument)
        elif func.attr.value == "append":
            listed = _strings(cst.Tuple([cst.Element(argument)])) if argument is not None else None
        else:
            listed = None
        if listed is None:
            return None
        names.extend(listed)
    return tuple(dict.fromkeys(names))


def _strings(expr: Optional[cst.BaseExpression]) -> Optional[list[str]]:
    if not isinstance(expr, (cst.List, cst.Tuple)):
        return None
    found = []
    for element in expr.elements:
        value = element.value
        if isinstance(element, cst.StarredElement) or not isinstance(value, cst.SimpleString):
            return None
        text = value.evaluated_value
        if not isinstance(text, str):
            return None
        found.append(text)
    return found
