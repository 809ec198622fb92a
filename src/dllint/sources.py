"""A file's text as the engine sees it: Python source, or a notebook's code cells joined."""

from __future__ import annotations

import bisect
from typing import Mapping, Optional


class SourceError:
    """Why a file could not be turned into Python text (becomes one DL001 finding)."""

    __slots__ = ("message", "row", "column")

    def __init__(self, message: str, row: int = 1, column: int = 1) -> None:
        self.message = message
        self.row = row
        self.column = column

    def __repr__(self) -> str:  # part of the cache key of a Source given as text (engine._Task.prepare)
        return f"SourceError(message={self.message!r}, row={self.row!r}, column={self.column!r})"


class Source:
    __slots__ = ("filename", "text", "error", "cell_starts", "cell_numbers", "stripped_indents")

    def __init__(
        self,
        filename: str,
        text: Optional[str],
        error: Optional[SourceError] = None,
        cell_starts: Optional[tuple[int, ...]] = None,
        cell_numbers: Optional[tuple[int, ...]] = None,
        stripped_indents: Optional[Mapping[int, str]] = None,
    ) -> None:
        self.filename = filename
        self.text = text
        self.error = error
        # Notebooks: the 1-based row of ``text`` at which each code cell starts, in cell order;
        # None for plain Python files.
        self.cell_starts = cell_starts
        # Notebooks: the 1-based cell number (counting every cell, as Jupyter shows it) of each code cell.
        self.cell_numbers = cell_numbers
        # Notebooks: the indent removed from a row of ``text`` (a row of a cell that IPython
        # dedents before running it), by row; None when no row lost one.
        self.stripped_indents = stripped_indents

    @property
    def is_notebook(self) -> bool:
        return self.cell_starts is not None

    def to_cell(self, row: int) -> tuple[Optional[int], int]:
        """Map a row of ``text`` to (cell number, row within that cell)."""
        if self.cell_starts is None:
            return None, row
        index = max(bisect.bisect_right(self.cell_starts, row) - 1, 0)
        numbers = self.cell_numbers or tuple(range(1, len(self.cell_starts) + 1))
        return numbers[index], row - self.cell_starts[index] + 1

    def to_cell_position(self, row: int, column: int) -> tuple[Optional[int], int, int]:
        """Map a 1-based (row, column) of ``text`` to (cell number, row, column) in the cell's own text."""
        cell, cell_row = self.to_cell(row)
        if self.stripped_indents:
            column += len(self.stripped_indents.get(row, ""))
        return cell, cell_row, column

    def original_line(self, row: int, line: str) -> str:
        """``line``, row ``row`` of ``text``, as its cell has it (with the indent IPython removes)."""
        return self.stripped_indents.get(row, "") + line if self.stripped_indents else line
