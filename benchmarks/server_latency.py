"""Language server latency: how long after an edit the editor gets the file's new diagnostics.

Starts the real ``dllint server`` (the one next to this script, ``src/``) as a subprocess and
drives it over stdio with pygls's LSP client, as an editor does: ``initialize`` with a workspace
folder, ``didOpen`` of a 1,000-line model and training file, then a series of edits sent as
``textDocument/didChange`` with the edited range (as VS Code sends them). For each edit it
times the wall clock from sending the change to receiving the ``publishDiagnostics`` for that
version — everything the user waits for: the protocol both ways, the server's debounce
(unless ``--debounce`` changes it) and the analysis.

The edits cycle through three kinds, in the middle of the file:

* ``digit``: a number in a function body changes (the findings stay the same);
* ``line``: a statement is added to a ``forward`` (and removed again next time);
* ``finding``: ``bias=False`` is removed from a convolution (a DL301 finding appears) and
  put back.

With ``--file``, a file of your own is opened instead (copied into a scratch workspace) and
the edits insert a statement before the top-level ``def``/``class`` nearest its middle and
remove it again. ``--workspace`` opens a whole project (the server analyses it first, as at
start-up in an editor; the result cache goes to a scratch directory, not into the project).

    python benchmarks/server_latency.py                    # generated 1,000-line file, 30 edits
    python benchmarks/server_latency.py --edits 60 --debounce 0
    python benchmarks/server_latency.py --file path/to/modeling_bert.py

It is a benchmark, not a test: it prints figures and never fails on them. It needs the
server's dependencies: ``pip install -e '.[server]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_LINES = 1000

HEADER = '''"""Generated model and training code for the language server latency benchmark."""
import torch
import torch.nn as nn
import torch.nn.functional as F
'''
BLOCK = '''

class Block{n}(nn.Module):
    """A convolutional block with a residual connection and a classifier head."""

    def __init__(self, channels, hidden={hidden}, dropout=0.1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.drop = nn.Dropout(dropout)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )

    def forward(self, x):
        residual = x
        out = self.act(self.bn1(self.conv1(x)))
        out = self.drop(out)
        out = self.bn2(self.conv2(out))
        out = self.act(out + residual)
        pooled = out.mean(dim=(2, 3))
        return self.head(pooled)


def train_block{n}(model, loader, epochs=3, lr=1e-3):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        for images, labels in loader:
            optimizer.zero_grad()
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()
    return model


def evaluate_block{n}(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            probs = F.softmax(model(images){dim})
            correct += (probs.argmax(dim=1) == labels).sum().item()
            total += labels.numel()
    return correct / max(total, 1)
'''


def generated_file(lines: int = TARGET_LINES) -> str:
    """Model classes, training and evaluation functions, about ``lines`` lines long, with a
    few findings."""
    parts = [HEADER]
    count = 0
    while sum(part.count("\n") for part in parts) < lines:
        # every fourth block leaves out the softmax's dim (a DL403 finding), so the file has findings
        parts.append(BLOCK.format(n=count, hidden=32 + count, dim="" if count % 4 == 3 else ", dim=1"))
        count += 1
    return "".join(parts)


# --- edits ------------------------------------------------------------------------------------

class Edit:
    """One edit: the range it replaces (0-based lines, code-point columns: ASCII here) and the text."""

    def __init__(self, kind: str, line: int, start: int, end_line: int, end: int, text: str) -> None:
        self.kind, self.line, self.start, self.end_line, self.end, self.text = kind, line, start, end_line, end, text

    def apply(self, content: str) -> str:
        lines = content.splitlines(keepends=True)
        offset = sum(len(line) for line in lines[: self.line]) + self.start
        end = sum(len(line) for line in lines[: self.end_line]) + self.end
        return content[:offset] + self.text + content[end:]


def generated_edits(content: str, round_: int) -> Edit:
    lines = content.splitlines()
    middle = len(lines) // 2
    kind = ("digit", "line", "finding")[round_ % 3]
    if kind == "digit":
        row = next(i for i in range(middle, len(lines)) if "momentum=0.9" in lines[i] or "momentum=0.8" in lines[i])
        column = lines[row].index("momentum=0.") + len("momentum=0.")
        digit = "8" if lines[row][column] == "9" else "9"
        return Edit(kind, row, column, row, column + 1, digit)
    if kind == "line":
        row = next(i for i in range(middle, len(lines)) if lines[i].strip() == "residual = x")
        if lines[row + 1].strip() == "x = x * 1.0":
            return Edit(kind, row + 1, 0, row + 2, 0, "")
        return Edit(kind, row + 1, 0, row + 1, 0, "        x = x * 1.0\n")
    row = next(i for i in range(middle, len(lines)) if "self.conv1 = nn.Conv2d(" in lines[i])
    if lines[row].endswith(", bias=False)"):
        column = lines[row].index(", bias=False)")
        return Edit(kind, row, column, row, column + len(", bias=False"), "")
    column = len(lines[row]) - 1
    return Edit(kind, row, column, row, column, ", bias=False")


def file_edits(content: str, round_: int) -> Edit:
    """A statement inserted before a top-level ``def``/``class`` (or its decorators) in the middle,
    then removed."""
    lines = content.splitlines()
    marker = "_dllint_benchmark_edit = 1"
    if marker in lines:
        row = lines.index(marker)
        return Edit("remove", row, 0, row + 1, 0, "")
    # a statement's first line: a top-level def, class or decorator after a blank line
    tops = [i for i, line in enumerate(lines) if i and not lines[i - 1] and re.match(r"(async def |def |class |@)", line)]
    if not tops:
        raise SystemExit("--file: the file has no top-level def or class to edit before")
    row = min(tops, key=lambda i: abs(i - len(lines) // 2))
    return Edit("insert", row, 0, row, 0, marker + "\n")


# --- the client -------------------------------------------------------------------------------

class Client:
    def __init__(self) -> None:
        self.lsp = LanguageClient("dllint-latency-benchmark", "1")
        self.arrived: dict[tuple[str, Optional[int]], float] = {}
        self.waiters: dict[tuple[str, Optional[int]], asyncio.Future] = {}
        self.counts: dict[tuple[str, Optional[int]], int] = {}

        @self.lsp.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: types.PublishDiagnosticsParams) -> None:
            key = (params.uri, params.version)
            self.arrived[key] = time.perf_counter()
            self.counts[key] = len(params.diagnostics)
            waiter = self.waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        @self.lsp.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register(params: types.RegistrationParams) -> None:
            return None

        @self.lsp.feature(types.WINDOW_LOG_MESSAGE)
        def log(params: types.LogMessageParams) -> None:
            print(f"server: {params.message}", file=sys.stderr)

        @self.lsp.feature(types.WINDOW_SHOW_MESSAGE)
        def show(params: types.ShowMessageParams) -> None:
            print(f"server: {params.message}", file=sys.stderr)

    async def diagnostics_for(self, uri: str, version: int, timeout: float = 300) -> float:
        key = (uri, version)
        if key not in self.arrived:
            self.waiters[key] = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self.waiters[key], timeout)
        return self.arrived[key]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dllint-latency-") as scratch:
        scratch_dir = Path(scratch)
        if args.workspace:
            workspace = Path(args.workspace).resolve()
            target = (workspace / args.file).resolve() if args.file else None
            if target is None or not target.is_file():
                raise SystemExit("--workspace needs --file, a file of that workspace (relative to it)")
        else:
            workspace = scratch_dir / "workspace"
            workspace.mkdir()
            if args.file:
                target = workspace / Path(args.file).name
                shutil.copyfile(args.file, target)
            else:
                target = workspace / "model_and_training.py"
                target.write_text(generated_file(args.lines))
        content = target.read_text(encoding="utf-8")
        uri = target.as_uri()
        make_edit = generated_edits if not args.file else file_edits

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
        env["DLLINT_CACHE_DIR"] = str(scratch_dir / "cache")
        client = Client()
        log = ["--log-file", args.server_log] if args.server_log else []
        await client.lsp.start_io(sys.executable, "-m", "dllint", "server", *log, env=env, cwd=str(workspace))
        drain = asyncio.ensure_future(_drain(client.lsp))
        options = {"debounce": args.debounce} if args.debounce is not None else None
        started = time.perf_counter()
        await client.lsp.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
            initialization_options=options,
        ))
        client.lsp.initialized(types.InitializedParams())
        opened = time.perf_counter()
        client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=content)))
        first = await client.diagnostics_for(uri, 1) - opened
        await asyncio.sleep(args.settle)  # let the workspace scan and its republish finish

        latencies: dict[str, list[float]] = {}
        version = 1
        for round_ in range(args.edits):
            edit = make_edit(content, round_)
            content = edit.apply(content)
            version += 1
            sent = time.perf_counter()
            client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=edit.line, character=edit.start),
                                      end=types.Position(line=edit.end_line, character=edit.end)),
                    text=edit.text,
                )],
            ))
            arrived = await client.diagnostics_for(uri, version)
            latencies.setdefault(edit.kind, []).append(arrived - sent)
            await asyncio.sleep(args.pause)
        findings = client.counts.get((uri, version), 0)
        await client.lsp.shutdown_async(None)
        client.lsp.exit(None)
        await client.lsp.stop()
        drain.cancel()
        return {
            "lines": content.count("\n"), "first": first, "latencies": latencies, "findings": findings,
            "startup": opened - started,
        }


async def _drain(lsp: LanguageClient) -> None:
    """Pass the server's stderr on (so that it never blocks on a full pipe)."""
    server = lsp._server
    if server is None or server.stderr is None:
        return
    while line := await server.stderr.readline():
        sys.stderr.write(line.decode(errors="replace"))


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    every = [value for values in result["latencies"].values() for value in values]
    ms = lambda seconds: f"{seconds * 1000:7.1f} ms"  # noqa: E731
    print(f"file: {result['lines']} lines, {result['findings']} findings after the last edit")
    print(f"server start-up to initialized: {ms(result['startup'])}")
    print(f"first analysis (didOpen → diagnostics): {ms(result['first'])}")
    debounce = "server default" if args.debounce is None else f"{args.debounce * 1000:.0f} ms"
    print(f"edit → diagnostics, {len(every)} edits (debounce: {debounce}):")
    print(f"  {'edit':<12}{'n':>4}{'median':>11}{'p90':>11}{'min':>11}{'max':>11}")
    for kind, values in [*sorted(result["latencies"].items()), ("all", every)]:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        print(f"  {kind:<12}{len(values):>4}{ms(statistics.median(values))}{ms(p90)}{ms(ordered[0])}{ms(ordered[-1])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=30, help="how many edits to time (default 30)")
    parser.add_argument("--lines", type=int, default=TARGET_LINES, help="length of the generated file")
    parser.add_argument("--file", help="open this file instead of the generated one")
    parser.add_argument("--workspace", help="a project to open as the workspace (with --file, relative to it)")
    parser.add_argument("--debounce", type=float, default=None, help="the server's debounce in seconds (default: its own)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between edits (default 0.3)")
    parser.add_argument("--server-log", help="have the server write its log (with each analysis's time) here")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait after the first analysis")
    args = parser.parse_args()
    report(asyncio.run(run(args)), args)


if __name__ == "__main__":
    main()
