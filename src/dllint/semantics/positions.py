"""Source positions of nodes, as LibCST's ``PositionProvider`` gives them, ~6x faster.

``MetadataWrapper(module).resolve(PositionProvider)`` runs the module's code generation with
a state that tracks the line and column, splitting every token with a regular expression and
building a ``CodeRange`` for every node, behind the metadata machinery. This does the same
traversal with the same rules (syntactic positions: leading whitespace and lines excluded,
``start_node``/``end_node`` hoisting), checks tokens for newlines with ``in``, keeps plain
tuples, and builds a ``CodeRange`` only for the nodes asked about. The ranges are identical
(tested against ``PositionProvider`` on real code).
"""

from __future__ import annotations

from typing import Iterator, Mapping, Optional

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition, CodeRange


class _PositionState(CodegenState):
    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1  # one-indexed
        self.column = 0  # zero-indexed
        self.starts: list[tuple[int, int]] = []
        self.computed: dict[cst.CSTNode, tuple[int, int, int, int]] = {}

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)  # Module's codegen looks at how many there are
        if "\n" in value or "\r" in value:
            lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            self.line += len(lines) - 1
            self.column = len(lines[-1])
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.starts.append((self.line, self.column))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.starts.pop()
        if node not in self.computed:  # a syntactic position recorded already wins
            self.computed[node] = (start[0], start[1], self.line, self.column)

    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None, end_node: Optional[cst.CSTNode] = None
    ) -> "_Recording":
        return _Recording(self, node, start_node, end_node)


class _Recording:
    """``with state.record_syntactic_position(node):`` — a plain context manager (a
    generator-based one costs a third of the whole traversal)."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(
        self, state: _PositionState, node: cst.CSTNode, start_node: Optional[cst.CSTNode], end_node: Optional[cst.CSTNode]
    ) -> None:
        self.state = state
        self.node = node
        self.start_node = start_node
        self.end_node = end_node

    def __enter__(self) -> None:
        self.start = (self.state.line, self.state.column)

    def __exit__(self, *exc: object) -> None:
        state = self.state
        start = self.start if self.start_node is None else state.computed[self.start_node][:2]
        end = (state.line, state.column) if self.end_node is None else state.computed[self.end_node][2:]
        state.computed[self.node] = (start[0], start[1], end[0], end[1])


class Positions(Mapping[cst.CSTNode, CodeRange]):
    """Every node of a module → its ``CodeRange`` (built on access)."""

    def __init__(self, module: cst.Module) -> None:
        state = _PositionState(module)
        module._codegen(state)
        self._computed = state.computed

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        start_line, start_column, end_line, end_column = self._computed[node]
        return CodeRange(CodePosition(start_line, start_column), CodePosition(end_line, end_column))

    def __contains__(self, node: object) -> bool:
        return node in self._computed

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._computed)

    def __len__(self) -> int:
        return len(self._computed)


def positions(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    return Positions(module)
