"""Where a finding about a layer holds, among the configurations and paths that build it.

One line of code can build many layers: a helper called with different arguments
(``block(3, 64, normalize=False)`` and ``block(64, 128)``), a class built with different
constructor arguments, an ``__init__`` whose paths differ. A rule that judges a layer in a
forward graph records each occurrence it flags; :class:`Occurrences` then tells, per line,
whether the finding holds for *every* layer that line builds and applies (then a fix that
edits the line is safe), or only for some of them — and which, in words, for the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, Optional

import libcst as cst

from dllint.project import unless_named_only_in_its_file
from dllint.semantics.constructions import REAL, reality
from dllint.semantics.values import Instance, Layer

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics, ForwardGraph

MAX_DESCRIBED = 2


class Occurrence:
    """A flagged line: its first flagged layer, and whether the finding holds for every layer
    the line builds (``everywhere``) or only where ``where`` says. ``unless``: what the report
    carries when the finding holds only in the standalone defaults of internal helper classes
    (``constructions.py``): it stands only if another file of the run names one of them."""

    __slots__ = ("layer", "everywhere", "where", "by_default", "unless")

    def __init__(self, layer: Layer, everywhere: bool, where: str, by_default: bool = False,
                 unless: Optional[Callable] = None) -> None:
        self.layer = layer
        self.everywhere = everywhere
        self.where = where
        # it holds for every layer the line builds here, but the structure was decided by a
        # default the user can override (a command-line option)
        self.by_default = by_default
        self.unless = unless

    def note(self) -> str:
        """What a message adds when the finding does not hold everywhere the line is used."""
        if self.everywhere:
            return ""
        where = f" {self.where}" if self.where else " on some of the paths that build it"
        if self.by_default:
            return f" (this holds{where}, which a run can change: no automatic fix)"
        return f" (this holds{where}, not for every layer this line builds: no automatic fix)"


def _defaulted(layer: Layer) -> bool:
    return layer.choices is not None and bool(layer.choices.defaults)


class Occurrences:
    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self._flagged: dict[int, list[tuple[Layer, Optional["ForwardGraph"]]]] = {}

    def flag(self, layer: Layer, graph: Optional["ForwardGraph"]) -> None:
        found = self._flagged.setdefault(id(layer.node), [])
        if not any(known is layer for known, _ in found):
            found.append((layer, graph))

    def __iter__(self) -> Iterator[Occurrence]:
        applied = self.sem.layers_applied
        for key, flagged in self._flagged.items():
            unless = None
            realities = [reality(self.sem, layer) for layer, _ in flagged]
            if all(found is not REAL for found in realities):
                # Built only by the defaults of classes that their file always builds with
                # arguments: no path of this file; one of the run if another file names them.
                classes = sorted(set().union(*realities))
                if not classes:
                    continue
                unless = unless_named_only_in_its_file(tuple(classes))
            layers = {id(layer) for layer, _ in flagged}
            # A layer built where a default the user can override decided the structure holds
            # for that setting only: the other runs are not in view.
            every_layer = all(id(layer) in layers for layer in applied.get(key, ()))
            by_default = any(_defaulted(layer) for layer, _ in flagged)
            everywhere = every_layer and not by_default
            where = "" if everywhere else self._describe(flagged)
            yield Occurrence(flagged[0][0], everywhere, where, by_default=every_layer and by_default, unless=unless)

    def _describe(self, flagged: list[tuple[Layer, Optional["ForwardGraph"]]]) -> str:
        descriptions: list[str] = []
        for layer, graph in flagged:
            text = self._context(layer, graph)
            if text and text not in descriptions:
                descriptions.append(text)
        if not descriptions:
            return ""
        more = len(descriptions) - MAX_DESCRIBED
        text = " and ".join(descriptions[:MAX_DESCRIBED])
        return text + (f" and {more} more" if more > 0 else "")

    def _context(self, layer: Layer, graph: Optional["ForwardGraph"]) -> str:
        parts = []
        instance = graph.instance if graph is not None else None
        if layer.built_by is not None and (instance is None or layer.built_by is not instance.node):
            parts.append(f"when built by {self._call(layer.built_by)}")
        if isinstance(instance, Instance):
            if isinstance(instance.node, cst.Call) and instance.init_args:
                parts.append(f"in {self._call(instance.node)}")
            if instance.path:
                parts.append(f"when {instance.path}")
        elif _defaulted(layer):
            parts.append(f"when {', '.join(layer.choices.defaults)}")
        return ", ".join(parts)

    def _call(self, call: cst.Call) -> str:
        text = cst.Module(body=[]).code_for_node(call)
        if len(text) > 60 or "\n" in text:
            text = cst.Module(body=[]).code_for_node(call.func) + "(…)"
        position = self.sem.positions().get(call)
        return f"`{text}` (line {position.start.line})" if position is not None else f"`{text}`"
