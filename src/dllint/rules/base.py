"""What a rule is: a code, a name, its documentation (the class docstring) and a ``check``.

A rule never walks raw syntax on its own: it asks the file's semantics
(:class:`dllint.semantics.FileSemantics`) what the code means and yields :class:`Report`s
for the nodes it flags. The engine turns reports into positioned findings, applies
``# noqa`` and selection, and resolves reports that depend on other files of the run.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, Optional

import libcst as cst

from dllint.findings import SAFE

if TYPE_CHECKING:
    from dllint.project import ProjectIndex
    from dllint.semantics import FileSemantics


class Option:
    """A rule option: its default (whose type the value must have), help, and for numbers
    the range of values that make sense (``minimum``/``maximum``, inclusive)."""

    __slots__ = ("default", "help", "minimum", "maximum")

    def __init__(self, default: Any, help: str, *, minimum: Optional[float] = None, maximum: Optional[float] = None) -> None:
        self.default = default
        self.help = help
        self.minimum = minimum
        self.maximum = maximum

    def validate(self, code: str, name: str, value: Any) -> Any:
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"option `{name}` of {code} must be {self._expected()}, got {_toml(value)}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ValueError(f"option `{name}` of {code} must be {self._expected()}, got {_toml(value)}")
        return value

    def _expected(self) -> str:
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
            type(self.default), type(self.default).__name__
        )
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} between {self.minimum:g} and {self.maximum:g}"
        if self.minimum is not None:
            return f"{kind} ≥ {self.minimum:g}"
        if self.maximum is not None:
            return f"{kind} ≤ {self.maximum:g}"
        return kind


def _toml(value: Any) -> str:
    """A value as it is written in TOML (the configuration's language)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        import json

        return json.dumps(value, ensure_ascii=False)
    return repr(value)


class TextEdit:
    """One edit of a fix: replace ``node``'s source text with ``replacement``.

    More generally the edited range runs from ``node``'s ``start`` side to ``until``'s ``end``
    side (``until`` defaults to ``node``). A side is ``"start"`` or ``"end"`` of the node's
    range, or ``"next_line"``: the beginning of the line after the node ends (to add a
    statement after a block). :meth:`before` and :meth:`after_line_of` build insertions.
    """

    __slots__ = ("node", "replacement", "start", "until", "end")

    def __init__(
        self,
        node: cst.CSTNode,
        replacement: str,
        *,
        start: str = "start",
        until: Optional[cst.CSTNode] = None,
        end: str = "end",
    ) -> None:
        self.node = node
        self.replacement = replacement
        self.start = start
        self.until = node if until is None else until
        self.end = end

    @classmethod
    def before(cls, node: cst.CSTNode, text: str) -> "TextEdit":
        """Insert ``text`` right before ``node``."""
        return cls(node, text, end="start")

    @classmethod
    def after_line_of(cls, node: cst.CSTNode, text: str) -> "TextEdit":
        """Insert ``text`` (whole lines, ending in a newline) after the line where ``node`` ends."""
        return cls(node, text, start="next_line", end="next_line")


class Report:
    """A rule's verdict on one node, before the engine positions it.

    ``unless`` makes the report depend on facts about other files of the run: it is a
    predicate over the project index, evaluated once every file has been read; the report
    is dropped when it returns True. It must be a picklable, module-level callable (a
    :class:`functools.partial` of one is fine) because results cross process boundaries.

    ``applicability`` is the fix's: ``"safe"`` (``--fix`` applies it) or ``"unsafe"`` (it may
    change what the code computes; applied only with ``--unsafe-fixes``). It must be one the
    rule declares in :attr:`Rule.fix_applicability`.
    """

    __slots__ = ("node", "message", "fix_message", "edits", "unless", "applicability")

    def __init__(
        self,
        node: cst.CSTNode,
        message: str,
        fix_message: Optional[str] = None,
        edits: tuple[TextEdit, ...] = (),
        unless: Optional[Callable[["ProjectIndex"], bool]] = None,
        applicability: str = SAFE,
    ) -> None:
        self.node = node
        self.message = message
        self.fix_message = fix_message
        self.edits = edits
        self.unless = unless
        self.applicability = applicability


class Rule:
    """Base class. Subclasses set the class attributes and implement :meth:`check`.

    The subclass docstring is the rule's documentation, in ruff's format: ``## What it
    does``, ``## Why is this bad?``, ``## Example``, ``## Use instead``, ``## References``
    (and ``## Options`` where it has any). The code blocks under Example and Use instead are
    run as tests: the first must be flagged, the second must be clean.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    fixable: ClassVar[bool] = False
    # The applicabilities of the fixes the rule offers (when ``fixable``): ("safe",),
    # ("unsafe",) or both. `dllint rules` lists them; a report's fix must have one of them.
    fix_applicability: ClassVar[tuple[str, ...]] = (SAFE,)
    options: ClassVar[Mapping[str, Option]] = {}
    # Rules whose verdict on a file depends only on that file's text run even on files
    # that never mention torch (DL001, DL002); the rest are skipped there.
    needs_torch: ClassVar[bool] = True
    # Rules about a model's architecture (its layers and how they connect): not run on files
    # that publish trained weights for their models (``FileSemantics.publishes_weights``),
    # whose architecture the checkpoints fix.
    judges_architecture: ClassVar[bool] = False
    # Rules about a network's initial weights (how they are drawn or set).
    judges_initialisation: ClassVar[bool] = False
    # Both kinds judge how well a network trains: in a notebook, their findings about networks
    # it only demonstrates (builds, prints, runs forward, never trains:
    # ``FileSemantics.demonstrations``) are not reported.
    # Rules that find an activation missing between two weight layers: in a notebook, their
    # findings about a purely linear network it contrasts with its repair (the same widths,
    # at least as many weight layers, activations between them), or between two layers whose
    # activation is commented out, are not reported (``FileSemantics.contrasts``).
    finds_missing_activation: ClassVar[bool] = False

    def __init__(self, settings: Optional[Mapping[str, Any]] = None) -> None:
        merged = {name: option.default for name, option in self.options.items()}
        for name, value in (settings or {}).items():
            if name not in self.options:
                known = ", ".join(sorted(self.options)) or "none"
                raise ValueError(f"{self.code} has no option `{name}` (its options: {known})")
            merged[name] = self.options[name].validate(self.code, name, value)
        self.settings = merged

    def check(self, sem: "FileSemantics") -> Iterable[Report]:
        raise NotImplementedError

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_examples(cls) -> tuple[str, str]:
        """The code under ``## Example`` and under ``## Use instead``."""
        doc = cls.documentation()
        return _code_block_after(doc, "Example"), _code_block_after(doc, "Use instead")


_CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _code_block_after(doc: str, heading: str) -> str:
    marker = re.search(rf"^## {re.escape(heading)}:?\s*$", doc, re.M)
    if not marker:
        return ""
    block = _CODE_BLOCK.search(doc, marker.end())
    return block.group(1) if block else ""
