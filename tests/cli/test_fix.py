"""--fix (atomic, looping, re-linting), --diff, --show-fixes, --fix-only, stdin fixes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dllint.fixes as fixes
from dllint.findings import Edit, Fix, Location
from dllint.rules.base import Report, Rule
from tests.cli.conftest import invoke, write

SOURCE = "bad_name = 1\nprint(bad_name)\n"


def test_fix_writes_and_reports_what_remains(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    result = invoke(["--fix", "--output-format", "concise", "m.py"])
    assert result.exit_code == 1
    assert path.read_text() == "good_name = 1\nprint(good_name)\n"
    assert result.stdout.splitlines() == ["m.py:2:1: DL992 `print` found", "Found 3 warnings (2 fixed, 1 remaining)."]


def test_fix_everything_exits_0(project: Path, test_rules) -> None:
    path = write(project, "m.py", "bad_name = 1\n")
    result = invoke(["--fix", "m.py"])
    assert (result.exit_code, path.read_text()) == (0, "good_name = 1\n")
    assert result.stdout == "Found 1 warning (1 fixed, 0 remaining).\n"


def test_show_fixes(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE)
    result = invoke(["--fix", "--show-fixes", "--output-format", "concise", "m.py"])
    assert "Fixed 2 warnings:\n- m.py:\n    2 × DL990 (test-bad-name)\n" in result.stdout


def test_fix_only_reports_nothing_but_the_fix_count(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    result = invoke(["--fix-only", "m.py"])
    assert (result.exit_code, result.stdout) == (0, "Fixed 2 warnings.\n")
    assert "good_name" in path.read_text()


def test_diff_prints_and_writes_nothing(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    result = invoke(["--diff", "m.py"])
    assert result.exit_code == 1
    assert result.stdout == (
        "--- m.py\n+++ m.py\n@@ -1,2 +1,2 @@\n-bad_name = 1\n-print(bad_name)\n+good_name = 1\n+print(good_name)\n"
    )
    assert "Would fix 2 warnings." in result.stderr
    assert path.read_text() == SOURCE
    write(project, "clean.py", "print(1)\n")
    clean = invoke(["--diff", "clean.py"])
    assert (clean.exit_code, clean.stdout) == (0, "")


def test_crash_during_write_leaves_the_original_intact(project: Path, test_rules, monkeypatch) -> None:
    path = write(project, "m.py", SOURCE)

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixes.os, "replace", crash)
    result = invoke(["--fix", "--no-cache", "m.py"])  # (os.replace is patched for the cache too)
    assert result.exit_code == 2
    assert "m.py: cannot write fix" in result.stderr and "No space left" in result.stderr
    assert path.read_text() == SOURCE
    assert sorted(p.name for p in project.iterdir()) == ["m.py"]  # no temp file left behind


def test_interrupt_mid_write_leaves_the_original_intact(project: Path, monkeypatch) -> None:
    path = write(project, "m.py", SOURCE)
    real_fdopen = os.fdopen

    class Exploding:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:5])  # half the content reaches the temp file, then the process "dies"
            raise KeyboardInterrupt

    monkeypatch.setattr(fixes.os, "fdopen", lambda fd, mode: Exploding(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        fixes.write_atomic(str(path), b"good_name = 1\n")
    assert path.read_text() == SOURCE
    assert sorted(p.name for p in project.iterdir()) == ["m.py"]


def test_file_changed_on_disk_is_not_overwritten(project: Path, test_rules, monkeypatch) -> None:
    path = write(project, "m.py", SOURCE)
    real = fixes.write_atomic

    def meddle(target, data, expected=None):
        path.write_text("someone_else = 1\n")
        return real(target, data, expected)

    monkeypatch.setattr(fixes, "write_atomic", meddle)
    result = invoke(["--fix", "--no-cache", "m.py"])
    assert result.exit_code == 2 and "changed on disk" in result.stderr
    assert path.read_text() == "someone_else = 1\n"


def test_fix_keeps_encoding_bom_line_endings_mode_and_symlinks(project: Path, test_rules) -> None:
    crlf = write(project, "crlf.py", raw=b"\xef\xbb\xbfx = 1\r\nbad_name = 2\r\n")
    latin = write(project, "latin.py", raw="# coding: latin-1\nbad_name = 'é'\n".encode("latin-1"))
    os.chmod(latin, 0o751)
    target = write(project, "real/target.py", "bad_name = 3\n")
    os.symlink(target, project / "link.py")
    assert invoke(["--fix", "crlf.py", "latin.py", "link.py"]).exit_code == 0
    assert crlf.read_bytes() == b"\xef\xbb\xbfx = 1\r\ngood_name = 2\r\n"
    assert latin.read_bytes() == "# coding: latin-1\ngood_name = 'é'\n".encode("latin-1")
    assert oct(latin.stat().st_mode & 0o777) == "0o751"
    assert (project / "link.py").is_symlink() and target.read_text() == "good_name = 3\n"


def test_stdin_fix_writes_the_fixed_source_to_stdout(project: Path, test_rules) -> None:
    result = invoke(["--fix", "--stdin-filename", "x.py", "-"], input=SOURCE)
    assert result.exit_code == 1
    assert result.stdout == "good_name = 1\nprint(good_name)\n"
    assert "x.py:2:1: DL992" in result.stderr
    diff = invoke(["--diff", "--stdin-filename", "x.py", "-"], input=SOURCE)
    assert diff.exit_code == 1 and diff.stdout.startswith("--- x.py\n+++ x.py\n")


def test_apply_fixes_skips_overlaps_and_the_loop_finishes_them() -> None:
    text = "abcdef\n"
    first = Fix("a", (Edit("X", Location(1, 1), Location(1, 4)),))
    overlapping = Fix("b", (Edit("Y", Location(1, 3), Location(1, 5)),))
    disjoint = Fix("c", (Edit("Z", Location(1, 6), Location(1, 7)),))
    insertion = Fix("d", (Edit("!", Location(1, 1), Location(1, 1)),))
    new, applied = fixes.apply_fixes(text, [overlapping, first, disjoint, insertion])
    assert (new, applied) == ("XdeZ\n", [1, 2])
    # edits outside the text are ignored, not applied half-way
    out_of_range = Fix("e", (Edit("Q", Location(9, 1), Location(9, 2)),))
    assert fixes.apply_fixes(text, [out_of_range]) == (text, [])


def test_fix_that_breaks_syntax_is_not_kept(project: Path, test_rules, monkeypatch) -> None:
    write(project, "dllint.toml", '[rules.DL990]\nreplacement = "good name"\n')
    path = write(project, "m.py", "bad_name = 1\n")
    result = invoke(["--fix", "m.py"])
    assert path.read_text() == "bad_name = 1\n"
    assert result.exit_code == 1 and "DL990" in result.stdout
    assert "warning: m.py: the fixes for DL990 would introduce a syntax error" in result.stderr


def test_fixes_converge_across_iterations(project: Path, test_rules, monkeypatch) -> None:
    """A fix whose result is flagged again is applied again in the next round, after a re-lint."""
    import libcst as cst

    from dllint.rules.base import Report, TextEdit
    from tests.cli.conftest import BadName

    def check(self, sem):
        class Visitor(cst.CSTVisitor):
            found = []

            def visit_Name(self, node):
                if node.value.startswith("step") and int(node.value[4:]) < 4:
                    self.found.append(node)

        visitor = Visitor()
        sem.module.visit(visitor)
        for node in visitor.found:
            yield Report(node, "step", fix_message="next", edits=(TextEdit(node, f"step{int(node.value[4:]) + 1}"),))

    monkeypatch.setattr(BadName, "check", check)
    path = write(project, "m.py", "step1 = 1\n")
    result = invoke(["--fix", "m.py"])
    assert (result.exit_code, path.read_text()) == (0, "step4 = 1\n")
    assert result.stdout == "Found 3 warnings (3 fixed, 0 remaining).\n"


def test_stdin_fix_only_also_prints_the_fixed_source(project: Path, test_rules) -> None:
    result = invoke(["--fix-only", "--stdin-filename", "x.py", "-"], input=SOURCE)
    assert (result.exit_code, result.stdout) == (0, "good_name = 1\nprint(good_name)\n")


def test_diff_with_a_missing_path_exits_2(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE)
    result = invoke(["--diff", "m.py", "missing.py"])
    assert result.exit_code == 2 and "+good_name = 1" in result.stdout


def test_a_fix_that_never_converges_leaves_the_file_unchanged(project: Path, test_rules, monkeypatch) -> None:
    monkeypatch.setattr(fixes, "MAX_ITERATIONS", 5)
    path = write(project, "m.py", "bad_name = 1\n")
    result = invoke(["--fix", "--config", 'rules.DL990.replacement = "(bad_name)"', "m.py"])
    assert path.read_text() == "bad_name = 1\n"
    assert "m.py: the fix for DL990 did not converge after 5 rounds; the file was left unchanged" in result.stderr
    assert result.exit_code == 1 and "Found 1 warning." in result.stdout


class _SeesWhetherAIsFixed(Rule):
    """Test rule: on `wait_for_a`, reports whether a.py already holds its fix (waiting for it
    up to `patience` seconds, so that a worker running in parallel has time to write it)."""

    code, name, summary = "DL998", "test-sees-a", "reports whether a.py is fixed yet"
    needs_torch = False
    patience = 0.0

    def check(self, sem):
        import time

        if "wait_for_a" not in sem.module.code:
            return
        deadline = time.monotonic() + self.patience
        while "good_name" not in Path("a.py").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        fixed = "good_name" in Path("a.py").read_text()
        yield Report(sem.module.body[0], "a.py was already fixed" if fixed else "a.py was not fixed yet")


@pytest.fixture
def sees_a(test_rules, monkeypatch):
    import dllint.rules as rules_pkg

    registry = {**rules_pkg.all_rules(), "DL998": _SeesWhetherAIsFixed}
    catalog = {**rules_pkg.rule_catalog(), "DL998": rules_pkg.RuleInfo("DL998", "test-sees-a", True)}
    monkeypatch.setattr(rules_pkg, "all_rules", lambda: dict(sorted(registry.items())))
    monkeypatch.setattr(rules_pkg, "rule_catalog", lambda: dict(sorted(catalog.items())))
    return _SeesWhetherAIsFixed


def test_fix_writes_each_file_as_soon_as_its_fixes_are_known(project: Path, sees_a) -> None:
    """In one process: a.py is written before the next file's analysis starts (it was written
    only once every file had been linted, fixed and linted again)."""
    write(project, "a.py", "bad_name = 1\n")
    write(project, "b.py", "wait_for_a = 1\n")
    result = invoke(["--fix", "--no-cache", "--output-format", "concise", "a.py", "b.py"])
    assert result.stdout.splitlines()[0] == "b.py:1:1: DL998 a.py was already fixed"


def test_fix_in_worker_processes_writes_while_the_others_are_analysed(project: Path, sees_a, monkeypatch) -> None:
    from dllint import engine

    monkeypatch.setattr(engine, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(engine, "_chunks", lambda sizes, jobs: [[i] for i in range(len(sizes))])
    monkeypatch.setattr(sees_a, "patience", 60.0)
    write(project, "a.py", "bad_name = 1\n")
    write(project, "b.py", "wait_for_a = 1\n")
    result = invoke(["--fix", "--no-cache", "-j", "2", "--output-format", "concise", "a.py", "b.py"])
    assert result.stdout.splitlines() == ["b.py:1:1: DL998 a.py was already fixed", "Found 2 warnings (1 fixed, 1 remaining)."]


def test_fix_with_a_warm_cache_still_fixes(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    assert invoke(["m.py"]).exit_code == 1  # the cache now holds m.py's result
    result = invoke(["--fix", "--output-format", "concise", "m.py"])
    assert path.read_text() == "good_name = 1\nprint(good_name)\n"
    assert result.stdout.splitlines() == ["m.py:2:1: DL992 `print` found", "Found 3 warnings (2 fixed, 1 remaining)."]
    assert invoke(["--fix", "--output-format", "concise", "m.py"]).stdout.splitlines()[-1] == "Found 1 warning."


KILLED_MID_WRITE = """
import os, signal, sys, time
import dllint.fixes as fixes

def die(source, target):  # the temporary file is written and flushed: the worst moment to die
    os.kill(os.getpid(), signal.{signal})
    time.sleep(30)

fixes.os.replace = die
from dllint.cli import run
sys.argv = ["dllint", "--fix", "--no-cache", "m.py"]
run()
"""


def _run_killed(project: Path, signal_name: str):
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"), NO_COLOR="1")
    script = KILLED_MID_WRITE.replace("{signal}", signal_name)
    return subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, timeout=120)


def test_a_fix_killed_mid_write_leaves_a_temporary_file_the_next_fix_removes(project: Path) -> None:
    """SIGKILL cannot be caught: the write's temporary file stays (it was the issue's stray
    `.*.dllint-tmp`), named after the dead process; the next --fix of the file removes it."""
    path = write(project, "m.py", "import torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n")
    original = path.read_text()
    killed = _run_killed(project, "SIGKILL")
    assert killed.returncode == -9
    [stray] = [p.name for p in project.iterdir() if p.name != "m.py"]
    assert stray.startswith(".m.py.") and stray.endswith(".dllint-tmp")
    assert path.read_text() == original
    result = invoke(["--fix", "--no-cache", "m.py"])
    assert result.exit_code == 0 and "bias=False" in path.read_text()
    assert sorted(p.name for p in project.iterdir()) == ["m.py"]


def test_a_fix_terminated_mid_write_removes_its_temporary_file(project: Path) -> None:
    path = write(project, "m.py", "import torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n")
    original = path.read_text()
    terminated = _run_killed(project, "SIGTERM")
    assert terminated.returncode == 128 + 15, terminated.stderr
    assert sorted(p.name for p in project.iterdir()) == ["m.py"]
    assert path.read_text() == original


def test_a_temporary_file_of_a_live_process_is_left_alone(project: Path, test_rules) -> None:
    path = write(project, "m.py", "bad_name = 1\n")
    live = project / f".m.py.{os.getpid()}.abcd.dllint-tmp"  # a concurrent run's write in progress
    live.write_text("x")
    assert invoke(["--fix", "--no-cache", "m.py"]).exit_code == 0
    assert live.exists() and path.read_text() == "good_name = 1\n"
