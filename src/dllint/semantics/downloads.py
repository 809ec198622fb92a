"""Checkpoints a file loads from files it downloads: weights published by URL.

A tutorial that fetches its authors' trained checkpoints (``urllib.request.urlretrieve(url,
os.path.join(CHECKPOINT_PATH, name))``) and restores its models from them
(``Model.load_from_checkpoint(os.path.join(CHECKPOINT_PATH, name + ".ckpt"))``) has its
architecture fixed by those checkpoints, as a Hugging Face model is by its hub weights.

A download is ``urllib.request.urlretrieve``, ``torch.hub.download_url_to_file``,
``wget.download`` or ``gdown.download`` to a destination path, or ``requests.get(...)`` whose
response (``.content``, ``.iter_content()`` chunks) is written to a file opened for writing
(``with open(path, "wb") as f: f.write(...)``). A checkpoint load is ``torch.load`` whose result
reaches ``load_state_dict`` (directly or through a name of the same scope: a state dict, not a
data file or a pickled whole model, which does not need the class to keep its parameters),
``X.load_from_checkpoint(path)``, or a Lightning trainer's ``fit``/``validate``/``test``/
``predict`` with ``ckpt_path=``.

The load's path must come from the same place as a download's destination: the same variable
(bound once, by assignment: a loop variable or a re-bound name is no place), the same constant
path, or a path joined (``os.path.join``, ``/`` on a ``Path``, ``joinpath``, an f-string,
``+``) onto the same directory variable or constant. Two directories joined from one root
(``DATA_DIR`` and ``CKPT_DIR`` under ``ROOT``) are different places, and so is the current
directory (``"."``): a file that downloads its data there and loads its own checkpoints is
not restoring published weights. A path built in one function and passed to another (a
``download(url, dest)`` helper) is not followed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.constants import fold
from dllint.semantics.scopes import CallSite, Scope
from dllint.semantics.syntax import argument, iter_tree, keyword

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

# The downloader's qualified name: its destination's position and keyword.
_DOWNLOADERS = {
    "urllib.request.urlretrieve": (1, "filename"),
    "torch.hub.download_url_to_file": (1, "dst"),
    "wget.download": (1, "out"),
    "gdown.download": (1, "output"),
}
_HTTP_GETS = frozenset({"requests.get"})
_LIGHTNING_LOADS = frozenset({"fit", "validate", "test", "predict"})
_JOINS = frozenset({"os.path.join", "posixpath.join", "ntpath.join"})
_PATH_WRAPPERS = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "builtins.str", "os.fspath"})
# Directories too common to tie a download to a load.
_NO_PLACE = frozenset({"", ".", "./", "/"})
_MAX_DEPTH = 8

_Places = tuple[frozenset, frozenset]  # (the file's places, its directory's places)
_NOWHERE: _Places = (frozenset(), frozenset())


def loads_downloaded_checkpoint(sem: "FileSemantics") -> bool:
    """Whether some checkpoint load of the file reads a path one of its downloads writes."""
    calls = sem.info.calls
    state_dict_loads = [site for site in calls if site.method == "load_state_dict" and site.node.args]
    loads = [_places(path, site.scope) for site in calls if (path := _checkpoint_path(site, state_dict_loads)) is not None]
    loads = [places for places in loads if places != _NOWHERE]
    if not loads:
        return False
    destinations = [_places(path, site.scope) for site in calls if (path := _download_destination(site)) is not None]
    if any(site.qualified in _HTTP_GETS for site in calls):
        destinations += [_places(path, scope) for path, scope in _responses_written(sem.module, sem.site_of)]
    return any(
        files & written_files or directories & written_directories
        for files, directories in loads
        for written_files, written_directories in destinations
    )


def _download_destination(site: CallSite) -> Optional[cst.BaseExpression]:
    where = _DOWNLOADERS.get(site.qualified or "")
    if where is None:
        return None
    return argument(site.node, *where)


def _checkpoint_path(site: CallSite, state_dict_loads: list[CallSite]) -> Optional[cst.BaseExpression]:
    if site.qualified == "torch.load":
        return argument(site.node, 0, "f") if _feeds_load_state_dict(site, state_dict_loads) else None
    if site.method == "load_from_checkpoint":
        return argument(site.node, 0, "checkpoint_path")
    if site.method in _LIGHTNING_LOADS:
        return keyword(site.node, "ckpt_path")
    return None


def _feeds_load_state_dict(load: CallSite, state_dict_loads: list[CallSite]) -> bool:
    """``net.load_state_dict(torch.load(p)["model"])``, or ``state = torch.load(p)`` and
    ``net.load_state_dict(state["model"])`` in the same scope."""
    holders = {
        name
        for name, bindings in load.scope.bindings.items()
        if any(binding.kind == "assign" and binding.value is not None and _inner(binding.value) is load.node for binding in bindings)
    }
    for site in state_dict_loads:
        given = _inner(site.node.args[0].value)
        if given is load.node or (site.scope is load.scope and type(given) is cst.Name and given.value in holders):
            return True
    return False


def _responses_written(module: cst.Module, site_of) -> list[tuple[cst.BaseExpression, Scope]]:
    """The paths of files opened for writing (``with open(path, "wb") as f``) that are
    written a ``requests.get`` response's content, each with the scope of its ``open``."""
    found: list[tuple[cst.BaseExpression, Scope]] = []
    for node in iter_tree(module):
        if type(node) is not cst.With:
            continue
        for item in node.items:
            call = item.item
            site = site_of(call) if type(call) is cst.Call else None
            if site is None or site.qualified != "builtins.open" or type(item.asname) is not cst.AsName:
                continue
            handle = item.asname.name
            path = argument(call, 0, "file")
            if path is None or type(handle) is not cst.Name or not _opened_for_writing(call, site.scope):
                continue
            if _writes_response(node.body, handle.value, site.scope, site_of):
                found.append((path, site.scope))
    return found


def _opened_for_writing(call: cst.Call, scope: Scope) -> bool:
    mode = fold(argument(call, 1, "mode"), scope)
    return isinstance(mode, str) and any(letter in mode for letter in "wxa")


def _writes_response(body: cst.CSTNode, handle: str, scope: Scope, site_of) -> bool:
    """Whether ``handle.write(...)`` in ``body`` writes something of a ``requests.get``
    response: the call itself, a name bound to it, or chunks of a loop over it."""
    written = False

    class _Body(cst.CSTVisitor):
        def __init__(self) -> None:
            self.iterables: list[cst.BaseExpression] = []

        def visit_For(self, node: cst.For) -> None:
            self.iterables.append(node.iter)

        def leave_For(self, original_node: cst.For) -> None:
            self.iterables.pop()

        def visit_Call(self, node: cst.Call) -> None:
            nonlocal written
            func = node.func
            if not (isinstance(func, cst.Attribute) and func.attr.value == "write" and isinstance(func.value, cst.Name) and func.value.value == handle):
                return
            sources = [arg.value for arg in node.args] + self.iterables
            written = written or any(_from_response(source, scope, site_of) for source in sources)

    body.visit(_Body())
    return written


def _from_response(expr: cst.BaseExpression, scope: Scope, site_of) -> bool:
    if _calls_http_get(expr, site_of):
        return True
    for name in _names_in(expr):
        bindings = scope.lookup(name) or []
        if any(binding.kind == "assign" and binding.value is not None and _calls_http_get(binding.value, site_of) for binding in bindings):
            return True
    return False


def _calls_http_get(expr: cst.BaseExpression, site_of) -> bool:
    for node in iter_tree(expr):
        if type(node) is cst.Call:
            site = site_of(node)
            if site is not None and site.qualified in _HTTP_GETS:
                return True
    return False


def _places(expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> _Places:
    """Where a path points: the places of the file itself (a variable bound once, a constant
    path) and of the directory it is joined onto."""
    if depth > _MAX_DEPTH:
        return _NOWHERE
    files: set = set()
    directories: frozenset = frozenset()
    constant = fold(expr, scope)
    if isinstance(constant, str):
        files.add(("constant", os.path.normpath(constant)))
    kind = type(expr)
    if kind is cst.Name:
        named_files, directories = _name_places(expr.value, scope, depth)
        files |= named_files
    elif kind is cst.Call:
        qualified = scope.resolve(expr.func)
        args = [arg.value for arg in expr.args if arg.keyword is None and not arg.star]
        if qualified in _PATH_WRAPPERS and len(args) == 1:
            wrapped_files, directories = _places(args[0], scope, depth + 1)
            files |= wrapped_files
        elif qualified in _JOINS and len(args) >= 2:
            directories = _directory(args[0], scope, depth)
        elif isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "joinpath" and args:
            directories = _directory(expr.func.value, scope, depth)
    elif kind is cst.BinaryOperation and type(expr.operator) in (cst.Divide, cst.Add):
        directories = _directory(_leftmost(expr), scope, depth)
    elif kind is cst.FormattedString and expr.parts:
        first = expr.parts[0]
        if isinstance(first, cst.FormattedStringExpression):
            directories = _directory(first.expression, scope, depth)
        elif "/" in first.value:
            directories = _constant_directory(first.value.rsplit("/", 1)[0])
    elif kind is cst.SimpleString and isinstance(constant, str):
        directories = _constant_directory(os.path.dirname(constant))
    return frozenset(files), directories


def _name_places(name: str, scope: Scope, depth: int) -> _Places:
    """A name bound once is a place of its own; every binding must be an assignment, and the
    places it shares are those all its values share."""
    bindings = scope.lookup(name)
    if not bindings or any(binding.kind != "assign" or binding.value is None for binding in bindings):
        return _NOWHERE
    defining = _scope_of(scope, name)
    shared: Optional[_Places] = None
    for binding in bindings:
        files, directories = _places(binding.value, defining, depth + 1)
        shared = (files, directories) if shared is None else (shared[0] & files, shared[1] & directories)
    files, directories = shared or _NOWHERE
    if len(bindings) == 1:
        files = files | {("variable", id(bindings))}
    return files, directories


def _directory(expr: cst.BaseExpression, scope: Scope, depth: int) -> frozenset:
    """The places of a directory a path is joined onto (the directory's own, not its parent's)."""
    files, _ = _places(expr, scope, depth + 1)
    return frozenset(place for place in files if not (place[0] == "constant" and place[1] in _NO_PLACE))


def _constant_directory(text: str) -> frozenset:
    directory = os.path.normpath(text) if text else ""
    return frozenset() if directory in _NO_PLACE else frozenset({("constant", directory)})


def _leftmost(expr: cst.BaseExpression) -> cst.BaseExpression:
    while type(expr) is cst.BinaryOperation:
        expr = expr.left
    return expr


def _scope_of(scope: Scope, name: str) -> Scope:
    current: Optional[Scope] = scope
    first = True
    while current is not None:
        if name in current.globals:
            return scope.module.scope
        if (first or current.kind != "class") and name in current.bindings:
            return current
        first = False
        current = current.parent
    return scope


def _inner(expr: cst.BaseExpression) -> cst.BaseExpression:
    """What a value is taken from: ``ckpt`` of ``ckpt["model"]`` or ``ckpt.get("state_dict")``."""
    for _ in range(_MAX_DEPTH):
        if type(expr) is cst.Subscript:
            expr = expr.value
        elif type(expr) is cst.Call and type(expr.func) is cst.Attribute and expr.func.attr.value in ("get", "pop"):
            expr = expr.func.value
        else:
            break
    return expr


def _names_in(expr: cst.CSTNode) -> set[str]:
    return {node.value for node in iter_tree(expr) if type(node) is cst.Name}
