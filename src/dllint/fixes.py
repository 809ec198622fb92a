"""Applying fixes: ``--fix`` writes them (atomically), ``--diff`` shows them.

``--fix`` fixes each file in place as soon as its own analysis is done, in the worker that
analysed it (:func:`dllint.engine.lint_sources` with ``fix=True``): the first files are
written while the others are still being analysed. What that leaves (fixes of reports that
depend on other files) and ``--diff`` and stdin go through :func:`fix_loop`.

Like ruff, fixing loops: apply every fix that does not overlap one already taken, lint the
new text again (the whole run, so facts from other files still count), and repeat until
nothing fixable is left or :data:`MAX_ITERATIONS` is reached. A fix whose result no longer
parses is never kept: the file goes back to its last good text and a warning names it.

Notebooks are fixed cell by cell: each edit is mapped from the joined text back to the cell
it lies in and applied to that cell's own source, so magics are kept verbatim; a fix that
spans two cells or touches a magic line is left unapplied (and stays reported).

Files are written to a temporary file in the same directory, flushed, given the original's
permissions and moved over it with :func:`os.replace`, so a crash leaves either the old file or
the new one, never half of each. A file that changed on disk while dllint worked is not
overwritten. An interrupted write (Ctrl-C, SIGTERM) removes its temporary file; one that a
SIGKILL left behind (``.NAME.PID.XXXX.dllint-tmp``) is removed by the next write of NAME.
"""

from __future__ import annotations

import bisect
import difflib
import os
import re
import stat
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from dllint.findings import SAFE, Finding, Fix, Location
from dllint.sources import Source

MAX_ITERATIONS = 100
_NEWLINE = re.compile(r"\r\n|\r|\n")


class FixConflict(Exception):
    """A fix that cannot be applied as given (out of range, or spanning notebook cells)."""


# --- text edits -------------------------------------------------------------------------------

def line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in _NEWLINE.finditer(text)]


def _offset(starts: list[int], text: str, location: Location) -> int:
    if location.row < 1 or location.row > len(starts):
        if location.row == len(starts) + 1 and location.column == 1:
            return len(text)
        raise FixConflict(f"edit at row {location.row} is outside the file")
    line_start = starts[location.row - 1]
    line_end = starts[location.row] if location.row < len(starts) else len(text)
    offset = line_start + location.column - 1
    if offset > line_end or location.column < 1:
        raise FixConflict(f"edit at {location.row}:{location.column} is outside its line")
    return offset


def apply_fixes(text: str, fixes: Sequence[Fix], row_offset: int = 0) -> tuple[str, list[int]]:
    """Apply the fixes that do not overlap each other; return (new text, indices applied).

    ``row_offset`` is subtracted from every edit row (cell-relative edits in notebooks).
    """
    starts = line_starts(text)
    taken: list[tuple[int, int]] = []
    accepted: list[tuple[int, int, str]] = []
    applied: list[int] = []
    spans = []
    for index, fix in enumerate(fixes):
        try:
            ranges = [
                (
                    _offset(starts, text, Location(edit.location.row - row_offset, edit.location.column)),
                    _offset(starts, text, Location(edit.end_location.row - row_offset, edit.end_location.column)),
                    edit.content,
                )
                for edit in fix.edits
            ]
        except FixConflict:
            continue
        if not ranges or any(start > end for start, end, _ in ranges):
            continue
        spans.append((min(start for start, _, _ in ranges), index, ranges))
    for _, index, ranges in sorted(spans):
        if _overlaps(ranges, taken) or _overlaps(ranges[1:], ranges[:1]):
            continue
        taken.extend((start, end) for start, end, _ in ranges)
        accepted.extend(ranges)
        applied.append(index)
    for start, end, content in sorted(accepted, key=lambda item: (item[0], item[1]), reverse=True):
        text = text[:start] + content + text[end:]
    return text, sorted(applied)


def _overlaps(ranges: Iterable[tuple], taken: Iterable[tuple]) -> bool:
    taken = list(taken)
    for start, end, *_ in ranges:
        for other_start, other_end, *_ in taken:
            if start < other_end and other_start < end:
                return True
            if start == other_start and (start == end or other_start == other_end):
                return True  # two insertions at one point: order would be arbitrary
    return False


def _parses(text: str) -> bool:
    import libcst as cst

    try:
        cst.parse_module(text)
    except Exception:  # noqa: BLE001 - any parser failure means "do not keep this text"
        return False
    return True


# --- documents --------------------------------------------------------------------------------

class Document:
    """One file's content as fixes see it: Python text, or a notebook's cells."""

    def __init__(self, filename: str, data: bytes) -> None:
        from dllint.files import decode_python, is_notebook

        self.filename = filename
        self.original = data
        self.notebook = None
        self.encoding = "utf-8"
        self.valid = True
        self.rejected: list[str] = []  # codes whose fixes would have broken the syntax
        if is_notebook(filename):
            from dllint.notebooks import NotebookError, parse_notebook

            try:
                self.notebook = parse_notebook(data)
            except NotebookError:
                self.valid = False
            self.json_text = data.decode("utf-8-sig", errors="replace")
            self.original_cells = self._cell_texts() if self.valid else {}
        else:
            decoded = decode_python(data)
            if isinstance(decoded, tuple):
                self.text, self.encoding = decoded
            else:
                self.text, self.valid = "", False
            self.original_text = self.text

    @classmethod
    def read(cls, filename: str) -> Optional["Document"]:
        try:
            with open(filename, "rb") as handle:
                return cls(filename, handle.read())
        except OSError:
            return None

    def source(self) -> Source:
        if not self.valid:
            from dllint.files import source_from_bytes

            return source_from_bytes(self.original, self.filename)  # its DL001
        if self.notebook is not None:
            return self.notebook.to_source(self.filename)
        return Source(self.filename, self.text)

    def _cell_texts(self) -> dict[int, str]:
        assert self.notebook is not None
        return {cell.index: "".join(line + "\n" for line in cell.lines) for cell in self.notebook.code_cells}

    @property
    def changed(self) -> bool:
        if not self.valid:
            return False
        if self.notebook is not None:
            return self.json_text != self.original.decode("utf-8-sig", errors="replace")
        return self.text != self.original_text

    def apply(self, findings: Sequence[Finding]) -> list[Finding]:
        """Apply what can be applied of ``findings``' fixes; return the findings fixed."""
        if not self.valid:
            return []
        fixable = [finding for finding in findings if finding.fix is not None]
        if self.notebook is not None:
            return self._apply_notebook(fixable)
        new_text, applied = apply_fixes(self.text, [finding.fix for finding in fixable])
        if not applied or new_text == self.text:
            return []
        if not _parses(new_text):
            self.rejected.extend(fixable[i].code for i in applied)
            return []
        self.text = new_text
        return [fixable[i] for i in applied]

    def _apply_notebook(self, fixable: Sequence[Finding]) -> list[Finding]:
        from dllint.notebooks import parse_notebook, restore_indent

        notebook = self.notebook
        assert notebook is not None
        starts = [cell.start_row for cell in notebook.code_cells]
        per_cell: dict[int, list[Finding]] = {}
        for finding in fixable:
            # Edit rows are rows of the joined text (the engine positions them there).
            rows = [row for edit in finding.fix.edits for row in (edit.location.row, edit.end_location.row)]
            cells = {bisect.bisect_right(starts, row) - 1 for row in rows}
            if len(cells) != 1 or -1 in cells or min(rows) < 1:
                continue
            position = cells.pop()
            cell = notebook.code_cells[position]
            first, last = min(rows) - cell.start_row, max(rows) - cell.start_row
            dedented = cell.dedented
            if last >= len(cell.lines) or any(
                cell.python[r] != dedented[r] for r in range(first, last + 1)
            ):
                continue  # the edit touches a magic line (or runs past the cell)
            per_cell.setdefault(position, []).append(finding)
        done: list[Finding] = []
        for position, findings in per_cell.items():
            cell = notebook.code_cells[position]
            # Edits are positioned in the cell as IPython runs it (dedented, columns included).
            text = "".join(line + "\n" for line in cell.dedented)
            new_text, applied = apply_fixes(text, [f.fix for f in findings], row_offset=cell.start_row - 1)
            if applied and new_text != text:
                new_lines = _NEWLINE.split(new_text.rstrip("\n")) if new_text.strip("\n") else []
                if cell.indent:
                    new_lines = restore_indent(cell, new_lines)
                    if new_lines is None:
                        continue
                notebook.set_cell_lines(cell, new_lines)
                done.extend(findings[i] for i in applied)
        if not done:
            return []
        json_text = notebook.dumps(self.json_text)
        candidate = parse_notebook(json_text)
        if not _parses(candidate.text):
            self.notebook = parse_notebook(self.json_text)
            self.rejected.extend(finding.code for finding in done)
            return []
        self.notebook, self.json_text = candidate, json_text
        return done

    def content(self) -> bytes:
        if not self.valid:
            return self.original
        if self.notebook is not None:
            return self.json_text.encode("utf-8")
        return self.text.encode(self.encoding)

    def diff(self) -> str:
        if not self.valid:
            return ""
        if self.notebook is None:
            return _unified(self.original_text, self.text, self.filename, self.filename)
        out = []
        after = self._cell_texts()
        for index in sorted(set(self.original_cells) | set(after)):
            before_text, after_text = self.original_cells.get(index, ""), after.get(index, "")
            if before_text != after_text:
                name = f"{self.filename}:cell {index + 1}"
                out.append(_unified(before_text, after_text, name, name))
        return "".join(out)


def _unified(before: str, after: str, fromfile: str, tofile: str) -> str:
    lines = list(
        difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile, tofile)
    )
    return "".join(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n" for line in lines)


# --- the fix loop -----------------------------------------------------------------------------

@dataclass
class FixOutcome:
    result: object  # the LintResult after fixing (what remains)
    documents: dict[str, Document] = field(default_factory=dict)  # every document that changed
    fixed: dict[str, Counter] = field(default_factory=dict)  # filename -> code -> fixes applied
    unsafe_fixed: dict[str, Counter] = field(default_factory=dict)  # the unsafe ones among them
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # files that could not be written


def in_place_outcome(result: object) -> FixOutcome:
    """What the workers did fixing files in place during the run (``LintResult.fixes``)."""
    outcome = FixOutcome(result=result)
    for filename, done in sorted(getattr(result, "fixes", {}).items()):
        if done.fixed:
            outcome.fixed[filename] = Counter(done.fixed)
        if done.unsafe:
            outcome.unsafe_fixed[filename] = Counter(done.unsafe)
        if done.unconverged:
            outcome.warnings.append(unconverged_warning(filename, done.unconverged))
        if done.rejected:
            outcome.warnings.append(rejected_warning(filename, done.rejected))
        if done.error:
            outcome.errors.append(done.error)
    return outcome


def fix_loop(
    inputs: Sequence[object],
    result: object,
    lint: Callable[[Sequence[object]], object],
    preloaded: Optional[dict[str, Document]] = None,
    unsafe_fixes: Optional[bool] = None,
) -> FixOutcome:
    """Fix, re-lint, repeat. ``inputs`` are what ``lint`` takes (sources or path sources),
    ``result`` the first run's result (files it already fixed in place are counted, and
    the loop fixes what remains: reports that depend on other files); ``preloaded`` holds
    documents not on disk (stdin). Unsafe fixes are applied only when ``unsafe_fixes`` is True."""
    outcome = in_place_outcome(result)
    documents: dict[str, Document] = dict(preloaded or {})
    frozen = {
        name for name, done in getattr(result, "fixes", {}).items() if done.rejected or done.error or done.unconverged
    }
    for _ in range(MAX_ITERATIONS):
        pending: dict[str, list[Finding]] = {}
        for finding in outcome.result.findings:  # type: ignore[attr-defined]
            if finding.fix is not None and finding.fix.applies(unsafe_fixes) and finding.filename not in frozen:
                pending.setdefault(finding.filename, []).append(finding)
        if not pending:
            break
        progressed = False
        for filename, findings in pending.items():
            document = documents.get(filename) or Document.read(filename)
            if document is None:
                frozen.add(filename)
                continue
            applied = document.apply(findings)
            if not applied:
                frozen.add(filename)
                if document.rejected:
                    outcome.warnings.append(rejected_warning(filename, document.rejected))
                continue
            documents[filename] = document
            outcome.fixed.setdefault(filename, Counter()).update(finding.code for finding in applied)
            unsafe = [finding.code for finding in applied if finding.fix.applicability != SAFE]
            if unsafe:
                outcome.unsafe_fixed.setdefault(filename, Counter()).update(unsafe)
            progressed = True
        if not progressed:
            break
        outcome.result = lint([_replace(item, documents) for item in inputs])
    else:
        _give_up_unconverged(outcome, documents, frozen, unsafe_fixes)
        outcome.result = lint([_replace(item, documents) for item in inputs])
    outcome.documents = {name: doc for name, doc in documents.items() if doc.changed}
    return outcome


def _give_up_unconverged(
    outcome: FixOutcome, documents: dict[str, Document], frozen: set[str], unsafe_fixes: Optional[bool]
) -> None:
    """After :data:`MAX_ITERATIONS` rounds, a file that still has fixes to apply is caught in a
    fix that does not remove its finding: it keeps its original content, with a warning."""
    for finding in outcome.result.findings:  # type: ignore[attr-defined]
        name = finding.filename
        if finding.fix is None or not finding.fix.applies(unsafe_fixes) or name in frozen or name not in documents:
            continue
        frozen.add(name)
        documents[name] = Document(name, documents[name].original)
        outcome.fixed.pop(name, None)
        outcome.unsafe_fixed.pop(name, None)
        outcome.warnings.append(unconverged_warning(name, finding.code))


def unconverged_warning(filename: str, code: str) -> str:
    return (
        f"{filename}: the fix for {code} did not converge after {MAX_ITERATIONS} rounds; the file was left "
        "unchanged (please report it)"
    )


def _replace(item: object, documents: dict[str, Document]) -> object:
    name = getattr(item, "filename", None) or getattr(item, "path", None)
    document = documents.get(name) if name is not None else None
    return document.source() if document is not None else item


# --- writing ----------------------------------------------------------------------------------

def write_atomic(path: str, data: bytes, expected: Optional[bytes] = None) -> None:
    """Replace ``path``'s content with ``data`` in one step (temp file + :func:`os.replace`).

    If ``expected`` is given and the file no longer holds it, nothing is written
    (:class:`FileChangedError`). A symlink's target is written, the link kept.
    """
    target = os.path.realpath(path)
    if expected is not None:
        with open(target, "rb") as handle:
            if handle.read() != expected:
                raise FileChangedError(f"{path} changed on disk while dllint was fixing it; not overwritten")
    directory = os.path.dirname(target) or "."
    mode = stat.S_IMODE(os.stat(target).st_mode)
    _remove_stale_temporaries(directory, os.path.basename(target))
    prefix = f".{os.path.basename(target)}.{os.getpid()}."
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=TEMPORARY_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


class FileChangedError(OSError):
    pass


TEMPORARY_SUFFIX = ".dllint-tmp"
_STALE_SECONDS = 3600


def _remove_stale_temporaries(directory: str, basename: str) -> None:
    """Remove what a killed ``--fix`` left next to ``basename``: ``.NAME.PID.XXXX.dllint-tmp``
    files whose process is gone (SIGKILL cannot be caught, so a write cut short there leaves
    its temporary file), and any older than an hour."""
    prefix = f".{basename}."
    try:
        names = [name for name in os.listdir(directory) if name.startswith(prefix) and name.endswith(TEMPORARY_SUFFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        pid = name[len(prefix):].split(".", 1)[0]
        try:
            if _process_gone(pid) or os.stat(path).st_mtime < time.time() - _STALE_SECONDS:
                os.unlink(path)
        except OSError:
            continue  # gone already, or not ours to remove


def _process_gone(pid: str) -> bool:
    if not pid.isdigit() or sys.platform == "win32":  # (os.kill(pid, 0) would signal it there)
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's)
    return False


def write_documents(documents: dict[str, Document]) -> list[str]:
    """Write every changed document; return one error line per file that could not be written."""
    errors = []
    for filename, document in sorted(documents.items()):
        error = write_document(filename, document)
        if error is not None:
            errors.append(error)
    return errors


def write_document(filename: str, document: Document) -> Optional[str]:
    """Write a changed document over the file it was read from; the error line if it could not be."""
    try:
        write_atomic(filename, document.content(), expected=document.original)
    except OSError as error:
        return str(error) if isinstance(error, FileChangedError) else f"{filename}: cannot write fix: {error}"
    return None


class FileFixes:
    """What fixing one file in place did (it crosses back from a worker process): how many
    findings of each code were fixed, the codes whose fixes would have broken the syntax,
    the error that kept the file from being written, if one did, and the code of a fix that
    never converged."""

    __slots__ = ("fixed", "unsafe", "rejected", "error", "unconverged")

    def __init__(
        self, fixed: Optional[Counter] = None, rejected: Sequence[str] = (), error: Optional[str] = None,
        unsafe: Optional[Counter] = None, unconverged: Optional[str] = None,
    ) -> None:
        self.fixed: Counter = Counter() if fixed is None else fixed
        self.unsafe: Counter = Counter() if unsafe is None else unsafe  # the unsafe fixes among them
        self.rejected = list(rejected)
        self.error = error
        self.unconverged = unconverged  # the code whose fix never converged (the file was left as it was)


def rejected_warning(filename: str, codes: Iterable[str]) -> str:
    return (
        f"{filename}: the fixes for {', '.join(sorted(set(codes)))} would introduce a syntax error; they were not "
        "applied (please report it)"
    )
