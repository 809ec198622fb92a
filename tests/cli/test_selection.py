"""Rule selection (ruff semantics), per-file-ignores, noqa and file-level disable."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dllint.config import RuleSelection, resolve_selection
from tests.cli.conftest import codes, invoke, write

# A registry shaped like the real one, for the pure selection algorithm.
REGISTRY = {
    code: SimpleNamespace(default_enabled=on)
    for code, on in {
        "DL001": True, "DL002": False, "DL101": True, "DL102": True, "DL201": True, "DL202": True,
        "DL205": False, "DL501": True, "DL505": False,
    }.items()
}


def select(*layers: RuleSelection) -> list[str]:
    return sorted(resolve_selection(layers, REGISTRY))


def layer(select=None, ignore=(), extend=()) -> RuleSelection:
    return RuleSelection(select=tuple(select) if select is not None else None, ignore=tuple(ignore), extend_select=tuple(extend))


def test_defaults_are_the_default_enabled_rules() -> None:
    assert select() == ["DL001", "DL101", "DL102", "DL201", "DL202", "DL501"]


def test_prefix_selects_only_default_on_rules_exact_code_and_all_select_any() -> None:
    assert select(layer(select=["DL5"])) == ["DL501"]
    assert select(layer(select=["DL"])) == ["DL001", "DL101", "DL102", "DL201", "DL202", "DL501"]
    assert select(layer(select=["DL505"])) == ["DL505"]
    assert select(layer(extend=["DL505"])) == ["DL001", "DL101", "DL102", "DL201", "DL202", "DL501", "DL505"]
    assert select(layer(select=["ALL"])) == sorted(REGISTRY)


def test_more_specific_selector_wins_within_a_layer() -> None:
    assert select(layer(select=["DL"], ignore=["DL2"], extend=["DL201"])) == ["DL001", "DL101", "DL102", "DL201", "DL501"]
    assert select(layer(select=["DL201"], ignore=["DL2"])) == ["DL201"]
    assert select(layer(select=["DL2"], ignore=["DL201"])) == ["DL202"]
    # equal specificity: ignore wins
    assert select(layer(select=["DL101"], ignore=["DL101"])) == []
    assert select(layer(select=["ALL"], ignore=["DL"])) == []


def test_later_layer_select_replaces_earlier_and_ignore_edits() -> None:
    config = layer(select=["DL1"], ignore=["DL102"])
    assert select(config) == ["DL101"]
    assert select(config, layer(ignore=["DL101"])) == []
    assert select(config, layer(extend=["DL102"])) == ["DL101", "DL102"]
    # the command line's --select starts over: the config's ignore no longer applies
    assert select(config, layer(select=["DL1"])) == ["DL101", "DL102"]


SOURCE = "bad_name = 1\noff_name = 2\nprint(3)\n"


def lint(args: list[str]) -> list[tuple[str, str]]:
    result = invoke(["--output-format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return codes(result)


def names(pairs) -> list[str]:
    return sorted(f"{Path(filename).name}:{code}" for filename, code in pairs)


def test_selection_end_to_end(project: Path, test_rules) -> None:
    write(project, "m.py", SOURCE)
    assert names(lint(["m.py"])) == ["m.py:DL990", "m.py:DL992"]
    assert names(lint(["--select", "DL9", "m.py"])) == ["m.py:DL990", "m.py:DL992"]  # DL991 is off by default
    assert names(lint(["--select", "dl99", "--extend-select", "DL991", "m.py"])) == ["m.py:DL990", "m.py:DL991", "m.py:DL992"]
    assert names(lint(["--select", "ALL", "--ignore", "DL990,DL992", "m.py"])) == ["m.py:DL991"]
    assert names(lint(["--select", "DL990", "--select", "DL992", "m.py"])) == ["m.py:DL990", "m.py:DL992"]


def test_per_file_ignores_from_config_and_cli(project: Path, test_rules) -> None:
    write(project, "pkg/model.py", SOURCE)
    write(project, "tests/test_model.py", SOURCE)
    write(project, "tests/unit/test_deep.py", SOURCE)
    write(project, "pyproject.toml", '[tool.dllint]\nper-file-ignores = {"tests/*" = ["DL99"]}\n')
    assert names(lint(["."])) == ["model.py:DL990", "model.py:DL992"]
    # patterns are anchored at the project root (the config's directory), not the cwd
    import os

    os.chdir(project / "tests")
    assert names(lint(["."])) == []
    os.chdir(project)
    # --per-file-ignores replaces the config's mapping, --extend-per-file-ignores adds to it
    assert names(lint(["--per-file-ignores", "pkg/*.py:DL990", "."])) == [
        "model.py:DL992", "test_deep.py:DL990", "test_deep.py:DL992", "test_model.py:DL990", "test_model.py:DL992"]
    assert names(lint(["--extend-per-file-ignores", "model.py:DL992", "."])) == ["model.py:DL990"]
    # a negated pattern applies to every file that does NOT match
    assert names(lint(["--per-file-ignores", "!tests/**:DL990", "."])) == [
        "model.py:DL992", "test_deep.py:DL990", "test_deep.py:DL992", "test_model.py:DL990", "test_model.py:DL992"]


def test_per_file_ignores_apply_to_stdin_filename(project: Path, test_rules) -> None:
    write(project, "dllint.toml", 'per-file-ignores = {"scripts/*" = ["DL990"]}\n')
    result = invoke(["--output-format", "json", "--stdin-filename", "scripts/run.py", "-"], input=SOURCE)
    assert names(codes(result)) == ["run.py:DL992"]


def test_noqa_bare_specific_and_other_tools(project: Path, test_rules) -> None:
    write(project, "m.py", """\
        bad_name = 1  # noqa
        bad_name = 2  # noqa: DL990
        bad_name = 3  # noqa: DL992
        bad_name = 4  # noqa: E501, DL990
        bad_name = 5  # noqa: F401
        print(bad_name)  # noqa:DL990,DL992
        x = "# noqa"; bad_name = 7
        """)
    result = invoke(["--output-format", "json", "m.py"])
    rows = [(item["location"]["row"], item["code"]) for item in __import__("json").loads(result.stdout)]
    assert rows == [(3, "DL990"), (5, "DL990"), (7, "DL990")]
    # DL002 (off by default) reports the specific noqa that suppressed nothing; other tools' codes are untouched
    result = invoke(["--output-format", "json", "--extend-select", "DL002", "m.py"])
    rows = [(item["location"]["row"], item["code"]) for item in __import__("json").loads(result.stdout)]
    assert (3, "DL002") in rows and (5, "DL002") not in rows


def test_file_level_disable(project: Path, test_rules) -> None:
    write(project, "m.py", "# dllint: disable=DL990\n" + SOURCE)
    write(project, "n.py", "# dllint: disable=DL99\n" + SOURCE)
    write(project, "o.py", SOURCE)
    assert names(lint(["."])) == ["m.py:DL992", "o.py:DL990", "o.py:DL992"]


@pytest.mark.parametrize(
    ("args", "value"),
    [(["--select", ","], "','"), (["--select", ""], "''"), (["--select", "DL990,"], "'DL990,'"),
     (["--ignore", ",DL990"], "',DL990'"), (["--extend-select", " "], "' '")],
)
def test_an_empty_selector_on_the_command_line_is_an_error(project: Path, test_rules, args, value) -> None:
    """`--select ,` and `--select ''` selected no rule at all, and the run said "All checks passed!"."""
    write(project, "m.py", SOURCE)
    result = invoke([*args, "m.py"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {args[0]}: invalid value {value}: an empty rule selector: give rule codes or prefixes, e.g. DL101, "
        "DL1 or ALL\n"
    )


def test_an_empty_selector_in_the_configuration_is_an_error(project: Path, test_rules) -> None:
    write(project, "dllint.toml", 'select = [""]\n')
    write(project, "m.py", SOURCE)
    result = invoke(["m.py"])
    assert result.exit_code == 2
    assert result.stderr == "error: dllint.toml: `select`: an empty rule selector: give rule codes or prefixes, e.g. DL101, DL1 or ALL\n"
    write(project, "dllint.toml", "select = []\n")  # an empty list selects no rule: that is explicit
    assert invoke(["m.py"]).exit_code == 0


def test_file_level_disable_all_silences_every_rule_but_dl001(project: Path, test_rules) -> None:
    """`disable=ALL` disabled nothing, without a word."""
    write(project, "m.py", "# dllint: disable=ALL\n" + SOURCE)
    write(project, "broken.py", "# dllint: disable=all\ndef f(:\n")
    write(project, "o.py", SOURCE)
    assert names(lint(["."])) == ["broken.py:DL001", "o.py:DL990", "o.py:DL992"]


UNKNOWN = """\
# dllint: disable=DL999, DL99  the reason
bad_name = 1  # noqa: DL998, F401
print(bad_name)
"""


def test_unknown_codes_in_directives_are_warnings_when_dl002_is_off(project: Path, test_rules) -> None:
    write(project, "m.py", UNKNOWN)
    result = invoke(["--output-format", "concise", "m.py"])
    assert result.exit_code == 0 and result.stdout == "All checks passed!\n"  # DL99 is a known prefix
    assert result.stderr.splitlines() == [
        "warning: m.py:1:1: unknown rule code `DL999` in `# dllint: disable=DL999, DL99` (it disables nothing)",
        "warning: m.py:2:15: unknown rule code `DL998` in a `noqa` directive (it suppresses nothing)",
    ]


def test_unknown_codes_in_directives_are_dl002_findings_when_it_is_on(project: Path, test_rules) -> None:
    write(project, "m.py", UNKNOWN)
    result = invoke(["--output-format", "concise", "--extend-select", "DL002", "m.py"])
    assert result.exit_code == 1 and result.stderr == ""
    assert result.stdout.splitlines()[:2] == [
        "m.py:1:1: DL002 Unknown rule code in `dllint: disable` directive: `DL999` names no dllint rule; it disables "
        "nothing",
        "m.py:2:15: DL002 Unused `noqa` directive: `DL998` (unknown code) suppresses nothing on this line",
    ]
