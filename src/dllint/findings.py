"""The one vocabulary of findings shared by the linter, its reporters and the probe's --confirm."""

from __future__ import annotations

from typing import NamedTuple, Optional

DOCS_URL = "https://dllint.readthedocs.io/en/latest/rules/{code}/"


class Location(NamedTuple):
    """A 1-based row and 1-based column, as ruff reports them."""

    row: int
    column: int


class Edit(NamedTuple):
    """Replace the text between two locations (end exclusive) with ``content``."""

    content: str
    location: Location
    end_location: Location


class Fix(NamedTuple):
    message: str
    edits: tuple[Edit, ...]


class Finding(NamedTuple):
    code: str
    message: str
    filename: str
    location: Location
    end_location: Location
    fix: Optional[Fix] = None
    severity: str = "warning"
    # For notebooks: the 1-based code cell the finding is in; rows are then relative to the cell.
    cell: Optional[int] = None
    # The flagged source line, for reporters that show context (no trailing newline).
    source_line: str = ""

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)

    def sort_key(self) -> tuple:
        return (self.filename, self.cell or 0, self.location, self.code)
