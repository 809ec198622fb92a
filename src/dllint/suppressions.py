"""``# noqa`` on a flagged line and file-level ``# dllint: disable=CODES``.

Both follow flake8/ruff habits: a bare ``# noqa`` silences every finding on its line, a
``# noqa: DL101, DL203`` only those codes; codes of other tools (``F401``) are left alone.
``# dllint: disable=`` takes codes, prefixes (``DL2``) and ``ALL`` (every rule but DL001:
a file that does not parse is always reported). Only comments count, never text inside
strings, so the scan tokenizes the file — but only when the text contains one of the markers
at all, which keeps clean files cheap.

A code that names no rule (``# noqa: DL999``, ``# dllint: disable=DL999``) is reported, like
ruff's RUF100 does: as a DL002 finding when DL002 is on, else as a warning.

A finding's line is the line its node starts on. A line that cannot hold a comment — it ends
inside a multi-line string or with a backslash continuation — takes its ``# noqa`` from the
line where that string or continuation ends, as in ruff: all the lines of such a group are
silenced by the comment on its last line (:func:`noqa_rows`).
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Iterable, Optional

from dllint.findings import Finding, Location
from dllint.sources import Source

UNUSEDNOQA = "DL002"
NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?(?![:\w])", re.I)
_DISABLE = re.compile(r"#\s*dllint:\s*disable\s*=\s*(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)")
_SELECTOR = re.compile(r"[A-Za-z0-9]+")
ALL = "ALL"
CODE = re.compile(r"[A-Z]+[0-9]+", re.I)


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
    __slots__ = ("directives", "disabled_codes", "filename", "row_map", "disables")

    def __init__(
        self,
        directives: Optional[dict[int, NoqaDirective]] = None,
        disabled_codes: frozenset[str] = frozenset(),
        filename: str = "",
        row_map: Optional[dict[int, int]] = None,
        disables: Optional[list[DisableDirective]] = None,
    ) -> None:
        self.directives: dict[int, NoqaDirective] = {} if directives is None else directives
        self.disabled_codes = disabled_codes
        self.filename = filename
        # rows that cannot hold a comment -> the row whose noqa counts for them (noqa_rows)
        self.row_map: dict[int, int] = {} if row_map is None else row_map
        self.disables: list[DisableDirective] = [] if disables is None else disables

    def apply(self, findings: Iterable[tuple[int, Finding]], enabled: frozenset[str]) -> list[Finding]:
        """Drop findings silenced on their row; add DL002 for codes that silenced nothing."""
        kept: list[Finding] = []
        used: dict[int, set[str]] = {}
        for row, finding in findings:
            row = self.row_map.get(row, row)
            directive = self.directives.get(row)
            if directive is not None and finding.code != "DL001" and (
                directive.codes is None or finding.code in directive.codes
            ):
                used.setdefault(row, set()).add(finding.code)
                continue
            kept.append(finding)
        if UNUSEDNOQA in enabled:
            kept.extend(self._unused(used, enabled))
            kept.extend(self._unknown_in_disables())
        return kept

    def warnings(self, enabled: frozenset[str]) -> list[str]:
        """With DL002 off: one line per code in a directive that names no rule."""
        if UNUSEDNOQA in enabled or UNUSEDNOQA in self.disabled_codes:
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
                code=UNUSEDNOQA,
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
                if code.startswith("DL") and code != UNUSEDNOQA and code not in used.get(row, ())
            )
            if not unused:
                continue
            detail = ", ".join(f"`{code}`" + _why_unused(code, known, enabled) for code in unused)
            yield Finding(
                code=UNUSEDNOQA,
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
    comments, result.row_map = _comments(text)
    for row, column, comment in comments:
        match = _DISABLE.search(comment)
        if match:
            selectors = [selector.upper() for selector in _SELECTOR.findall(match.group("codes"))]
            codes = {selector: _expand(selector) for selector in selectors}
            disabled.update(code for expanded in codes.values() for code in expanded)
            cell, cell_row, start = source.to_cell_position(row, column + match.start() + 1)
            _, _, end = source.to_cell_position(row, column + match.end() + 1)
            result.disables.append(DisableDirective(
                location=Location(cell_row, start),
                end_location=Location(cell_row, end),
                cell=cell,
                line=source.original_line(row, lines[row - 1]) if row <= len(lines) else "",
                text=match.group(0).strip(),
                unknown=tuple(selector for selector, expanded in codes.items() if not expanded),
            ))
        match = NOQA.search(comment)
        if match:
            codes = match.group("codes")
            cell, cell_row, start = source.to_cell_position(row, column + match.start() + 1)
            _, _, end = source.to_cell_position(row, column + match.end() + 1)
            result.directives[row] = NoqaDirective(
                row=row,
                codes=frozenset(code.upper() for code in CODE.findall(codes)) if codes else None,
                location=Location(cell_row, start),
                end_location=Location(cell_row, end),
                cell=cell,
                line=source.original_line(row, lines[row - 1]) if row <= len(lines) else "",
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


def _comments(text: str) -> tuple[list[tuple[int, int, str]], dict[int, int]]:
    """(row, 0-based column, text) of every comment, and the :func:`noqa_rows` map; falls back
    to a line scan (and no map) if tokenizing fails."""
    found = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        found = [
            (row, line.index("#"), line[line.index("#"):])
            for row, line in enumerate(text.splitlines(), start=1)
            if "#" in line
        ]
        return found, {}
    for token in tokens:
        if token.type == tokenize.COMMENT:
            found.append((token.start[0], token.start[1], token.string))
    return found, _row_map(tokens)


def comments(text: str) -> list[tuple[int, int, str]]:
    """(row, 0-based column, text) of every comment of ``text``."""
    return _comments(text)[0]


def noqa_rows(text: str) -> dict[int, int]:
    """For each row that cannot hold a comment (it ends inside a multi-line string, or with a
    backslash continuation), the row whose ``# noqa`` counts for it: where the string or the
    continuation ends. Rows not in the map count their own comment. Empty if ``text`` does
    not tokenize."""
    try:
        return _row_map(list(tokenize.generate_tokens(io.StringIO(text).readline)))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return {}


_LINE_ENDS = (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER)
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+: f-strings are token groups
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def _row_map(tokens: list[tokenize.TokenInfo]) -> dict[int, int]:
    spans: list[tuple[int, int]] = []
    fstrings: list[int] = []
    previous = None
    for token in tokens:
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            spans.append((token.start[0], token.end[0]))
        elif _FSTRING_START is not None and token.type == _FSTRING_START:
            fstrings.append(token.start[0])
        elif _FSTRING_END is not None and token.type == _FSTRING_END and fstrings:
            start = fstrings.pop()
            if token.end[0] > start:
                spans.append((start, token.end[0]))
        if previous is not None and previous.type not in _LINE_ENDS and token.start[0] > previous.end[0]:
            spans.append((previous.end[0], token.start[0]))  # a backslash continuation
        previous = token
    groups: list[list[int]] = []  # [first row, last row] of each group of joined rows
    for start, end in sorted(spans):
        if groups and start <= groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], end)
        else:
            groups.append([start, end])
    return {row: last for first, last in groups for row in range(first, last)}
