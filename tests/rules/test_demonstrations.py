"""Architecture and initialisation findings about networks a notebook only demonstrates.

Each ``tests/rules/notebooks/*.py`` file is a notebook written as cells (a ``# %%`` line starts
each one; it stays in the cell, so rows match the file's lines). It is linted as a notebook
with the architecture and initialisation rules; lines that must be flagged end with
``# expect: DLxxx``. ``ok_*`` files expect nothing — and the same text linted as a script is
flagged, so what silences them is the notebook fact, not the rules' other look-alikes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dllint.engine import lint_sources
from dllint.notebooks import cells_source
from dllint.sources import Source
from tests.helpers import SelectedSettings

NOTEBOOKS = Path(__file__).parent / "notebooks"
CODES = frozenset({"DL101", "DL102", "DL103", "DL201", "DL202", "DL301"})
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>[A-Z0-9, ]+)")


def _cells(text: str) -> list[str]:
    cells: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# %%") or not cells:
            cells.append([])
        cells[-1].append(line)
    return ["".join(cell) for cell in cells]


def _rows(source: Source) -> set[tuple[int, str]]:
    """The findings by row of the joined text (a notebook's are reported per cell)."""
    result = lint_sources([source], SelectedSettings(CODES), jobs=1)
    assert not result.internal_errors, result.internal_errors
    rows = set()
    for finding in result.findings:
        row = finding.location.row
        if finding.cell is not None:
            index = source.cell_numbers.index(finding.cell)
            row += source.cell_starts[index] - 1
        rows.add((row, finding.code))
    return rows


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.py")), ids=lambda p: p.name)
def test_notebook(path: Path) -> None:
    text = path.read_text()
    expected = set()
    for row, line in enumerate(text.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected.update((row, code.strip()) for code in match.group("codes").split(",") if code.strip())
    assert path.name.startswith("ok_") == (not expected)
    notebook = cells_source(str(path.with_suffix(".ipynb")), _cells(text))
    assert _rows(notebook) == expected
    if path.name.startswith("ok_"):
        assert _rows(Source(str(path), text)), "as a script the same code must be flagged"
