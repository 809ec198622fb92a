"""``--add-noqa``: silence every current finding where it is, as ruff's ``--add-noqa`` does, so
a team can adopt dllint on a large existing tree in one command and fix the findings later.

Each flagged line gets ``  # noqa: CODE`` appended (codes sorted, one comment per line). A
line that already has ``# noqa: X`` gets the missing codes added to it (``# noqa: X, DL101``:
no duplicates, other tools' codes and any text after the codes kept); a bare ``# noqa``
already silences everything. The comment goes where :mod:`dllint.suppressions` reads it: the
line the flagged node starts on or, when that line ends inside a multi-line string or with a
backslash, the line where the string or continuation ends. Notebooks get it in the cell's own
line. DL001 (a syntax error: no comment silences it) and DL002 (an unused ``noqa``: adding one
would not help) are left alone.

The comments are applied like fixes (:class:`dllint.fixes.Document`): notebooks cell by cell,
never on a magic line, kept only if the file still parses, written atomically; ``--diff``
shows them instead.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Optional, Sequence

from dllint.findings import Edit, Finding, Fix, Location
from dllint.fixes import Document, line_starts
from dllint.suppressions import CODE, NOQA, comments, noqa_rows

NOT_SILENCEABLE = frozenset({"DL001", "DL002"})


@dataclass
class NoqaOutcome:
    documents: dict[str, Document] = field(default_factory=dict)  # every document that changed
    added: dict[str, int] = field(default_factory=dict)  # filename -> lines given a new or extended noqa
    warnings: list[str] = field(default_factory=list)


def add_noqa(findings: Sequence[Finding], preloaded: Optional[dict[str, Document]] = None) -> NoqaOutcome:
    """Add the ``noqa`` comments that silence ``findings`` (a lint run's), file by file."""
    outcome = NoqaOutcome()
    per_file: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.code not in NOT_SILENCEABLE:
            per_file.setdefault(finding.filename, []).append(finding)
    for filename, flagged in sorted(per_file.items()):
        document = (preloaded or {}).get(filename) or Document.read(filename)
        if document is None or not document.valid:
            continue
        edits = noqa_edits(document, flagged)
        carriers = [
            Finding(code=",".join(codes), message="", filename=filename, location=fix.edits[0].location,
                    end_location=fix.edits[0].end_location, fix=fix)
            for codes, fix in edits
        ]
        applied = document.apply(carriers)
        if document.rejected:
            outcome.warnings.append(f"{filename}: adding noqa comments would break its syntax; left unchanged")
        if applied:
            outcome.documents[filename] = document
            outcome.added[filename] = len(applied)
    return outcome


def noqa_edits(document: Document, findings: Sequence[Finding]) -> list[tuple[list[str], Fix]]:
    """One fix per line to change: (the codes it adds, the edit that adds them)."""
    source = document.source()
    text = source.text or ""
    row_map = noqa_rows(text)
    wanted: dict[int, set[str]] = {}
    for finding in findings:
        row = _text_row(source, finding)
        wanted.setdefault(row_map.get(row, row), set()).add(finding.code)
    starts = line_starts(text)
    comment_at = {row: (column, comment) for row, column, comment in comments(text)}
    out = []
    for row, codes in sorted(wanted.items()):
        if row > len(starts):
            continue
        line_end = starts[row] if row < len(starts) else len(text)
        line = text[starts[row - 1]:line_end].rstrip("\r\n")
        edit = _edit(row, line, comment_at.get(row), codes)
        if edit is not None:
            added, change = edit
            out.append((added, Fix(f"Add `# noqa: {', '.join(added)}`", (change,))))
    return out


def _edit(row: int, line: str, comment: Optional[tuple[int, str]], codes: set[str]) -> Optional[tuple[list[str], Edit]]:
    match = NOQA.search(comment[1]) if comment is not None else None
    if comment is not None and match is not None:
        listed = match.group("codes")
        if listed is None:
            return None  # a bare noqa silences the line already
        present = CODE.findall(listed)
        added = sorted(codes - {code.upper() for code in present})
        if not added:
            return None
        column = comment[0]
        start = Location(row, column + match.start("codes") + 1)
        end = Location(row, column + match.end("codes") + 1)
        return added, Edit(", ".join(present + added), start, end)
    added = sorted(codes)
    kept = line.rstrip()
    return added, Edit(f"  # noqa: {', '.join(added)}", Location(row, len(kept) + 1), Location(row, len(line) + 1))


def _text_row(source, finding: Finding) -> int:
    """The row of the file's text (the joined cells of a notebook) that a finding starts on."""
    if finding.cell is None or source.cell_starts is None:
        return finding.location.row
    numbers = source.cell_numbers or tuple(range(1, len(source.cell_starts) + 1))
    index = bisect.bisect_left(numbers, finding.cell)
    return source.cell_starts[index] + finding.location.row - 1
