"""Parse each file once, build its semantics once, run every enabled rule, collect findings.

A run has two phases:

1. per file (in worker processes when there is enough work): read, parse with LibCST,
   build :class:`~dllint.semantics.FileSemantics`, run the rules enabled for that file, and
   position what they report. The result is a small picklable :class:`FileResult`,
   including the file's summary for the project index (which model classes it defines and
   what they contain) and the modules it imports.
2. once, in the main process: merge the summaries into the :class:`ProjectIndex`, resolve
   the reports that depend on other files (a model class defined in ``models.py`` and
   trained in ``train.py``), then apply ``# noqa`` comments and report unused ones.

No file is parsed twice. Three things keep a run fast:

- **Skipping what cannot matter.** A file with no torch-related name anywhere in its text
  (see :func:`might_involve_torch`) cannot produce a finding but a syntax error (DL001) or
  an unused ``# noqa`` (DL002): Python's own C parser checks its syntax (LibCST parses it
  only when that fails, for the DL001 message) and its comments are scanned for ``noqa``.
  Such a file may still define or train a model through another file of the run (a
  subclass of ``models.Backbone``, ``from models import Net``): once phase 1 has said
  which modules define models, every skipped file that imports one of them (directly or
  through in-tree re-exports) is analysed fully after all.
- **Processes.** Files are analysed in parallel (``jobs``, default: every core), largest
  first; small runs (the pre-commit case) stay in-process.
- **The result cache** (:mod:`dllint.cache`): phase-1 results keyed by file content,
  options and dllint version. Phase 2 always runs, so a cached file's cross-file reports
  follow the current state of the files they depend on.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence, Union

from dllint import suppressions, workers
from dllint.findings import Finding, Location
from dllint.sources import Source, SourceError
from dllint.suppressions import FileSuppressions

PARSE_ERROR = "DL001"
UNUSED_NOQA = "DL002"
# A process pool costs ~10-50 ms to start and feed: below this much source text to analyse
# (roughly 0.1 s of parsing) a run stays in-process. Tests lower it to exercise the pool.
_POOL_MIN_BYTES = 96 * 1024
_CHUNK_MAX_BYTES = 256 * 1024
_CHUNK_MAX_FILES = 32
_GC_THRESHOLD = 50_000
# Each file's analysis may use this much CPU time, plus this much per MB of source, before it
# is stopped and reported as one DL001 (several times what a linear analysis needs: the
# budget is a backstop for pathological input, never the normal limit); and three times its
# budget plus a margin in wall-clock time (a thread blocked in native code uses no CPU).
_BUDGET_SECONDS = 30.0
_BUDGET_SECONDS_PER_MB = 60.0
_HARD_LIMIT_FACTOR = 3.0
_HARD_LIMIT_MARGIN_SECONDS = 60.0
# The worker's own watchdog stops a file at the hard limit; the parent kills a worker that has
# not answered this much later (stuck in native code that never returns to Python).
_KILL_GRACE_SECONDS = 30.0


class Settings(Protocol):
    """What the engine needs from the configuration (implemented by dllint.config.Settings).

    Optional attributes read when present: ``use_cache`` (default False: a caller that
    does not say so gets no cache), ``cache_dir`` and ``project_root`` (where the cache
    lives: ``cache_dir``, else ``project_root/.dllint_cache``)."""

    def enabled_codes(self, filename: str) -> frozenset[str]: ...

    def rule_settings(self, code: str) -> Mapping[str, Any]: ...


class Candidate:
    """A positioned finding that may still be dropped by the project index or a noqa."""

    __slots__ = ("finding", "row", "unless")

    def __init__(self, finding: Finding, row: int, unless: Optional[Callable[[Any], bool]] = None) -> None:
        self.finding = finding
        self.row = row  # the row in the file's text (notebook findings carry cell-relative rows)
        self.unless = unless


class FileResult:
    __slots__ = (
        "filename", "candidates", "suppressions", "summary", "enabled", "internal_errors", "module", "imports",
        "skipped", "incomplete", "fixes", "wanted", "reads",
    )

    def __init__(
        self,
        filename: str,
        candidates: Optional[list[Candidate]] = None,
        suppressions: Optional[FileSuppressions] = None,
        summary: Any = None,
        enabled: frozenset[str] = frozenset(),
        internal_errors: Optional[list[str]] = None,
        module: str = "",
        imports: tuple[str, ...] = (),
        skipped: bool = False,
        incomplete: bool = False,
    ) -> None:
        self.filename = filename
        self.candidates: list[Candidate] = [] if candidates is None else candidates
        self.suppressions = FileSuppressions() if suppressions is None else suppressions
        self.summary = summary
        self.enabled = enabled
        self.internal_errors: list[str] = [] if internal_errors is None else internal_errors
        # The file's dotted module name and every module it may import (a superset: read off
        # the text), for deciding which skipped files import a model-defining module.
        self.module = module
        self.imports = imports
        # True when the file was only syntax-checked and noqa-scanned (no torch-related name).
        self.skipped = skipped
        # True when the file could not be analysed to the end (budget, depth, a crash): its
        # one DL001 says why. Never cached: another run, on another machine, may finish.
        self.incomplete = incomplete
        # With --fix: what fixing the file in place did (dllint.fixes.FileFixes), else None.
        self.fixes: Any = None
        # Imported names whose configuration value another file of the run may give
        # (``from config import DROPOUT``): the file is analysed again with those values.
        self.wanted: tuple[str, ...] = ()
        # Other files its verdicts read (or looked for), with the digest of their content then
        # (None: absent): a cached result is stale once one of them changed.
        self.reads: tuple[tuple[str, Optional[str]], ...] = ()


class LintResult:
    __slots__ = ("findings", "files_checked", "internal_errors", "fixes", "warnings")

    def __init__(
        self, findings: list[Finding], files_checked: int, internal_errors: Optional[list[str]] = None,
        fixes: Optional[dict[str, Any]] = None, warnings: Optional[list[str]] = None,
    ) -> None:
        self.findings = findings
        self.files_checked = files_checked
        self.internal_errors: list[str] = [] if internal_errors is None else internal_errors
        # With fix=True: filename -> what fixing it in place did (dllint.fixes.FileFixes).
        self.fixes: dict[str, Any] = {} if fixes is None else fixes
        # Problems worth a line on stderr that are no finding (an unknown code in a noqa
        # directive while DL002 is off).
        self.warnings: list[str] = [] if warnings is None else warnings


def lint_paths(
    paths: Sequence[str], settings: Optional[Settings] = None, *, jobs: Optional[int] = None, fix: bool = False
) -> LintResult:
    """Lint the given files (not directories: discovery is dllint.files' job)."""
    return lint_sources([_PathSource(str(p)) for p in paths], settings, jobs=jobs, fix=fix)


def analyze_paths(
    paths: Sequence[str], settings: Optional[Settings] = None, *, jobs: Optional[int] = None,
    start_method: Optional[str] = None,
) -> list[FileResult]:
    """Phase 1 for the given files (see :func:`analyze_sources`)."""
    return analyze_sources([_PathSource(str(p)) for p in paths], settings, jobs=jobs, start_method=start_method)


def lint_sources(
    sources: Sequence["Source | _PathSource"],
    settings: Optional[Settings] = None,
    *,
    jobs: Optional[int] = None,
    fix: bool = False,
) -> LintResult:
    """Lint sources given as text (:class:`Source`) or as paths (read here, or in the workers).

    With ``fix``, each file given as a path is fixed in place as soon as its own analysis
    says what to fix (in the worker that analysed it: apply, re-analyse, repeat, write), and
    the result is what remains; ``LintResult.fixes`` says what was done. Fixes whose reports
    depend on other files are left to :func:`dllint.fixes.fix_loop`."""
    return finish(analyze_sources(sources, settings, jobs=jobs, fix=fix))


def analyze_sources(
    sources: Sequence["Source | _PathSource"],
    settings: Optional[Settings] = None,
    *,
    jobs: Optional[int] = None,
    start_method: Optional[str] = None,
    fix: bool = False,
) -> list[FileResult]:
    """Phase 1 of a run: every file's :class:`FileResult` (from the cache where it has them),
    skipped files that import a model-defining module of the run analysed fully after all.

    ``start_method`` is how worker processes start (``multiprocessing``'s name); by default
    ``fork`` on Linux. A process with other threads that may hold locks (a language server
    reading its stdin) must not fork: it passes ``forkserver`` or ``spawn``. ``fix``: see
    :func:`lint_sources`."""
    if settings is None:
        from dllint.config import Settings as DefaultSettings

        settings = DefaultSettings(use_cache=False)
    jobs = jobs or default_jobs()
    _package_dirs.clear()  # packages are looked up afresh on each run (a long-lived caller)
    cache = _open_cache(settings)
    tasks = [_Task(_filename_of(source), source, settings.enabled_codes(_filename_of(source))) for source in sources]
    rule_settings = _rule_settings(settings, {code for task in tasks for code in task.enabled})
    unsafe_fixes = fix and bool(settings.unsafe_fixes)

    results: list[Optional[FileResult]] = [None] * len(tasks)
    pending: list[int] = []
    for position, task in enumerate(tasks):
        task.prepare(cache, rule_settings)
        if task.error is not None:
            results[position] = _unreadable(task)
            continue
        cached = _load(cache, task.key)
        if cached is not None and fix and task.source is None and fixable_findings(cached, unsafe_fixes):
            task.cached = cached  # to be fixed, from this result
            pending.append(position)
        elif cached is not None:
            results[position] = cached
        else:
            pending.append(position)

    runner = _Runner(jobs, rule_settings, cache, start_method, fix, unsafe_fixes)
    try:
        for position, result in zip(pending, runner.run([tasks[p] for p in pending])):
            results[position] = result
        for task, result in zip(tasks, results):
            if result is None or not result.skipped:
                task.data = None  # only skipped files may be read again (analysed fully)
        forced = modules_to_analyse_fully([r for r in results if r is not None])
        if forced:
            skipped = [p for p, r in enumerate(results) if r is not None and r.skipped and r.module in forced]
            _rerun(skipped, tasks, results, runner, cache, rule_settings, mode="forced")
        _analyse_with_values(tasks, results, runner, cache, rule_settings)
    finally:
        runner.close()
    if cache is not None:
        cache.prune()
    return [r for r in results if r is not None]


def _analyse_with_values(
    tasks: list["_Task"], results: list[Optional[FileResult]], runner: "_Runner", cache: Any,
    rule_settings: Mapping[str, Mapping[str, Any]],
) -> None:
    """Files that import configuration values of other files of the run (``from config import
    DROPOUT``, ``args = opts.get_args()``) analysed again with those values: first the skipped
    files they import (a ``config.py`` with nothing torch-related in it), for their values, then
    the importing files (each from the cache when it has them with these values)."""
    if not any(result is not None and result.wanted for result in results):
        return
    matcher = wanted_modules([r for r in results if r is not None])
    sources = [p for p, r in enumerate(results) if r is not None and r.skipped and matcher.matches(r.module)]
    _rerun(sources, tasks, results, runner, cache, rule_settings, mode="full")
    index = _project_index([r for r in results if r is not None])
    if not index.values:
        return
    consumers = []
    for position, result in enumerate(results):
        externals = index.values_for(result.wanted) if result is not None and result.wanted else {}
        if externals:
            tasks[position].externals = externals
            consumers.append(position)
    _rerun(consumers, tasks, results, runner, cache, rule_settings)


def _rerun(
    positions: list[int], tasks: list["_Task"], results: list[Optional[FileResult]], runner: "_Runner", cache: Any,
    rule_settings: Mapping[str, Mapping[str, Any]], mode: Optional[str] = None,
) -> None:
    again = []
    for position in positions:
        task = tasks[position]
        if mode is not None:
            task.mode = mode
        task.cached = None
        task.prepare(cache, rule_settings)  # (read again: --fix may have changed it since)
        cached = _load(cache, task.key)
        if cached is not None:
            results[position] = cached
        else:
            again.append(position)
    for position, result in zip(again, runner.run([tasks[p] for p in again])):
        results[position] = result


def wanted_modules(results: Sequence[FileResult]) -> "_ModuleMatcher":
    """The modules whose names the files looked up for configuration values (``config`` for
    ``config.DROPOUT``): files to analyse even when nothing in them is torch-related."""
    return _ModuleMatcher(
        ".".join(parts[:end])
        for result in results for name in result.wanted
        for parts in (name.split("."),) for end in range(1, len(parts))
    )


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def finish(results: Iterable[FileResult], index: Any = None) -> LintResult:
    """Phase 2: resolve cross-file reports against the project index, then apply noqa.

    ``index`` is the :class:`~dllint.project.ProjectIndex` to resolve against; by default the
    one ``results`` make up (a language server passes the index of its whole workspace)."""
    results = list(results)
    findings: list[Finding] = []
    errors: list[str] = []
    fixes: dict[str, Any] = {}
    warnings: list[str] = []
    for result in results:
        errors.extend(result.internal_errors)
        warnings.extend(result.suppressions.warnings(result.enabled))
        if result.fixes is not None:
            fixes[result.filename] = result.fixes
        survivors = []
        for candidate in result.candidates:
            if candidate.unless is not None:
                if index is None:
                    index = _project_index(results)
                try:
                    if candidate.unless(index.seen_from(result.filename)):
                        continue
                except Exception:  # noqa: BLE001 - a broken predicate must not lose the run
                    errors.append(_internal_error(candidate.finding.code, result.filename))
                    continue
            survivors.append((candidate.row, candidate.finding))
        findings.extend(result.suppressions.apply(survivors, result.enabled))
    findings.sort(key=Finding.sort_key)
    return LintResult(
        findings=findings, files_checked=len(results), internal_errors=errors, fixes=fixes, warnings=warnings
    )


def fixable_findings(result: FileResult, unsafe_fixes: bool = False) -> list[Finding]:
    """The findings with a fix to apply (unsafe ones only with ``unsafe_fixes``) that a file's
    own result holds, once its noqa comments are applied: all a fix needs to know, except
    reports that depend on other files."""
    own = [(candidate.row, candidate.finding) for candidate in result.candidates if candidate.unless is None]
    if not any(finding.fix is not None and finding.fix.applies(unsafe_fixes) for _, finding in own):
        return []
    return [
        finding for finding in result.suppressions.apply(own, result.enabled)
        if finding.fix is not None and finding.fix.applies(unsafe_fixes)
    ]


def _project_index(results: Sequence[FileResult]) -> Any:
    from dllint.project import ProjectIndex

    return ProjectIndex.from_summaries(r.summary for r in results if r.summary is not None)


# --- the files of a run -----------------------------------------------------------------------

class _PathSource:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _filename_of(source: "Source | _PathSource") -> str:
    return source.path if isinstance(source, _PathSource) else source.filename


class _Task:
    """One file to analyse: what a worker needs, and the cache key of its result."""

    def __init__(self, filename: str, source: "Source | _PathSource", enabled: frozenset[str]) -> None:
        self.filename = filename
        self.source: Optional[Source] = source if isinstance(source, Source) else None
        self.data: Optional[bytes] = None  # the file's bytes, read here when the cache needs them
        self.error: Optional[SourceError] = None
        self.enabled = enabled
        self.module = module_name_for(filename)
        # "auto": skip the file when nothing in it is torch-related; "forced": analyse it as
        # torch code (it imports a model-defining module of the run)
        self.mode = "auto"
        self.digest: Optional[str] = None
        self.key: Optional[str] = None
        # With fix=True: the cached result of a file that has fixes to apply (the worker
        # starts fixing from it instead of analysing the file again).
        self.cached: Optional[FileResult] = None
        # Configuration values other files of the run give the names it imports (by name)
        self.externals: dict[str, tuple] = {}

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        if self.source is not None:
            return len(self.source.text or "")
        try:
            return os.path.getsize(self.filename)
        except OSError:
            return 0

    def prepare(self, cache: Any, rule_settings: Mapping[str, Mapping[str, Any]]) -> None:
        if cache is None:
            return
        from dllint.cache import content_digest

        if self.source is not None:
            source = self.source
            described = repr((source.error, source.cell_starts, source.cell_numbers, source.stripped_indents)).encode()
            self.digest = content_digest((source.text or "").encode("utf-8", "surrogatepass") + b"\0" + described)
        else:
            from dllint.files import read_bytes

            data = read_bytes(Path(self.filename))
            if isinstance(data, SourceError):
                self.error = data
                return
            self.data = data
            self.digest = content_digest(data)
        self.key = self.make_key(cache, rule_settings)

    def make_key(self, cache: Any, rule_settings: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
        if cache is None or self.digest is None:
            return None
        return cache.key(
            filename=self.filename, module=self.module, enabled=self.enabled, options=rule_settings,
            digest=self.digest, mode=self.mode, extra=repr(sorted(self.externals.items())) if self.externals else "",
        )

    def payload(self, *, to_worker: bool = False) -> tuple:
        """What the analysis of the file needs: the source itself when we have it, else the path
        and the bytes read for the cache key with their digest. A worker process is sent the
        digest, not the bytes: it reads the file itself (piping a project's bytes to busy workers
        costs more than the read), and caches its result only when what it read has that digest."""
        data = None if to_worker else self.data
        return (self.filename, self.source, data, self.digest if self.source is None else None, self.enabled,
                self.module, self.mode, self.key, self.cached, self.externals)


def _unreadable(task: _Task) -> FileResult:
    return analyze(Source(task.filename, None, error=task.error), task.enabled, {})


def _open_cache(settings: Settings) -> Any:
    if not getattr(settings, "use_cache", False):
        return None
    from dllint.cache import ResultCache, default_directory

    directory = default_directory(settings)
    return ResultCache(directory) if directory is not None else None


def _load(cache: Any, key: Optional[str]) -> Optional[FileResult]:
    if cache is None or key is None:
        return None
    payload = cache.load(key)
    if payload is None:
        return None
    try:
        result = pickle.loads(payload)
    except Exception:  # noqa: BLE001 - a bad entry (e.g. a class that no longer exists) is a miss
        return None
    if not isinstance(result, FileResult) or any(_digest_of(path) != digest for path, digest in getattr(result, "reads", ())):
        return None
    return result


def _digest_of(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return _content_digest(handle.read())
    except OSError:
        return None


def _content_digest(data: bytes) -> str:
    from dllint.cache import content_digest

    return content_digest(data)


# --- running phase 1 --------------------------------------------------------------------------

class _Runner:
    """Runs tasks in-process or in a pool of worker processes (started on first need)."""

    def __init__(
        self, jobs: int, rule_settings: Mapping[str, Mapping[str, Any]], cache: Any, start_method: Optional[str] = None,
        fix: bool = False, unsafe_fixes: Optional[bool] = None,
    ) -> None:
        self.jobs = jobs
        self.start_method = start_method
        self.rule_settings = rule_settings
        self.cache_spec = (str(cache.directory), cache.salt) if cache is not None else None
        self.fix = fix
        self.unsafe_fixes = bool(unsafe_fixes)
        self.pool: Optional[workers.WorkerPool] = None
        self.local_ready = False

    def run(self, tasks: Sequence[_Task]) -> list[FileResult]:
        if not tasks:
            return []
        sizes = [task.size for task in tasks]
        if self.jobs > 1 and len(tasks) > 1 and sum(sizes) >= _POOL_MIN_BYTES:
            return self._run_pool(tasks, sizes)
        if not self.local_ready:
            _init_worker(self.rule_settings, self.cache_spec, self.fix, self.unsafe_fixes, in_process=True)
            self.local_ready = True
        import gc

        # Syntax trees are many objects and few cycles: collect rarely while analysing, and
        # never walk what the caller holds (see _parse_out_of_collectors_sight).
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_THRESHOLD), *thresholds[1:])
        gc.freeze()
        try:
            return [_run_task(task.payload())[0] for task in tasks]
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()

    def _run_pool(self, tasks: Sequence[_Task], sizes: list[int]) -> list[FileResult]:
        if self.pool is None:
            self.pool = _start_pool(
                min(self.jobs, len(tasks)), self.rule_settings, self.cache_spec, self.start_method, self.fix,
                self.unsafe_fixes,
            )
        outputs = self.pool.run(
            [task.payload(to_worker=True) for task in tasks], _chunks(sizes, self.jobs),
            lambda i: _hard_limit(sizes[i]) + _KILL_GRACE_SECONDS,
        )
        return [_decode(outputs[i], task, sizes[i]) for i, task in enumerate(tasks)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _start_pool(
    worker_count: int, rule_settings: Mapping[str, Mapping[str, Any]], cache_spec: Any, start_method: Optional[str] = None,
    fix: bool = False, unsafe_fixes: bool = False,
) -> workers.WorkerPool:
    return workers.WorkerPool(
        worker_count, _run_in_worker, _init_worker, (rule_settings, cache_spec, fix, unsafe_fixes), start_method=start_method
    )


def _chunks(sizes: list[int], jobs: int) -> list[list[int]]:
    """Largest files first, each alone or with others up to a share of the work (LPT-ish)."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    limit = max(8 * 1024, min(_CHUNK_MAX_BYTES, sum(sizes) // (jobs * 6) or 1))
    chunks: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for i in order:
        current.append(i)
        current_bytes += sizes[i]
        if current_bytes >= limit or len(current) >= _CHUNK_MAX_FILES:
            chunks.append(current)
            current, current_bytes = [], 0
    if current:
        chunks.append(current)
    return chunks


def _budget(size: int) -> float:
    """CPU seconds a file of ``size`` bytes may take."""
    return _BUDGET_SECONDS + _BUDGET_SECONDS_PER_MB * size / 1_000_000


def _hard_limit(size: int) -> float:
    """Wall-clock seconds after which the analysis of a file is stopped."""
    return _HARD_LIMIT_FACTOR * _budget(size) + _HARD_LIMIT_MARGIN_SECONDS


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{max(1, round(size / 1000))} KB"


def _decode(output: Any, task: _Task, size: int) -> FileResult:
    if isinstance(output, workers.Crashed):
        if output.phase == "parsing":
            why = f"the parser crashed on this file (dllint's worker process {output.describe()} while parsing it)"
        else:
            why = f"dllint crashed on this file (its worker process {output.describe()} while {output.phase} it)"
        return _not_checked(task.filename, task.enabled, task.module, why + "; it was not checked. Please report it")
    if isinstance(output, workers.TimedOut):
        why = (
            f"dllint's analysis of this file was stopped after {output.seconds:.0f} s of wall-clock time; "
            "it was not checked"
        )
        return _not_checked(task.filename, task.enabled, task.module, why)
    return pickle.loads(output) if isinstance(output, bytes) else output


def _not_checked(filename: str, enabled: frozenset[str], module: str, why: str, text: str = "") -> FileResult:
    """The one DL001 of a file whose analysis could not finish (the reason in ``why``)."""
    result = FileResult(filename=filename, enabled=enabled, module=module, incomplete=True)
    _add_parse_error(result, Source(filename, text), SourceError(why))
    return result


# --- in a worker (or in-process) --------------------------------------------------------------

_worker_rules: dict[str, Any] = {}
_worker_cache: Any = None
_worker_fix = False
_worker_unsafe_fixes = False
_analysis_thread: Optional[workers.AnalysisThread] = None


def _rule_settings(settings: Settings, codes: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    return {code: settings.rule_settings(code) for code in sorted(codes)}


def _init_worker(
    rule_settings: Mapping[str, Mapping[str, Any]], cache_spec: Any = None, fix: bool = False, unsafe_fixes: bool = False,
    in_process: bool = False,
) -> None:
    global _worker_cache, _worker_fix, _worker_unsafe_fixes, _analysis_thread
    from dllint.rules import all_rules

    registry = all_rules()
    _worker_rules.clear()
    for code, options in rule_settings.items():
        if code in registry:
            _worker_rules[code] = registry[code](options)
    _worker_cache = None
    _worker_fix = fix
    _worker_unsafe_fixes = unsafe_fixes
    if cache_spec is not None:
        from dllint.cache import ResultCache

        _worker_cache = ResultCache(Path(cache_spec[0]), cache_spec[1])
    if not in_process:
        import gc

        _analysis_thread = None  # a forked worker has none of its parent's threads
        # What the worker inherited lives as long as it does: keep the collector off it,
        # and collect less often (a syntax tree is thousands of objects without cycles).
        gc.freeze()
        gc.set_threshold(_GC_THRESHOLD, 20, 100)


def _run_in_worker(payload: tuple) -> Union[FileResult, bytes]:
    """In a worker: the result, pickled (the bytes already made for the cache where there are some)."""
    result, encoded = _run_task(payload)
    if encoded is not None:
        return encoded
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - e.g. an unpicklable predicate: lose the file's findings, not the run
        failed = FileResult(filename=result.filename, enabled=result.enabled, module=result.module)
        failed.internal_errors.append(_internal_error("engine", result.filename))
        return failed


def _run_task(payload: tuple) -> tuple[FileResult, Optional[bytes]]:
    """Analyse one file (and fix it in place, in fix mode) and store its result in the cache:
    (result, its pickle or None)."""
    filename, source, data, digest, enabled, module, mode, key, cached, externals = payload
    on_disk = source is None
    if source is None:
        from dllint.files import read_bytes, source_from_bytes

        if data is None:
            data = read_bytes(Path(filename))
            if key is not None and not (isinstance(data, bytes) and digest is not None and _content_digest(data) == digest):
                key = None  # changed since its key was made: the result is not that content's
        source = source_from_bytes(data, filename) if isinstance(data, bytes) else Source(filename, None, error=data)
    result = cached if cached is not None else _guarded_analysis(source, enabled, module, mode, externals)
    if _worker_fix and on_disk and isinstance(data, bytes) and not (result.internal_errors or result.incomplete):
        fixed = _fix_in_place(result, data, enabled, module, mode, externals)
        if fixed is not result:
            return fixed, None  # (its content changed: the key is the old content's)
    if key is None or _worker_cache is None or result.internal_errors or result.incomplete:
        return result, None
    try:
        encoded = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - not cacheable (an unpicklable predicate): just not cached
        return result, None
    _worker_cache.store(key, encoded)
    return result, encoded


def _fix_in_place(
    result: FileResult, data: bytes, enabled: frozenset[str], module: str, mode: str,
    externals: Optional[Mapping[str, tuple]] = None,
) -> FileResult:
    """Apply the fixes the file's own result holds (unsafe ones only with ``--unsafe-fixes``),
    re-analyse, repeat until none is left, then write the file (atomically, unless it changed
    on disk meanwhile): the result of the fixed text, with ``fixes`` saying what was done. A
    fix that does not converge leaves the file as it was."""
    findings = fixable_findings(result, _worker_unsafe_fixes)
    if not findings:
        return result
    from collections import Counter

    from dllint.findings import SAFE
    from dllint.fixes import MAX_ITERATIONS, Document, FileFixes, write_document

    document = Document(result.filename, data)
    fixed: Counter = Counter()
    unsafe: Counter = Counter()
    current = result
    for _ in range(MAX_ITERATIONS):
        applied = document.apply(findings)
        if not applied:
            break
        fixed.update(finding.code for finding in applied)
        unsafe.update(finding.code for finding in applied if finding.fix.applicability != SAFE)
        current = _guarded_analysis(document.source(), enabled, module, mode, externals)
        if current.internal_errors or current.incomplete:
            return result  # keep the file as it was: its fixed text cannot be checked
        findings = fixable_findings(current, _worker_unsafe_fixes)
        if not findings:
            break
    else:
        result.fixes = FileFixes(unconverged=findings[0].code)
        return result
    outcome = FileFixes(fixed, rejected=sorted(set(document.rejected)), unsafe=unsafe)
    if document.changed:
        outcome.error = write_document(result.filename, document)
        if outcome.error is not None:
            result.fixes = FileFixes(rejected=outcome.rejected, error=outcome.error)
            return result  # not written: what it holds is what is reported
    else:
        current = result
    current.fixes = outcome
    return current


def _guarded_analysis(
    source: Source, enabled: frozenset[str], module: str, mode: str, externals: Optional[Mapping[str, tuple]] = None
) -> FileResult:
    """:func:`_analyze` on the deep stack, under the file's budget; never raises."""
    global _analysis_thread
    filename = source.filename
    if _analysis_thread is None:
        _analysis_thread = workers.AnalysisThread()
    size = len((source.text or "").encode("utf-8", "surrogatepass"))
    try:
        return _analysis_thread.call(
            lambda: _analyze(source, enabled, _worker_rules, module=module, mode=mode, externals=externals),
            _budget(size), _hard_limit(size),
        )
    except workers.BudgetExceeded as overrun:
        if overrun.kind == "cpu":
            limit = f"its budget ({overrun.seconds:.0f} s of CPU time for {_size_text(size)} of source)"
        else:
            limit = f"{overrun.seconds:.0f} s of wall-clock time"
        why = (
            f"dllint could not analyse this file within {limit}; it was not checked. If it is generated code, "
            "exclude it (`extend-exclude`); otherwise please report it"
        )
        return _not_checked(filename, enabled, module, why, source.text or "")
    except Exception:  # noqa: BLE001 - never lose the run to one file
        result = FileResult(filename=filename, enabled=enabled, module=module)
        result.internal_errors.append(_internal_error("engine", filename))
        return result


def analyze(
    source: Source,
    enabled: frozenset[str],
    rules: Mapping[str, Any],
    *,
    mode: str = "full",
    parse: Optional[Callable[[str], tuple[Any, Mapping[Any, Any]]]] = None,
    externals: Optional[Mapping[str, tuple]] = None,
) -> FileResult:
    """Phase 1 for one file: everything that needs its syntax tree.

    ``mode`` is ``"full"`` (always analyse), ``"auto"`` (only syntax-check a file in which
    nothing is torch-related) or ``"forced"`` (analyse it as torch code: it imports a
    model-defining module). ``parse`` replaces LibCST's ``parse_module``: it returns the
    module and the positions of its nodes (a language server reparses only what changed).
    ``externals``: the configuration values other files give the names it imports
    (``ProjectIndex.values_for(result.wanted)``)."""
    return _analyze(source, enabled, rules, mode=mode, parse=parse, externals=externals)


def _analyze(
    source: Source,
    enabled: frozenset[str],
    rules: Mapping[str, Any],
    *,
    module: Optional[str] = None,
    mode: str = "full",
    parse: Optional[Callable[[str], tuple[Any, Mapping[Any, Any]]]] = None,
    externals: Optional[Mapping[str, tuple]] = None,
) -> FileResult:
    result = FileResult(filename=source.filename, enabled=enabled, module=module or module_name_for(source.filename))
    if source.error is not None:
        _add_parse_error(result, source, source.error)
        return result
    text = source.text or ""
    result.suppressions = suppressions.scan(text, source)
    enabled = enabled - result.suppressions.disabled_codes
    result.enabled = enabled
    result.imports = scan_imports(text, result.module, is_package=_is_package_file(source.filename))
    active = [rules[code] for code in sorted(enabled) if code in rules]
    rejected = _python_syntax_error(text, source.filename, notebook=source.is_notebook)
    if rejected is not None:
        # CPython's own parser is the judge of what is Python: what it rejects is a DL001 with
        # its message, and never reaches LibCST (whose native parser can crash on input that
        # CPython refuses, e.g. 10,000 unary minus signs).
        _add_parse_error(result, source, rejected)
        return result
    if mode == "auto" and _nothing_to_check(active, text, result.imports):
        # Nothing here can be flagged but a syntax error (there is none) or an unused noqa
        # (phase 2 reports those from the suppressions).
        result.skipped = True
        return result
    try:
        _check_tree(result, source, text, active, mode, parse, externals)
    except (RecursionError, MemoryError) as error:
        return _too_complex(result, source, error)
    return result


def _check_tree(
    result: FileResult, source: Source, text: str, active: list[Any], mode: str,
    parse: Optional[Callable[[str], tuple[Any, Mapping[Any, Any]]]] = None,
    externals: Optional[Mapping[str, tuple]] = None,
) -> None:
    """Parse with LibCST, build the semantics, run the rules: the file's candidates."""
    import libcst as cst

    positions = None
    workers.report_phase("parsing")
    try:
        if parse is None:
            module_tree = _parse_out_of_collectors_sight(text)
        else:
            module_tree, positions = parse(text)
    except (SyntaxError, cst.ParserSyntaxError) as error:
        _add_parse_error(result, source, _syntax_error(error))
        return
    workers.report_phase("analysing")

    from dllint.semantics import FileSemantics

    try:
        sem = FileSemantics(module_tree, source, result.module, positions=positions, externals=externals)
        if mode == "forced":
            # It imports a model-defining module of the run: its models and training code
            # are torch code even though it never names torch.
            sem.mentions_torch = True  # type: ignore[misc] - overrides the cached property
        result.summary = sem.summary
    except (RecursionError, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - a semantics bug on one file must not lose the run
        result.internal_errors.append(_internal_error("semantics", source.filename))
        return
    if not sem.mentions_torch:
        active = [rule for rule in active if not rule.needs_torch]
    elif any(rule.judges_architecture for rule in active) and sem.publishes_weights:
        active = [rule for rule in active if not rule.judges_architecture]
    reports = []
    for rule in active:
        try:
            for report in rule.check(sem):
                if report.edits and not (rule.fixable and report.applicability in rule.fix_applicability):
                    raise ValueError(
                        f"{rule.code} reported a {report.applicability} fix, but declares fixable={rule.fixable}, "
                        f"fix_applicability={rule.fix_applicability}"
                    )
                reports.append((rule.code, report))
        except (RecursionError, MemoryError):
            raise
        except Exception:  # noqa: BLE001 - one broken rule must not lose the other findings
            result.internal_errors.append(_internal_error(rule.code, source.filename))
    if reports and source.is_notebook:
        # Networks it only demonstrates and never trains (FileSemantics.demonstrations), and
        # purely linear networks it contrasts with their repair (FileSemantics.contrasts).
        reports = _without_moot(
            result, reports, {rule.code for rule in active if rule.judges_architecture or rule.judges_initialisation},
            "demonstrations", lambda: sem.demonstrations.only_demonstrated,
        )
        reports = _without_moot(
            result, reports, {rule.code for rule in active if rule.finds_missing_activation},
            "contrasts", lambda: sem.contrasts.contrasted,
        )
    result.wanted = sem.wanted_values
    result.reads = tuple((path, _digest_of(path)) for path in dict.fromkeys(sem.read_paths))
    if reports:
        lines = text.splitlines()
        positions = sem.positions(
            [report.node for _, report in reports] + [n for _, r in reports for e in r.edits for n in (e.node, e.until)]
        )
        for code, report in reports:
            finding = _to_finding(code, report, positions, source, text, lines)
            result.candidates.append(Candidate(finding, positions[report.node].start.line, report.unless))


def _parse_out_of_collectors_sight(text: str) -> Any:
    """Parse with the cyclic garbage collector off, then freeze what is alive (the new tree
    with it) out of the collector's sight: a syntax tree is hundreds of thousands of objects
    without a cycle, which the collector would otherwise scan again and again while the file
    is analysed (a third of the analysis time on large model files). Refcounting still frees
    the tree when the file is done. Collecting first keeps the previous file's cyclic garbage
    from being frozen with it; it is cheap, because what the process held before (imported
    code, earlier trees) is frozen already: workers freeze what they inherit, and the in-process
    runner freezes on starting and unfreezes when it finishes. (``gc.get_freeze_count()`` is no
    cheaper test: it walks every frozen object.)"""
    import gc

    from dllint.parsing import parse_module

    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return parse_module(text)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _without_moot(
    result: FileResult, reports: list[tuple[str, Any]], judged: set[str], fact: str, moot: Callable[[], Callable[[Any], bool]],
) -> list[tuple[str, Any]]:
    """A notebook's findings less those of the ``judged`` rules that a fact of the notebook
    makes moot (``moot()`` gives the predicate on a reported node; it is only built when one
    of those rules reported). A bug in the fact keeps the findings and records an internal error."""
    if not any(code in judged for code, _ in reports):
        return reports
    try:
        is_moot = moot()
        return [(code, report) for code, report in reports if code not in judged or not is_moot(report.node)]
    except (RecursionError, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - a bug in this fact must not lose the findings
        result.internal_errors.append(_internal_error(fact, result.filename))
        return reports


def _too_complex(result: FileResult, source: Source, error: BaseException) -> FileResult:
    """The one DL001 of a file whose analysis ran out of stack depth or memory."""
    if isinstance(error, RecursionError):
        why = (
            f"the file is nested too deeply for dllint to analyse (more than {sys.getrecursionlimit()} levels "
            "of recursion); it was not checked"
        )
    else:
        why = "dllint ran out of memory analysing this file; it was not checked"
    checked = FileResult(
        filename=result.filename, suppressions=result.suppressions, enabled=result.enabled, module=result.module,
        imports=result.imports, incomplete=True,
    )
    _add_parse_error(checked, source, SourceError(why))
    return checked


def _nothing_to_check(active: Sequence[Any], text: str, imports: tuple[str, ...]) -> bool:
    """Whether no active rule can flag anything here but DL001/DL002 (which need no tree):
    the torch rules see nothing torch-related, and no other rule is on."""
    torch_rules = False
    for rule in active:
        if rule.code in (PARSE_ERROR, UNUSED_NOQA):
            continue
        if not rule.needs_torch:
            return False  # a rule that runs on every file
        torch_rules = True
    return not torch_rules or not might_involve_torch(text, imports)


def _python_syntax_error(text: str, filename: str, *, notebook: bool = False) -> Optional[SourceError]:
    """Why CPython rejects the text, or None: what ``python file.py`` says, under Python's
    default recursion limit even in the deep analysis thread. A Python file is compiled (an
    order of magnitude faster than LibCST's parse, and faster than building Python's AST
    objects; it also rejects ``return`` outside a function); a notebook's joined cells are
    only parsed, since Jupyter compiles each cell on its own (top-level ``await`` is fine)."""
    import warnings

    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(workers.DEFAULT_RECURSION_LIMIT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings (invalid escapes) are not ours to print
            compile(text, filename, "exec", _ONLY_AST if notebook else 0, dont_inherit=True)
    except SyntaxError as error:
        return SourceError(f"SyntaxError: {error.msg}", error.lineno or 1, error.offset or 1)
    except (ValueError, OverflowError) as error:
        return SourceError(f"SyntaxError: {error}")
    except RecursionError as error:
        return SourceError(f"could not parse: Python's parser gives up on this file (RecursionError: {error})")
    except MemoryError:
        return SourceError(
            "could not parse: Python's parser gives up on this file (MemoryError: its expressions are nested "
            "too deeply)"
        )
    finally:
        sys.setrecursionlimit(previous)
    return None


_ONLY_AST = 0x400  # ast.PyCF_ONLY_AST, without importing ast


# --- what a file imports, and whether it can matter at all ------------------------------------

_IMPORT = re.compile(
    r"(?:^|[;:])[ \t]*(?:"
    r"from(?:[ \t]+|(?=\.))(?P<base>\.*[ \t]*[\w.]*)[ \t]*import\b[ \t]*(?P<names>\([^)]*\)?|(?:[^\n;#\\]|\\\r?\n|\\)*)"
    r"|import[ \t]+(?P<modules>(?:[^\n;#\\]|\\\r?\n|\\)*))",
    re.M,
)
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def scan_imports(text: str, module: str, *, is_package: bool = False) -> tuple[str, ...]:
    """Every module a file may import, read off its text (so a superset: an import in a
    docstring counts too): ``import a.b`` gives ``a.b``; ``from a import b, c`` gives ``a``,
    ``a.b`` and ``a.c``; relative imports are resolved against ``module``."""
    if "import" not in text:
        return ()
    found: dict[str, None] = {}
    package = module.split(".") if is_package else module.split(".")[:-1]
    for match in _IMPORT.finditer(text):
        modules = match.group("modules")
        if modules is not None:
            for part in modules.split(","):
                name = _DOTTED.match(part.strip(" \t\\\r\n()"))
                if name:
                    found[name.group(0)] = None
            continue
        base = (match.group("base") or "").replace(" ", "").replace("\t", "")
        dots = len(base) - len(base.lstrip("."))
        base = base[dots:]
        if dots:
            anchor = package[: len(package) - (dots - 1)] if dots - 1 <= len(package) else []
            base = ".".join([*anchor, base] if base else anchor)
        if base:
            found[base] = None
        for part in (match.group("names") or "").split(","):
            name = _DOTTED.match(part.strip(" \t\\\r\n()"))
            if name and name.group(0) != "import":
                found[f"{base}.{name.group(0)}" if base else name.group(0)] = None
    return tuple(found)


_hints: Optional[tuple[Any, frozenset[str]]] = None


def _torch_hints() -> tuple[Any, frozenset[str]]:
    """(regex of torch-related names, top-level packages of the torch ecosystem)."""
    global _hints
    if _hints is None:
        from dllint import semantics
        from dllint.semantics import catalog

        ecosystem = set(getattr(semantics, "_TORCH_ECOSYSTEM", ())) | {"torch", "lightning", "pytorch_lightning"}
        ecosystem |= {base.split(".")[0] for base in catalog.MODULE_BASES}
        words = ["torch", r"nn\.", r"\.grad\.", "Module", "forward", *sorted(ecosystem)]
        _hints = (re.compile("|".join(words)), frozenset(ecosystem))
    return _hints


def might_involve_torch(text: str, imports: Iterable[str]) -> bool:
    """False only when nothing in the file is torch-related: no torch-related name in its
    text (``torch``, ``nn.``, ``.grad.``, ``Module``, ``forward``, a torch-ecosystem package) and no
    import, relative ones resolved, of a torch-ecosystem package. It is a superset of
    :attr:`FileSemantics.mentions_torch` (tested), so a file for which this is False
    yields no torch finding of its own."""
    pattern, ecosystem = _torch_hints()
    if pattern.search(text):
        return True
    return any(name.split(".", 1)[0] in ecosystem for name in imports)


def _is_package_file(filename: str) -> bool:
    return os.path.splitext(os.path.basename(filename))[0] == "__init__"


_package_dirs: dict[str, bool] = {}


def module_name_for(filename: str) -> str:
    """Dotted module name of a file: walk up while the directory is a package. The same as
    :func:`dllint.semantics.module_name_for` (tested), without importing the semantics."""
    base = os.path.basename(filename)
    stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
    parts = [stem] if stem != "__init__" else []
    directory = os.path.dirname(os.path.abspath(filename)) if filename not in ("-", "<stdin>") else ""
    while directory and _is_package_dir(directory):
        parts.insert(0, os.path.basename(directory))
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return ".".join(parts) or stem


def _is_package_dir(directory: str) -> bool:
    known = _package_dirs.get(directory)
    if known is None:
        known = _package_dirs[directory] = os.path.isfile(os.path.join(directory, "__init__.py"))
    return known


# --- which skipped files must be analysed after all -------------------------------------------

def modules_to_analyse_fully(results: Sequence[FileResult]) -> set[str]:
    """Modules of skipped files that import (directly, or through other files of the run
    that import them: re-exports) a module of the run that defines a model class."""
    if not any(result.skipped for result in results):
        return set()
    summaries = [r.summary for r in results if r.summary is not None and getattr(r.summary, "classes", None)]
    if not summaries:
        return set()
    index = _project_index(results)
    memo: dict[str, bool] = {}

    def is_model(item: Any, depth: int = 0) -> bool:
        if item is None or depth > 30:
            return False
        if item.qualified in memo:
            return memo[item.qualified]
        memo[item.qualified] = False  # cycle guard
        home = index.home(item)
        verdict = bool(item.is_module) or any(is_model(index.lookup(base, home), depth + 1) for base in item.bases)
        memo[item.qualified] = verdict
        return verdict

    defining = {s.module for s in summaries if any(is_model(item) for item in s.classes.values())}
    if not defining:
        return set()
    related = set(defining)
    pending = {r.module: r.imports for r in results if r.module not in related}
    for r in results:  # two files may share a module name (scripts in different folders)
        if r.module in pending and pending[r.module] is not r.imports:
            pending[r.module] = tuple(dict.fromkeys(pending[r.module] + r.imports))
    while pending:
        matcher = _ModuleMatcher(related)
        joined = [module for module, imports in pending.items() if any(matcher.matches(name) for name in imports)]
        if not joined:
            break
        related.update(joined)
        for module in joined:
            del pending[module]
    return {r.module for r in results if r.skipped and r.module in related}


class _ModuleMatcher:
    """Does an imported name refer to one of the modules? The run's module names may be
    rooted elsewhere than the imports (``models`` vs ``src.models``): either may be a
    dotted suffix of the other, as in the project index."""

    def __init__(self, modules: Iterable[str]) -> None:
        self.exact = set(modules)
        self.suffixes: set[str] = set()
        for name in self.exact:
            parts = name.split(".")
            for start in range(len(parts)):
                self.suffixes.add(".".join(parts[start:]))

    def matches(self, name: str) -> bool:
        if name in self.suffixes:
            return True
        parts = name.split(".")
        return any(".".join(parts[start:]) in self.exact for start in range(1, len(parts)))


# --- findings ---------------------------------------------------------------------------------

def _to_finding(
    code: str, report: Any, positions: Mapping[Any, Any], source: Source, text: str, lines: Sequence[str]
) -> Finding:
    from dllint.findings import Fix

    span = positions[report.node]
    start, end = span.start, span.end
    fix = None
    if report.edits:
        fix = Fix(
            message=report.fix_message or "",
            edits=tuple(
                edit for edit in (_edit(e, positions, text, source) for e in report.edits)
                if edit.content or edit.location != edit.end_location  # drop the edits that change nothing
            ),
            applicability=report.applicability,
        )
    return _make_finding(source, lines, code, report.message, start.line, start.column + 1, end.line, end.column + 1, fix)


def _edit(edit: Any, positions: Mapping[Any, Any], text: str, source: Source) -> Any:
    from dllint.findings import Edit

    content = edit.replacement
    start = _anchor(positions[edit.node], edit.start)
    end = _anchor(positions[edit.until], edit.end)
    if edit.start == "next_line":
        row = start.row
        last_row = text.count("\n") + (0 if text.endswith("\n") else 1)
        if row > last_row or (source.cell_starts is not None and row in source.cell_starts):
            # No line after the node in its file (no final newline) or in its notebook cell:
            # end the node's line instead, so that the edit stays where the node is.
            line = text.split("\n")[row - 2].rstrip("\r")
            start = end = Location(row - 1, len(line) + 1)
            content = "\n" + content.rstrip("\r\n")
    return Edit(content=content, location=start, end_location=end)


def _anchor(span: Any, side: str) -> Location:
    if side == "start":
        return Location(span.start.line, span.start.column + 1)
    if side == "end":
        return Location(span.end.line, span.end.column + 1)
    return Location(span.end.line + 1, 1)  # next_line


def _make_finding(
    source: Source, lines: Sequence[str], code: str, message: str, row: int, column: int, end_row: int, end_column: int,
    fix: Any = None, severity: str = "warning",
) -> Finding:
    line = source.original_line(row, lines[row - 1]) if 0 < row <= len(lines) else ""
    cell, cell_row, cell_column = source.to_cell_position(row, column)
    _, cell_end_row, cell_end_column = source.to_cell_position(end_row, end_column)
    return Finding(
        code=code,
        message=message,
        filename=source.filename,
        location=Location(cell_row, cell_column),
        end_location=Location(cell_end_row, cell_end_column),
        fix=fix,
        severity=severity,
        cell=cell,
        source_line=line,
    )


def _add_parse_error(result: FileResult, source: Source, error: SourceError) -> None:
    if PARSE_ERROR not in result.enabled:
        return
    finding = _make_finding(
        source, (source.text or "").splitlines(), PARSE_ERROR, error.message, error.row, error.column, error.row, error.column, severity="error"
    )
    result.candidates.append(Candidate(finding, error.row))


def _syntax_error(error: BaseException) -> SourceError:
    """LibCST's message, for the rare text CPython accepts and LibCST does not."""
    import libcst as cst

    if isinstance(error, cst.ParserSyntaxError):
        message = re.sub(r"^parser error: error at \d+:\d+: ", "", error.message)
        return SourceError(f"SyntaxError: {message}", error.raw_line, error.raw_column + 1)
    return SourceError(f"SyntaxError: {error}")


def _internal_error(code: str, filename: str) -> str:
    import traceback

    return f"internal error in {code} while checking {filename} (please report it):\n{traceback.format_exc()}"
