"""Where a module was built: ``encoder.layers.3.act`` → ``model.py:42``.

A module's constructing frame is gone by the time the probe sees it, so the location is read
from the source of the class that owns it: the ``self.<attr> = ...`` statement (or
``self.add_module("attr", ...)`` / ``setattr(self, "attr", ...)``) in the parent class, found
with the stdlib ``ast`` module; an element of an ``nn.Sequential(a, b, c)`` /
``nn.ModuleList([a, b])`` literal maps to that argument's line. Torch's own classes are skipped
(the user's line is the one that built the torch container), walking up the module path until
a user class knows the attribute.
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from typing import Callable, Optional

from torch import nn

_CONTAINER_CALLS = {"Sequential", "ModuleList"}


def _display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _is_user_class(cls: type) -> bool:
    mod = getattr(cls, "__module__", "") or ""
    return not (mod == "torch" or mod.startswith("torch.") or mod == "builtins")


def user_source_file(cls: type) -> Optional[str]:
    if not _is_user_class(cls):
        return None
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None
    return os.path.abspath(path) if path else None


def _call_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def _elements(call: ast.Call, off: int) -> Optional[list]:
    """Line spans of a Sequential(...) / ModuleList([...]) literal's elements."""
    name = _call_name(call)
    if name not in _CONTAINER_CALLS:
        return None
    args = list(call.args)
    if name == "ModuleList" and len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
        args = list(args[0].elts)
    if any(isinstance(a, ast.Starred) for a in args) or not args:
        return None
    return [(a.lineno + off, (a.end_lineno or a.lineno) + off) for a in args]


class _ClassInfo:
    def __init__(self):
        self.assign: dict = {}  # attr -> (file, row, end_row)
        self.elements: dict = {}  # attr -> [(row, end_row)] for container literals
        self.refs: dict = {}  # attr -> set of rows mentioning self.<attr> outside forward
        self.file: dict = {}  # attr -> file


_CACHE: dict = {}


def class_info(cls: type) -> _ClassInfo:
    info = _CACHE.get(cls)
    if info is not None:
        return info
    info = _ClassInfo()
    for klass in cls.__mro__:
        if klass in (nn.Module, object) or not _is_user_class(klass):
            continue
        try:
            path = inspect.getsourcefile(klass)
            lines, start = inspect.getsourcelines(klass)
            tree = ast.parse(textwrap.dedent("".join(lines)))
        except (OSError, TypeError, SyntaxError, IndentationError):
            continue
        path = _display_path(os.path.abspath(path)) if path else "?"
        off = start - 1
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            in_forward = fn.name == "forward"
            for node in ast.walk(fn):
                target_attr, value = None, None
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and not in_forward:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                            target_attr, value = t.attr, node.value
                elif isinstance(node, ast.Call) and not in_forward:
                    cname = _call_name(node)
                    if cname == "add_module" and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant):
                        target_attr, value = str(node.args[0].value), node.args[1]
                    elif (cname == "setattr" and len(node.args) >= 3 and isinstance(node.args[0], ast.Name)
                          and node.args[0].id == "self" and isinstance(node.args[1], ast.Constant)):
                        target_attr, value = str(node.args[1].value), node.args[2]
                if target_attr is not None and target_attr not in info.assign:
                    info.assign[target_attr] = (path, node.lineno + off, (node.end_lineno or node.lineno) + off)
                    info.file[target_attr] = path
                    if isinstance(value, ast.Call):
                        els = _elements(value, off)
                        if els:
                            info.elements[target_attr] = els
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id == "self" and not in_forward):
                    info.refs.setdefault(node.attr, set()).add(node.lineno + off)
    _CACHE[cls] = info
    return info


def factory_elements(factory: Optional[Callable], n: int) -> Optional[tuple]:
    """(file, element spans) of the Sequential/ModuleList literal with n elements in a factory."""
    if factory is None or isinstance(factory, type):
        return None
    try:
        path = inspect.getsourcefile(factory)
        lines, start = inspect.getsourcelines(factory)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            els = _elements(node, start - 1)
            if els and len(els) == n:
                return _display_path(os.path.abspath(path)), els
    return None


class SourceMap:
    def __init__(self, model: nn.Module, factory: Optional[Callable] = None):
        self.model = model
        self.mods = dict(model.named_modules())
        self.factory = factory

    def _loc(self, name: str) -> Optional[tuple]:
        """(file, row, end_row, parent class, attr) for the statement that built ``name``."""
        parts = name.split(".") if name else []
        while parts:
            parent_name, attr = ".".join(parts[:-1]), parts[-1]
            parent = self.mods.get(parent_name)
            if parent is not None:
                if _is_user_class(type(parent)):
                    info = class_info(type(parent))
                    if attr in info.assign:
                        f, r, e = info.assign[attr]
                        return f, r, e, type(parent), attr
                elif isinstance(parent, (nn.Sequential, nn.ModuleList)) and attr.isdigit():
                    idx = int(attr)
                    if parent_name:
                        gp_name, _, cattr = parent_name.rpartition(".")
                        gp = self.mods.get(gp_name)
                        if gp is not None and _is_user_class(type(gp)):
                            info = class_info(type(gp))
                            els = info.elements.get(cattr)
                            if els and idx < len(els):
                                return info.file[cattr], els[idx][0], els[idx][1], type(gp), cattr
                    else:
                        fe = factory_elements(self.factory, len(parent))
                        if fe and idx < len(fe[1]):
                            return fe[0], fe[1][idx][0], fe[1][idx][1], None, None
            parts = parts[:-1]
        return None

    def location(self, name: str) -> Optional[dict]:
        loc = self._loc(name)
        if loc is None:
            return None
        return {"filename": loc[0], "row": loc[1], "end_row": loc[2]}

    def rows(self, name: str) -> tuple:
        """(file, rows) a static finding may sit on for this module: the statement that built it
        and the parent's non-forward lines that mention ``self.<attr>`` (init calls)."""
        loc = self._loc(name)
        if loc is None:
            return None, set()
        f, r, e, owner, attr = loc
        rows = set(range(r, e + 1))
        if owner is not None and attr is not None:
            rows |= class_info(owner).refs.get(attr, set())
        return f, rows
