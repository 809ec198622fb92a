"""Initialisation in order: the writes to each parameter, and which of them is the last.

Initialising a model is a sequence. A submodule's ``__init__`` zero-initialises its output
projection, then the parent's ``self.apply(self._init_weights)`` (or Hugging Face's
``post_init()``, timm's ``named_apply(init_fn, self)``, an init loop over ``self.modules()`` at
the end of ``__init__``) draws every ``nn.Linear`` again; a custom init is undone by a
``reset_parameters()`` called after it; ``layer.weight = nn.Parameter(torch.zeros(...))``
replaces the weight a layer was built with. What the model trains from is the *final* state
of each parameter, so that is what a rule judges.

The evaluator's clock (``Evaluator.clock``) ticks at every call it evaluates and every
attribute it assigns, so the moments at which writes reach a given layer object are ordered:

* each init write (``semantics/inits.py``) at the moment it reached the layer — the write
  itself when the evaluator ran it with the layer, the ``apply``/``named_apply`` call or the
  ``modules()`` loop that ran an isinstance-guarded init function over the model, the
  ``post_init()`` that applied a Hugging Face ``_init_weights``;
* ``layer.weight = <tensor>`` and ``w.data = <tensor>`` with new values (a parameter, a
  constructor, a scaled draw — not ``w.data -= lr * w.grad``, an update);
* ``layer.reset_parameters()`` on a torch layer (PyTorch's default init again).

A write whose moment is unknown (a ``reset_parameters`` nobody calls in this file, an init
function never applied here) is left out of the ordering: it neither replaces nor is replaced.
Partial writes (``w[:, 0].zero_()``) and writes to a parameter loop's selection
(``if "fc" in name``) replace nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from dllint.semantics.inits import InitWrite, Written, observations, written
from dllint.semantics.values import AttributeOf, Layer, Tensor, Value, options_of
from dllint.semantics.weights import through_views, weight_like

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

Key = tuple[int, str]  # (id of a layer, parameter name) or (id of a weight tensor's node, "")
EVERY_PARAMETER = "*"  # the key of a layer's ``reset_parameters()``: (id of the layer, "*")


class Entry:
    """One moment a parameter's values were set.

    kind: write (an init write: ``write``) | assign (``layer.weight = value``: ``value``, at
    ``node``) | reset (``layer.reset_parameters()`` at ``node``)."""

    __slots__ = ("kind", "at", "write", "value", "node")

    def __init__(self, kind: str, at: int, write: Optional[InitWrite] = None, value: Optional[Value] = None,
                 node: Optional[cst.CSTNode] = None) -> None:
        self.kind = kind
        self.at = at
        self.write = write
        self.value = value
        self.node = node


def key_of(target: Written) -> Optional[Key]:
    if target.layer is not None:
        return id(target.layer), target.parameter
    tensor = target.tensor
    if tensor is not None and tensor.node is not None:
        return id(tensor.node), ""
    return None


class Timeline:
    """The ordered writes to every parameter of a file (built once, on first use)."""

    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self._written: dict[int, list[Written]] = {}
        self.entries: dict[Key, list[Entry]] = {}
        for write in sem.init_writes:
            if write.partial:
                continue
            for target in self.written(write):
                key = key_of(target)
                if key is not None and target.at is not None and target.certain:
                    self.entries.setdefault(key, []).append(Entry("write", target.at, write=write))
        evaluator = sem.evaluator
        for owner, name, value, node, at in evaluator.tensor_assignments:
            if not isinstance(value, Tensor) or not weight_like(value):
                continue  # ``p.data -= lr * p.grad``: an update, not new initial values
            for key in _assigned_keys(owner, name):
                self.entries.setdefault(key, []).append(Entry("assign", at, value=value, node=node))
        for site in sem.method_calls("reset_parameters"):
            for (receiver, _, _), at in observations(sem, site.node):
                for option in options_of(receiver):
                    if isinstance(option, Layer) and at is not None:
                        self.entries.setdefault((id(option), EVERY_PARAMETER), []).append(Entry("reset", at, node=site.node))
        for entries in self.entries.values():
            entries.sort(key=lambda entry: entry.at)

    def written(self, write: InitWrite) -> list[Written]:
        """``inits.written`` for one write, computed once."""
        found = self._written.get(id(write))
        if found is None:
            found = self._written[id(write)] = written(self.sem, write)
        return found

    def of(self, key: Key) -> list[Entry]:
        """The entries of a parameter, in order: its own and its layer's ``reset_parameters()``."""
        own = self.entries.get(key, [])
        every = self.entries.get((key[0], EVERY_PARAMETER), []) if key[1] else []
        return sorted(own + every, key=lambda entry: entry.at) if every else own

    def final(self, key: Key) -> Optional[Entry]:
        """The last entry of a parameter whose moment is known."""
        entries = self.of(key)
        return entries[-1] if entries else None

    def superseded(self, write: InitWrite, target: Written) -> bool:
        """Whether something later replaces what ``write`` put into ``target``: another write,
        an assignment, a ``reset_parameters()`` that ran after it on the same layer or tensor.

        A layer of a class's analysis with its defaults (built by no call of this file) stands
        for the layers the same line builds where the file does build the class — inside a
        parent model whose ``_init_weights`` runs last: it is replaced when they all are."""
        if self._replaced(write, target):
            return True
        layer = target.layer
        if layer is None or layer.built_by is not None:
            return False
        built = [
            other for other in self.written(write)
            if other.layer is not None and other.layer.node is layer.node and other.layer.built_by is not None
        ]
        return bool(built) and all(self._replaced(write, other) for other in built)

    def _replaced(self, write: InitWrite, target: Written) -> bool:
        key = key_of(target)
        if key is None or target.at is None:
            return False
        return any(entry.at > target.at and entry.write is not write for entry in self.of(key))

    def later_than(self, first: InitWrite, second: InitWrite, target: Written) -> Optional[bool]:
        """Whether ``second`` reached ``target``'s parameter after ``first`` did; None when the
        order is unknown."""
        key = key_of(target)
        if key is None:
            return None
        at_first = [entry.at for entry in self.of(key) if entry.write is first]
        at_second = [entry.at for entry in self.of(key) if entry.write is second]
        if not at_first or not at_second:
            return None
        return max(at_second) > max(at_first)

    def assignments(self) -> Iterator[tuple[Key, Entry]]:
        """Every ``layer.weight = <tensor>`` / ``w.data = <tensor>`` with the parameter it sets."""
        for key, entries in self.entries.items():
            for entry in entries:
                if entry.kind == "assign":
                    yield key, entry


def _assigned_keys(owner: Value, name: str) -> Iterator[Key]:
    """``layer.weight = t`` → (layer, weight); ``layer.weight.data = t`` → (layer, weight);
    ``w.data = t`` for a weight tensor ``w`` → (w's node, "")."""
    for option in options_of(owner):
        if isinstance(option, Layer) and name != "data":
            yield id(option), name
        elif isinstance(option, AttributeOf) and name == "data":
            layer, parameter = option.path
            for layer_option in options_of(layer):
                if isinstance(layer_option, Layer) and parameter:
                    yield id(layer_option), parameter
        elif isinstance(option, Tensor) and name == "data":
            tensor = through_views(option)
            if tensor is not None and tensor.node is not None:
                yield id(tensor.node), ""


# --- across files ---------------------------------------------------------------------------------

def hidden_layer_types(sem: "FileSemantics", cls) -> frozenset[str]:
    """The torch layer classes of a model class whose output its forward carries, by scale,
    into further layers with weights (``inits.scale_reaches_weights``): what an init function
    applied to it from another file reaches as hidden layers."""
    from dllint.semantics.inits import scale_reaches_weights

    found: set[str] = set()
    for graph in sem.forward_graphs:
        if graph.cls is not cls:
            continue
        for tensor, layer in graph.module_applications():
            if layer.qualified not in found and scale_reaches_weights(graph, tensor):
                found.add(layer.qualified)
    return frozenset(found)


def hidden_layer_paths(sem: "FileSemantics", cls) -> frozenset[str]:
    """The attribute paths (``fc1``, ``attn.q_proj``) of a model class's layers that its
    forward carries, by scale, into further layers with weights, and of its multi-head
    attention layers (their packed input projection is a hidden weight)."""
    from dllint.semantics.inits import scale_reaches_weights

    found: set[str] = set()
    for graph in sem.forward_graphs:
        if graph.cls is not cls or graph.instance is None:
            continue
        paths = _layer_paths(graph.instance)
        for tensor, layer in graph.module_applications():
            path = paths.get(id(layer))
            if path is None or path in found:
                continue
            multihead = layer.op.kind == "attention" and layer.op.family == "multihead"
            if multihead or scale_reaches_weights(graph, tensor):
                found.add(path)
    return frozenset(found)


def _layer_paths(instance: Value) -> dict[int, str]:
    """Layer (by id) → its attribute path in a model instance (``attn.q_proj``), through
    submodules and keyed containers (``nn.ModuleDict``)."""
    from dllint.semantics.values import Container, Instance

    paths: dict[int, str] = {}
    stack: list[tuple[Value, tuple[str, ...]]] = [(instance, ())]
    seen: set[int] = set()
    while stack:
        value, path = stack.pop()
        if id(value) in seen or len(path) > 6:
            continue
        seen.add(id(value))
        for option in options_of(value):
            if isinstance(option, Layer) and path:
                paths.setdefault(id(option), ".".join(path))
            elif isinstance(option, Instance) and option.attrs:
                stack.extend((item, path + (name,)) for name, item in option.attrs.items())
            elif isinstance(option, Container) and option.keys is not None and len(option.keys) == len(option.items):
                stack.extend((item, path + (str(key),)) for key, item in zip(option.keys, option.items))
    return paths


def applications(sem: "FileSemantics") -> tuple[tuple[str, str], ...]:
    """(init function, model class) for each ``model.apply(fn)`` / ``named_apply(fn, model)`` of
    this file whose function is imported from another file: the function's name as imported,
    the model's class (of this file or imported)."""
    from dllint.semantics.values import Instance, Reference

    found: list[tuple[str, str]] = []
    sites = [(site, True) for site in sem.method_calls("apply")] + [
        (site, False) for site in sem.info.calls if site.qualified is not None and site.qualified.endswith(".named_apply")
    ]
    for site, method in sites:
        for (receiver, args, kwargs), _ in observations(sem, site.node):
            function = args[0] if args else kwargs.get("fn")
            model = receiver if method else (args[1] if len(args) > 1 else kwargs.get("module"))
            if function is None or model is None:
                continue
            for fn in options_of(function):
                if not isinstance(fn, Reference):
                    continue
                for option in options_of(model):
                    if isinstance(option, Instance) and option.qualified and (fn.qualified, option.qualified) not in found:
                        found.append((fn.qualified, option.qualified))
    return tuple(found)
