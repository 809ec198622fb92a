"""Files with nothing torch-related are only syntax-checked and noqa-scanned — but never at
the cost of a finding: they still get DL001/DL002, and they are analysed fully when they
import a model-defining module of the run (directly or through a re-export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dllint import engine
from dllint.engine import might_involve_torch, scan_imports
from dllint.sources import Source
from tests.engine.conftest import as_tuples, settings, write_tree


def lint(root: Path, files, **kwargs):
    result = engine.lint_paths(files, settings(root, cache=False, **kwargs), jobs=1)
    assert not result.internal_errors, result.internal_errors
    return result


def test_non_torch_files_are_skipped_but_keep_dl001_and_dl002(tree: Path, spy) -> None:
    files = write_tree(tree)
    result = lint(tree, files)
    codes = {(f.filename, f.code) for f in result.findings}
    assert ("broken.py", "DL001") in codes and ("noqa_only.py", "DL002") in codes
    # The DL001 of a skipped file is the one a full analysis gives.
    full = engine.analyze(Source("broken.py", (tree / "broken.py").read_text()), frozenset({"DL001"}), {})
    assert [c.finding for c in full.candidates] == [f for f in result.findings if f.filename == "broken.py"]
    assert spy.files("forced") == ["plain_train.py"]


def test_a_skipped_file_that_imports_a_model_module_is_analysed(tree: Path) -> None:
    files = write_tree(tree)
    findings = {(f.filename, f.code) for f in lint(tree, files).findings}
    assert ("plain_train.py", "DL501") in findings


def test_a_file_importing_a_reexport_of_a_model_is_analysed(tmp_path: Path, monkeypatch) -> None:
    from tests.engine.conftest import MODELS, PLAIN_TRAIN

    monkeypatch.chdir(tmp_path)
    files = write_tree(tmp_path, {
        "lib/__init__.py": "from lib.nets import Net\n",  # no torch here: a re-export
        "lib/nets.py": MODELS,
        "fit.py": PLAIN_TRAIN.replace("from pkg.models import Net", "from lib import Net"),
    })
    findings = {(f.filename, f.code) for f in lint(tmp_path, files).findings}
    assert ("fit.py", "DL501") in findings


def test_a_subclass_of_a_model_from_another_file_is_a_model(tmp_path: Path, monkeypatch, spy) -> None:
    from tests.engine.conftest import MODELS, PLAIN_TRAIN

    monkeypatch.chdir(tmp_path)
    files = write_tree(tmp_path, {
        "base.py": MODELS,
        "derived.py": "from base import Net as Base\n\n\nclass Net(Base):\n    pass\n",
        "fit.py": PLAIN_TRAIN.replace("from pkg.models import Net", "from derived import Net"),
        "other.py": "import json\n\nprint(json.dumps({}))\n",
    })
    findings = {(f.filename, f.code) for f in lint(tmp_path, files).findings}
    assert ("fit.py", "DL501") in findings
    assert spy.files("forced") == ["derived.py", "fit.py"]


def test_skipped_files_and_their_findings_are_the_same_through_the_cache(tree: Path) -> None:
    files = write_tree(tree)
    first = as_tuples(engine.lint_paths(files, settings(tree), jobs=1).findings)
    again = as_tuples(engine.lint_paths(files, settings(tree), jobs=1).findings)
    assert first == again == as_tuples(lint(tree, files).findings)


def test_skipping_changes_no_finding_on_the_rule_fixtures(monkeypatch) -> None:
    """Every fixture linted whole (no skipping) and with skipping gives the same findings."""
    from dllint.config import RuleSelection, Settings
    from dllint.rules import all_rules

    fixtures = sorted((Path(__file__).parents[1] / "rules" / "fixtures").rglob("*.py"))
    examples = sorted((Path(__file__).parents[2] / "examples").rglob("*.py"))
    sources = [Source(str(p), p.read_text(encoding="utf-8")) for p in fixtures + examples]
    every = Settings(selections=(RuleSelection(select=("ALL",)),), use_cache=False)
    assert set(every.selected_codes()) == set(all_rules())
    with_skip = engine.lint_sources(sources, every, jobs=1)
    monkeypatch.setattr(engine, "_nothing_to_check", lambda *args: False)
    without = engine.lint_sources(sources, every, jobs=1)
    assert with_skip.findings == without.findings
    assert with_skip.internal_errors == without.internal_errors


def test_torch_hints_cover_what_the_semantics_call_torch_code() -> None:
    """``might_involve_torch`` must be True wherever ``FileSemantics.mentions_torch`` is."""
    import libcst as cst

    from dllint.semantics import FileSemantics

    fixtures = sorted((Path(__file__).parents[1] / "rules" / "fixtures").rglob("*.py"))
    examples = sorted((Path(__file__).parents[2] / "examples").rglob("*.py"))
    snippets = [
        "from lightning import LightningModule\nclass M(LightningModule):\n    pass\n",
        "from transformers import AutoModel\nm = AutoModel.from_pretrained('x')\n",
        "from base import Thing\nclass M(Thing):\n    def forward(self, x):\n        return x\n",
        "import accelerate\n",
        "from .. import helpers\n",
    ]
    texts = [(str(p), p.read_text(encoding="utf-8")) for p in fixtures + examples]
    texts += [(f"torchvision/models/snippet{i}.py", text) for i, text in enumerate(snippets)]
    for filename, text in texts:
        sem = FileSemantics(cst.parse_module(text), Source(filename, text), engine.module_name_for(filename))
        imports = scan_imports(text, sem.module_name)
        if sem.mentions_torch:
            assert might_involve_torch(text, imports), filename


@pytest.mark.parametrize(
    ("text", "module", "package", "expected"),
    [
        ("import a.b as c, d\n", "m", False, ("a.b", "d")),
        ("from x.y import (\n    p,\n    q as r,\n)\n", "m", False, ("x.y", "x.y.p", "x.y.q")),
        ("from . import models\n", "pkg.train", False, ("pkg", "pkg.models")),
        ("from . import models\n", "pkg", True, ("pkg", "pkg.models")),
        ("from ..core import Net\n", "pkg.sub.mod", False, ("pkg.core", "pkg.core.Net")),
        ("if True: import os; import sys\n", "m", False, ("os", "sys")),
        ("from x import a, \\\n    b\n", "m", False, ("x", "x.a", "x.b")),
        ("from.models import Net\n", "pkg.mod", False, ("pkg.models", "pkg.models.Net")),
        ("from x import *\n", "m", False, ("x",)),
        ("x = 'no imports here'\n", "m", False, ()),
    ],
)
def test_scan_imports(text: str, module: str, package: bool, expected: tuple[str, ...]) -> None:
    assert scan_imports(text, module, is_package=package) == expected


def test_module_names_match_the_semantics(tmp_path: Path, monkeypatch) -> None:
    from dllint.semantics import module_name_for as semantics_module_name

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "__init__.py").write_text("")
    (tmp_path / "a" / "__init__.py").write_text("")
    for name in ["a/b/c.py", "a/b/__init__.py", "a/x.py", "top.py", "a/nb.ipynb", "-", "<stdin>", "weird.name.py", ".hidden.py"]:
        assert engine.module_name_for(name) == semantics_module_name(name), name
