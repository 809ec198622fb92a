"""Jupyter notebooks: the code cells joined into one Python text, and back again for fixes.

The notebook is read with the standard library's :mod:`json`, the way ruff reads it, not
with ``nbformat``: a linter needs the cells' sources and nothing else, and nbformat would
add jsonschema, traitlets and jupyter_core to every run for a validation we do not need.

A cell whose first non-blank line is indented is dedented first, as IPython does before it
runs a cell (``IPython.core.inputtransformer2.leading_indent`` in IPython 7 and 8): that
indent is removed from every line that starts with it, other lines are left as they are
(IPython 9 removes the lines' common margin instead, which agrees wherever every non-blank
line starts with the first one's indent). The rows stay the same; a finding's column on a
dedented line is moved back by the indent (:attr:`Source.stripped_indents`), and a fix's
lines get the indent back (:func:`restore_indent`).

IPython syntax is then neutralised line for line, so the rows of the joined text map straight
back to cell rows:

* line magics and shell escapes (``%timeit f()``, ``!pip install x``) become ``pass  # magic``
  at the same indentation, and the lines they continue with a trailing backslash become blank;
* assignment magics (``files = !ls``, ``t = %time f()``) keep their target: ``files = None  # magic``;
* help lines (``obj?``, ``obj??``, ``?obj``) become ``pass  # magic``;
* a cell whose first line is a cell magic is linted only when its body is Python
  (``%%time``, ``%%timeit``, ``%%capture``, ``%%prun``, ``%%debug``, ``%%python``...); the
  magic line itself becomes ``pass  # magic``. Other cell magics (``%%bash``, ``%%html``,
  ``%%writefile``...) leave the cell out of the joined text, as ruff does.

Cell numbers count every cell (markdown and raw too), 1-based, as Jupyter shows them and as
ruff reports them (``notebook.ipynb:cell 3:2:5``).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence, Union

from dllint.sources import Source, SourceError

MAGIC_REPLACEMENT = "pass  # magic"
PYTHON_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy", "snakeviz", "memit", "lprun", "scalene"}
)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ASSIGNMENT_MAGIC = re.compile(r"^(\s*[\w.,\s\[\]()*]+?\s*=\s*)[%!]")
_LINE_MAGIC = re.compile(r"^\s*(?:%|!|\?)")
_LEADING_INDENT = re.compile(r"^[ \t]+")


class NotebookError(ValueError):
    def __init__(self, message: str, row: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.error = SourceError(message, row, column)


@dataclass
class CodeCell:
    index: int  # 0-based index among all cells
    lines: list[str]  # the cell's original lines, without line endings
    python: list[str]  # the same lines dedented and with IPython syntax neutralised
    start_row: int = 0  # 1-based row of its first line in the joined text
    trailing_newline: bool = False
    indent: str = ""  # the leading indent IPython removes from the cell's lines ("" if none)

    @property
    def dedented(self) -> list[str]:
        """The cell's lines as IPython runs them, before its magics are neutralised."""
        return dedent(self.lines, self.indent)

    def stripped_rows(self) -> Iterator[int]:
        """The 0-based rows that lose :attr:`indent` when the cell is dedented."""
        if self.indent:
            yield from (row for row, line in enumerate(self.lines) if line.startswith(self.indent))


@dataclass
class Notebook:
    raw: dict[str, Any]
    cells: list[dict[str, Any]]
    code_cells: list[CodeCell] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(line + "\n" for cell in self.code_cells for line in cell.python)

    def to_source(self, filename: str) -> Source:
        if not self.code_cells:
            return Source(filename, "")
        return Source(
            filename,
            self.text,
            cell_starts=tuple(cell.start_row for cell in self.code_cells),
            cell_numbers=tuple(cell.index + 1 for cell in self.code_cells),
            stripped_indents={
                cell.start_row + row: cell.indent for cell in self.code_cells for row in cell.stripped_rows()
            } or None,
        )

    def set_cell_lines(self, cell: CodeCell, lines: list[str]) -> None:
        """Replace a code cell's source (used by fixes), keeping the JSON's source shape."""
        raw_cell = self.cells[cell.index]
        key = "source" if "source" in raw_cell else "input"
        text = "\n".join(lines) + ("\n" if cell.trailing_newline and lines else "")
        if isinstance(raw_cell.get(key), list):
            raw_cell[key] = re.findall(r"[^\n]*\n|[^\n]+$", text)
        else:
            raw_cell[key] = text
        cell.lines = list(lines)

    def dumps(self, original: str) -> str:
        """The notebook as JSON, in Jupyter's own layout (indent 1, non-ASCII kept)."""
        indent = _detect_indent(original)
        text = json.dumps(self.raw, indent=indent, ensure_ascii=False)
        return text + "\n" if original.endswith("\n") else text


def parse_notebook(data: Union[bytes, str]) -> Notebook:
    """Read a notebook's JSON; :class:`NotebookError` (with a row/col where known) if it is not one."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise NotebookError(f"notebook is not valid UTF-8 (byte {error.start})") from None
    else:
        text = data
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(f"invalid notebook JSON: {error.msg}", error.lineno, error.colno) from None
    except RecursionError:
        raise NotebookError("invalid notebook JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise NotebookError("not a Jupyter notebook: the JSON is not an object")
    if isinstance(raw.get("cells"), list):
        cells = raw["cells"]
        source_key = "source"
    elif isinstance(raw.get("worksheets"), list):  # nbformat 3
        sheets = raw["worksheets"]
        cells = sheets[0].get("cells", []) if sheets and isinstance(sheets[0], dict) else []
        source_key = "input"
    else:
        raise NotebookError("not a Jupyter notebook: no `cells` list")
    if not isinstance(cells, list):
        raise NotebookError("not a Jupyter notebook: `cells` is not a list")
    notebook = Notebook(raw=raw, cells=cells)
    if not _is_python(raw):
        return notebook
    texts: list[Optional[str]] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotebookError(f"not a Jupyter notebook: cell {index + 1} is not an object")
        if cell.get("cell_type") != "code":
            texts.append(None)
            continue
        source = cell.get(source_key, "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"not a Jupyter notebook: the source of cell {index + 1} is not text")
        texts.append(source)
    notebook.code_cells = code_cells(texts)
    return notebook


def code_cells(texts: Sequence[Optional[str]]) -> list[CodeCell]:
    """The Python code cells among a notebook's cells (``None`` for a markdown or raw cell),
    each with the row at which it starts in the joined text."""
    found = []
    row = 1
    for index, source in enumerate(texts):
        if source is None:
            continue
        lines = _split_lines(source)
        indent = leading_indent(lines)
        python = neutralise(dedent(lines, indent))
        if python is None or not lines:
            continue
        found.append(CodeCell(
            index, lines, python, start_row=row, trailing_newline=source.endswith(("\n", "\r")), indent=indent
        ))
        row += len(lines)
    return found


def cells_source(filename: str, texts: Sequence[Optional[str]]) -> Source:
    """The :class:`Source` of a notebook given as its cells' texts (an editor's notebook
    document), ``None`` standing for a markdown or raw cell: the same text, cell starts and
    cell numbers as reading the notebook's file gives."""
    return Notebook(raw={}, cells=[], code_cells=code_cells(texts)).to_source(filename)


def notebook_source(data: Union[bytes, str], filename: str) -> Source:
    try:
        return parse_notebook(data).to_source(filename)
    except NotebookError as error:
        return Source(filename, None, error=error.error)


def _is_python(raw: dict[str, Any]) -> bool:
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        return True
    info = metadata.get("language_info")
    if isinstance(info, dict) and isinstance(info.get("name"), str):
        return info["name"].lower() in ("python", "python3", "ipython")
    spec = metadata.get("kernelspec")
    if isinstance(spec, dict) and isinstance(spec.get("language"), str):
        return spec["language"].lower() in ("python", "python3", "ipython")
    return True


def _split_lines(text: str) -> list[str]:
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _detect_indent(original: str) -> Optional[int]:
    match = re.search(r"\n( +)\"", original)
    return len(match.group(1)) if match else (None if "\n" not in original.strip() else 1)


# --- IPython's leading indent -----------------------------------------------------------------

def leading_indent(lines: Sequence[str]) -> str:
    """The indent IPython removes from a cell: its first non-blank line's leading spaces and tabs."""
    for line in lines:
        if line and not line.isspace():
            match = _LEADING_INDENT.match(line)
            return match.group(0) if match else ""
    return ""


def dedent(lines: Sequence[str], indent: str) -> list[str]:
    """``lines`` less ``indent`` where they start with it (IPython's ``leading_indent``)."""
    if not indent:
        return list(lines)
    return [line[len(indent):] if line.startswith(indent) else line for line in lines]


def restore_indent(cell: CodeCell, new_dedented: Sequence[str]) -> Optional[list[str]]:
    """A dedented cell's lines after a fix (``new_dedented``, an edit of :attr:`CodeCell.dedented`)
    as the cell's own lines: the lines the fix kept keep their original text, the lines it changed
    or added get the cell's indent back. None when IPython would not dedent the result back to
    ``new_dedented`` (a fix that changes which indent the cell starts with)."""
    old_dedented = cell.dedented
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old_dedented, list(new_dedented), autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            out.extend(cell.lines[old_start:old_end])
        else:
            out.extend(cell.indent + line if line else line for line in new_dedented[new_start:new_end])
    return out if dedent(out, leading_indent(out)) == list(new_dedented) else None


# --- IPython syntax ---------------------------------------------------------------------------

def neutralise(lines: list[str]) -> Optional[list[str]]:
    """The cell's lines with IPython syntax replaced by Python; None if the cell is not Python."""
    out = list(lines)
    start = 0
    if lines and lines[0].lstrip().startswith("%%"):
        name = lines[0].lstrip()[2:].split(None, 1)
        if not name or name[0] not in PYTHON_CELL_MAGICS:
            return None
        out[0] = MAGIC_REPLACEMENT
        start = 1
    state = _ScanState()
    continuing = False
    for row in range(start, len(lines)):
        line = lines[row]
        if continuing:
            out[row] = ""
            continuing = line.endswith("\\")
            continue
        if state.at_statement_start:
            indent = line[: len(line) - len(line.lstrip())]
            if _LINE_MAGIC.match(line) or _is_help(line, state):
                out[row] = indent + MAGIC_REPLACEMENT
                continuing = line.endswith("\\")
                continue
            match = _ASSIGNMENT_MAGIC.match(line)
            if match:
                out[row] = match.group(1) + "None  # magic"
                continuing = line.endswith("\\")
                continue
        state.feed(line)
    return out


def _is_help(line: str, state: "_ScanState") -> bool:
    stripped = line.rstrip()
    if not stripped.endswith("?") or "#" in stripped:
        return False
    probe = state.copy()
    probe.feed(stripped[:-1].rstrip("?"))
    return probe.at_statement_start


class _ScanState:
    """Just enough of Python's lexer to know whether a line starts a new statement."""

    __slots__ = ("depth", "quote", "continued")

    def __init__(self) -> None:
        self.depth = 0
        self.quote: Optional[str] = None  # the open triple quote, if any
        self.continued = False

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def copy(self) -> "_ScanState":
        other = _ScanState()
        other.depth, other.quote, other.continued = self.depth, self.quote, self.continued
        return other

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        self.continued = False
        while i < n:
            if self.quote is not None:
                end = line.find(self.quote, i)
                while end > 0 and _escaped(line, end):
                    end = line.find(self.quote, end + 1)
                if end < 0:
                    return
                i = end + 3
                self.quote = None
                continue
            ch = line[i]
            if ch == "#":
                return
            if ch in "\"'":
                if line.startswith(ch * 3, i):
                    self.quote = ch * 3
                    i += 3
                    continue
                end = i + 1
                while end < n and (line[end] != ch or _escaped(line, end)):
                    end += 1
                i = end + 1
                continue
            if ch in "([{":
                self.depth += 1
            elif ch in ")]}":
                self.depth = max(self.depth - 1, 0)
            elif ch == "\\" and i == n - 1:
                self.continued = True
            i += 1


def _escaped(line: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and line[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
