"""Parse each file once, build its semantics once, run every enabled rule, collect findings.

A run has two phases:

1. per file (in worker processes when there are many files): read, parse with LibCST,
   build :class:`~dllint.semantics.FileSemantics`, run the rules enabled for that file, and
   position what they report. The result is a small picklable :class:`FileResult`,
   including the file's summary for the project index (which model classes it defines and
   what they contain).
2. once, in the main process: merge the summaries into the :class:`ProjectIndex`, resolve
   the reports that depend on other files (a model class defined in ``models.py`` and
   trained in ``train.py``), then apply ``# noqa`` comments and report unused ones.

No file is parsed twice.
"""

from __future__ import annotations

import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence

import libcst as cst

from dllint.findings import Finding, Location
from dllint.sources import Source, SourceError
from dllint import suppressions

PARSE_ERROR = "DL001"
UNUSED_NOQA = "DL002"
# Below this many files a process pool costs more than it saves (the pre-commit case).
_MIN_FILES_FOR_POOL = 16


class Settings(Protocol):
    """What the engine needs from the configuration (implemented by dllint.config.Settings)."""

    def enabled_codes(self, filename: str) -> frozenset[str]: ...

    def rule_settings(self, code: str) -> Mapping[str, Any]: ...


@dataclass
class Candidate:
    """A positioned finding that may still be dropped by the project index or a noqa."""

    finding: Finding
    row: int  # the row in the file's text (notebook findings carry cell-relative rows)
    unless: Optional[Callable[[Any], bool]] = None


@dataclass
class FileResult:
    filename: str
    candidates: list[Candidate] = field(default_factory=list)
    suppressions: suppressions.FileSuppressions = field(default_factory=suppressions.FileSuppressions)
    summary: Any = None
    enabled: frozenset[str] = frozenset()
    internal_errors: list[str] = field(default_factory=list)


@dataclass
class LintResult:
    findings: list[Finding]
    files_checked: int
    internal_errors: list[str] = field(default_factory=list)


def lint_paths(paths: Sequence[str], settings: Optional[Settings] = None, *, jobs: Optional[int] = None) -> LintResult:
    """Lint the given files (not directories: discovery is dllint.files' job)."""
    return lint_sources([_PathSource(str(p)) for p in paths], settings, jobs=jobs)


def lint_sources(
    sources: Sequence["Source | _PathSource"],
    settings: Optional[Settings] = None,
    *,
    jobs: Optional[int] = None,
) -> LintResult:
    """Lint sources given as text (:class:`Source`) or as paths to read in the workers."""
    if settings is None:
        from dllint.config import Settings as DefaultSettings

        settings = DefaultSettings()
    jobs = jobs or os.cpu_count() or 1
    tasks = [(source, settings.enabled_codes(_filename_of(source))) for source in sources]
    rule_settings = _rule_settings(settings, {code for _, enabled in tasks for code in enabled})
    if jobs > 1 and len(tasks) >= _MIN_FILES_FOR_POOL:
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), initializer=_init_worker, initargs=(rule_settings,)
        ) as pool:
            chunk = max(1, min(16, len(tasks) // (jobs * 4)))
            results = list(pool.map(_analyze_task, tasks, chunksize=chunk))
    else:
        _init_worker(rule_settings)
        results = [_analyze_task(task) for task in tasks]
    return finish(results)


def finish(results: Iterable[FileResult]) -> LintResult:
    """Phase 2: resolve cross-file reports against the project index, then apply noqa."""
    from dllint.semantics.project import ProjectIndex

    results = list(results)
    index = ProjectIndex.from_summaries(r.summary for r in results if r.summary is not None)
    findings: list[Finding] = []
    errors: list[str] = []
    for result in results:
        errors.extend(result.internal_errors)
        survivors = []
        for candidate in result.candidates:
            if candidate.unless is not None:
                try:
                    if candidate.unless(index):
                        continue
                except Exception:  # noqa: BLE001 - a broken predicate must not lose the run
                    errors.append(_internal_error(candidate.finding.code, result.filename))
                    continue
            survivors.append((candidate.row, candidate.finding))
        findings.extend(result.suppressions.apply(survivors, result.enabled))
    findings.sort(key=Finding.sort_key)
    return LintResult(findings=findings, files_checked=len(results), internal_errors=errors)


# --- phase 1: one file ----------------------------------------------------------------------

@dataclass(frozen=True)
class _PathSource:
    path: str


def _filename_of(source: "Source | _PathSource") -> str:
    return source.path if isinstance(source, _PathSource) else source.filename


_worker_rules: dict[str, Any] = {}
_worker_rule_errors: dict[str, str] = {}


def _rule_settings(settings: Settings, codes: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    return {code: settings.rule_settings(code) for code in sorted(codes)}


def _init_worker(rule_settings: Mapping[str, Mapping[str, Any]]) -> None:
    from dllint.rules import all_rules

    registry = all_rules()
    _worker_rules.clear()
    for code, options in rule_settings.items():
        if code in registry:
            _worker_rules[code] = registry[code](options)


def _analyze_task(task: tuple["Source | _PathSource", frozenset[str]]) -> FileResult:
    source, enabled = task
    if isinstance(source, _PathSource):
        from dllint.files import load_source

        source = load_source(Path(source.path))
    return analyze(source, enabled, _worker_rules)


def analyze(source: Source, enabled: frozenset[str], rules: Mapping[str, Any]) -> FileResult:
    """Phase 1 for one file: everything that needs its syntax tree."""
    result = FileResult(filename=source.filename, enabled=enabled)
    if source.error is not None:
        _add_parse_error(result, source, source.error)
        return result
    text = source.text or ""
    result.suppressions = suppressions.scan(text, source)
    enabled = enabled - result.suppressions.disabled_codes
    result.enabled = enabled
    try:
        module = cst.parse_module(text)
    except (SyntaxError, cst.ParserSyntaxError, RecursionError, MemoryError) as error:
        _add_parse_error(result, source, _syntax_error(text, source.filename, error))
        return result

    from dllint.semantics import FileSemantics

    try:
        sem = FileSemantics(module, source)
        result.summary = sem.summary
    except Exception:  # noqa: BLE001 - a semantics bug on one file must not lose the run
        result.internal_errors.append(_internal_error("semantics", source.filename))
        return result
    active = [rules[code] for code in sorted(enabled) if code in rules]
    if not sem.mentions_torch:
        active = [rule for rule in active if not rule.needs_torch]
    reports = []
    for rule in active:
        try:
            reports.extend((rule.code, report) for report in rule.check(sem))
        except Exception:  # noqa: BLE001 - one broken rule must not lose the other findings
            result.internal_errors.append(_internal_error(rule.code, source.filename))
    if reports:
        positions = sem.positions([report.node for _, report in reports] + [e.node for _, r in reports for e in r.edits])
        for code, report in reports:
            finding = _to_finding(code, report, positions, source, text)
            result.candidates.append(Candidate(finding, positions[report.node].start.line, report.unless))
    return result


def _to_finding(code: str, report: Any, positions: Mapping[Any, Any], source: Source, text: str) -> Finding:
    from dllint.findings import Edit, Fix

    span = positions[report.node]
    start, end = span.start, span.end
    fix = None
    if report.edits:
        fix = Fix(
            message=report.fix_message or "",
            edits=tuple(
                Edit(
                    content=edit.replacement,
                    location=Location(positions[edit.node].start.line, positions[edit.node].start.column + 1),
                    end_location=Location(positions[edit.node].end.line, positions[edit.node].end.column + 1),
                )
                for edit in report.edits
            ),
        )
    return _make_finding(source, text, code, report.message, start.line, start.column + 1, end.line, end.column + 1, fix)


def _make_finding(
    source: Source, text: str, code: str, message: str, row: int, column: int, end_row: int, end_column: int,
    fix: Any = None, severity: str = "warning",
) -> Finding:
    lines = text.splitlines()
    line = lines[row - 1] if 0 < row <= len(lines) else ""
    cell, cell_row = source.to_cell(row)
    _, cell_end_row = source.to_cell(end_row)
    return Finding(
        code=code,
        message=message,
        filename=source.filename,
        location=Location(cell_row, column),
        end_location=Location(cell_end_row, end_column),
        fix=fix,
        severity=severity,
        cell=cell,
        source_line=line,
    )


def _add_parse_error(result: FileResult, source: Source, error: SourceError) -> None:
    if PARSE_ERROR not in result.enabled:
        return
    text = source.text or ""
    finding = _make_finding(
        source, text, PARSE_ERROR, error.message, error.row, error.column, error.row, error.column, severity="error"
    )
    result.candidates.append(Candidate(finding, error.row))


def _syntax_error(text: str, filename: str, error: BaseException) -> SourceError:
    """Python's own message and position where it has one (clearer than the parser's)."""
    import ast
    import re

    try:
        ast.parse(text, filename)
    except SyntaxError as python_error:
        return SourceError(f"SyntaxError: {python_error.msg}", python_error.lineno or 1, python_error.offset or 1)
    except (ValueError, RecursionError, MemoryError):
        pass
    if isinstance(error, cst.ParserSyntaxError):
        message = re.sub(r"^parser error: error at \d+:\d+: ", "", error.message)
        return SourceError(f"SyntaxError: {message}", error.raw_line, error.raw_column + 1)
    if isinstance(error, SyntaxError):
        return SourceError(f"SyntaxError: {error}")
    return SourceError(f"could not parse: {type(error).__name__} (the file is too deeply nested)")


def _internal_error(code: str, filename: str) -> str:
    return f"internal error in {code} while checking {filename} (please report it):\n{traceback.format_exc()}"
