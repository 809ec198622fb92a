"""``dllint server``: the Language Server Protocol over stdio, on pygls and lsprotocol.

What an editor gets:

* diagnostics for every open Python file and notebook (``notebookDocument/*``, where the client
  syncs notebooks), published on open, change and save, from the buffer's text;
* quick fixes: each finding's fix (unsafe ones marked as such and never preferred), "add
  ``# noqa: CODE``" on the line, and "show documentation" (opens the rule's page);
  ``source.fixAll.dllint`` applies every safe fix (and the unsafe ones where the configuration
  has ``unsafe-fixes = true``), as ``dllint --fix`` does;
* hover on a finding: the rule's explanation (what it does, why it is bad, what to use instead).

Changes are coalesced: an analysis starts once a document has been quiet for
:data:`DEBOUNCE_SECONDS`, one at a time on one analysis thread (the protocol keeps being
served meanwhile), and edits that arrive during an analysis lead to one more analysis of the
latest text, never to one per keystroke. All workspace state lives on that thread
(:class:`dllint.server.workspace.Workspace`); this module only converts and sends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from dllint import __version__
from dllint.findings import SAFE, Finding, rule_url
from dllint.server.reparse import IncrementalParser, split_lines
from dllint.server.workspace import PYTHON_SUFFIXES, OpenDocument, Workspace
from dllint.sources import Source

DEBOUNCE_SECONDS = 0.025
FIX_ALL_KIND = "source.fixAll.dllint"
SHOW_DOCUMENTATION = "dllint.showDocumentation"
SOURCE_NAME = "dllint"

logger = logging.getLogger(__name__)


class Shown:
    """What the editor was last sent for one document: the findings and the content they are
    positioned in (code actions and hovers answer from it)."""

    def __init__(self, path: str, notebook: bool, content: Any, uris: list[Optional[str]], versions: dict[str, Any],
                 findings: list[Finding], source: Source, docs_url: str, unsafe_fixes: Optional[bool]) -> None:
        self.path = path
        self.notebook = notebook
        self.content = content  # the text, or the cells' texts
        self.uris = uris  # a notebook's cell URIs by cell position (None: not a Python cell); [uri] for a file
        self.versions = versions  # URI -> version of the text the findings refer to
        self.findings = findings
        self.source = source
        self.docs_url = docs_url
        self.unsafe_fixes = unsafe_fixes
        self.lines = {uri: split_lines(text) for uri, text in zip(uris, content if notebook else [content]) if uri}

    def uri_of(self, finding: Finding) -> Optional[str]:
        if not self.notebook:
            return self.uris[0]
        if finding.cell is None or not 0 < finding.cell <= len(self.uris):
            return None
        return self.uris[finding.cell - 1]

    def document(self) -> OpenDocument:
        document = OpenDocument(self.path, self.notebook)
        if self.notebook:
            document.cells = list(self.content)
        else:
            document.text = self.content
        return document


class DllintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "dllint",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithNotebook(notebook="*", cells=[types.NotebookCellLanguage("python")])],
                save=True,
            ),
        )
        self.analysis = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dllint-analysis")
        self.state: Optional[Workspace] = None
        self.shown: dict[str, Shown] = {}  # path -> what the editor shows
        self.debounce = DEBOUNCE_SECONDS
        self.scan_workspace = True
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._notebook_uris: dict[str, str] = {}  # path -> notebook URI (for open notebooks)
        self._open_files: dict[str, str] = {}  # path -> URI of open Python files
        self.loop: Optional[asyncio.AbstractEventLoop] = None

    # --- scheduling ---------------------------------------------------------------------------

    def request_analysis(self, path: str) -> None:
        """A document changed: analyse it once it has been quiet for a moment."""
        self._dirty.add(path)
        if path in self._running:
            return  # analysed again when the running analysis ends
        timer = self._timers.pop(path, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._timers[path] = loop.call_later(self.debounce, lambda: asyncio.ensure_future(self._analyse(path)))

    async def _analyse(self, path: str) -> None:
        self._timers.pop(path, None)
        snapshot = self._snapshot(path)
        self._dirty.discard(path)
        if snapshot is None:
            return
        self._running.add(path)
        try:
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            shown, others = await loop.run_in_executor(self.analysis, self._update_uncollected, snapshot)
            logger.debug("analysed %s (versions %s) in %.1f ms", path, snapshot[4], (time.perf_counter() - started) * 1000)
        except Exception:  # noqa: BLE001 - keep serving; say what went wrong
            logger.exception("analysis of %s failed", path)
            self._log(types.MessageType.Error, f"dllint: internal error while analysing {path} (please report it)")
            return
        finally:
            self._running.discard(path)
            self.analysis.submit(_collect_analysis_garbage)  # after the diagnostics are sent
        if path in self._dirty:
            self._dirty.discard(path)
            self.request_analysis(path)
        first = path not in self.shown
        if self._snapshot_versions(path) == shown.versions:
            self._publish(shown)
        for other in others:
            if self._snapshot_versions(other.path) == other.versions:
                self._publish(other)
        if first:
            self.analysis.submit(settle_memory)

    def _snapshot(self, path: str) -> Optional[tuple]:
        """(path, notebook, content, uris, versions) of an open document, read on the protocol thread."""
        notebook_uri = self._notebook_uris.get(path)
        if notebook_uri is not None:
            notebook = self.workspace.get_notebook_document(notebook_uri=notebook_uri)
            if notebook is None:
                return None
            texts: list[Optional[str]] = []
            uris: list[Optional[str]] = []
            versions = {}
            for cell in notebook.cells:
                document = self.workspace.text_documents.get(unquote(cell.document))
                python = cell.kind == types.NotebookCellKind.Code and document is not None and (
                    document.language_id in (None, "python")
                )
                texts.append(document.source if python else None)
                uris.append(cell.document if python else None)
                if python:
                    versions[cell.document] = document.version
            return path, True, texts, uris, versions
        uri = self._uri_of(path)
        document = self.workspace.text_documents.get(unquote(uri)) if uri else None
        if document is None:
            return None
        return path, False, document.source, [uri], {uri: document.version}

    def _snapshot_versions(self, path: str) -> Optional[dict]:
        snapshot = self._snapshot(path)
        return snapshot[4] if snapshot is not None else None

    def _uri_of(self, path: str) -> Optional[str]:
        shown = self.shown.get(path)
        if shown is not None and not shown.notebook:
            return shown.uris[0]
        return self._open_files.get(path)

    # --- on the analysis thread ---------------------------------------------------------------

    def _update_uncollected(self, snapshot: tuple) -> tuple[Shown, list[Shown]]:
        """:meth:`_update` with the garbage collector off: an analysis allocates a few hundred
        thousand objects that are alive until it ends, and collections during it would only
        promote them to the old generations, whose full collections (every few edits) then
        cost more than the analysis. Its garbage is collected once the diagnostics are out."""
        gc.disable()
        return self._update(snapshot)

    def _update(self, snapshot: tuple) -> tuple[Shown, list[Shown]]:
        path, notebook, content, uris, versions = snapshot
        state = self._workspace_state()
        document, index_changed = state.update(path, notebook, content)
        shown = self._shown(document, content, uris, versions)
        others = []
        if index_changed:
            for other_path, other in list(self.shown.items()):
                if other_path != path and other_path in state.documents:
                    findings = state.resolve(state.documents[other_path])
                    if findings != other.findings:
                        others.append(self._reshown(other, findings))
        self._flush_errors()
        return shown, others

    def _reresolve(self, shown: Sequence[Shown]) -> list[Shown]:
        state = self._workspace_state()
        updated = []
        for item in shown:
            document = state.documents.get(item.path)
            if document is not None:
                findings = state.resolve(document)
                if findings != item.findings:
                    updated.append(self._reshown(item, findings))
        self._flush_errors()
        return updated

    def _shown(self, document: OpenDocument, content: Any, uris: list, versions: dict) -> Shown:
        settings = self._workspace_state().settings_for(document.path)
        return Shown(document.path, document.notebook, content, uris, versions, document.findings, document.source(),
                     settings.docs_url, settings.unsafe_fixes)

    @staticmethod
    def _reshown(shown: Shown, findings: list[Finding]) -> Shown:
        return Shown(shown.path, shown.notebook, shown.content, shown.uris, shown.versions, findings, shown.source,
                     shown.docs_url, shown.unsafe_fixes)

    def _workspace_state(self) -> Workspace:
        if self.state is None:
            self.state = Workspace([], self._show_error)
        return self.state

    def _flush_errors(self) -> None:
        state = self._workspace_state()
        errors, state.internal_errors = state.internal_errors, []
        for error in errors:
            self._log(types.MessageType.Error, f"dllint: {error}")

    # --- sending ------------------------------------------------------------------------------

    def _publish(self, shown: Shown) -> None:
        self.shown[shown.path] = shown
        per_uri: dict[str, list[types.Diagnostic]] = {uri: [] for uri in shown.uris if uri}
        for finding in shown.findings:
            uri = shown.uri_of(finding)
            if uri is not None:
                per_uri[uri].append(self._diagnostic(shown, uri, finding))
        for uri, diagnostics in per_uri.items():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=shown.versions.get(uri))
            )

    def _clear(self, uris: Sequence[Optional[str]]) -> None:
        for uri in uris:
            if uri:
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def _diagnostic(self, shown: Shown, uri: str, finding: Finding) -> types.Diagnostic:
        return types.Diagnostic(
            range=self._range(shown.lines[uri], finding.location.row, finding.location.column,
                              finding.end_location.row, finding.end_location.column),
            message=finding.message,
            severity=types.DiagnosticSeverity.Error if finding.severity == "error" else types.DiagnosticSeverity.Warning,
            code=finding.code,
            code_description=types.CodeDescription(href=rule_url(finding.code, shown.docs_url)),
            source=SOURCE_NAME,
        )

    def _position(self, lines: Sequence[str], row: int, column: int) -> types.Position:
        """A 1-based row and code-point column → an LSP position in the negotiated encoding."""
        if row > len(lines):
            return types.Position(line=len(lines), character=0)
        line = lines[row - 1].rstrip("\r\n")
        return types.Position(line=row - 1, character=self.workspace.position_codec.client_num_units(line[: column - 1]))

    def _range(self, lines: Sequence[str], row: int, column: int, end_row: int, end_column: int) -> types.Range:
        return types.Range(start=self._position(lines, row, column), end=self._position(lines, end_row, end_column))

    def _show_error(self, message: str) -> None:
        """From any thread: show a message (a configuration error) in the editor."""
        params = types.ShowMessageParams(type=types.MessageType.Error, message=message)
        self._call_soon(self.window_show_message, params)

    def _log(self, kind: types.MessageType, message: str) -> None:
        self._call_soon(self.window_log_message, types.LogMessageParams(type=kind, message=message))

    def _call_soon(self, function: Any, params: Any) -> None:
        """Send from the protocol's thread, whichever thread asks."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(function, params)

    # --- edits --------------------------------------------------------------------------------

    def _text_edits(self, shown: Shown, edits: Sequence[Any]) -> Optional[dict[str, list[types.TextEdit]]]:
        """A fix's edits (rows of the file's text; for a notebook, of its joined cells) as LSP
        text edits per URI; None when they cannot be applied (they span two cells, or touch a
        line that IPython syntax stood on)."""
        out: dict[str, list[types.TextEdit]] = {}
        for edit in edits:
            if not shown.notebook:
                uri = shown.uris[0]
                start, end = (edit.location.row, edit.location.column), (edit.end_location.row, edit.end_location.column)
            else:
                cell, start_row = shown.source.to_cell(edit.location.row)
                end_cell, end_row = shown.source.to_cell(edit.end_location.row)
                if cell is None or cell != end_cell or not 0 < cell <= len(shown.uris) or shown.uris[cell - 1] is None:
                    return None
                uri = shown.uris[cell - 1]
                joined = split_lines(shown.source.text or "")
                for row, cell_row in ((edit.location.row, start_row), (edit.end_location.row, end_row)):
                    cell_lines = shown.lines[uri]
                    if cell_row <= len(cell_lines) and joined[row - 1].rstrip("\r\n") != cell_lines[cell_row - 1].rstrip("\r\n"):
                        return None  # a magic line
                start, end = (start_row, edit.location.column), (end_row, edit.end_location.column)
            lines = shown.lines[uri]
            out.setdefault(uri, []).append(
                types.TextEdit(range=self._range(lines, *start, *end), new_text=edit.content)
            )
        return out

    def _workspace_edit(self, shown: Shown, changes: dict[str, list[types.TextEdit]]) -> types.WorkspaceEdit:
        capabilities = self.client_capabilities.workspace
        edit_capabilities = capabilities.workspace_edit if capabilities else None
        if edit_capabilities is not None and edit_capabilities.document_changes:
            return types.WorkspaceEdit(document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=shown.versions.get(uri)),
                    edits=edits,
                )
                for uri, edits in changes.items()
            ])
        return types.WorkspaceEdit(changes=changes)


server = DllintServer()


def _path(uri: str) -> Optional[str]:
    path = to_fs_path(uri)
    return os.path.abspath(path) if path else None


def _lintable(document: Any) -> bool:
    path = _path(document.uri) or ""
    return document.language_id == "python" or path.lower().endswith(PYTHON_SUFFIXES)


# --- lifecycle --------------------------------------------------------------------------------

@server.feature(types.INITIALIZE)
def initialize(ls: DllintServer, params: types.InitializeParams) -> None:
    ls.loop = asyncio.get_running_loop()
    options = params.initialization_options if isinstance(params.initialization_options, dict) else {}
    if isinstance(options.get("debounce"), (int, float)) and options["debounce"] >= 0:
        ls.debounce = float(options["debounce"])
    if options.get("scanWorkspace") is False:
        ls.scan_workspace = False
    roots = [_path(folder.uri) for folder in params.workspace_folders or []]
    if not roots and params.root_uri:
        roots = [_path(params.root_uri)]
    elif not roots and params.root_path:
        roots = [os.path.abspath(params.root_path)]
    ls.state = Workspace([root for root in roots if root], ls._show_error)


@server.feature(types.INITIALIZED)
async def initialized(ls: DllintServer, params: types.InitializedParams) -> None:
    watch = ls.client_capabilities.workspace
    watched = watch.did_change_watched_files if watch else None
    if watched is not None and watched.dynamic_registration:
        watchers = [types.FileSystemWatcher(glob_pattern=pattern) for pattern in
                    ("**/*.py", "**/*.pyi", "**/*.ipynb", "**/pyproject.toml", "**/dllint.toml", "**/.gitignore")]
        try:
            await ls.client_register_capability_async(types.RegistrationParams(registrations=[
                types.Registration(
                    id="dllint-watched-files",
                    method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
                )
            ]))
        except Exception as error:  # noqa: BLE001 - the client refused: files changed on disk go unseen
            ls._log(types.MessageType.Warning, f"dllint: could not watch the workspace's files: {error}")
    if ls.scan_workspace:
        await _scan(ls)


async def _scan(ls: DllintServer) -> None:
    """Analyse the workspace folders in the background, then resolve every open document again."""
    state = ls._workspace_state()
    if not state.roots:
        return
    loop = asyncio.get_running_loop()
    # Phase 1 of the whole workspace runs on its own thread (its worker processes do the work)
    # and changes no state; the analysis thread then takes the results.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dllint-scan") as scanner:
        results = await loop.run_in_executor(scanner, state.scan)
    await loop.run_in_executor(ls.analysis, state.take_scan, results)
    await _refresh_all(ls)
    ls.analysis.submit(settle_memory)


def _collect_analysis_garbage() -> None:
    gc.collect(0)
    gc.enable()


def settle_memory() -> None:
    """After a workspace scan or a document's first analysis: collect the garbage, then move
    what is left (the workspace's results, the open documents' syntax trees, the imported
    rules) out of the collector's sight. Python's full collections otherwise walk all of it
    every few edits (a third of a second for a 1,000-line file), and an edit that happens to
    trigger one waits that long for its diagnostics. Frozen objects are still freed when no
    longer referenced; only cyclic garbage among them would stay, and there is none left
    after the collection."""
    gc.collect()
    gc.freeze()


async def _refresh_all(ls: DllintServer) -> None:
    """The project index changed outside any open document: resolve every open one again
    (phase 2 only) and send what changed."""
    shown = list(ls.shown.values())
    updated = await asyncio.get_running_loop().run_in_executor(ls.analysis, ls._reresolve, shown)
    for item in updated:
        if ls._snapshot_versions(item.path) == item.versions:
            ls._publish(item)


# --- text documents ---------------------------------------------------------------------------

@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: DllintServer, params: types.DidOpenTextDocumentParams) -> None:
    path = _path(params.text_document.uri)
    if path is None or not _lintable(params.text_document):
        return
    ls._open_files[path] = params.text_document.uri
    ls.request_analysis(path)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: DllintServer, params: types.DidChangeTextDocumentParams) -> None:
    path = _path(params.text_document.uri)
    if path in ls._open_files:
        ls.request_analysis(path)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def did_save(ls: DllintServer, params: types.DidSaveTextDocumentParams) -> None:
    path = _path(params.text_document.uri)
    if path in ls._open_files:
        ls.request_analysis(path)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: DllintServer, params: types.DidCloseTextDocumentParams) -> None:
    path = _path(params.text_document.uri)
    if path is None or ls._open_files.pop(path, None) is None:
        return
    await _closed(ls, path, [params.text_document.uri])


async def _closed(ls: DllintServer, path: str, uris: Sequence[Optional[str]]) -> None:
    timer = ls._timers.pop(path, None)
    if timer is not None:
        timer.cancel()
    ls.shown.pop(path, None)
    ls._clear(uris)
    changed = await asyncio.get_running_loop().run_in_executor(ls.analysis, ls._workspace_state().close, path)
    if changed:
        await _refresh_all(ls)


# --- notebooks --------------------------------------------------------------------------------

@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: DllintServer, params: types.DidOpenNotebookDocumentParams) -> None:
    path = _path(params.notebook_document.uri)
    if path is None:
        return
    ls._notebook_uris[path] = params.notebook_document.uri
    ls.request_analysis(path)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: DllintServer, params: types.DidChangeNotebookDocumentParams) -> None:
    path = _path(params.notebook_document.uri)
    if path in ls._notebook_uris:
        structure = params.change.cells.structure if params.change.cells else None
        if structure is not None and structure.did_close:
            ls._clear([cell.uri for cell in structure.did_close])
        ls.request_analysis(path)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: DllintServer, params: types.DidSaveNotebookDocumentParams) -> None:
    path = _path(params.notebook_document.uri)
    if path in ls._notebook_uris:
        ls.request_analysis(path)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
async def notebook_did_close(ls: DllintServer, params: types.DidCloseNotebookDocumentParams) -> None:
    path = _path(params.notebook_document.uri)
    if path is None or ls._notebook_uris.pop(path, None) is None:
        return
    await _closed(ls, path, [cell.uri for cell in params.cell_text_documents])


# --- files changed on disk, workspace folders -------------------------------------------------

CONFIG_FILES = ("pyproject.toml", "dllint.toml", ".gitignore")


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def did_change_watched_files(ls: DllintServer, params: types.DidChangeWatchedFilesParams) -> None:
    state = ls._workspace_state()
    loop = asyncio.get_running_loop()
    paths = [path for path in (_path(change.uri) for change in params.changes) if path]
    if any(os.path.basename(path) in CONFIG_FILES for path in paths):
        # Another selection, other options, other exclusions: analyse everything again.
        await loop.run_in_executor(ls.analysis, state.forget_configuration)
        for path in list(ls.shown):
            ls.request_analysis(path)
        if ls.scan_workspace:
            await _scan(ls)
        return
    changed = False
    for path in paths:
        if path.lower().endswith((*PYTHON_SUFFIXES, ".ipynb")):
            changed = await loop.run_in_executor(ls.analysis, state.refresh_from_disk, path) or changed
    if changed:
        await _refresh_all(ls)


@server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
async def did_change_workspace_folders(ls: DllintServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    state = ls._workspace_state()
    removed = {_path(folder.uri) for folder in params.event.removed}
    added = [_path(folder.uri) for folder in params.event.added]
    state.roots = [root for root in state.roots if root not in removed] + [root for root in added if root]
    if ls.scan_workspace:
        await _scan(ls)


# --- code actions -----------------------------------------------------------------------------

def _wanted(kind: str, only: Optional[Sequence[str]]) -> bool:
    return only is None or any(kind == prefix or kind.startswith(prefix + ".") for prefix in only)


def _shown_for(ls: DllintServer, uri: str) -> Optional[Shown]:
    path = _path(uri)
    shown = ls.shown.get(path) if path else None
    if shown is None:
        notebook = ls.workspace.get_notebook_document(cell_uri=uri)
        if notebook is not None:
            shown = ls.shown.get(_path(notebook.uri) or "")
    return shown


def _overlaps(ls: DllintServer, shown: Shown, uri: str, finding: Finding, requested: types.Range) -> bool:
    if shown.uri_of(finding) != uri:
        return False
    lines = shown.lines[uri]
    found = ls._range(lines, finding.location.row, finding.location.column, finding.end_location.row,
                      finding.end_location.column)
    start, end = (found.start.line, found.start.character), (found.end.line, found.end.character)
    return start <= (requested.end.line, requested.end.character) and (requested.start.line, requested.start.character) <= end


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, FIX_ALL_KIND],
        resolve_provider=True,
    ),
)
async def code_action(ls: DllintServer, params: types.CodeActionParams) -> Optional[list[types.CodeAction]]:
    uri = params.text_document.uri
    shown = _shown_for(ls, uri)
    if shown is None:
        return None
    only = params.context.only
    actions: list[types.CodeAction] = []
    if _wanted(types.CodeActionKind.QuickFix, only):
        for finding in shown.findings:
            if _overlaps(ls, shown, uri, finding, params.range):
                actions.extend(_quick_fixes(ls, shown, uri, finding))
    fixable = [finding for finding in shown.findings if finding.fix is not None and finding.fix.applies(shown.unsafe_fixes)]
    # Asked for explicitly (on save: "source.fixAll"), or offered next to a fixable finding.
    requested = only is not None and _wanted(FIX_ALL_KIND, only)
    offered = only is None and any(_overlaps(ls, shown, uri, finding, params.range) for finding in fixable)
    if fixable and (requested or offered):
        action = types.CodeAction(title="dllint: Fix all auto-fixable problems", kind=FIX_ALL_KIND,
                                  data={"fixAll": shown.path})
        if requested or not _can_resolve_edits(ls):
            action = await resolve_code_action(ls, action)
        actions.append(action)
    return actions


def _can_resolve_edits(ls: DllintServer) -> bool:
    text = ls.client_capabilities.text_document
    support = text.code_action.resolve_support if text and text.code_action else None
    return support is not None and "edit" in support.properties


def _quick_fixes(ls: DllintServer, shown: Shown, uri: str, finding: Finding) -> list[types.CodeAction]:
    diagnostic = ls._diagnostic(shown, uri, finding)
    actions = []
    fix = finding.fix
    if fix is not None:
        changes = ls._text_edits(shown, fix.edits)
        if changes is not None:
            unsafe = fix.applicability != SAFE
            title = f"dllint ({finding.code}): {fix.message or 'Apply the fix'}" + (" (unsafe fix)" if unsafe else "")
            actions.append(types.CodeAction(
                title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=not unsafe, edit=ls._workspace_edit(shown, changes),
            ))
    noqa = _noqa_edit(ls, shown, finding)
    if noqa is not None:
        actions.append(types.CodeAction(
            title=f"dllint ({finding.code}): Disable for this line (add `# noqa: {finding.code}`)",
            kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic], edit=ls._workspace_edit(shown, noqa),
        ))
    url = rule_url(finding.code, shown.docs_url)
    actions.append(types.CodeAction(
        title=f"dllint ({finding.code}): Show documentation",
        kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
        command=types.Command(title=f"Show the documentation of {finding.code}", command=SHOW_DOCUMENTATION,
                              arguments=[url]),
    ))
    return actions


def _noqa_edit(ls: DllintServer, shown: Shown, finding: Finding) -> Optional[dict[str, list[types.TextEdit]]]:
    from dllint.add_noqa import NOT_SILENCEABLE, noqa_edits

    if finding.code in NOT_SILENCEABLE:
        return None
    document = shown.document().fixes_document()
    if document is None:
        return None
    edits = noqa_edits(document, [finding])
    if not edits:
        return None
    return ls._text_edits(shown, edits[0][1].edits)


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve_code_action(ls: DllintServer, action: types.CodeAction) -> types.CodeAction:
    if isinstance(action.data, dict) and "fixAll" in action.data:
        loop = asyncio.get_running_loop()
        snapshot = ls._snapshot(action.data["fixAll"])
        if snapshot is not None:
            edit = await loop.run_in_executor(ls.analysis, _fix_all_edit, ls, snapshot)
            action.edit = edit
    return action


def _fix_all_edit(ls: DllintServer, snapshot: tuple) -> Optional[types.WorkspaceEdit]:
    """On the analysis thread: every applicable fix of the document's current content,
    applied as ``dllint --fix`` does (fix, lint again, repeat), as one edit per changed text."""
    from dllint.fixes import fix_loop

    path, notebook, content, uris, versions = snapshot
    state = ls._workspace_state()
    document = OpenDocument(path, notebook)
    if notebook:
        document.cells = list(content)
    else:
        document.text = content
    fixes_document = document.fixes_document()
    if fixes_document is None:
        return None
    parser = state.documents[path].parser.fork() if path in state.documents else IncrementalParser()
    settings = state.settings_for(path)

    def lint(sources: Sequence[Source]) -> Any:
        return state.lint_text(document, sources[0], parser)

    source = fixes_document.source()
    outcome = fix_loop([source], lint([source]), lint, preloaded={path: fixes_document},
                       unsafe_fixes=settings.unsafe_fixes)
    fixed = outcome.documents.get(path)
    if fixed is None:
        return None
    shown = ls._shown(document, content, uris, versions)
    if notebook:
        new_texts = [cell.get("source", "") for cell in fixed.notebook.cells]
        new_texts = ["".join(text) if isinstance(text, list) else text for text in new_texts]
        changes = {
            uri: [_replacement(ls, shown.lines[uri], old, new)]
            for uri, old, new in zip(uris, content, new_texts) if uri and old != new
        }
    else:
        changes = {uris[0]: [_replacement(ls, shown.lines[uris[0]], content, fixed.text)]}
    return ls._workspace_edit(shown, changes)


def _replacement(ls: DllintServer, lines: Sequence[str], old: str, new: str) -> types.TextEdit:
    """One edit that turns ``old`` into ``new``: only the part between their common beginning
    and end is replaced (the editor keeps the cursor and folds elsewhere)."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[len(old) - 1 - end] == new[len(new) - 1 - end]:
        end += 1
    row_start, column_start = _row_column(old, start)
    row_end, column_end = _row_column(old, len(old) - end)
    return types.TextEdit(range=ls._range(lines, row_start, column_start, row_end, column_end),
                          new_text=new[start:len(new) - end])


def _row_column(text: str, offset: int) -> tuple[int, int]:
    before = split_lines(text[:offset])
    if not before:
        return 1, 1
    last = before[-1]
    if last.endswith(("\n", "\r")):
        return len(before) + 1, 1
    return len(before), len(last) + 1


@server.command(SHOW_DOCUMENTATION)
async def show_documentation(ls: DllintServer, url: str) -> None:
    window = ls.client_capabilities.window
    if window is not None and window.show_document is not None and window.show_document.support:
        await ls.window_show_document_async(types.ShowDocumentParams(uri=url, external=True))
    else:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=f"dllint: {url}"))


# --- hover ------------------------------------------------------------------------------------

@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: DllintServer, params: types.HoverParams) -> Optional[types.Hover]:
    uri = params.text_document.uri
    shown = _shown_for(ls, uri)
    if shown is None:
        return None
    point = types.Range(start=params.position, end=params.position)
    found = [finding for finding in shown.findings if _overlaps(ls, shown, uri, finding, point)]
    if not found:
        return None
    from dllint.server.explain import hover_markdown

    text = "\n\n---\n\n".join(hover_markdown(finding, rule_url(finding.code, shown.docs_url)) for finding in found)
    first = found[0]
    text_capabilities = ls.client_capabilities.text_document
    formats = text_capabilities.hover.content_format if text_capabilities and text_capabilities.hover else None
    kind = types.MarkupKind.PlainText if formats and types.MarkupKind.Markdown not in formats else types.MarkupKind.Markdown
    return types.Hover(
        contents=types.MarkupContent(kind=kind, value=text),
        range=ls._range(shown.lines[uri], first.location.row, first.location.column, first.end_location.row,
                        first.end_location.column),
    )


@server.feature(types.SHUTDOWN)
def shutdown(ls: DllintServer, params: Any = None) -> None:
    ls.analysis.shutdown(wait=False, cancel_futures=True)


def start() -> None:
    """Serve the protocol on stdin/stdout until the client says exit."""
    server.start_io()
