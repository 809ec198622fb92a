"""Safe and unsafe fixes, as ruff separates them: `--unsafe-fixes`, `unsafe-fixes = true`,
`--no-unsafe-fixes`, the summary's hint, `--diff`, `--fix-only`, `--show-fixes`, JSON, SARIF,
statistics. DL990 (test-bad-name) has a safe fix, DL993 (test-risky-name) an unsafe one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import invoke, write

SOURCE = "bad_name = 1\nrisky_name = 2\n"


def test_without_the_flag_only_safe_fixes_are_applied_and_the_rest_is_hinted(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    result = invoke(["--fix", "--output-format", "concise", "m.py"])
    assert result.exit_code == 1
    assert path.read_text() == "good_name = 1\nrisky_name = 2\n"
    assert result.stdout.splitlines() == [
        "m.py:2:1: DL993 `risky_name` is risky",
        "Found 2 warnings (1 fixed, 1 remaining).",
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
    ]


def test_check_marks_only_applicable_fixes_and_counts_hidden_ones(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE + "risky_name\n")
    result = invoke(["--output-format", "concise", "m.py"])
    assert result.stdout.splitlines() == [
        "m.py:1:1: DL990 [*] `bad_name` is a bad name",
        "m.py:2:1: DL993 `risky_name` is risky",
        "m.py:3:1: DL993 `risky_name` is risky",
        "Found 3 warnings.",
        "[*] 1 fixable with the `--fix` option (2 hidden fixes can be enabled with the `--unsafe-fixes` option).",
    ]
    only_unsafe = invoke(["--output-format", "concise", "--select", "DL993", "m.py"]).stdout.splitlines()
    assert only_unsafe[-1] == "No fixes available (2 hidden fixes can be enabled with the `--unsafe-fixes` option)."


def test_unsafe_fixes_flag_applies_and_marks_them(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    shown = invoke(["--unsafe-fixes", "--output-format", "concise", "m.py"]).stdout.splitlines()
    assert shown == [
        "m.py:1:1: DL990 [*] `bad_name` is a bad name",
        "m.py:2:1: DL993 [*] `risky_name` is risky",
        "Found 2 warnings.",
        "[*] 2 fixable with the `--fix` option.",
    ]
    result = invoke(["--fix", "--unsafe-fixes", "m.py"])
    assert (result.exit_code, result.stdout) == (0, "Found 2 warnings (2 fixed, 0 remaining).\n")
    assert path.read_text() == "good_name = 1\ncalm_name = 2\n"


def test_no_unsafe_fixes_hides_the_hint(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE)
    lines = invoke(["--no-unsafe-fixes", "--output-format", "concise", "m.py"]).stdout.splitlines()
    assert lines[-2:] == ["Found 2 warnings.", "[*] 1 fixable with the `--fix` option."]
    fixed = invoke(["--no-unsafe-fixes", "--fix", "--output-format", "concise", "m.py"]).stdout.splitlines()
    assert fixed[-1] == "Found 2 warnings (1 fixed, 1 remaining)."


def test_config_turns_them_on_and_the_command_line_wins(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    write(project, "pyproject.toml", "[tool.dllint]\nunsafe-fixes = true\n")
    kept = invoke(["--fix", "--no-unsafe-fixes", "m.py"])
    assert path.read_text() == "good_name = 1\nrisky_name = 2\n" and kept.exit_code == 1
    invoke(["--fix", "m.py"])
    assert path.read_text() == "good_name = 1\ncalm_name = 2\n"
    write(project, "pyproject.toml", '[tool.dllint]\nunsafe-fixes = "yes"\n')
    bad = invoke(["m.py"])
    assert bad.exit_code == 2 and "`unsafe-fixes` must be true or false" in bad.stderr


def test_diff_honours_the_setting(project: Path, test_rules) -> None:
    path = write(project, "m.py", SOURCE)
    safe = invoke(["--diff", "m.py"])
    assert safe.exit_code == 1
    assert "+good_name = 1\n" in safe.stdout and "calm_name" not in safe.stdout
    assert safe.stderr == "Would fix 1 warning (1 additional fix available with `--unsafe-fixes`).\n"
    both = invoke(["--diff", "--unsafe-fixes", "m.py"])
    assert "+calm_name = 2\n" in both.stdout and both.stderr == "Would fix 2 warnings.\n"
    write(project, "u.py", "risky_name = 2\n")
    only_unsafe = invoke(["--diff", "u.py"])
    assert (only_unsafe.exit_code, only_unsafe.stdout) == (0, "")
    assert only_unsafe.stderr == "No warnings would be fixed (1 fix available with `--unsafe-fixes`).\n"
    assert path.read_text() == SOURCE


def test_fix_only_summary(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE)
    result = invoke(["--fix-only", "m.py"])
    assert (result.exit_code, result.stdout) == (0, "Fixed 1 warning (1 additional fix available with `--unsafe-fixes`).\n")
    again = invoke(["--fix-only", "m.py"])
    assert again.stdout == "No warnings fixed (1 fix available with `--unsafe-fixes`).\n"
    assert invoke(["--fix-only", "--no-unsafe-fixes", "m.py"]).stdout == ""


def test_show_fixes_marks_the_unsafe_ones(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE + "risky_name\n")
    result = invoke(["--fix", "--unsafe-fixes", "--show-fixes", "m.py"])
    assert (
        "Fixed 3 warnings:\n- m.py:\n    1 × DL990 (test-bad-name)\n    2 × DL993 (test-risky-name, unsafe fix)\n"
        in result.stdout
    )
    write(project, "n.py", SOURCE)
    safe_only = invoke(["--fix", "--show-fixes", "n.py"])
    assert "Fixed 1 warning:\n- n.py:\n    1 × DL990 (test-bad-name)\n\n" in safe_only.stdout


def test_json_sarif_and_statistics_carry_the_applicability(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE)
    data = json.loads(invoke(["--output-format", "json", "m.py"]).stdout)
    assert {item["code"]: item["fix"]["applicability"] for item in data} == {"DL990": "safe", "DL993": "unsafe"}
    sarif = json.loads(invoke(["--output-format", "sarif", "m.py"]).stdout)["runs"][0]
    assert {r["ruleId"]: r["fixes"][0]["properties"]["applicability"] for r in sarif["results"]} == {
        "DL990": "safe", "DL993": "unsafe",
    }
    rules = {rule["id"]: rule["properties"] for rule in sarif["tool"]["driver"]["rules"]}
    assert rules["DL993"] == {"fixable": True, "fixApplicability": ["unsafe"]}
    stats = {row["code"]: row["fixable"] for row in json.loads(
        invoke(["--statistics", "--output-format", "json", "m.py"]).stdout)}
    assert stats == {"DL990": True, "DL993": False}
    stats = {row["code"]: row["fixable"] for row in json.loads(
        invoke(["--statistics", "--unsafe-fixes", "--output-format", "json", "m.py"]).stdout)}
    assert stats == {"DL990": True, "DL993": True}


def test_stdin_fix_applies_unsafe_fixes_only_when_asked(project: Path, test_rules) -> None:
    kept = invoke(["--fix", "-", "--stdin-filename", "m.py"], input=SOURCE)
    assert kept.stdout == "good_name = 1\nrisky_name = 2\n"
    applied = invoke(["--fix", "--unsafe-fixes", "-", "--stdin-filename", "m.py"], input=SOURCE)
    assert applied.stdout == "good_name = 1\ncalm_name = 2\n"


def test_a_rule_may_not_report_a_fix_it_does_not_declare(project: Path, test_rules, monkeypatch) -> None:
    from tests.cli.conftest import BadName

    monkeypatch.setattr(BadName, "fix_applicability", ("unsafe",))
    write(project, "m.py", "bad_name = 1\n")
    result = invoke(["m.py"])
    assert result.exit_code == 2 and "DL990 reported a safe fix, but declares" in result.stderr
