"""An LSP client (pytest-lsp) talking to a real ``dllint server`` process over stdio.

Each test gets a fresh workspace folder (``workspace``), filled before the server starts from
the test's ``@pytest.mark.files({...})`` marker, and a client whose ``initialize`` names that
folder. The client announces the capabilities VS Code 1.65 sends (recorded by pytest-lsp),
plus notebook synchronisation; pytest-lsp checks every answer against them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import pytest

try:
    import pytest_lsp
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities, make_test_lsp_client
except ImportError:  # pytest-lsp needs Python 3.10: the end-to-end tests are skipped below it
    pytest_lsp = None

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "dllint", "server"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), "NO_COLOR": "1"}
TIMEOUT = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "files(mapping): files written into the workspace before the server starts")
    config.addinivalue_line("markers", "capabilities(spec): the client capabilities to announce (a pytest-lsp client spec)")
    config.addinivalue_line("markers", "options(mapping): the server's initializationOptions")


def capabilities(spec: str = "visual-studio-code") -> types.ClientCapabilities:
    recorded = client_capabilities(spec)
    recorded.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities(dynamic_registration=False)
    )
    return recorded


@pytest.fixture
def workspace(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    marker = request.node.get_closest_marker("files")
    for name, text in (marker.args[0] if marker else {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _client() -> LanguageClient:
    """pytest-lsp's test client, reading a code action that carries a command as a CodeAction:
    lsprotocol's converter takes any result with a ``command`` key for a bare ``Command``, but
    only a Command's ``command`` is a string (a CodeAction's is a Command object)."""
    client = make_test_lsp_client()
    converter = client.protocol._converter

    def command_or_code_action(data: Any, _: type) -> Any:
        kind = types.Command if isinstance(data.get("command"), str) else types.CodeAction
        return converter.structure(data, kind)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_code_action)
    return client


if pytest_lsp is None:
    @pytest.fixture
    def client() -> None:
        pytest.skip("the language server tests need pytest-lsp (Python 3.10+): pip install -e '.[test]'")
else:
    @pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=ENV, client_factory=_client))
    async def client(lsp_client: LanguageClient, workspace: Path, request: pytest.FixtureRequest):
        lsp_client.registrations = []

        @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register(client: LanguageClient, params: types.RegistrationParams) -> None:
            client.registrations.extend(params.registrations)

        spec = request.node.get_closest_marker("capabilities")
        options = request.node.get_closest_marker("options")
        await lsp_client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(spec.args[0] if spec else "visual-studio-code"),
                root_uri=workspace.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
                initialization_options=options.args[0] if options else None,
            )
        )
        yield
        await lsp_client.shutdown_session()


# --- helpers the tests share ------------------------------------------------------------------

async def diagnostics_of(
    client: LanguageClient, uri: str, until: Callable[[Sequence[types.Diagnostic]], bool] = lambda found: True
) -> Sequence[types.Diagnostic]:
    """The diagnostics published for ``uri``, once they satisfy ``until`` (waiting for them)."""

    async def wait() -> Sequence[types.Diagnostic]:
        while True:
            found = client.diagnostics.get(uri)
            if found is not None and until(found):
                return found
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    return await asyncio.wait_for(wait(), TIMEOUT)


def codes(found: Sequence[types.Diagnostic]) -> list[str]:
    return sorted(str(diagnostic.code) for diagnostic in found)


def open_file(client: LanguageClient, path: Path, text: Optional[str] = None, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version,
                                             text=path.read_text() if text is None else text)
    ))
    return uri


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    """An edit as VS Code sends it: the range it replaces (here, the whole document)."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
    ))


def apply_edit(text: str, edits: Sequence[types.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 positions) to a text, as an editor does."""
    lines = text.splitlines(keepends=True) + [""]

    def offset(position: types.Position) -> int:
        before = sum(len(line) for line in lines[: position.line])
        line = lines[position.line]
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return before + index
            units += 2 if ord(char) > 0xFFFF else 1
        return before + len(line)

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
        lines = text.splitlines(keepends=True) + [""]
    return text


def edits_for(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    found: list[Any] = []
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            found.extend(change.edits)
    found.extend((edit.changes or {}).get(uri, []))
    return found
