"""A file's text as the engine sees it: Python source, or a notebook's code cells joined."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SourceError:
    """Why a file could not be turned into Python text (becomes one DL001 finding)."""

    message: str
    row: int = 1
    column: int = 1


@dataclass(frozen=True)
class Source:
    filename: str
    text: Optional[str]
    error: Optional[SourceError] = None
    # Notebooks: the 1-based row of ``text`` at which each code cell starts, in cell order;
    # None for plain Python files.
    cell_starts: Optional[tuple[int, ...]] = None
    # Notebooks: the 1-based cell number (counting every cell, as Jupyter shows it) of each code cell.
    cell_numbers: Optional[tuple[int, ...]] = None

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
