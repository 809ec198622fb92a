"""Notebooks: cell/row mapping, IPython magics, malformed JSON, fixes written back into cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dllint.files import load_source
from dllint.notebooks import neutralise, parse_notebook, restore_indent
from tests.cli.conftest import invoke, notebook, write


def findings(*args: str) -> list[dict]:
    result = invoke(["--output-format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_findings_located_by_cell_and_row(project: Path, test_rules) -> None:
    write(project, "nb.ipynb", notebook(
        ("markdown", "# Title\nsome text\n"),
        ("code", "import torch\nx = 1\n"),
        ("raw", "raw"),
        ("code", "y = 2\n\nbad_name = 3"),
    ))
    data = findings("nb.ipynb")
    assert [(d["code"], d["cell"], d["location"]["row"], d["location"]["column"]) for d in data] == [("DL990", 4, 3, 1)]
    full = invoke(["nb.ipynb"]).stdout
    assert full.startswith("nb.ipynb:cell 4:3:1: DL990 [*] `bad_name` is a bad name\n  |\n3 | bad_name = 3\n")
    concise = invoke(["--output-format", "concise", "nb.ipynb"]).stdout
    assert concise.splitlines()[0] == "nb.ipynb:cell 4:3:1: DL990 [*] `bad_name` is a bad name"


def test_magics_and_shell_escapes_do_not_break_parsing(project: Path, test_rules) -> None:
    write(project, "nb.ipynb", notebook(
        ("code", "%matplotlib inline\n!pip install torch\nfiles = !ls\nt = %time f()\n"),
        ("code", "import torch\ntorch.zeros?\n?torch.ones\nif True:\n    %timeit f()\n    bad_name = 1\n"),
        ("code", "%%timeit -n 3\nbad_name = 2\n"),
        ("code", "%%bash\necho bad_name $((1 +\n"),
        ("code", "%time bad_name \\\n   + 1\nprint(1)\n"),
        ("code", "x = '''\n%not_a_magic bad_name\n'''\n"),
    ))
    data = findings("nb.ipynb")
    got = [(d["code"], d["cell"], d["location"]["row"]) for d in data]
    assert ("DL001" not in {d["code"] for d in data}), data
    assert got == [("DL990", 2, 6), ("DL990", 3, 2), ("DL992", 5, 3)]


def test_neutralise_keeps_rows_and_indentation() -> None:
    lines = ["%load_ext autoreload", "for i in range(3):", "    !echo $i", "    y = i", "x?", "a = (1 +", "%2)"]
    assert neutralise(lines) == [
        "pass  # magic", "for i in range(3):", "    pass  # magic", "    y = i", "pass  # magic", "a = (1 +", "%2)"]
    assert neutralise(["%%html", "<b>x</b>"]) is None
    assert neutralise(["%%capture out", "print(1)"]) == ["pass  # magic", "print(1)"]


def test_malformed_notebook_json_is_one_dl001_with_position(project: Path, test_rules) -> None:
    write(project, "bad.ipynb", '{\n "cells": [\n  {"cell_type": "code",, }\n ]\n}\n')
    write(project, "notjson.ipynb", "this is not json")
    write(project, "wrongshape.ipynb", '{"cells": "nope"}')
    write(project, "listcells.ipynb", '{"cells": [{"cell_type": "code", "source": 3}]}')
    write(project, "ok.py", "bad_name = 1\n")
    data = findings(".")
    got = [(Path(d["filename"]).name, d["code"], d["location"]["row"], d["message"].split(":")[0]) for d in data]
    assert got == [
        ("bad.ipynb", "DL001", 3, "invalid notebook JSON"),
        ("listcells.ipynb", "DL001", 1, "not a Jupyter notebook"),
        ("notjson.ipynb", "DL001", 1, "invalid notebook JSON"),
        ("ok.py", "DL990", 1, "`bad_name` is a bad name"),
        ("wrongshape.ipynb", "DL001", 1, "not a Jupyter notebook"),
    ]


def test_syntax_error_in_a_cell_is_located_in_that_cell(project: Path) -> None:
    write(project, "nb.ipynb", notebook(("code", "x = 1\n"), ("code", "y = 2\ndef f(:\n")))
    data = findings("nb.ipynb")
    assert [(d["code"], d["cell"]) for d in data] == [("DL001", 2)]


def test_non_python_notebooks_and_empty_ones_are_clean(project: Path, test_rules) -> None:
    write(project, "r.ipynb", notebook(("code", "bad_name <- function(x) {\n"), language="R"))
    write(project, "empty.ipynb", notebook(("markdown", "# nothing")))
    assert findings(".") == []


def test_load_source_cell_numbers_count_every_cell(tmp_path: Path) -> None:
    path = write(tmp_path, "nb.ipynb", notebook(("markdown", "m"), ("code", "a\nb"), ("code", "%%html\n<b>"), ("code", "c\n")))
    source = load_source(path)
    assert source.text == "a\nb\nc\n"
    assert source.cell_starts == (1, 3) and source.cell_numbers == (2, 4)
    assert source.to_cell(3) == (4, 1)


def test_fix_in_notebook_edits_the_cell_and_keeps_magics(project: Path, test_rules) -> None:
    original = notebook(("code", "%matplotlib inline\nbad_name = 1\n"), ("markdown", "text"), ("code", "print(bad_name)"))
    path = write(project, "nb.ipynb", original)
    diff = invoke(["--diff", "nb.ipynb"])
    assert diff.exit_code == 1
    assert diff.stdout.splitlines()[:2] == ["--- nb.ipynb:cell 1", "+++ nb.ipynb:cell 1"]
    assert "+good_name = 1" in diff.stdout and "+print(good_name)" in diff.stdout
    assert path.read_text() == original
    result = invoke(["--fix", "--output-format", "concise", "nb.ipynb"])
    assert result.exit_code == 1  # the print (DL992) remains
    assert result.stdout.splitlines() == ["nb.ipynb:cell 3:1:1: DL992 `print` found", "Found 3 warnings (2 fixed, 1 remaining)."]
    data = json.loads(path.read_text())
    assert data["cells"][0]["source"] == ["%matplotlib inline\n", "good_name = 1\n"]
    assert data["cells"][2]["source"] == ["print(good_name)"]
    assert data["cells"][1] == json.loads(original)["cells"][1]
    assert parse_notebook(path.read_bytes()).code_cells[0].lines == ["%matplotlib inline", "good_name = 1"]


@pytest.mark.parametrize("indent", ["", " "], ids=["plain cell", "cell dedented as IPython does"])
def test_unsafe_fix_that_adds_lines_around_a_cells_last_statement(project: Path, indent: str) -> None:
    # In a cell whose every line carries one leading space, the lines the fix adds get it too.
    training = "".join(indent + line + "\n" for line in (
        "import torch", "import torch.nn as nn", "import torch.nn.functional as F",
        "model = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5))",
        "def evaluate(model, xs):", "    total = 0", "    with torch.no_grad():", "        total = model(xs).sum()",
    ))
    loop = (
        "for epoch in range(3):\n"
        "    for x, y in loader:\n"
        "        F.cross_entropy(model(x), y).backward()\n"
        "    evaluate(model, val)"
    )
    path = write(project, "nb.ipynb", notebook(("code", training), ("code", loop)))
    result = invoke(["--fix", "--unsafe-fixes", "--select", "DL502", "nb.ipynb"])
    assert result.exit_code == 0, result.stdout
    cells = json.loads(path.read_text())["cells"]
    added = ("    model.eval()", "    with torch.no_grad():", "        total = model(xs).sum()", "    model.train()")
    assert "".join(cells[0]["source"]).endswith("".join(indent + line + "\n" for line in added))
    assert "".join(cells[1]["source"]) == loop
    assert "DL001" not in invoke(["--select", "DL001", "nb.ipynb"]).stdout


def test_cell_with_a_uniform_leading_indent_is_dedented_as_ipython_does(project: Path, test_rules) -> None:
    # IPython removes the first line's indent from every line that starts with it before running
    # a cell; findings stay at the cell's own columns.
    write(project, "nb.ipynb", notebook(
        ("code", " import torch\n bad_name = 1\n\n if True:\n     print(bad_name)\n"),
        ("code", "\n  x = 1\nbad_name = 2\n"),  # the first non-blank line decides; a line without it stays
        ("code", "\tbad_name = 3  # noqa: DL992\n"),
    ))
    data = findings("--extend-select", "DL002", "nb.ipynb")
    got = [(d["code"], d["cell"], d["location"]["row"], d["location"]["column"], d["end_location"]["column"])
           for d in data]
    assert got == [
        ("DL990", 1, 2, 2, 10),
        ("DL992", 1, 5, 6, 11),
        ("DL990", 1, 5, 12, 20),
        ("DL990", 2, 3, 1, 9),
        ("DL990", 3, 1, 2, 10),
        ("DL002", 3, 1, 16, 29),
    ]
    full = invoke(["--select", "DL990", "nb.ipynb"]).stdout
    assert "nb.ipynb:cell 1:2:2: DL990 [*] `bad_name` is a bad name\n  |\n2 |  bad_name = 1\n  |  ^^^^^^^^" in full


def test_indentation_error_in_a_dedented_cell_is_at_its_own_column(project: Path) -> None:
    write(project, "nb.ipynb", notebook(("code", "  x = 1\n y = 2\n")))
    data = findings("nb.ipynb")
    assert [(d["code"], d["cell"], d["location"]["row"]) for d in data] == [("DL001", 1, 2)]


def test_dedented_cell_code() -> None:
    source = notebook(("code", "  a = 1\n\n  if a:\n      %time f()\n b = 2\n"), ("code", "c = 3\n  d = 4\n"))
    first, second = parse_notebook(source).code_cells
    assert first.indent == "  " and second.indent == ""
    assert first.python == ["a = 1", "", "if a:", "    pass  # magic", " b = 2"]
    assert second.python == second.lines


def test_fix_in_a_dedented_cell_writes_the_cells_indent_back(project: Path, test_rules) -> None:
    original = notebook(("code", " bad_name = 1\n\n if True:\n     bad_name = 2\n"))
    path = write(project, "nb.ipynb", original)
    result = invoke(["--fix", "--select", "DL990", "nb.ipynb"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(path.read_text())["cells"][0]["source"] == [
        " good_name = 1\n", "\n", " if True:\n", "     good_name = 2\n"]


def test_add_noqa_in_a_dedented_cell(project: Path, test_rules) -> None:
    path = write(project, "nb.ipynb", notebook(("code", " x = 1\n bad_name = 2\n")))
    result = invoke(["--add-noqa", "--select", "DL990", "nb.ipynb"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(path.read_text())["cells"][0]["source"] == [" x = 1\n", " bad_name = 2  # noqa: DL990\n"]
    assert findings("--select", "DL990", "nb.ipynb") == []


def test_restore_indent_refuses_a_fix_that_changes_the_cells_leading_indent() -> None:
    cell = parse_notebook(notebook(("code", "  a = 1\nb = 2\n  c = 3\n"))).code_cells[0]
    assert cell.dedented == ["a = 1", "b = 2", "c = 3"]
    assert restore_indent(cell, ["a = 1", "b = 2", "d = 4", "c = 3"]) == ["  a = 1", "b = 2", "  d = 4", "  c = 3"]
    # Without its first line the cell would start unindented and IPython would not dedent `c = 3`.
    assert restore_indent(cell, ["b = 2", "c = 3"]) is None


def test_a_bug_in_a_notebook_fact_keeps_the_findings_it_would_have_dropped(project: Path, monkeypatch) -> None:
    # The two notebook facts (networks only demonstrated, linear networks contrasted with their
    # repair) only ever remove findings: when one fails, the findings stay and the failure is
    # reported, rather than the notebook passing silently.
    from dllint.semantics import FileSemantics

    collapse = "import torch\nfrom torch import nn\nnet = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))\nnet(torch.rand(1, 4))\n"
    write(project, "demo.ipynb", notebook(("code", collapse)))
    assert findings("--no-cache", "--select", "DL202", "demo.ipynb") == []  # only demonstrated: moot

    def broken(self):
        raise RuntimeError("a bug in the fact")

    for fact in ("demonstrations", "contrasts"):
        monkeypatch.setattr(FileSemantics, fact, property(broken))
    result = invoke(["--output-format", "json", "--no-cache", "--select", "DL202", "demo.ipynb"])
    assert [d["code"] for d in json.loads(result.stdout)] == ["DL202"]
    assert "demonstrations" in result.stderr
