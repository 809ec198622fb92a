"""How the code of a file runs its models: whether a layer is ever run in eval mode.

Some pitfalls only bite at evaluation: Dropout before BatchNorm shifts the variance BatchNorm
applies *in eval mode*. A GAN discriminator that a training script builds, trains and never
evaluates never meets it. :func:`evaluated` answers, for one layer, from the traces of the
file: True when a model holding it is put in eval mode or run for inference (under
``no_grad``, in eval mode, or in a mode the file cannot tell), False when the file runs such
models only to train them, None when the file never runs a model holding it (the model is
used by other files, which may evaluate it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from dllint.semantics.modes import submodules
from dllint.semantics.values import Layer, Value, options_of

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics


def evaluated(sem: "FileSemantics", layer: Layer) -> Optional[bool]:
    held = _holders(sem)
    ran = False
    for trace in sem.traces:
        for event in trace.events:
            if event.kind not in ("eval", "forward") or event.mode in ("self", "attr"):
                continue  # (a submodule inside its owner's forward: the owner's call decides)
            if not _holds(held, event.target, layer):
                continue
            if event.kind == "eval":
                return True
            ran = True
            if event.no_grad or event.mode not in ("train",):
                return True
    return False if ran else None


def _holders(sem: "FileSemantics") -> dict[int, set[int]]:
    """Per model object a trace runs (by id), the ids of everything it holds (computed once)."""
    cache = sem.__dict__.get("_usage_holders")
    if cache is None:
        cache = sem.__dict__["_usage_holders"] = {}
    return cache


def _holds(cache: dict[int, set[int]], target: Value, layer: Layer) -> bool:
    for option in options_of(target):
        if option is layer:
            return True
        held = cache.get(id(option))
        if held is None:
            held = cache[id(option)] = {id(value) for value in submodules(option)}
        if id(layer) in held:
            return True
    return False
