"""What the language server knows: every file of the workspace analysed, kept warm in memory.

The server lints the way a ``dllint`` run does (:mod:`dllint.engine`): phase 1 gives each file
a :class:`~dllint.engine.FileResult` (its candidate findings, its ``# noqa`` comments and its
summary for the project index), phase 2 resolves the candidates that depend on other files
against the :class:`~dllint.project.ProjectIndex` and applies ``# noqa``. Here the results of
every file are kept between edits:

* the workspace folders are analysed once, at start-up, in the background (worker processes
  and the on-disk result cache, as ``dllint .`` does); a file changed on disk is re-analysed
  when the editor reports it;
* an open document is analysed from its buffer (never from the disk) on every change, with
  only the edited statements reparsed (:mod:`dllint.server.reparse`);
* the project index is rebuilt only when a file's summary changes — then every open document
  is resolved again (phase 2 only), so editing a model in ``models.py`` updates the findings
  shown in an open ``train.py``.

Each file gets the configuration ``dllint path/to/file.py`` would use (the nearest
``dllint.toml`` or ``pyproject.toml`` with ``[tool.dllint]``); files excluded by it
(``exclude``, ``extend-exclude``, ``.gitignore``) are not linted, as with ``--force-exclude``.

Nothing here imports pygls: :mod:`dllint.server.lsp` speaks the protocol. Every method that
changes state runs on the server's one analysis thread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from dllint import engine
from dllint.config import ConfigError, Settings, find_config_file, load_settings
from dllint.engine import FileResult
from dllint.findings import Finding
from dllint.server.reparse import IncrementalParser
from dllint.sources import Source

PYTHON_SUFFIXES = (".py", ".pyi")


class OpenDocument:
    """A document open in the editor: a Python file, or a notebook given as its cells."""

    def __init__(self, path: str, notebook: bool) -> None:
        self.path = path
        self.notebook = notebook
        self.text = ""  # a Python file's text
        self.cells: list[Optional[str]] = []  # a notebook's cells: the code cells' texts, None for the others
        self.parser = IncrementalParser()
        self.result: Optional[FileResult] = None
        self.findings: list[Finding] = []

    def source(self) -> Source:
        if self.notebook:
            from dllint.notebooks import cells_source

            return cells_source(self.path, self.cells)
        return Source(self.path, self.text)

    def fixes_document(self) -> Any:
        """The document as :mod:`dllint.fixes` applies fixes to it (None if it cannot)."""
        from dllint.fixes import Document

        if self.notebook:
            cells = [
                {"cell_type": "code" if text is not None else "markdown", "metadata": {}, "source": text or "",
                 **({"outputs": [], "execution_count": None} if text is not None else {})}
                for text in self.cells
            ]
            notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            return Document(self.path, json.dumps(notebook).encode("utf-8"))
        document = Document(self.path, self.text.encode("utf-8"))
        # A file that declares another encoding with non-ASCII text would read differently.
        return document if document.valid and document.text == self.text else None


class Workspace:
    def __init__(self, roots: Sequence[str], report_error: Callable[[str], None]) -> None:
        self.roots = [os.path.abspath(root) for root in roots]
        self.report_error = report_error  # shown to the user (a configuration error)
        self.on_disk: dict[str, FileResult] = {}  # absolute path -> result of the file on disk
        self.documents: dict[str, OpenDocument] = {}  # absolute path -> open document
        self.internal_errors: list[str] = []  # to log, taken by the server after each update
        self._index: Any = None
        self._forced: set[str] = set()  # modules analysed as torch code (they import a model module)
        self._wanted_modules: Any = None  # modules whose names other files look up (engine.wanted_modules)
        self._config_for_dir: dict[str, Optional[Path]] = {}
        self._settings: dict[Optional[Path], Settings] = {}
        self._rules: dict[int, dict[str, Any]] = {}
        self._filters: dict[int, Any] = {}
        self._reported: set[str] = set()

    # --- configuration ------------------------------------------------------------------------

    def settings_for(self, path: str) -> Settings:
        """The settings ``dllint path`` would use; the defaults (and the error shown once) when
        the configuration cannot be read."""
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        try:
            if directory not in self._config_for_dir:
                self._config_for_dir[directory] = find_config_file(Path(directory))
            config = self._config_for_dir[directory]
            if config not in self._settings:
                if config is None:
                    settings = Settings(project_root=Path(self._root_of(path)))
                else:
                    settings = load_settings(config=str(config))
                settings.check_rule_options()
                settings.selected_codes()
                self._settings[config] = settings
            return self._settings[config]
        except ConfigError as error:
            message = f"dllint: {error}"
            if message not in self._reported:
                self._reported.add(message)
                self.report_error(message + " (linting with the default settings until it is fixed)")
            return self._settings.setdefault(None, Settings(project_root=Path(self._root_of(path))))

    def forget_configuration(self) -> None:
        """A configuration file changed: read every one again on next use."""
        self._config_for_dir.clear()
        self._settings.clear()
        self._rules.clear()
        self._filters.clear()
        self._reported.clear()

    def _root_of(self, path: str) -> str:
        containing = [root for root in self.roots if path == root or path.startswith(root.rstrip(os.sep) + os.sep)]
        return max(containing, key=len) if containing else (path if os.path.isdir(path) else os.path.dirname(path))

    def rules_for(self, settings: Settings) -> dict[str, Any]:
        rules = self._rules.get(id(settings))
        if rules is None:
            from dllint.rules import all_rules

            rules = self._rules[id(settings)] = {
                code: rule(settings.rule_settings(code)) for code, rule in all_rules().items()
            }
        return rules

    def excluded(self, path: str, settings: Settings) -> bool:
        path_filter = self._filters.get(id(settings))
        if path_filter is None:
            from dllint.files import PathFilter

            path_filter = self._filters[id(settings)] = PathFilter(
                settings.all_exclude, settings.project_root, settings.respect_gitignore
            )
        return bool(path_filter.excluded_with_parents(path, False))

    # --- the workspace on disk ----------------------------------------------------------------

    def scan(self, jobs: Optional[int] = None) -> dict[str, FileResult]:
        """Phase 1 for every file of the workspace folders, as ``dllint`` in each folder would
        run it (worker processes, the result cache). Changes no state: :meth:`take_scan` does."""
        from dllint.files import discover

        results: dict[str, FileResult] = {}
        for root in self.roots:
            settings = self.settings_for(root)
            found = discover(
                [root], exclude=settings.all_exclude, root=settings.project_root,
                respect_gitignore=settings.respect_gitignore, force_exclude=False,
            )
            # The server has threads (one blocked reading stdin holds its lock): a forked worker
            # would inherit that lock held and hang on it, so workers start from a fork server.
            start_method = "forkserver" if os.name == "posix" else None
            for result in engine.analyze_paths(found.files, settings, jobs=jobs, start_method=start_method):
                results[os.path.abspath(result.filename)] = result
        return results

    def take_scan(self, results: dict[str, FileResult]) -> None:
        self.on_disk = results
        self._update_forced(set(results))
        self._index = None
        self._wanted_modules = None
        for document in self.documents.values():  # opened before the scan: now the values are known
            if document.result is not None and self._externals(document.result.wanted):
                document.result = self._analyze(document.source(), document.path, parse=document.parser.parse)

    def refresh_from_disk(self, path: str) -> bool:
        """A file changed on disk (or was created or deleted): analyse it again. Returns
        whether the project index changed (then every open document is resolved again)."""
        previous = self.on_disk.pop(path, None)
        if os.path.isfile(path) and not self.excluded(path, self.settings_for(path)):
            from dllint.files import load_source

            self.on_disk[path] = self._analyze(load_source(Path(path)), path)
        return self._after_change(path, previous, self.on_disk.get(path)) and path not in self.documents

    # --- open documents -----------------------------------------------------------------------

    def update(self, path: str, notebook: bool, content: "str | list[Optional[str]]") -> tuple[OpenDocument, bool]:
        """Analyse an open document's current content. Returns the document and whether the
        project index changed."""
        document = self.documents.get(path)
        if document is None or document.notebook != notebook:
            document = self.documents[path] = OpenDocument(path, notebook)
        if notebook:
            document.cells = list(content)  # type: ignore[arg-type]
        else:
            document.text = content  # type: ignore[assignment]
        previous = document.result
        settings = self.settings_for(path)
        if self.excluded(path, settings):
            document.result = None
        else:
            document.result = self._analyze(document.source(), path, parse=document.parser.parse)
        changed = self._after_change(path, previous, document.result)
        document.findings = self.resolve(document)
        return document, changed

    def close(self, path: str) -> bool:
        """The editor closed a document: the file counts as it is on disk again."""
        document = self.documents.pop(path, None)
        if document is None:
            return False
        return self._after_change(path, document.result, self.on_disk.get(path))

    def resolve(self, document: OpenDocument) -> list[Finding]:
        """Phase 2 for one open document: its findings against the current project index."""
        if document.result is None:
            return []
        outcome = engine.finish([document.result], index=self.index)
        self.internal_errors.extend(outcome.internal_errors)
        return outcome.findings

    def lint_text(self, document: OpenDocument, source: Source, parser: IncrementalParser) -> Any:
        """Lint another text of an open document (a step of fixing it) in the project's context."""
        result = self._analyze(source, document.path, parse=parser.parse)
        return engine.finish([result], index=self.index)

    # --- the project index --------------------------------------------------------------------

    @property
    def index(self) -> Any:
        if self._index is None:
            from dllint.project import ProjectIndex

            self._index = ProjectIndex.from_summaries(r.summary for r in self._results() if r.summary is not None)
        return self._index

    def _results(self) -> Iterable[FileResult]:
        for path, result in self.on_disk.items():
            if path not in self.documents:
                yield result
        for document in self.documents.values():
            if document.result is not None:
                yield document.result

    def _analyze(self, source: Source, path: str, parse: Any = None) -> FileResult:
        """Phase 1 for one file, with the configuration values other files of the workspace
        give the names it imports (those its last analysis looked up; once more if this one
        looked up others)."""
        settings = self.settings_for(path)
        module = engine.module_name_for(path)
        mode = "forced" if module in self._forced else "full" if self._offers_values(module) else "auto"
        enabled = settings.enabled_codes(path)
        rules = self.rules_for(settings)
        document = self.documents.get(path)
        previous = document.result if document is not None and document.result is not None else self.on_disk.get(path)
        externals = self._externals(previous.wanted if previous is not None else ())
        result = engine.analyze(source, enabled, rules, mode=mode, parse=parse, externals=externals)
        if result.wanted and (previous is None or result.wanted != previous.wanted):
            wanted = self._externals(result.wanted)
            if wanted != externals:
                result = engine.analyze(source, enabled, rules, mode=mode, parse=parse, externals=wanted)
        return result

    def _offers_values(self, module: str) -> bool:
        """Whether other files look up names of the module (analysed even if nothing in it is
        torch-related, for the configuration values it may give them)."""
        if self._wanted_modules is None:
            self._wanted_modules = engine.wanted_modules(list(self._results()))
        return self._wanted_modules.matches(module)

    def _externals(self, wanted: Iterable[str]) -> dict[str, tuple]:
        return self.index.values_for(wanted) if wanted and (self.on_disk or self.documents) else {}

    def _after_change(self, path: str, previous: Optional[FileResult], current: Optional[FileResult]) -> bool:
        if _shape(previous) == _shape(current):
            return False
        self._index = None
        self._wanted_modules = None
        self._update_forced({path})
        changed = _value_names(previous) ^ _value_names(current) | {
            name for name in _value_names(previous) & _value_names(current)
            if previous.summary.values[name] != current.summary.values[name]  # type: ignore[union-attr]
        }
        if changed:
            self._reanalyse_importers(path, changed)
        return True

    def _reanalyse_importers(self, path: str, names: set[str]) -> None:
        """The files whose analysis used configuration values that just changed (``config.py``
        edited), analysed again with the new ones."""
        from dllint.files import load_source

        def uses(result: Optional[FileResult]) -> bool:
            return result is not None and any(
                name == wanted or name.endswith("." + wanted) for wanted in result.wanted for name in names
            )

        for other, result in list(self.on_disk.items()):
            if other != path and other not in self.documents and uses(result):
                self.on_disk[other] = self._analyze(load_source(Path(other)), other)
        for other, document in self.documents.items():
            if other != path and uses(document.result):
                document.result = self._analyze(document.source(), other, parse=document.parser.parse)
                document.findings = self.resolve(document)

    def _update_forced(self, changed: set[str]) -> None:
        """Analyse fully the files that import a model-defining module of the workspace but
        were skipped (nothing in them names torch), as a ``dllint`` run does."""
        results = list(self._results())
        forced = engine.modules_to_analyse_fully(results)
        newly = forced - self._forced
        self._forced |= forced
        if not newly:
            return
        for path, result in list(self.on_disk.items()):
            if result.skipped and result.module in newly:
                from dllint.files import load_source

                self.on_disk[path] = self._analyze(load_source(Path(path)), path)
        for document in self.documents.values():
            if document.result is not None and document.result.skipped and document.result.module in newly:
                document.result = self._analyze(document.source(), document.path, parse=document.parser.parse)
        self._index = None


def _shape(result: Optional[FileResult]) -> Any:
    """What other files' verdicts can depend on: a file's summary (its classes, its namespace:
    what its names stand for, its star imports, ``__all__``; the init functions it applies; its
    configuration values), whether it was skipped and what it imports."""
    if result is None:
        return None
    classes: tuple = ()
    namespace: tuple = ()
    values = ""
    summary = result.summary
    if summary is not None:
        classes = tuple(
            (name, item.bases, item.is_module, tuple(sorted(item.contains)), item.output, item.logits,
             tuple(sorted(item.methods)), repr(item.fields), tuple(sorted(item.traits)),
             tuple(sorted(item.hidden)), tuple(sorted(item.hidden_paths)))
            for name, item in sorted(summary.classes.items())
        )
        namespace = (
            tuple(sorted(summary.names.items())), summary.star_imports, summary.exports,
            tuple(sorted(summary.choices.items())), summary.applied, summary.saved,
        )
        values = repr(sorted(summary.values.items()))
    return result.module, result.skipped, result.imports, classes, namespace, values, result.wanted


def _value_names(result: Optional[FileResult]) -> set[str]:
    return set(result.summary.values) if result is not None and result.summary is not None else set()
