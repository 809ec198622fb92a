"""A standing fuzz test of the whole command: generated programs (hypothesmith), mutated model
code (the rule fixtures and examples, edited: numbers, layer types, lines moved or cut, bytes
inserted) and mutated notebooks, each linted as a small project, asserting:

* no internal error, and exit status 0 or 1 only;
* the same findings without the cache, with a cold cache in worker processes (-j 2), and with
  a warm cache in one process;
* ``--fix`` leaves every file parseable (by CPython and by LibCST), and a second ``--fix``
  changes nothing.

The number of examples is bounded so the suite stays fast (about a minute in all); run more
with ``DLLINT_FUZZ_EXAMPLES=500 pytest tests/cli/test_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import hypothesmith
import libcst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dllint import engine
from dllint.notebooks import NotebookError, parse_notebook
from tests.cli.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted(
    path.read_text(encoding="utf-8")
    for path in [*ROOT.glob("tests/rules/fixtures/DL*/*.py"), *ROOT.glob("examples/**/*.py")]
)
EXAMPLES = int(os.environ.get("DLLINT_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    derandomize=EXAMPLES is None,  # the standing test checks the same examples on every run
)

SWAPS = [
    ("Conv2d", "Conv3d"), ("ReLU", "Sigmoid"), ("relu", "tanh"), ("BatchNorm2d", "BatchNorm1d"), ("Linear", "Identity"),
    ("bias=False", "bias=True"), ("eval()", "train()"), ("zero_grad()", "step()"), ("Adam", "AdamW"), ("dim=1", "dim=-1"),
    ("3", "4"), ("0.5", "0.9"), ("padding=1", 'padding="same"'), ("    ", "  "), ("(", "(("), (":", ""),
]


@st.composite
def mutated_code(draw) -> str:
    """A seed file with a few edits: most keep it valid Python, some break it."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 4))):
        lines = text.splitlines(keepends=True) or [""]
        kind = draw(st.sampled_from(["swap", "swap", "swap", "drop", "duplicate", "move", "insert", "truncate", "noqa"]))
        at = draw(st.integers(0, len(lines) - 1))
        if kind == "swap":
            old, new = draw(st.sampled_from(SWAPS))
            if draw(st.booleans()):
                old, new = new, old
            text = text.replace(old, new, draw(st.integers(1, 3)))
        elif kind == "drop":
            del lines[at: at + draw(st.integers(1, 3))]
            text = "".join(lines)
        elif kind == "duplicate":
            lines.insert(at, lines[at])
            text = "".join(lines)
        elif kind == "move":
            line = lines.pop(at)
            lines.insert(draw(st.integers(0, len(lines))), line)
            text = "".join(lines)
        elif kind == "insert":
            position = draw(st.integers(0, len(text)))
            text = text[:position] + draw(st.text(max_size=6)) + text[position:]
        elif kind == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        else:
            lines[at] = lines[at].rstrip("\n") + draw(st.sampled_from(["  # noqa", "  # noqa: DL203", "  # noqa: DL999"])) + "\n"
            text = "".join(lines)
    return text


def _cells(text: str, cut: list[int]) -> list[str]:
    lines = text.splitlines(keepends=True)
    bounds = sorted({0, len(lines), *[c % (len(lines) + 1) for c in cut]})
    return ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])]


@st.composite
def mutated_notebook(draw) -> str:
    """Model code split into cells, with magics, markdown, and sometimes broken JSON."""
    code = draw(mutated_code())
    cells = []
    for source in _cells(code, draw(st.lists(st.integers(0, 200), max_size=4))):
        if draw(st.integers(0, 4)) == 0:
            source = draw(st.sampled_from(["%matplotlib inline\n", "!pip install torch\n", "%%time\n", "x?\n"])) + source
        cells.append({"cell_type": "code", "metadata": {}, "source": source.splitlines(keepends=True),
                      "outputs": [], "execution_count": None})
        if draw(st.booleans()):
            cells.append({"cell_type": "markdown", "metadata": {}, "source": ["# notes\n"]})
    document = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"
    if draw(st.integers(0, 5)) == 0:
        document = document[: draw(st.integers(0, len(document)))]
    return document


def _valid_python() -> st.SearchStrategy[str]:
    def compiles(code: str) -> bool:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile(code, "<fuzz>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        return True

    return hypothesmith.from_grammar().filter(compiles)


def _findings(args: list[str]) -> tuple[int, list[tuple]]:
    result = invoke(["--isolated", "--output-format", "json", *args])
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    found = json.loads(result.stdout)
    return result.exit_code, sorted(
        (Path(item["filename"]).name, item["cell"], item["location"]["row"], item["location"]["column"], item["code"],
         item["message"]) for item in found
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def _parses(name: str, data: bytes) -> bool:
    if name.endswith(".ipynb"):
        try:
            text = parse_notebook(data).text
        except NotebookError:
            return True  # not a notebook to begin with (its DL001), and --fix left it alone
    else:
        text = data.decode("utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(text, name, "exec", 0x400, dont_inherit=True)
    libcst.parse_module(text)
    return True


def check_project(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    work = Path(tempfile.mkdtemp(prefix="dllint-fuzz-"))
    try:
        project = work / "project"
        project.mkdir()
        for name, text in files.items():
            (project / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        monkeypatch.chdir(project)
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.delenv("DLLINT_OUTPUT_FORMAT", raising=False)
        monkeypatch.delenv("DLLINT_CACHE_DIR", raising=False)
        monkeypatch.setattr(engine, "_POOL_MIN_BYTES", 0)  # -j 2 really uses worker processes
        cache = ["--cache-dir", str(work / "cache")]

        status, plain = _findings(["--no-cache", "-j", "1", "."])
        assert _findings([*cache, "-j", "2", "."]) == (status, plain)  # cold cache, workers
        assert _findings([*cache, "-j", "1", "."]) == (status, plain)  # warm cache, one process

        before = _snapshot(project)
        fixed = invoke(["--isolated", "--fix", "--no-cache", "-q", "."])
        assert "internal error" not in fixed.stderr, fixed.stderr
        assert fixed.exit_code in (0, 1)
        after = _snapshot(project)
        for name, data in after.items():
            if data != before[name]:
                assert _parses(name, data)
        again = invoke(["--isolated", "--fix", "--no-cache", "-q", "."])
        assert again.exit_code in (0, 1) and "internal error" not in again.stderr
        assert _snapshot(project) == after  # idempotent
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(FUZZ, max_examples=EXAMPLES or 25)
@given(code=_valid_python(), other=mutated_code())
def test_generated_programs(code: str, other: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_project({"generated.py": "import torch.nn as nn\n" + code, "model.py": other}, monkeypatch)


@settings(FUZZ, max_examples=EXAMPLES or 50)
@given(model=mutated_code(), other=mutated_code())
def test_mutated_model_code(model: str, other: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_project({"model.py": model, "train.py": other}, monkeypatch)


@settings(FUZZ, max_examples=EXAMPLES or 25)
@given(notebook=mutated_notebook(), code=mutated_code())
def test_mutated_notebooks(notebook: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_project({"analysis.ipynb": notebook, "model.py": code}, monkeypatch)
