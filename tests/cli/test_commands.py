"""Command shape: default command, check alias, rule/rules, --version, lazy probe, stdin, jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dllint import __version__
from tests.cli.conftest import invoke, notebook, run_subprocess, write


def test_version() -> None:
    result = invoke(["--version"])
    assert (result.exit_code, result.stdout) == (0, f"dllint {__version__}\n")


def test_help_lists_lint_options_and_subcommands() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for needle in ("Usage: dllint [OPTIONS] [PATHS]...", "--select", "--output-format", "--fix", "--stdin-filename",
                   "A prefix does not turn on", "rules", "probe", "./rules"):
        assert needle in text


def test_no_arguments_lints_the_current_directory(project: Path, test_rules) -> None:
    write(project, "sub/m.py", "bad_name = 1\n")
    result = invoke([])
    assert result.exit_code == 1 and "sub/m.py:1:1: DL990" in result.stdout
    assert invoke(["check"]).stdout == result.stdout


def test_empty_directory_exits_0_with_a_warning(project: Path) -> None:
    result = invoke([])
    assert result.exit_code == 0
    assert "no Python files found" in result.stderr


def test_rules_table_and_json(test_rules) -> None:
    result = invoke(["rules"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CODE", "NAME", "DEFAULT", "FIX", "SUMMARY"]
    row = next(line for line in lines if line.startswith("DL990"))
    assert row.split()[:4] == ["DL990", "test-bad-name", "on", "safe"]
    assert next(line for line in lines if line.startswith("DL993")).split()[:4] == ["DL993", "test-risky-name", "on", "unsafe"]
    assert next(line for line in lines if line.startswith("DL991")).split()[:3] == ["DL991", "test-off-rule", "off"]
    data = json.loads(invoke(["rules", "--output-format", "json"]).stdout)
    assert [item["code"] for item in data] == sorted(test_rules)
    assert {"code": "DL001", "name": "parse-error", "default_enabled": True, "fixable": False,
            "fix_applicability": []}.items() <= data[0].items()
    assert next(item for item in data if item["code"] == "DL993")["fix_applicability"] == ["unsafe"]


def test_rule_explanation(test_rules) -> None:
    result = invoke(["rule", "dl990"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "# test-bad-name (DL990)"
    assert "Default: on." in lines and "Fix is available (`--fix`)." in lines
    assert "## What it does" in result.stdout and "## Use instead" in result.stdout
    assert "- `replacement` (default: `'good_name'`): what to rename it to" in result.stdout
    off = invoke(["rule", "DL991"]).stdout
    assert "Default: off (enable it with `--extend-select DL991`)." in off
    unsafe = invoke(["rule", "DL993"]).stdout
    assert "An unsafe fix is available (`--fix --unsafe-fixes`)" in unsafe
    data = json.loads(invoke(["rule", "DL990", "--output-format", "json"]).stdout)
    assert data["code"] == "DL990" and data["fixable"] is True and data["fix_applicability"] == ["safe"]
    assert data["options"] == {"replacement": {"default": "good_name", "help": "what to rename it to"}}
    assert data["explanation"].startswith("## What it does")


def test_rule_all_and_every_real_rule_has_the_ruff_sections() -> None:
    result = invoke(["rule", "--all"])
    assert result.exit_code == 0
    from dllint.rules import all_rules

    for code, rule in all_rules().items():
        assert f"# {rule.name} ({code})" in result.stdout
        doc = rule.documentation()
        for section in ("## What it does", "## Why is this bad?", "## Example"):
            assert section in doc, (code, section)


def test_unknown_rule_code_exits_2() -> None:
    result = invoke(["rule", "DL99999"])
    assert result.exit_code == 2 and "unknown rule code `DL99999`" in result.stderr
    assert invoke(["rule"]).exit_code == 2


def test_probe_missing_gives_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dllint.probe.cli", None)  # as if the module (or torch) could not be imported
    result = invoke(["probe", "model:build", "--input", "1,3"])
    assert result.exit_code == 2
    assert "pip install 'dllint[probe]'" in result.stderr
    assert invoke(["probe", "--help"]).exit_code == 2


def test_jobs_are_passed_to_the_engine(project: Path, monkeypatch) -> None:
    import dllint.engine as engine

    seen = []
    real = engine.lint_sources
    monkeypatch.setattr(engine, "lint_sources", lambda sources, settings, jobs=None, **options: seen.append(jobs) or real(sources, settings, jobs=jobs, **options))
    write(project, "m.py", "x = 1\n")
    invoke(["-j", "2", "m.py"])
    invoke(["m.py"])
    assert seen == [2, None]
    assert invoke(["-j", "0", "m.py"]).exit_code == 2


# --- stdin ------------------------------------------------------------------------------------

def test_stdin_with_and_without_filename(project: Path, test_rules) -> None:
    result = invoke(["--output-format", "concise", "-"], input="bad_name = 1\n")
    assert result.stdout.splitlines()[0] == "-:1:1: DL990 [*] `bad_name` is a bad name"
    result = invoke(["--output-format", "concise", "--stdin-filename", "pkg/x.py", "-"], input="bad_name = 1\n")
    assert result.stdout.splitlines()[0] == "pkg/x.py:1:1: DL990 [*] `bad_name` is a bad name"
    # --stdin-filename alone also reads stdin, as ruff does
    result = invoke(["--output-format", "concise", "--stdin-filename", "y.py"], input="x = 1\n")
    assert (result.exit_code, result.stdout) == (0, "All checks passed!\n")


def test_stdin_notebook_and_bad_bytes(project: Path, test_rules) -> None:
    text = notebook(("code", "x = 1"), ("code", "bad_name = 2"))
    result = invoke(["--output-format", "concise", "--stdin-filename", "nb.ipynb", "-"], input=text)
    assert result.stdout.splitlines()[0] == "nb.ipynb:cell 2:1:1: DL990 [*] `bad_name` is a bad name"
    result = invoke(["--output-format", "concise", "-"], input=b"x = '\xff'\n")
    assert result.exit_code == 1 and result.stdout.startswith("-:1:6: DL001 ")


@pytest.mark.parametrize("flags", [[], ["--fix"], ["--fix-only"], ["--diff"]])
def test_stdin_broken_notebook_is_a_dl001_as_a_path_is(project: Path, test_rules, flags: list[str]) -> None:
    """It was an internal error (an AssertionError in fixes.py), whatever the flags."""
    write(project, "n.ipynb", '{"cells": [')
    as_path = invoke(["--output-format", "concise", "n.ipynb"])
    result = invoke(["--output-format", "concise", *flags, "--stdin-filename", "n.ipynb", "-"], input='{"cells": [')
    assert "internal error" not in result.stderr
    dl001 = "n.ipynb:1:12: DL001 invalid notebook JSON: Expecting value"
    assert as_path.stdout.splitlines()[0] == dl001
    if flags == ["--diff"]:
        assert (result.exit_code, result.stdout) == (0, "")  # no fix, no diff
    elif flags == ["--fix-only"]:  # the source goes back to stdout untouched, no report
        assert (result.exit_code, result.stdout, result.stderr) == (0, '{"cells": [', "")
    elif flags:  # the source goes back to stdout untouched, the report to stderr
        assert (result.exit_code, result.stdout, result.stderr.splitlines()[0]) == (1, '{"cells": [', dl001)
    else:
        assert (result.exit_code, result.stdout.splitlines()[0]) == (1, dl001)


def test_stdin_mixed_with_paths_is_a_usage_error(project: Path) -> None:
    result = invoke(["-", "m.py"], input="x = 1\n")
    assert result.exit_code == 2 and "cannot be combined" in result.stderr


def test_stdin_force_exclude(project: Path, test_rules) -> None:
    write(project, "dllint.toml", 'extend-exclude = ["generated"]\n')
    result = invoke(["--force-exclude", "--stdin-filename", "generated/x.py", "-"], input="bad_name = 1\n")
    assert (result.exit_code, result.stdout) == (0, "")
    result = invoke(["--force-exclude", "--fix", "--stdin-filename", "generated/x.py", "-"], input="bad_name = 1\n")
    assert (result.exit_code, result.stdout) == (0, "bad_name = 1\n")  # passed through untouched


def test_subprocess_stdin_end_to_end(tmp_path: Path) -> None:
    result = run_subprocess(["--isolated", "--output-format", "json", "--stdin-filename", "a.py", "-"], tmp_path,
                            input=b"def f(:\n")
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert finding["code"] == "DL001" and finding["filename"] == str(tmp_path / "a.py")


# --- progress ---------------------------------------------------------------------------------

class FakeTTY:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_spinner_appears_only_after_the_delay_and_is_cleared(monkeypatch) -> None:
    import time

    from dllint.cli import Spinner

    monkeypatch.setattr(Spinner, "DELAY", 0.05)
    stream = FakeTTY()
    with Spinner(3, enabled=True, stream=stream):
        time.sleep(0.4)
    text = "".join(stream.parts)
    assert "Linting 3 files…" in text and text.endswith("\r\x1b[2K")
    quick = FakeTTY()
    with Spinner(3, enabled=True, stream=quick):
        pass  # done before the delay: nothing is drawn
    assert quick.parts == []


def test_no_spinner_on_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1\n")
    from dllint.cli import _spinner_allowed

    assert _spinner_allowed() is False  # pytest captures stderr: not a terminal
    result = run_subprocess(["--isolated", "m.py"], tmp_path)
    assert result.returncode == 0 and result.stderr == b""
