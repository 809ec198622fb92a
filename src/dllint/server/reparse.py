"""Reparsing an edited file: only the top-level statements that an edit touched.

An editor sends the whole new text of a file on every keystroke. For a 1,000-line file,
LibCST's parse and the code generation that positions its nodes cost more than everything
else dllint does with the file, yet an edit almost always stays inside one function or class.
:class:`IncrementalParser` keeps the last good parse of a document and, for a new text:

1. finds the lines that differ (the common prefix and suffix of lines);
2. reparses only the top-level statements those lines belong to (and a neighbour where the
   edit touches the comment or blank lines between two statements, which a full parse may
   give to either);
3. splices the new statements between the old ones (LibCST nodes are immutable, so the old
   statements are reused as they are).

Top-level statements always start and end on line boundaries, so node positions are kept per
statement, relative to its first line, and shifted by where the statement starts now: only
the reparsed statements go through code generation again.

Whenever the shortcut cannot be proved safe (the edit reaches the first or last statement in
a way that changes the file's header or footer, the reparsed region sees a different
indentation or newline style, the text does not end with a newline, the line counts do not add
up), it falls back to a full parse, so the result is always the module LibCST would have built
(tested against full parses on random edits).
"""

from __future__ import annotations

import re
from typing import Iterator, Mapping, Optional, Sequence

import libcst as cst
from libcst._position import CodePosition, CodeRange

from dllint.semantics.positions import Positions, _PositionState

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings, split where LibCST (and the LSP) break lines:
    at ``\\r\\n``, ``\\r`` and ``\\n`` only (``str.splitlines`` also breaks at form feeds)."""
    return _LINE.findall(text)


class _Statement:
    """A top-level statement with its node positions relative to its own first line."""

    __slots__ = ("node", "table", "lines")

    def __init__(self, node: cst.BaseStatement, module: cst.Module) -> None:
        state = _PositionState(module)
        node._codegen(state)
        self.node = node
        self.table = state.computed
        self.lines = state.line - 1  # every statement ends with a newline


class StatementPositions(Mapping[cst.CSTNode, CodeRange]):
    """Node → ``CodeRange``, the same as :class:`dllint.semantics.positions.Positions` gives,
    assembled from the per-statement tables (the module's own node and its header and footer
    lines, which no rule reports, go through a full code generation)."""

    def __init__(self, module: cst.Module, statements: Sequence[_Statement]) -> None:
        self._module = module
        self._statements = statements
        self._offsets: list[int] = []
        offset = len(module.header)
        for statement in statements:
            self._offsets.append(offset)
            offset += statement.lines
        self._full: Optional[Positions] = None

    def _locate(self, node: cst.CSTNode) -> Optional[tuple[int, int, int, int]]:
        # A node is found in the first statement that holds it (as a full code generation
        # records the first occurrence of a node the parser shares between places).
        for statement, offset in zip(self._statements, self._offsets):
            found = statement.table.get(node)
            if found is not None:
                return found[0] + offset, found[1], found[2] + offset, found[3]
        return None

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._locate(node)
        if found is None:
            return self._everything()[node]
        return CodeRange(CodePosition(found[0], found[1]), CodePosition(found[2], found[3]))

    def __contains__(self, node: object) -> bool:
        return self._locate(node) is not None or node in self._everything()  # type: ignore[arg-type]

    def _everything(self) -> Positions:
        if self._full is None:
            self._full = Positions(self._module)
        return self._full

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())


class IncrementalParser:
    """The last good parse of one document, updated edit by edit (see the module docstring).

    ``parse(text)`` has the shape :func:`dllint.engine.analyze` takes: it returns the module
    and its positions, or raises what ``libcst.parse_module`` raises for the text (the previous
    parse is then kept, so the edit that repairs the file is reparsed incrementally again)."""

    def __init__(self) -> None:
        self.text: Optional[str] = None
        self.module: Optional[cst.Module] = None
        self._lines: list[str] = []
        self._statements: list[_Statement] = []
        self.reparsed_statements = 0  # how many statements the last parse rebuilt (for tests)

    def fork(self) -> "IncrementalParser":
        """A parser that starts from this one's last parse and goes its own way (for the
        texts a fix-all goes through, leaving the document's own parser as it is)."""
        other = IncrementalParser()
        other.text, other.module, other._lines, other._statements = self.text, self.module, self._lines, self._statements
        return other

    def parse(self, text: str) -> tuple[cst.Module, StatementPositions]:
        if self.module is not None and text == self.text:
            return self.module, StatementPositions(self.module, self._statements)
        lines = split_lines(text)
        spliced = self._reparse(text, lines) if self.module is not None else None
        if spliced is None:
            module = cst.parse_module(text)
            statements = [_Statement(node, module) for node in module.body]
        else:
            module, statements = spliced
        self.text, self.module, self._lines, self._statements = text, module, lines, statements
        return module, StatementPositions(module, statements)

    def _reparse(self, text: str, new_lines: list[str]) -> Optional[tuple[cst.Module, list[_Statement]]]:
        module, old_lines, statements = self.module, self._lines, self._statements
        assert module is not None and self.text is not None
        count = len(statements)
        if not count or not _ends_with_newline(self.text) or not _ends_with_newline(text):
            return None
        header, footer = len(module.header), len(module.footer)
        starts, line = [], header
        for statement in statements:
            starts.append(line)
            line += statement.lines
        if line + footer != len(old_lines):
            return None

        prefix = _common_prefix(old_lines, new_lines)
        limit = min(len(old_lines), len(new_lines)) - prefix
        suffix = _common_suffix(old_lines, new_lines, limit)
        changed_end = len(old_lines) - suffix  # old lines [prefix, changed_end) changed
        # The statements holding the first and the last changed line (for a pure insertion
        # between two statements: those two).
        first = next((k for k in range(count) if starts[k] + statements[k].lines > prefix), count - 1)
        last = next((k for k in reversed(range(count)) if starts[k] < changed_end), 0)
        first, last = min(first, last), max(first, last)
        if prefix < header:
            first = 0
        if changed_end > line:
            last = count - 1
        # Comment and blank lines between two statements belong to the first one's last block
        # when they are indented as deep as it, else to the next statement. Reparse the
        # statement before too when the edit reaches the lines before the first one's code,
        # and the statement after when its leading lines are indented (the edited block's
        # depth decides where they go).
        if first > 0 and prefix <= starts[first] + len(statements[first].node.leading_lines):
            first -= 1
        if last < count - 1 and any(line.whitespace.value for line in statements[last + 1].node.leading_lines):
            last += 1

        while True:
            begin = 0 if first == 0 else starts[first]
            end = len(old_lines) if last == count - 1 else starts[last] + statements[last].lines
            new_end = end + len(new_lines) - len(old_lines)
            try:
                chunk = cst.parse_module("".join(new_lines[begin:new_end]))
            except (cst.ParserSyntaxError, SyntaxError, RecursionError):
                return None  # maybe a string opened here runs on into the rest: the full parse decides
            if chunk.body and (last == count - 1 or not chunk.footer):
                break
            # Lines after the chunk's last statement (the edit deleted whole statements, or
            # left comment lines at its end) belong to the statement after it.
            if last < count - 1:
                last += 1
            elif first > 0:
                first -= 1
            else:
                return None
        if chunk.default_newline != module.default_newline:
            return None
        if chunk.default_indent != module.default_indent and _has_indented_block(chunk):
            return None  # its blocks would render with the module's indentation
        body = list(chunk.body)
        if first > 0 and chunk.header:
            # comment lines before the chunk's first statement are its leading lines in a full parse
            body[0] = body[0].with_changes(leading_lines=(*chunk.header, *body[0].leading_lines))
        if last < count - 1 and not chunk.has_trailing_newline:
            return None
        spliced = module.with_changes(
            header=chunk.header if first == 0 else module.header,
            body=(*module.body[:first], *body, *module.body[last + 1:]),
            footer=chunk.footer if last == count - 1 else module.footer,
            has_trailing_newline=chunk.has_trailing_newline if last == count - 1 else module.has_trailing_newline,
        )
        rebuilt = [_Statement(node, spliced) for node in body]
        result = [*statements[:first], *rebuilt, *statements[last + 1:]]
        if len(spliced.header) + sum(s.lines for s in result) + len(spliced.footer) != len(new_lines):
            return None
        self.reparsed_statements = len(rebuilt)
        return spliced, result


def _ends_with_newline(text: str) -> bool:
    return text.endswith(("\n", "\r"))


def _common_prefix(old: list[str], new: list[str]) -> int:
    limit = min(len(old), len(new))
    index = 0
    while index < limit and old[index] == new[index]:
        index += 1
    return index


def _common_suffix(old: list[str], new: list[str], limit: int) -> int:
    count = 0
    while count < limit and old[-1 - count] == new[-1 - count]:
        count += 1
    return count


def _has_indented_block(module: cst.Module) -> bool:
    pending: list[cst.CSTNode] = list(module.body)
    while pending:
        node = pending.pop()
        if isinstance(node, cst.IndentedBlock):
            return True
        if not isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite, cst.BaseExpression)):
            pending.extend(node.children)
    return False
