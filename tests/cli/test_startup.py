"""The CLI path never imports torch, `import dllint.cli` stays cheap (no LibCST, no engine), and
a run served from the result cache imports neither LibCST nor any rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHECK = """
import json, sys
mode = sys.argv[1]
import dllint.cli
if mode != "import":
    sys.argv = ["dllint", *sys.argv[2:]]
    try:
        dllint.cli.main()
    except SystemExit as exit:
        code = exit.code
print(json.dumps(sorted(sys.modules)))
"""
WATCHED = ("torch", "libcst", "dllint.probe", "dllint.engine")


def loaded(tmp_path: Path, *args: str, watched: tuple[str, ...] = WATCHED) -> list[str]:
    """The modules among ``watched`` (and their submodules) that running the CLI imported."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), NO_COLOR="1")
    result = subprocess.run([sys.executable, "-c", CHECK, *args], cwd=tmp_path, capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    return [m for m in modules if m in watched or m.startswith(tuple(w + "." for w in watched))]


def test_import_dllint_cli_imports_neither_torch_nor_libcst(tmp_path: Path) -> None:
    assert loaded(tmp_path, "import") == []


def test_help_does_not_import_torch_or_the_probe(tmp_path: Path) -> None:
    assert loaded(tmp_path, "run", "--help") == []
    rules = loaded(tmp_path, "run", "rules")  # loads the rule modules (LibCST), but never torch
    assert not [m for m in rules if m == "torch" or m.startswith(("torch.", "dllint.probe"))]


def test_a_full_lint_run_never_imports_torch(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n"
        "        nn.init.zeros_(self.fc.weight)\n\n    def forward(self, x):\n        return self.fc(x)\n"
    )
    (tmp_path / "nb.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "import torch\\n%time 1"}]}')
    modules = loaded(tmp_path, "run", "--isolated", "--output-format", "json", ".")
    assert not [m for m in modules if m == "torch" or m.startswith("torch.")]
    assert "libcst" in modules  # the run did lint
    assert not [m for m in modules if m.startswith("dllint.probe")]


def test_a_run_served_from_the_cache_imports_no_libcst_and_no_rule(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "broken", project)
    args = ("run", "--isolated", "--output-format", "json", ".")
    assert "libcst" in loaded(project, *args)  # the first run lints and fills the cache
    cached = loaded(project, *args, watched=("libcst", "dllint.semantics", "dllint.rules.base"))
    assert cached == []


def test_the_executable_exits_fast_with_its_status_and_all_of_its_output(tmp_path: Path) -> None:
    # `python -m dllint` leaves through os._exit after a lint run: all of the output (here far
    # more than a pipe's buffer) still arrives, and every exit status is kept.
    broken = Path(__file__).resolve().parents[2] / "examples" / "broken" / "vgg_bn.py"
    for i in range(100):
        shutil.copy(broken, tmp_path / f"m{i}.py")
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "ok.py").write_text("import torch\n")

    def dllint(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dllint", "--isolated", "--no-cache", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=120)

    found = dllint("--output-format", "json", ".")
    assert found.returncode == 1 and len(found.stdout) > 65536
    assert len(json.loads(found.stdout)) == 100 * len(json.loads(dllint("--output-format", "json", "m0.py").stdout))
    assert dllint("clean").returncode == 0
    bad = dllint("--select", "DL999", ".")
    assert bad.returncode == 2 and "DL999" in bad.stderr
