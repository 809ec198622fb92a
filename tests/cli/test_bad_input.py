"""Bad input never crashes the run: one DL001 per bad file, every other file still linted.

Unreadable files are the awkward case here: the tests run as root, for whom ``chmod 000``
changes nothing. So "unreadable" is produced four ways that hold even for root:

* a symlink to ``/proc/self/mem`` (Linux): a regular file whose ``read()`` fails with EIO;
* a FIFO named ``x.py``: reading would block forever, so it must be refused before ``open``;
* ``open`` raising ``PermissionError`` (monkeypatched, in-process);
* and, where the interpreter is reachable by an unprivileged user, a real ``chmod 000`` file
  linted by a subprocess running as ``nobody`` (skipped otherwise, saying why).
"""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dllint.files import load_source
from tests.cli.conftest import invoke, write


def run_json(*args: str):
    result = invoke(["--output-format", "json", *args])
    return result, json.loads(result.stdout or "[]")


def summary(data) -> list[tuple[str, str]]:
    return [(Path(d["filename"]).name, d["code"]) for d in data]


def test_each_bad_file_is_one_dl001_and_the_good_one_is_still_linted(project: Path, test_rules) -> None:
    write(project, "syntax.py", "def f(:\n    pass\n")
    write(project, "undecodable.py", raw=b"x = '\xff\xfe'\n")
    write(project, "nul.py", raw=b"x = 1\x00\n")
    write(project, "badcookie.py", raw=b"# -*- coding: klingon -*-\nx = 1\n")
    write(project, "notebook.ipynb", '{"cells": [')
    os.symlink(project / "missing-target.py", project / "broken_link.py")
    os.mkfifo(project / "fifo.py")
    write(project, "good.py", "bad_name = 1\n")
    result, data = run_json(".")
    assert result.exit_code == 1, result.output
    assert summary(data) == [
        ("badcookie.py", "DL001"), ("broken_link.py", "DL001"), ("fifo.py", "DL001"), ("good.py", "DL990"),
        ("notebook.ipynb", "DL001"), ("nul.py", "DL001"), ("syntax.py", "DL001"), ("undecodable.py", "DL001"),
    ]
    messages = {Path(d["filename"]).name: d for d in data}
    assert "broken symbolic link" in messages["broken_link.py"]["message"]
    assert "not a regular file" in messages["fifo.py"]["message"]
    assert "NUL byte" in messages["nul.py"]["message"]
    assert (messages["nul.py"]["location"]["row"], messages["nul.py"]["location"]["column"]) == (1, 6)
    assert "invalid utf-8 byte 0xff" in messages["undecodable.py"]["message"]
    assert (messages["undecodable.py"]["location"]["row"], messages["undecodable.py"]["location"]["column"]) == (1, 6)
    assert "klingon" in messages["badcookie.py"]["message"]
    assert all(d["severity"] == "error" for d in data if d["code"] == "DL001")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc/self/mem")
def test_file_whose_read_fails_even_for_root(project: Path, test_rules) -> None:
    os.symlink("/proc/self/mem", project / "unreadable.py")
    write(project, "good.py", "bad_name = 1\n")
    result, data = run_json(".")
    assert summary(data) == [("good.py", "DL990"), ("unreadable.py", "DL001")]
    assert data[1]["message"].startswith("cannot read file:")


def test_permission_denied_is_a_dl001(project: Path, test_rules, monkeypatch) -> None:
    secret = write(project, "secret.py", "bad_name = 1\n")
    write(project, "good.py", "bad_name = 1\n")
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if os.fspath(file).endswith("secret.py"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    result, data = run_json(".")
    assert summary(data) == [("good.py", "DL990"), ("secret.py", "DL001")]
    assert data[1]["message"] == "cannot read file: Permission denied"
    assert load_source(Path("secret.py")).error.message == "cannot read file: Permission denied"
    assert secret.exists()


def test_chmod_000_as_an_unprivileged_user() -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions only")
    base = Path("/tmp") / f"dllint-unreadable-{os.getpid()}"
    base.mkdir(mode=0o755, exist_ok=True)
    try:
        write(base, "secret.py", "x = 1\n").chmod(0o000)
        write(base, "good.py", "def f(:\n")
        os.chmod(base / "good.py", 0o644)
        src = str(Path(__file__).resolve().parents[2] / "src")
        cmd = [sys.executable, "-c", "import sys; sys.argv=['dllint']+sys.argv[1:]; from dllint.cli import main; main()",
               "--isolated", "--output-format", "json", "."]
        kwargs = {}
        if os.geteuid() == 0:
            try:
                probe = subprocess.run([sys.executable, "-c", "import libcst, click, pathspec"], user=65534,
                                       capture_output=True, env={"PYTHONPATH": src}, cwd=base, timeout=60)
                reachable = probe.returncode == 0
            except OSError:
                reachable = False
            if not reachable:
                pytest.skip("running as root and the interpreter is not reachable as `nobody`; "
                            "the /proc/self/mem and PermissionError tests cover this path")
            kwargs["user"] = 65534
        result = subprocess.run(cmd, cwd=base, capture_output=True, env=dict(os.environ, PYTHONPATH=src), timeout=60, **kwargs)
        data = json.loads(result.stdout)
        assert [(d["filename"].rsplit("/", 1)[-1], d["code"], d["message"]) for d in data if d["code"] == "DL001"][-1] == (
            "secret.py", "DL001", "cannot read file: Permission denied")
        assert len(data) == 2 and result.returncode == 1
    finally:
        for name in ("secret.py", "good.py"):
            try:
                (base / name).unlink()
            except OSError:
                pass
        base.rmdir()


def test_coding_cookie_and_bom_are_honoured(project: Path, test_rules) -> None:
    write(project, "latin.py", raw="# -*- coding: latin-1 -*-\nbad_name = 'café'\n".encode("latin-1"))
    write(project, "bom.py", raw=b"\xef\xbb\xbfbad_name = 1\n")
    write(project, "crlf.py", raw=b"x = 1\r\nbad_name = 2\r\n")
    result, data = run_json(".")
    assert [(Path(d["filename"]).name, d["code"], d["location"]["row"]) for d in data] == [
        ("bom.py", "DL990", 1), ("crlf.py", "DL990", 2), ("latin.py", "DL990", 2)]


def test_internal_error_in_a_rule_exits_2_but_reports_the_rest(project: Path, test_rules, monkeypatch) -> None:
    from tests.cli.conftest import PrintCall

    def explode(self, sem):
        raise RuntimeError("boom")

    monkeypatch.setattr(PrintCall, "check", explode)
    write(project, "m.py", "bad_name = print(1)\n")
    result = invoke(["--output-format", "concise", "m.py"])
    assert result.exit_code == 2
    assert "m.py:1:1: DL990" in result.stdout
    assert "internal error in DL992 while checking m.py" in result.stderr


def test_input_that_crashed_libcsts_parser_is_a_dl001_beside_the_other_findings(project: Path) -> None:
    """`x = ` and 10,000 minus signs made LibCST's native parser segfault: the whole run died
    and printed nothing. CPython's parser rejects it first now (as `python` itself does)."""
    from tests.cli.conftest import run_subprocess

    write(project, "crash.py", "import torch\n\nx = " + "-" * 10_000 + "1\n")
    write(project, "model.py", "import torch.nn as nn\n\ndrop = nn.Dropout(0.9)\n")
    result = run_subprocess(["--no-cache", "--output-format", "concise", "."], cwd=project)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == (
        "crash.py:1:1: DL001 could not parse: Python's parser gives up on this file (MemoryError: its expressions "
        "are nested too deeply)"
    )
    assert lines[1].startswith("model.py:3:8: DL303 ")
    assert lines[2] == "Found 1 error and 1 warning."


def test_a_worker_that_segfaults_costs_only_its_file(project: Path, test_rules, monkeypatch) -> None:
    """A real segfault of LibCST's native parser, in a worker process: given a 512 KiB stack
    instead of the analysis thread's 512 MiB, the parser overflows it on 2000 minus signs
    (which CPython accepts)."""
    from dllint import engine, workers

    monkeypatch.setattr(engine, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(workers, "STACK_SIZES", (512 * 1024,))
    write(project, "crash.py", "import torch\n\nx = " + "-" * 2000 + "1\n")
    write(project, "a.py", "bad_name = 1\n")
    write(project, "b.py", "print(bad_name)\n")
    result = invoke(["--no-cache", "--output-format", "concise", "-j", "2", "."])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "a.py:1:1: DL990 [*] `bad_name` is a bad name",
        "b.py:1:1: DL992 `print` found",
        "b.py:1:7: DL990 [*] `bad_name` is a bad name",
        "crash.py:1:1: DL001 the parser crashed on this file (dllint's worker process was killed by SIGSEGV while "
        "parsing it); it was not checked. Please report it",
        "Found 1 error and 3 warnings.",
        "[*] 2 fixable with the `--fix` option.",
    ]
