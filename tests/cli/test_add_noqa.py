"""--add-noqa: every flagged line gets `# noqa: CODE` where the suppression machinery reads it,
merged with an existing `# noqa`, notebooks included, atomic, previewed by --diff; afterwards
the same run reports nothing. Exit status and messages as ruff's."""

from __future__ import annotations

import json
from pathlib import Path

import dllint.fixes as fixes
from tests.cli.conftest import invoke, notebook, write

CLEAN = "All checks passed!\n"


def test_appends_codes_and_a_second_run_is_clean(project: Path, test_rules) -> None:
    path = write(project, "m.py", "bad_name = 1\nprint(bad_name)   \nx = bad_name  # keep this comment\nok = 2\n")
    result = invoke(["--add-noqa", "m.py"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "Added 3 noqa directives.\n")
    assert path.read_text() == (
        "bad_name = 1  # noqa: DL990\n"
        "print(bad_name)  # noqa: DL990, DL992\n"
        "x = bad_name  # keep this comment  # noqa: DL990\n"
        "ok = 2\n"
    )
    assert invoke(["m.py"]).stdout == CLEAN
    again = invoke(["--add-noqa", "m.py"])
    assert (again.exit_code, again.stderr) == (0, "")


def test_merges_with_an_existing_noqa_without_duplicates(project: Path, test_rules) -> None:
    path = write(project, "m.py", (
        "bad_name = 1  # noqa: E501\n"
        "print(bad_name)  # noqa: DL992\n"
        "bad_name = 3  # noqa:E501,W291 legacy reason\n"
        "print(bad_name)  # noqa\n"
        "bad_name = 5  # NOQA: dl992\n"
    ))
    assert invoke(["--add-noqa", "m.py"]).stderr == "Added 4 noqa directives.\n"
    assert path.read_text() == (
        "bad_name = 1  # noqa: E501, DL990\n"
        "print(bad_name)  # noqa: DL992, DL990\n"
        "bad_name = 3  # noqa:E501, W291, DL990 legacy reason\n"
        "print(bad_name)  # noqa\n"
        "bad_name = 5  # NOQA: dl992, DL990\n"
    )
    assert invoke(["--extend-select", "DL002", "m.py"]).stdout.endswith("Found 1 warning.\n")  # the unused dl992 only


def test_multi_line_statements_get_it_where_suppressions_read_it(project: Path, test_rules) -> None:
    text = (
        'bad_name("""\n'
        "    a long string\n"
        '""")\n'
        "total = bad_name + \\\n"
        "    1\n"
        "call(\n"
        "    bad_name,\n"
        ")\n"
    )
    path = write(project, "m.py", text)
    assert invoke(["--add-noqa", "m.py"]).exit_code == 0
    assert path.read_text() == (
        'bad_name("""\n'
        "    a long string\n"
        '""")  # noqa: DL990\n'
        "total = bad_name + \\\n"
        "    1  # noqa: DL990\n"
        "call(\n"
        "    bad_name,  # noqa: DL990\n"
        ")\n"
    )
    assert invoke(["m.py"]).stdout == CLEAN


def test_noqa_at_the_end_of_a_string_or_continuation_silences_its_first_line(project: Path, test_rules) -> None:
    write(project, "m.py", 'bad_name("""\nx\n""")  # noqa: DL990\ny = bad_name + \\\n    1  # noqa\nbad_name("""\nx\n""")\n')
    result = invoke(["--output-format", "concise", "m.py"])
    assert result.stdout.splitlines() == ["m.py:6:1: DL990 [*] `bad_name` is a bad name", "Found 1 warning.",
                                          "[*] 1 fixable with the `--fix` option."]


def test_notebook_cells_get_the_comment_and_magics_are_kept(project: Path, test_rules) -> None:
    original = notebook(("code", "%matplotlib inline\nbad_name = 1\n"), ("markdown", "text"),
                        ("code", "print(2)  # noqa: E501"))
    path = write(project, "nb.ipynb", original)
    diff = invoke(["--add-noqa", "--diff", "nb.ipynb"])
    assert diff.exit_code == 1 and diff.stderr == "Would add 2 noqa directives.\n"
    assert diff.stdout.splitlines()[:2] == ["--- nb.ipynb:cell 1", "+++ nb.ipynb:cell 1"]
    assert path.read_text() == original
    assert invoke(["--add-noqa", "nb.ipynb"]).stderr == "Added 2 noqa directives.\n"
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["source"] == ["%matplotlib inline\n", "bad_name = 1  # noqa: DL990\n"]
    assert cells[2]["source"] == ["print(2)  # noqa: E501, DL992"]
    assert cells[1] == json.loads(original)["cells"][1]
    assert invoke(["nb.ipynb"]).stdout == CLEAN


def test_diff_previews_and_writes_nothing(project: Path, test_rules) -> None:
    path = write(project, "m.py", "bad_name = 1\n")
    result = invoke(["--add-noqa", "--diff", "m.py"])
    assert result.exit_code == 1
    assert result.stdout == "--- m.py\n+++ m.py\n@@ -1 +1 @@\n-bad_name = 1\n+bad_name = 1  # noqa: DL990\n"
    assert result.stderr == "Would add 1 noqa directive.\n"
    assert path.read_text() == "bad_name = 1\n"
    write(project, "clean.py", "ok = 1\n")
    assert invoke(["--add-noqa", "--diff", "clean.py"]).exit_code == 0


def test_respects_selection_and_leaves_syntax_errors_alone(project: Path, test_rules) -> None:
    path = write(project, "m.py", "bad_name = 1\nprint(2)\n")
    broken = write(project, "broken.py", "def f(:\n")
    result = invoke(["--add-noqa", "--select", "DL992,DL001", "."])
    assert result.exit_code == 0
    assert path.read_text() == "bad_name = 1\nprint(2)  # noqa: DL992\n"
    assert broken.read_text() == "def f(:\n"


def test_fix_is_ignored_with_a_warning(project: Path, test_rules) -> None:
    path = write(project, "m.py", "bad_name = 1\n")
    result = invoke(["--add-noqa", "--fix", "m.py"])
    assert result.exit_code == 0 and "--fix is incompatible with --add-noqa" in result.stderr
    assert path.read_text() == "bad_name = 1  # noqa: DL990\n"


def test_stdin_prints_the_source_with_the_comments(project: Path, test_rules) -> None:
    result = invoke(["--add-noqa", "--stdin-filename", "m.py", "-"], input="bad_name = 1\nok = 2\n")
    assert (result.exit_code, result.stdout) == (0, "bad_name = 1  # noqa: DL990\nok = 2\n")


def test_keeps_line_endings_and_encoding(project: Path, test_rules) -> None:
    crlf = write(project, "crlf.py", raw=b"\xef\xbb\xbfx = 1\r\nbad_name = 2\r\n")
    latin = write(project, "latin.py", raw="# coding: latin-1\nbad_name = 'é'\n".encode("latin-1"))
    assert invoke(["--add-noqa", "crlf.py", "latin.py"]).exit_code == 0
    assert crlf.read_bytes() == b"\xef\xbb\xbfx = 1\r\nbad_name = 2  # noqa: DL990\r\n"
    assert latin.read_bytes() == "# coding: latin-1\nbad_name = 'é'  # noqa: DL990\n".encode("latin-1")


def test_a_failed_write_leaves_the_file_intact_and_exits_2(project: Path, test_rules, monkeypatch) -> None:
    path = write(project, "m.py", "bad_name = 1\n")

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixes.os, "replace", crash)
    result = invoke(["--add-noqa", "--no-cache", "m.py"])
    assert result.exit_code == 2 and "No space left" in result.stderr and "Added" not in result.stderr
    assert path.read_text() == "bad_name = 1\n"
    assert sorted(p.name for p in project.iterdir()) == ["m.py"]
