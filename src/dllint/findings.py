"""The one vocabulary of findings shared by the linter, its reporters and the probe's --confirm."""

from __future__ import annotations

from typing import NamedTuple, Optional

# Where the documentation site lives: each rule has a page at ``{docs-url}rules/{code}/``.
# ``docs-url`` in the configuration points findings at a fork's or an internal mirror's copy.
DEFAULT_DOCS_URL = "https://dllint.readthedocs.io/en/latest/"


def rule_url(code: str, docs_url: str = DEFAULT_DOCS_URL) -> str:
    """The URL of a rule's page on the documentation site whose base URL is ``docs_url``."""
    return f"{docs_url}rules/{code}/"

# A fix's applicability, as ruff names it: a *safe* fix keeps what the code means and `--fix`
# applies it; an *unsafe* one may change what the code computes (or guesses the author's
# intent) and is applied only with `--unsafe-fixes` (or `unsafe-fixes = true`).
SAFE = "safe"
UNSAFE = "unsafe"
APPLICABILITIES = (SAFE, UNSAFE)


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
    applicability: str = SAFE

    def applies(self, unsafe_fixes: Optional[bool]) -> bool:
        """Whether a run applies this fix: safe fixes always, unsafe ones only when
        ``unsafe_fixes`` is True (None, the default, and False both leave them out)."""
        return self.applicability == SAFE or unsafe_fixes is True


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

    def sort_key(self) -> tuple:
        return (self.filename, self.cell or 0, self.location, self.code)
