"""``dllint server`` end to end: a real LSP client drives the server process over stdio."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytest_lsp", reason="the language server tests need pytest-lsp (Python 3.10+)")

from lsprotocol import types  # noqa: E402
from pytest_lsp import LanguageClient  # noqa: E402

from tests.server.conftest import (  # noqa: E402
    ENV,
    apply_edit,
    codes,
    diagnostics_of,
    edits_for,
    open_file,
    replace_all,
)

pytestmark = pytest.mark.asyncio

BLOCK = """import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))
"""
CLEAN_BLOCK = BLOCK.replace("padding=1)", "padding=1, bias=False)")

MODELS = """import torch.nn as nn


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, hidden=512):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)
"""
MODELS_WITHOUT_RNN = MODELS.replace(
    "self.lstm = nn.LSTM(hidden, hidden, batch_first=True)", "self.mix = nn.Linear(hidden, hidden)"
).replace("out, _ = self.lstm(self.embed(tokens))", "out = self.mix(self.embed(tokens))")
TRAIN = """import torch
import torch.nn.functional as F

from models import CharLSTM


def train(batches, epochs=20):
    model = CharLSTM(vocab_size=96)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for inputs, targets in batches:
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
"""


def dllint_cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dllint", *args], cwd=cwd, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=120)


# --- diagnostics ------------------------------------------------------------------------------

async def test_diagnostics_come_from_the_buffer_not_the_disk(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "block.py"
    path.write_text(CLEAN_BLOCK)
    uri = open_file(client, path, text=BLOCK)
    found = await diagnostics_of(client, uri, lambda d: bool(d))
    assert codes(found) == ["DL301"]
    diagnostic = found[0]
    assert diagnostic.source == "dllint"
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    line = BLOCK.splitlines()[6]
    assert diagnostic.range.start == types.Position(line=6, character=line.index("nn.Conv2d"))
    assert diagnostic.range.end == types.Position(line=6, character=len(line))
    assert diagnostic.code_description.href == "https://dllint.readthedocs.io/en/latest/rules/DL301/"


async def test_an_edit_updates_the_diagnostics(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "block.py"
    path.write_text(BLOCK)
    uri = open_file(client, path)
    assert codes(await diagnostics_of(client, uri, bool)) == ["DL301"]
    replace_all(client, uri, CLEAN_BLOCK, version=2)
    assert codes(await diagnostics_of(client, uri, lambda d: not d)) == []
    replace_all(client, uri, BLOCK + "\n\nx = nn.Softmax()\n", version=3)
    assert codes(await diagnostics_of(client, uri, lambda d: len(d) == 2)) == ["DL301", "DL403"]
    published = asyncio.ensure_future(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS))
    await asyncio.sleep(0)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await asyncio.wait_for(published, 60)  # saving lints again
    assert codes(client.diagnostics[uri]) == ["DL301", "DL403"]


async def test_a_burst_of_edits_ends_with_the_last_texts_diagnostics(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "block.py"
    path.write_text(CLEAN_BLOCK)
    uri = open_file(client, path)
    await diagnostics_of(client, uri)
    text = CLEAN_BLOCK
    for version, character in enumerate("\ny = nn.Softmax()", start=2):  # typing, one character at a time
        text += character
        replace_all(client, uri, text, version=version)
    found = await diagnostics_of(client, uri, lambda d: codes(d) == ["DL403"])
    assert found[0].range.start.line == len(text.splitlines()) - 1


async def test_a_syntax_error_is_one_diagnostic_and_fixing_it_restores_the_findings(
    client: LanguageClient, workspace: Path
) -> None:
    path = workspace / "block.py"
    path.write_text(BLOCK)
    uri = open_file(client, path)
    await diagnostics_of(client, uri, bool)
    replace_all(client, uri, BLOCK.replace("return self.bn(self.conv(x))", "return self.bn(self.conv(x)"), version=2)
    found = await diagnostics_of(client, uri, lambda d: codes(d) == ["DL001"])
    assert found[0].severity == types.DiagnosticSeverity.Error
    replace_all(client, uri, BLOCK, version=3)
    await diagnostics_of(client, uri, lambda d: codes(d) == ["DL301"])


@pytest.mark.files({"models.py": MODELS, "train.py": TRAIN})
async def test_changing_a_model_in_one_file_updates_the_findings_of_another(client: LanguageClient, workspace: Path) -> None:
    train = open_file(client, workspace / "train.py")
    found = await diagnostics_of(client, train, lambda d: "DL501" in codes(d))
    assert "LSTM" in next(d.message for d in found if d.code == "DL501")
    models = open_file(client, workspace / "models.py")
    await diagnostics_of(client, models)
    replace_all(client, models, MODELS_WITHOUT_RNN, version=2)  # not saved: the buffer counts
    await diagnostics_of(client, train, lambda d: "DL501" not in codes(d))
    replace_all(client, models, MODELS, version=3)
    await diagnostics_of(client, train, lambda d: "DL501" in codes(d))


@pytest.mark.files({"models.py": MODELS, "train.py": TRAIN})
async def test_a_model_file_changed_on_disk_updates_an_open_file(client: LanguageClient, workspace: Path) -> None:
    train = open_file(client, workspace / "train.py")
    await diagnostics_of(client, train, lambda d: "DL501" in codes(d))
    (registration,) = client.registrations
    assert registration.method == "workspace/didChangeWatchedFiles"
    (workspace / "models.py").write_text(MODELS_WITHOUT_RNN)
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=(workspace / "models.py").as_uri(), type=types.FileChangeType.Changed)
    ]))
    await diagnostics_of(client, train, lambda d: "DL501" not in codes(d))


SETTINGS = "DROPOUT = 0.9\n"
HEAD = """import torch.nn as nn
from settings import DROPOUT

head = nn.Sequential(nn.Linear(512, 10), nn.Dropout(DROPOUT))
"""


@pytest.mark.files({"settings.py": SETTINGS, "head.py": HEAD})
async def test_an_edited_configuration_value_updates_the_files_that_import_it(
    client: LanguageClient, workspace: Path
) -> None:
    head = open_file(client, workspace / "head.py")
    found = await diagnostics_of(client, head, lambda d: codes(d) == ["DL303"])
    assert "with `settings.DROPOUT = 0.9`" in found[0].message
    settings = open_file(client, workspace / "settings.py")
    await diagnostics_of(client, settings)
    replace_all(client, settings, "DROPOUT = 0.1\n", version=2)
    await diagnostics_of(client, head, lambda d: codes(d) == [])
    replace_all(client, settings, SETTINGS, version=3)
    await diagnostics_of(client, head, lambda d: codes(d) == ["DL303"])


@pytest.mark.files({"models.py": MODELS, "train.py": TRAIN.replace("from models import CharLSTM", "from models import *")})
async def test_an_edit_of_all_in_a_star_imported_file_updates_the_findings_of_another(
    client: LanguageClient, workspace: Path
) -> None:
    """Only the namespace of ``models.py`` changes (its classes stay the same): ``__all__`` then
    leaves ``CharLSTM`` out of ``from models import *``."""
    train = open_file(client, workspace / "train.py")
    await diagnostics_of(client, train, lambda d: "DL501" in codes(d))
    models = open_file(client, workspace / "models.py")
    await diagnostics_of(client, models)
    replace_all(client, models, '__all__ = ["Other"]\n' + MODELS, version=2)
    await diagnostics_of(client, train, lambda d: "DL501" not in codes(d))


@pytest.mark.files({
    "pyproject.toml": '[tool.dllint]\nextend-select = ["DL505"]\ndocs-url = "https://mirror.example.com/dllint/"\n'
                      '[tool.dllint.per-file-ignores]\n"legacy/*" = ["DL301"]\n',
    "legacy/old.py": BLOCK,
})
async def test_the_projects_configuration_is_honoured(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK + "\nimport torch\nopt = torch.optim.Adam([], weight_decay=1e-4)\n")
    found = await diagnostics_of(client, uri, lambda d: len(d) == 2)
    assert codes(found) == ["DL301", "DL505"]  # DL505 is off by default: extend-select turned it on
    assert {d.code_description.href for d in found} == {
        "https://mirror.example.com/dllint/rules/DL301/", "https://mirror.example.com/dllint/rules/DL505/"
    }
    legacy = open_file(client, workspace / "legacy/old.py")
    assert codes(await diagnostics_of(client, legacy)) == []


async def test_a_changed_configuration_applies_to_open_files(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    assert codes(await diagnostics_of(client, uri, bool)) == ["DL301"]
    (workspace / "pyproject.toml").write_text('[tool.dllint]\nignore = ["DL301"]\n')
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=(workspace / "pyproject.toml").as_uri(), type=types.FileChangeType.Created)
    ]))
    await diagnostics_of(client, uri, lambda d: not d)


@pytest.mark.files({"pyproject.toml": '[tool.dllint]\nselect = ["DL9999"]\n'})
async def test_a_broken_configuration_is_shown_and_linting_goes_on(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    assert codes(await diagnostics_of(client, uri, bool)) == ["DL301"]
    messages = [m for m in client.messages if m.type == types.MessageType.Error]
    assert messages and "DL9999" in messages[0].message and "pyproject.toml" in messages[0].message


@pytest.mark.files({"pyproject.toml": '[tool.dllint]\nextend-exclude = ["vendored/"]\n'})
async def test_excluded_files_are_not_linted(client: LanguageClient, workspace: Path) -> None:
    (workspace / "vendored").mkdir()
    excluded = open_file(client, workspace / "vendored/block.py", text=BLOCK)
    linted = open_file(client, workspace / "block.py", text=BLOCK)
    assert codes(await diagnostics_of(client, linted, bool)) == ["DL301"]
    assert codes(await diagnostics_of(client, excluded)) == []


async def test_noqa_silences_a_finding(client: LanguageClient, workspace: Path) -> None:
    text = BLOCK.replace("padding=1)", "padding=1)  # noqa: DL301")
    uri = open_file(client, workspace / "block.py", text=text)
    assert codes(await diagnostics_of(client, uri)) == []


async def test_closing_a_file_clears_its_diagnostics(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    await diagnostics_of(client, uri, bool)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await diagnostics_of(client, uri, lambda d: not d)


# --- code actions -----------------------------------------------------------------------------

async def actions_at(client: LanguageClient, uri: str, diagnostic: types.Diagnostic,
                     only: "list[str] | None" = None) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic], only=only),
    ))
    return [action for action in result or [] if isinstance(action, types.CodeAction)]


async def test_quick_fixes_fix_add_noqa_and_show_the_documentation(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    actions = await actions_at(client, uri, diagnostic)
    titles = [action.title for action in actions]
    assert titles[:3] == [
        "dllint (DL301): Pass `bias=False`",
        "dllint (DL301): Disable for this line (add `# noqa: DL301`)",
        "dllint (DL301): Show documentation",
    ]
    fix, noqa, docs = actions[:3]
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert apply_edit(BLOCK, edits_for(fix.edit, uri)) == CLEAN_BLOCK
    noqa_text = apply_edit(BLOCK, edits_for(noqa.edit, uri))
    assert noqa_text == BLOCK.replace("padding=1)", "padding=1)  # noqa: DL301")

    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=docs.command.command, arguments=docs.command.arguments))
    assert [shown.uri for shown in client.shown_documents] == ["https://dllint.readthedocs.io/en/latest/rules/DL301/"]
    assert client.shown_documents[0].external

    replace_all(client, uri, noqa_text, version=2)  # the editor applies the noqa edit
    await diagnostics_of(client, uri, lambda d: not d)


async def test_noqa_action_extends_an_existing_noqa(client: LanguageClient, workspace: Path) -> None:
    text = BLOCK.replace("padding=1)", "padding=1)  # noqa: E501")
    uri = open_file(client, workspace / "block.py", text=text)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    noqa = next(a for a in await actions_at(client, uri, diagnostic) if "noqa" in a.title)
    assert apply_edit(text, edits_for(noqa.edit, uri)) == BLOCK.replace("padding=1)", "padding=1)  # noqa: E501, DL301")


async def test_fix_all_applies_what_dllint_fix_applies(client: LanguageClient, workspace: Path) -> None:
    text = BLOCK.replace("        self.bn = nn.BatchNorm2d(8)\n",
                         "        self.bn = nn.BatchNorm2d(8)\n        self.conv2 = nn.Conv3d(8, 8, 3)\n"
                         "        self.bn2 = nn.BatchNorm2d(8)\n").replace(
        "return self.bn(self.conv(x))", "return self.bn2(self.conv2(self.bn(self.conv(x))))")
    (workspace / "block.py").write_text(text)
    uri = open_file(client, workspace / "block.py")
    found = await diagnostics_of(client, uri, bool)
    assert set(codes(found)) == {"DL301", "DL304"}
    result = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.SourceFixAll]),
    ))
    (action,) = result
    assert action.kind == "source.fixAll.dllint" and action.edit is not None
    fixed = apply_edit(text, edits_for(action.edit, uri))
    expected = dllint_cli("-", "--fix-only", "--stdin-filename", "block.py", cwd=workspace, stdin=text).stdout
    assert fixed == expected and fixed != text


async def test_fix_all_offered_next_to_a_finding_is_resolved_lazily(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    action = next(a for a in await actions_at(client, uri, diagnostic) if a.kind == "source.fixAll.dllint")
    assert action.edit is None  # VS Code resolves code actions' edits on demand
    resolved = await client.code_action_resolve_async(action)
    assert apply_edit(BLOCK, edits_for(resolved.edit, uri)) == CLEAN_BLOCK


SOFTMAX = "import torch.nn as nn\n\nhead = nn.Softmax()\n"


async def test_an_unsafe_fix_is_offered_as_such_and_left_out_of_fix_all(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "head.py", text=SOFTMAX)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    assert diagnostic.code == "DL403"
    actions = await actions_at(client, uri, diagnostic)
    fix = actions[0]
    assert fix.title.startswith("dllint (DL403): Pass `dim=-1`") and fix.title.endswith("(unsafe fix)")
    assert not fix.is_preferred
    assert apply_edit(SOFTMAX, edits_for(fix.edit, uri)) == SOFTMAX.replace("nn.Softmax()", "nn.Softmax(dim=-1)")
    assert not [action for action in actions if action.kind == "source.fixAll.dllint"]
    fix_all = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll.dllint"]),
    ))
    assert not fix_all


@pytest.mark.files({"pyproject.toml": "[tool.dllint]\nunsafe-fixes = true\n"})
async def test_fix_all_applies_unsafe_fixes_where_the_configuration_says_so(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "head.py", text=SOFTMAX)
    await diagnostics_of(client, uri, bool)
    (action,) = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
    ))
    assert apply_edit(SOFTMAX, edits_for(action.edit, uri)) == SOFTMAX.replace("nn.Softmax()", "nn.Softmax(dim=-1)")


@pytest.mark.capabilities("neovim@v0.10.0")
async def test_a_client_without_document_changes_gets_plain_text_edits(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    fix = (await actions_at(client, uri, diagnostic))[0]
    assert fix.edit.document_changes is None and list(fix.edit.changes) == [uri]
    assert apply_edit(BLOCK, fix.edit.changes[uri]) == CLEAN_BLOCK
    assert client.registrations == []  # Neovim 0.10 does not register file watchers dynamically


@pytest.mark.capabilities("emacs")
async def test_a_client_that_cannot_resolve_code_actions_gets_fix_all_with_its_edit(
    client: LanguageClient, workspace: Path
) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    actions = await actions_at(client, uri, diagnostic)
    fix_all = next(action for action in actions if action.kind == "source.fixAll.dllint")
    assert apply_edit(BLOCK, edits_for(fix_all.edit, uri)) == CLEAN_BLOCK
    docs = next(action for action in actions if action.command is not None)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=docs.command.command, arguments=docs.command.arguments))
    assert client.shown_documents == []  # Eglot has no window/showDocument: the URL is shown as a message
    assert any(m.message.endswith("/rules/DL301/") for m in client.messages)


@pytest.mark.options({"scanWorkspace": False})
@pytest.mark.files({"models.py": MODELS, "train.py": TRAIN})
async def test_without_the_workspace_scan_the_open_files_make_the_project(client: LanguageClient, workspace: Path) -> None:
    train = open_file(client, workspace / "train.py")
    assert "DL501" not in codes(await diagnostics_of(client, train))  # CharLSTM is not known
    open_file(client, workspace / "models.py")
    await diagnostics_of(client, train, lambda d: "DL501" in codes(d))


# --- hover ------------------------------------------------------------------------------------

async def test_hover_on_a_finding_explains_the_rule(client: LanguageClient, workspace: Path) -> None:
    uri = open_file(client, workspace / "block.py", text=BLOCK)
    diagnostic = (await diagnostics_of(client, uri, bool))[0]
    inside = types.Position(line=diagnostic.range.start.line, character=diagnostic.range.start.character + 3)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=inside))
    text = hover.contents.value
    assert text.startswith("**DL301** `bias-before-batchnorm`: ")
    for heading in ("#### What it does", "#### Why is this bad?", "#### Use instead"):
        assert heading in text
    assert "bias=False" in text.split("#### Use instead")[1]
    assert hover.range == diagnostic.range
    elsewhere = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=0)))
    assert elsewhere is None


# --- notebooks --------------------------------------------------------------------------------

NOTEBOOK_CELLS = [
    (types.NotebookCellKind.Markup, "# A notebook"),
    (types.NotebookCellKind.Code, "%matplotlib inline\nimport torch.nn as nn"),
    (types.NotebookCellKind.Code, "layer = nn.Softmax()\nprobs = nn.Softmax(dim=1)"),
]


def open_notebook(client: LanguageClient, path: Path, cells: list) -> list[str]:
    notebook_uri = path.as_uri()
    uris = [f"{notebook_uri}#cell{index}" for index in range(len(cells))]
    client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(
            uri=notebook_uri, notebook_type="jupyter-notebook", version=1,
            cells=[types.NotebookCell(kind=kind, document=uri) for (kind, _), uri in zip(cells, uris)],
        ),
        cell_text_documents=[
            types.TextDocumentItem(uri=uri, language_id="markdown" if kind == types.NotebookCellKind.Markup else "python",
                                   version=1, text=text)
            for (kind, text), uri in zip(cells, uris)
        ],
    ))
    return uris


async def test_fix_all_in_a_notebook_edits_the_cells_that_change(client: LanguageClient, workspace: Path) -> None:
    code = types.NotebookCellKind.Code
    block = BLOCK.replace("import torch.nn as nn\n", "")
    cells = [(code, "%matplotlib inline\nimport torch.nn as nn"), (types.NotebookCellKind.Markup, "Model"), (code, block)]
    uris = open_notebook(client, workspace / "model.ipynb", cells)
    await diagnostics_of(client, uris[2], lambda d: codes(d) == ["DL301"])
    (action,) = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uris[2]),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
    ))
    assert edits_for(action.edit, uris[0]) == [] and edits_for(action.edit, uris[1]) == []
    assert apply_edit(block, edits_for(action.edit, uris[2])) == block.replace("padding=1)", "padding=1, bias=False)")


async def test_notebook_cells_get_their_own_diagnostics_and_fixes(client: LanguageClient, workspace: Path) -> None:
    notebook_uri = (workspace / "explore.ipynb").as_uri()
    cells = open_notebook(client, workspace / "explore.ipynb", NOTEBOOK_CELLS)
    found = await diagnostics_of(client, cells[2], bool)
    assert codes(found) == ["DL403"]
    assert found[0].range.start == types.Position(line=0, character=len("layer = "))
    assert codes(await diagnostics_of(client, cells[1])) == []  # the magic is not a syntax error
    assert cells[0] not in client.diagnostics

    noqa = next(a for a in await actions_at(client, cells[2], found[0]) if "noqa" in a.title)
    assert apply_edit(NOTEBOOK_CELLS[2][1], edits_for(noqa.edit, cells[2])).startswith(
        "layer = nn.Softmax()  # noqa: DL403\n")

    fix_all = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=cells[2]),
        range=found[0].range,
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
    ))
    assert not fix_all  # DL403's fix is unsafe

    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook_uri, version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cells[2], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(text="layer = nn.Softmax(dim=-1)\n")],
            )
        ])),
    ))
    await diagnostics_of(client, cells[2], lambda d: not d)
