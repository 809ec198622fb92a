"""``dllint server`` as a command: listed by ``dllint --help`` without importing pygls, and
speaking JSON-RPC on stdout only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import ENV


def test_dllint_help_lists_the_server_without_importing_pygls(tmp_path: Path) -> None:
    check = ("import sys, dllint.cli\nsys.argv = ['dllint', '--help']\ntry:\n    dllint.cli.main()\n"
             "except SystemExit:\n    pass\nprint('PYGLS', 'pygls' in sys.modules, 'lsprotocol' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                            timeout=60)
    assert "server" in result.stdout and "language server" in result.stdout
    assert result.stdout.strip().endswith("PYGLS False False")


def test_server_speaks_json_rpc_on_stdout_only(tmp_path: Path) -> None:
    """A bare initialize over a pipe: the answer is one well-formed message on stdout."""
    pytest.importorskip("pygls", reason="the language server needs the server extra: pip install -e '.[server]'")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": None, "capabilities": {}}})
    exit_message = json.dumps({"jsonrpc": "2.0", "method": "exit"})
    stdin = "".join(f"Content-Length: {len(m)}\r\n\r\n{m}" for m in (body, exit_message)).encode()
    result = subprocess.run([sys.executable, "-m", "dllint", "server"], cwd=tmp_path, env=ENV, input=stdin,
                            capture_output=True, timeout=60)
    header, _, payload = result.stdout.partition(b"\r\n\r\n")
    fields = dict(line.split(": ", 1) for line in header.decode().split("\r\n"))
    answer = json.loads(payload[: int(fields["Content-Length"])])
    assert payload[int(fields["Content-Length"]):] == b""  # nothing else was written to stdout
    assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "dllint"
    capabilities = answer["result"]["capabilities"]
    assert capabilities["codeActionProvider"]["codeActionKinds"] == ["quickfix", "source.fixAll", "source.fixAll.dllint"]
    assert capabilities["hoverProvider"]


def test_a_lint_run_does_not_import_pygls(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import torch.nn as nn\nlayer = nn.Softmax()\n")
    check = ("import sys, dllint.cli\nsys.argv = ['dllint', '--isolated', 'm.py']\ntry:\n    dllint.cli.main()\n"
             "except SystemExit:\n    pass\nprint('PYGLS', 'pygls' in sys.modules, 'dllint.server' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                            timeout=60)
    assert "DL403" in result.stdout
    assert result.stdout.strip().endswith("PYGLS False False")
