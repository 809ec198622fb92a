"""Config discovery, precedence and every error path (all exit 2 with a message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import codes, invoke, write

SOURCE = "bad_name = 1\noff_name = 2\nprint(3)\n"


def lint_codes(*args: str) -> list[str]:
    result = invoke(["--output-format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return [code for _, code in codes(result)]


def test_pyproject_found_by_walking_up_from_the_paths(project: Path, test_rules) -> None:
    write(project, "pyproject.toml", '[tool.dllint]\nselect = ["DL992"]\n')
    write(project, "pkg/deep/m.py", SOURCE)
    assert lint_codes("pkg/deep/m.py") == ["DL992"]


def test_pyproject_without_dllint_table_is_skipped(project: Path, test_rules) -> None:
    write(project, "pyproject.toml", '[tool.dllint]\nselect = ["DL992"]\n')
    write(project, "pkg/pyproject.toml", '[project]\nname = "x"\n')
    write(project, "pkg/m.py", SOURCE)
    assert lint_codes("pkg") == ["DL992"]


def test_dllint_toml_preferred_and_takes_top_level_keys(project: Path, test_rules) -> None:
    write(project, "pyproject.toml", '[tool.dllint]\nselect = ["DL992"]\n')
    write(project, "dllint.toml", 'select = ["DL990"]\n')
    write(project, "m.py", SOURCE)
    assert lint_codes("m.py") == ["DL990"]


def test_cli_overrides_config_select_and_layers_ignore(project: Path, test_rules) -> None:
    write(project, "pyproject.toml", '[tool.dllint]\nselect = ["DL990"]\n')
    write(project, "m.py", SOURCE)
    assert lint_codes("--select", "DL992", "m.py") == ["DL992"]
    assert lint_codes("--extend-select", "DL992", "m.py") == ["DL990", "DL992"]
    assert lint_codes("--ignore", "DL990", "m.py") == []


def test_config_flag_and_isolated(project: Path, test_rules) -> None:
    write(project, "pyproject.toml", '[tool.dllint]\nselect = ["DL990"]\n')
    write(project, "other.toml", 'select = ["DL992"]\n')
    write(project, "m.py", SOURCE)
    # --config PATH takes any file; a name other than pyproject.toml is read like dllint.toml
    assert lint_codes("--config", "other.toml", "m.py") == ["DL992"]
    assert lint_codes("--isolated", "m.py") == ["DL990", "DL992"]  # defaults: DL991 is off
    assert lint_codes("--config", "select = ['DL991']", "m.py") == ["DL991"]


def test_rule_options_reach_the_rule(project: Path, test_rules) -> None:
    write(project, "pyproject.toml", '[tool.dllint]\n[tool.dllint.rules.DL990]\nreplacement = "nice_name"\n')
    write(project, "m.py", "bad_name = 1\n")
    result = invoke(["--diff", "m.py"])
    assert "+nice_name = 1" in result.stdout


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('select = ["DL999"]', "unknown rule selector `DL999`"),
        ('ignore = ["E501"]', "unknown rule selector `E501`"),
        ('extend-select = ["DL9", "XX1"]', "unknown rule selector `XX1`"),
        ('per-file-ignores = {"tests/*" = ["DL77"]}', "unknown rule selector `DL77`"),
        ('selct = ["DL1"]', "unknown key `selct`. Did you mean `select`?"),
        ('select = "DL1"', "`select` must be a list of strings"),
        ('force-exclude = "yes"', "`force-exclude` must be true or false"),
        ('output-format = "xml"', "`output-format` must be one of"),
        ("select = [", "invalid TOML"),
        ("[rules.DL998]\nx = 1", "unknown rule selector `DL998`"),
        ("[rules.DL990]\nreplacment = 'x'", "DL990 has no option `replacment`"),
        ("[rules.DL990]\nreplacement = 3", "[rules.DL990]: option `replacement` of DL990 must be a string, got 3"),
        # values are checked against their ranges (they were accepted: -5 flagged every stack)
        ("[rules.DL201]\nmax-saturating = -5", "[rules.DL201]: option `max-saturating` of DL201 must be an integer ≥ 0, got -5"),
        ("[rules.DL201]\nmax-saturating = true", "option `max-saturating` of DL201 must be an integer ≥ 0, got true"),
        ("[rules.DL303]\nmin-p = 1.5", "option `min-p` of DL303 must be a number between 0 and 1, got 1.5"),
        ("[rules.DL205]\nmin-kernel = 0", "option `min-kernel` of DL205 must be an integer ≥ 1, got 0"),
        ('docs-url = "docs.example.com"', "`docs-url`: must be an absolute http(s) URL"),
        ('docs-url = "https://docs.example.com/?v=1"', "`docs-url`: must be an absolute http(s) URL"),
        ("docs-url = 3", "`docs-url`: must be a URL string"),
    ],
)
def test_config_errors_exit_2_with_a_message_naming_the_file(project: Path, test_rules, config: str, expected: str) -> None:
    write(project, "dllint.toml", config + "\n")
    write(project, "m.py", SOURCE)
    result = invoke(["m.py"])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "dllint.toml" in result.stderr
    assert result.stderr.startswith("error: ") and result.stdout == ""


def test_invalid_pyproject_without_a_dllint_table_is_reported_as_ruff_does(project: Path) -> None:
    """It was skipped without a word (it might have held the [tool.dllint] table)."""
    write(project, "pyproject.toml", '[project]\nname = "x"\nversion = \n')
    write(project, "m.py", "x = 1\n")
    result = invoke(["m.py"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("error: pyproject.toml: invalid TOML: Invalid value (at line 3, column 11)")


def test_bad_toml_in_pyproject_reports_file_and_position(project: Path) -> None:
    write(project, "pyproject.toml", "[tool.dllint]\nselect = [1 2]\nignore = []\n")
    write(project, "m.py", "x = 1\n")
    result = invoke(["m.py"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: pyproject.toml: invalid TOML:")
    assert "line 2" in result.stderr


def test_tool_table_in_dllint_toml_gets_a_hint(project: Path) -> None:
    write(project, "dllint.toml", "[tool.dllint]\nselect = ['DL1']\n")
    result = invoke(["."])
    assert result.exit_code == 2
    assert "without [tool.dllint]" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "DL999"], "--select: unknown rule selector `DL999`"),
        (["--ignore", "DL1,bogus"], "--ignore: unknown rule selector `BOGUS`"),
        (["--extend-select", "DL0001"], "--extend-select: unknown rule selector `DL0001`"),
        (["--per-file-ignores", "tests/*"], "expected PATTERN:CODES"),
        (["--per-file-ignores", "tests/*:DL9999"], "unknown rule selector `DL9999`"),
        (["--config", "missing.toml"], "--config: no such file: missing.toml"),
        (["--config", "select = ["], "invalid TOML"),
    ],
)
def test_cli_errors_exit_2(project: Path, test_rules, args: list[str], expected: str) -> None:
    write(project, "m.py", SOURCE)
    result = invoke([*args, "m.py"])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr


def test_unknown_selector_suggests_a_close_code(project: Path, test_rules) -> None:
    result = invoke(["--select", "DL9900", "."])
    assert result.exit_code == 2
    assert "Did you mean `DL990`?" in result.stderr and "dllint rules" in result.stderr


def test_usage_error_exit_2(project: Path) -> None:
    result = invoke(["--output-format", "xml", "."])
    assert result.exit_code == 2
    assert "Invalid value for '--output-format'" in result.stderr


def test_output_format_from_config(project: Path, test_rules) -> None:
    write(project, "dllint.toml", 'output-format = "concise"\n')
    write(project, "m.py", "bad_name = 1\n")
    result = invoke(["m.py"])
    assert result.stdout.splitlines()[0] == "m.py:1:1: DL990 [*] `bad_name` is a bad name"


def test_cache_flags_are_stored_on_settings(project: Path, monkeypatch) -> None:
    import dllint.engine as engine

    seen = {}
    real = engine.lint_sources

    def spy(sources, settings, jobs=None, **options):
        seen.update(cache_dir=settings.cache_dir, use_cache=settings.use_cache, jobs=jobs)
        return real(sources, settings, jobs=jobs, **options)

    monkeypatch.setattr(engine, "lint_sources", spy)
    write(project, "m.py", "x = 1\n")
    assert invoke(["--no-cache", "--cache-dir", "cache", "-j", "3", "m.py"]).exit_code == 0
    assert seen == {"cache_dir": (project / "cache").resolve(), "use_cache": False, "jobs": 3}
    write(project, "dllint.toml", 'cache-dir = ".cache/dllint"\n')
    assert invoke(["m.py"]).exit_code == 0
    assert seen == {"cache_dir": (project / ".cache/dllint").resolve(), "use_cache": True, "jobs": None}


def test_docs_url_moves_every_rule_link(project: Path, test_rules) -> None:
    import json

    write(project, "dllint.toml", 'docs-url = "https://mirror.example.com/dllint"\n')
    write(project, "m.py", "bad_name = 1\n")
    data = json.loads(invoke(["--output-format", "json", "m.py"]).stdout)
    assert data[0]["url"] == "https://mirror.example.com/dllint/rules/DL990/"
    sarif = json.loads(invoke(["--output-format", "sarif", "m.py"]).stdout)
    driver = sarif["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://mirror.example.com/dllint/"
    assert {rule["helpUri"] for rule in driver["rules"] if rule["id"] == "DL990"} == {
        "https://mirror.example.com/dllint/rules/DL990/"
    }
    explained = json.loads(invoke(["rule", "DL990", "--output-format", "json"]).stdout)
    assert explained["url"] == "https://mirror.example.com/dllint/rules/DL990/"


def test_default_docs_url_is_the_documentation_site(project: Path, test_rules) -> None:
    import json

    write(project, "m.py", "bad_name = 1\n")
    data = json.loads(invoke(["--output-format", "json", "m.py"]).stdout)
    assert data[0]["url"] == "https://dllint.readthedocs.io/en/latest/rules/DL990/"
