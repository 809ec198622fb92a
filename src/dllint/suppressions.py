"""``# noqa`` on a flagged line and file-level ``# dllint: disable=CODES``.

Both follow flake8/ruff habits: a bare ``# noqa`` silences every finding on its line, a
``# noqa: DL101, DL203`` only those codes; codes of other tools (``F401``) are left alone.
``# dllint: disable=`` takes codes, prefixes (``DL2``) and ``ALL`` (every rule but DL001:
a file that does not parse is always reported). Only comments count, never text inside
strings, so the scan tokenizes the file — but only when the text contains one of the markers
at all, which keeps clean files cheap.

A code that names no rule (``# noqa: DL999``, ``# dllint: disable=DL999``) is reported, like
ruff's RUF100 does: as a DL002 finding when DL002 is on, else as a warning.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Iterable, Optional

from dllint.findings import Finding, Location
from dllint.sources import Source

UNUSED_NOQA = "DL002"
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?(?![:\w])", re.I)
_DISABLE = re.compile(r"#\s*dllint:\s*disable\s*=\s*(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)")
_SELECTOR = re.compile(r"[A-Za-z0-9]+")
ALL = "ALL"
_CODE = re.compile(r"[A-Z]+[0-9]+", re.I)


class NoqaDirective:
    __slots__ = ("row", "codes", "location", "end_location", "cell", "line")

    def __init__(
        self,
        row: int,
        codes: Optional[frozenset[str]],
        location: Location,
        end_location: Location,
        cell: Optional[int],
        line: str,
    ) -> None:
        self.row = row  # row in the file's text (for notebooks, the joined cells)
        self.codes = codes  # None: a blanket noqa
        self.location = location  # where to report it (cell-relative for notebooks)
        self.end_location = end_location
        self.cell = cell
        self.line = line


class DisableDirective:
    """A ``# dllint: disable=...`` comment: where it is, and the selectors in it that name
    no rule."""

    __slots__ = ("location", "end_location", "cell", "line", "text", "unknown")

    def __init__(
        self, location: Location, end_location: Location, cell: Optional[int], line: str, text: str,
        unknown: tuple[str, ...],
    ) -> None:
        self.location = location
        self.end_location = end_location
        self.cell = cell
        self.line = line
        self.text = text  # the directive as written, for messages
        self.unknown = unknown


class FileSuppressions:
    __slots__ = ("directives", "disabled_codes", "filename", "disables")

    def __init__(
        self,
        directives: Optional[dict[int, NoqaDirective]] = None,
        disabled_codes: frozenset[str] = frozenset(),
        filename: str = "",
        disables: Optional[list[DisableDirective]] = None,
    ) -> None:
        self.directives: dict[int, NoqaDirective] = {} if directives is None else directives
        self.disabled_codes = disabled_codes
        self.filename = filename
        self.disables: list[DisableDirective] = [] if disables is None else disables

    def apply(self, findings: Iterable[tuple[int, Finding]], enabled: frozenset[str]) -> list[Finding]:
        """Drop findings silenced on their row; add DL002 for codes that silenced nothing."""
        kept: list[Finding] = []
        used: dict[int, set[str]] = {}
        for row, finding in findings:
            directive = self.directives.get(row)
            if directive is not None and finding.code != "DL001" and (
                directive.codes is None or finding.code in directive.codes
            ):
                used.setdefault(row, set()).add(finding.code)
                continue
            kept.append(finding)
        if UNUSED_NOQA in enabled:
            kept.extend(self._unused(used, enabled))
            kept.extend(self._unknown_in_disables())
        return kept

    def warnings(self, enabled: frozenset[str]) -> list[str]:
        """With DL002 off: one line per code in a directive that names no rule."""
        if UNUSED_NOQA in enabled or UNUSED_NOQA in self.disabled_codes:
            return []
        from dllint.rules import rule_catalog

        known = rule_catalog()
        found = []
        for row, directive in sorted(self.directives.items()):
            for code in sorted(directive.codes or ()):
                if code.startswith("DL") and code not in known:
                    found.append((
                        (directive.cell or 0, directive.location),
                        f"{self._where(directive.cell, directive.location)}: unknown rule code `{code}` in a `noqa` "
                        "directive (it suppresses nothing)",
                    ))
        for disable in self.disables:
            for code in disable.unknown:
                found.append((
                    (disable.cell or 0, disable.location),
                    f"{self._where(disable.cell, disable.location)}: unknown rule code `{code}` in `{disable.text}` "
                    "(it disables nothing)",
                ))
        return [text for _, text in sorted(found)]

    def _where(self, cell: Optional[int], location: Location) -> str:
        return f"{self.filename}:{f'cell {cell}:' if cell is not None else ''}{location.row}:{location.column}"

    def _unknown_in_disables(self) -> Iterable[Finding]:
        for disable in self.disables:
            if not disable.unknown:
                continue
            names = ", ".join(f"`{code}`" for code in disable.unknown)
            yield Finding(
                code=UNUSED_NOQA,
                message=f"Unknown rule code in `dllint: disable` directive: {names} names no dllint rule; it disables nothing",
                filename=self.filename,
                location=disable.location,
                end_location=disable.end_location,
                cell=disable.cell,
                source_line=disable.line,
            )

    def _unused(self, used: dict[int, set[str]], enabled: frozenset[str]) -> Iterable[Finding]:
        from dllint.rules import rule_catalog

        known = rule_catalog()
        for row, directive in sorted(self.directives.items()):
            if directive.codes is None:
                continue
            unused = sorted(
                code
                for code in directive.codes
                if code.startswith("DL") and code != UNUSED_NOQA and code not in used.get(row, ())
            )
            if not unused:
                continue
            detail = ", ".join(f"`{code}`" + _why_unused(code, known, enabled) for code in unused)
            yield Finding(
                code=UNUSED_NOQA,
                message=f"Unused `noqa` directive: {detail} suppresses nothing on this line",
                filename=self.filename,
                location=directive.location,
                end_location=directive.end_location,
                cell=directive.cell,
                source_line=directive.line,
            )


def _why_unused(code: str, known, enabled: frozenset[str]) -> str:
    if code not in known:
        return " (unknown code)"
    if code not in enabled:
        return " (not enabled)"
    return ""


def scan(text: str, source: Source) -> FileSuppressions:
    result = FileSuppressions(filename=source.filename)
    lowered = text.lower()
    if "noqa" not in lowered and "dllint:" not in lowered:
        return result
    disabled: set[str] = set()
    lines = text.splitlines()
    for row, column, comment in _comments(text):
        match = _DISABLE.search(comment)
        if match:
            selectors = [selector.upper() for selector in _SELECTOR.findall(match.group("codes"))]
            codes = {selector: _expand(selector) for selector in selectors}
            disabled.update(code for expanded in codes.values() for code in expanded)
            cell, cell_row = source.to_cell(row)
            result.disables.append(DisableDirective(
                location=Location(cell_row, column + match.start() + 1),
                end_location=Location(cell_row, column + match.end() + 1),
                cell=cell,
                line=lines[row - 1] if row <= len(lines) else "",
                text=match.group(0).strip(),
                unknown=tuple(selector for selector, expanded in codes.items() if not expanded),
            ))
        match = _NOQA.search(comment)
        if match:
            codes = match.group("codes")
            start = column + match.start()
            cell, cell_row = source.to_cell(row)
            result.directives[row] = NoqaDirective(
                row=row,
                codes=frozenset(code.upper() for code in _CODE.findall(codes)) if codes else None,
                location=Location(cell_row, start + 1),
                end_location=Location(cell_row, column + match.end() + 1),
                cell=cell,
                line=lines[row - 1] if row <= len(lines) else "",
            )
    result.disabled_codes = frozenset(disabled)
    return result


def _expand(selector: str) -> set[str]:
    """``DL2`` disables every DL2xx rule, like a prefix in --ignore; ``ALL`` every rule but
    DL001 (a file that does not parse is always reported, as ruff reports syntax errors)."""
    from dllint.rules import rule_catalog

    codes = set(rule_catalog())
    if selector == ALL:
        return codes - {"DL001"}
    return {code for code in codes if code.startswith(selector)}


def _comments(text: str) -> Iterable[tuple[int, int, str]]:
    """(row, 0-based column, text) of every comment; falls back to a line scan if tokenizing fails."""
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                found.append((token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        found = [
            (row, line.index("#"), line[line.index("#"):])
            for row, line in enumerate(text.splitlines(), start=1)
            if "#" in line
        ]
    return found
