"""Train and eval mode over the module tree, and which values are models.

``model.eval()`` / ``model.train()`` / ``model.train(False)`` switch the model *and every
submodule* (``model.eval(); model.encoder(x)`` runs the encoder in eval mode), and the latest
switch wins, whether it was made on the submodule or on a module above it. A model keeps its
identity through ``.to()``/``.cuda()``/``.half()``, ``DataParallel``/``DistributedDataParallel``
(and their ``.module``) and ``torch.compile`` (``library.py`` returns the wrapped model).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Hashable, Iterator, Optional

from dllint.semantics import catalog
from dllint.semantics.catalog import may_be_project_function
from dllint.semantics.values import (
    AttributeOf,
    Container,
    Instance,
    Layer,
    Merge,
    Obj,
    Param,
    Value,
    drops_out,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator
    from dllint.semantics.paths import State

_MODEL_LIKE_WORDS = frozenset({
    "model", "net", "network", "module", "encoder", "decoder", "classifier", "backbone", "teacher", "student",
    "generator", "discriminator", "critic", "actor", "policy", "autoencoder", "transformer", "lstm", "rnn", "gru",
    "cnn", "mlp", "detector", "segmenter", "regressor", "head",
})
_NOT_A_MODEL_WORDS = frozenset({
    "cls", "class", "classes", "fn", "func", "factory", "builder", "build", "type", "path", "name", "names", "config",
    "cfg", "kwargs", "args", "dir", "file", "id", "ids", "url", "str", "get", "make", "create", "load", "init",
})
_MAX_TREE_DEPTH = 6


class ModesMixin:
    """Train/eval mode of the models a path holds (mixed into the evaluator)."""

    def _set_mode(self: "Evaluator", receiver: Value, mode: str, state: "State") -> None:
        """``receiver.eval()`` / ``.train(flag)``: the receiver and all its submodules."""
        self._mode_clock += 1
        stamp = (mode, self._mode_clock)
        for option in options_of(receiver):
            state.modes[mode_key(option)] = stamp
            for submodule in submodules(option):
                state.modes[mode_key(submodule)] = stamp

    def _mode(self: "Evaluator", model: Value, state: "State") -> str:
        """train | eval (known here) · caller (a parameter) · self (the model's own submodule) ·
        attr (an attribute of a non-module object) · unknown (differs by branch)."""
        recorded = recorded_mode(model, state)
        if recorded is not None:
            return recorded
        # The ``self`` of a method on the stack (one of its configurations, or all), or
        # something it holds (``self.model.encoder``), also once passed on to a helper function
        # (``_generate(self, ...)``).
        for frame in reversed(self._frames):
            owner = frame.self_value
            if owner is not None and (
                model is owner or any(option is model for option in options_of(owner)) or held_by(owner, model)
            ):
                is_module = any(
                    isinstance(option, Instance) and option.cls is not None and self.sem.is_module_class(option.cls)
                    for option in options_of(owner)
                )
                return "self" if is_module else "attr"
        if isinstance(model, Merge):
            modes = {self._mode(option, state) for option in model.options}
            return modes.pop() if len(modes) == 1 else "unknown"
        root = model
        while isinstance(root, AttributeOf):
            root = root.owner
        if isinstance(root, Param):
            return "caller"
        if isinstance(model, Instance):
            if model.origin == "pretrained" or self._evaluated_through_submodules(model, state):
                return "eval"
            return "train"
        if isinstance(model, Obj) and may_be_project_function(model.qualified):
            return "train"  # built by a factory of another file: unless it calls eval() (asked of the index)
        if isinstance(model, (Container, Layer)):
            return "train"
        return "unknown"

    def _evaluated_through_submodules(self: "Evaluator", model: Instance, state: "State") -> bool:
        """A model never put in eval mode itself whose every layer that behaves differently in
        eval mode is (``encoder.eval(); searcher = GreedySearchDecoder(encoder, decoder)``):
        its forward runs as in eval mode. Not when a class in the tree uses functional
        dropout or batch norm (``F.dropout(x, training=self.training)`` follows its own flag),
        or holds modules of unknown contents."""
        dependent = []
        for option in (model, *submodules(model)):
            if isinstance(option, Instance):
                if option.cls is None or option.attrs is None or self.sem.functional_layers(option.cls):
                    return False
            elif isinstance(option, Layer) and _behaves_by_mode(option):
                dependent.append(option)
        return bool(dependent) and all(recorded_mode(layer, state) == "eval" for layer in dependent)


def _behaves_by_mode(layer: Layer) -> bool:
    return drops_out(layer) or (layer.op.kind == "norm" and layer.op.family == "batch")


def mode_key(value: Value) -> Hashable:
    """What a mode is recorded under: the object, or for ``model.encoder`` of a model whose
    contents are unknown (a parameter), the root object and the attribute path."""
    if isinstance(value, AttributeOf):
        path = []
        current: Value = value
        while isinstance(current, AttributeOf):
            path.append(current.name)
            current = current.owner
        return (id(current), ".".join(reversed(path)))
    return id(value)


def _lineage(value: Value) -> Iterator[Hashable]:
    """The keys whose mode applies to a value: its own, then its owners' up the tree."""
    yield mode_key(value)
    while isinstance(value, AttributeOf):
        value = value.owner
        yield mode_key(value)


def recorded_mode(value: Value, state: "State") -> Optional[str]:
    """The latest ``eval()``/``train()`` on this path that applies to the value (to it or to a
    module above it), or None."""
    best = None
    for key in _lineage(value):
        entry = state.modes.get(key)
        if entry is not None and (best is None or entry[1] > best[1]):
            best = entry
    return best[0] if best is not None else None


def submodules(value: Value) -> Iterator[Value]:
    """Every module object held by a model (attributes, container items), a few levels deep."""
    seen: set[int] = {id(value)}
    stack: list[tuple[Value, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if depth >= _MAX_TREE_DEPTH:
            continue
        if isinstance(current, Instance) and current.attrs:
            children = list(current.attrs.values())
        elif isinstance(current, Container):
            children = list(current.items)
        elif isinstance(current, Merge):
            children = list(current.options)
        else:
            continue
        for child in children:
            if id(child) in seen or not isinstance(child, (Instance, Container, Layer, Merge)):
                continue
            seen.add(id(child))
            yield child
            stack.append((child, depth + 1))


def held_by(owner: Value, value: Value) -> bool:
    """Whether ``value`` (every option of it, when it is one of several) is one of
    ``owner``'s attributes or inside one of its containers — ``self.dropouts[i]``."""
    missing = {id(option) for option in options_of(value)}
    if not missing:
        return True
    seen: set[int] = set()
    stack: list[tuple[Value, int]] = [(option, 0) for option in options_of(owner)]
    while stack:  # stops at the first proof: a big model's object graph is walked per call
        current, depth = stack.pop()
        if depth > 4:
            continue
        if isinstance(current, Instance) and current.attrs:
            children = current.attrs.values()
        elif isinstance(current, Container):
            children = current.items
        elif isinstance(current, Merge):
            children = current.options
        else:
            continue
        for child in children:
            key = id(child)
            if key in seen:
                continue
            if child is value:
                return True
            seen.add(key)
            missing.discard(key)
            if not missing:
                return True
            stack.append((child, depth + 1))
    return False


@functools.lru_cache(maxsize=4096)  # (parameter names repeat: it is asked at every inlined call)
def model_like_name(name: str) -> bool:
    """``model``, ``ema_model``, ``self.net``, ``resnet``, ``text_encoder`` — but not
    ``datamodule_cls`` or ``netloc``: whole words of a snake_case/camelCase name."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    if any(word in _NOT_A_MODEL_WORDS for word in words):
        return False  # model_cls, get_model, model_path: a class, a factory, a name — not a model
    return any(word in _MODEL_LIKE_WORDS or (word.endswith(("net", "model")) and len(word) >= 4) for word in words)


def model_like(value: Value) -> bool:
    """A parameter that holds a model, by its annotation or its name."""
    if not isinstance(value, Param):
        return False
    if value.annotation and value.annotation in catalog.MODULE_BASES:
        return True
    return model_like_name(value.name)
