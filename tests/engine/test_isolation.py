"""No file takes the run down with it: what CPython rejects never reaches LibCST, deep code is
analysed on a deep stack, a file over its budget is one DL001, and a worker process that dies
(a real segfault of LibCST's parser, a SIGKILL) costs only the file it held."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Iterable

import libcst
import pytest

import dllint.rules as rules_pkg
from dllint import engine, workers
from dllint.rules.base import Report, Rule
from tests.engine.conftest import settings, write_tree


class _MarkerRule(Rule):
    """Test rule: acts on files whose text holds its marker."""

    marker = ""
    needs_torch = False
    default_enabled = True

    def check(self, sem: Any) -> Iterable[Report]:
        if self.marker in sem.module.code:
            self.act()
            yield Report(sem.module.body[0], f"{self.code} finished")

    def act(self) -> None:
        raise NotImplementedError


class Spin(_MarkerRule):
    code, name, summary, marker = "DL993", "test-spin", "spins", "spin_forever"

    def act(self) -> None:
        while True:
            pass


class Sleep(_MarkerRule):
    code, name, summary, marker = "DL994", "test-sleep", "sleeps", "sleep_forever"

    def act(self) -> None:
        time.sleep(3600)


class Backtrack(_MarkerRule):
    """Stuck in native code that holds the GIL (a catastrophic regular expression): nothing
    in its process runs any more."""

    code, name, summary, marker = "DL997", "test-backtrack", "backtracks", "backtrack_forever"

    def act(self) -> None:
        import re

        re.fullmatch(r"(a+)+b", "a" * 64)


def _recurse(depth: int) -> int:
    return 0 if depth == 0 else 1 + _recurse(depth - 1)


class Deep(_MarkerRule):
    """Recurses 20 times deeper than Python's default limit allows, or without end."""

    code, name, summary, marker = "DL995", "test-deep", "recurses", "recurse_"

    def act(self) -> None:
        _recurse(20 * workers.DEFAULT_RECURSION_LIMIT)

    def check(self, sem: Any) -> Iterable[Report]:
        if "recurse_forever" in sem.module.code:
            _recurse(10**9)
        yield from super().check(sem)


class Kill(_MarkerRule):
    """Kills its own process as the kernel's out-of-memory killer would."""

    code, name, summary, marker = "DL996", "test-kill", "kills", "kill_me"

    def act(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


TEST_RULES = {rule.code: rule for rule in (Spin, Sleep, Backtrack, Deep, Kill)}


@pytest.fixture
def test_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = dict(sorted({**rules_pkg.all_rules(), **TEST_RULES}.items()))
    catalog = {code: rules_pkg.RuleInfo(code, rule.name, rule.default_enabled) for code, rule in registry.items()}
    monkeypatch.setattr(rules_pkg, "all_rules", lambda: dict(registry))
    monkeypatch.setattr(rules_pkg, "rule_catalog", lambda: dict(catalog))


@pytest.fixture(params=[1, 2], ids=["in-process", "workers"])
def jobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Each test runs in-process and in worker processes (forked: they inherit the patches)."""
    monkeypatch.setattr(engine, "_POOL_MIN_BYTES", 0)
    return request.param


def lint(root: Path, jobs: int, cache: bool = False) -> Any:
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if ".dllint_cache" not in p.parts)
    return engine.lint_paths(files, settings(root, cache=cache), jobs=jobs)


def findings(result: Any) -> set[tuple[str, str, int, str]]:
    return {(f.filename, f.code, f.location.row, f.message) for f in result.findings}


def test_the_tree_alone(tree: Path) -> None:
    write_tree(tree)
    assert {code for _, code, _, _ in findings(lint(tree, 1))} >= {"DL001", "DL203", "DL501"}


# --- CPython's parser is the judge ------------------------------------------------------------

REJECTED = {
    "nested_sequential.py": ("import torch.nn as nn\nm = " + "nn.Sequential(" * 1000 + ")" * 1000 + "\n",
                             "SyntaxError: too many nested parentheses", 2),
    "nested_lists.py": ("import torch\nm = " + "[" * 1000 + "]" * 1000 + "\n", "SyntaxError: too many nested parentheses", 2),
    "minus.py": ("import torch\nx = " + "-" * 10_000 + "1\n", "MemoryError", 1),
    "elif.py": ("import torch\nx = 1\nif x == 0:\n    pass\n" + "".join(f"elif x == {i}:\n    y = torch.zeros({i})\n" for i in range(1, 3000)),
                "RecursionError: maximum recursion depth exceeded", 1),
}


def test_what_cpython_rejects_is_a_dl001_with_its_message_and_never_reaches_libcst(
    tree: Path, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tree)
    expected = findings(lint(tree, 1))
    for name, (text, _, _) in REJECTED.items():
        (tree / name).write_text(text)
    parsed: list[str] = []
    real = libcst.parse_module
    monkeypatch.setattr(libcst, "parse_module", lambda text, *a, **k: parsed.append(text) or real(text, *a, **k))
    result = lint(tree, jobs)
    assert result.internal_errors == []
    new = findings(result) - expected
    assert {filename for filename, _, _, _ in new} == set(REJECTED)
    for filename, code, row, message in new:
        assert code == "DL001"
        assert REJECTED[filename][1] in message and row == REJECTED[filename][2]
    if jobs == 1:  # (in a worker, the patched parser's log stays in the worker)
        assert not any(text == rejected for text in parsed for rejected, _, _ in REJECTED.values())


# --- deep code, on a deep stack ----------------------------------------------------------------

DEEP = {
    # the shapes that gave RecursionErrors (internal errors, exit 2) from every rule
    "cuda.py": "import torch.nn as nn\nx = nn.Linear(1, 1)" + ".cuda()" * 500 + "\n",
    "chain.py": "import torch.nn as nn\nx0 = nn.Linear(1, 1)\n"
    + "".join(f"x{i + 1} = nn.Sequential(x{i}, nn.Linear(1, 1), nn.Sigmoid())\n" for i in range(1000)),
    "forward.py": "import torch\nimport torch.nn as nn\n\n\nclass Deep(nn.Module):\n    def __init__(self):\n"
    "        super().__init__()\n" + "".join(f"        self.l{i} = nn.Linear(8, 8)\n" for i in range(1000))
    + "\n    def forward(self, x):\n" + "".join(f"        x = torch.sigmoid(self.l{i}(x))\n" for i in range(1000))
    + "        return x\n",
    "elif.py": "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self, kind):\n        super().__init__()\n"
    "        if kind == 0:\n            self.conv = nn.Conv2d(8, 8, 2, padding='same')\n"
    + "".join(f"        elif kind == {i}:\n            self.conv = nn.Conv2d(8, 8, 3, padding={i})\n" for i in range(1, 900))
    + "\n    def forward(self, x):\n        return self.conv(x)\n",
}


def test_deep_valid_code_is_analysed_to_the_end(tree: Path, jobs: int) -> None:
    write_tree(tree)
    expected = findings(lint(tree, 1))
    for name, text in DEEP.items():
        (tree / name).write_text(text)
    result = lint(tree, jobs)
    assert result.internal_errors == []
    assert findings(result) >= expected
    new = {(filename, code) for filename, code, _, _ in findings(result) - expected}
    # the stacked sigmoids in both chains (and the Linear pairs of the first), the even kernel in the ladder
    assert new == {("chain.py", "DL201"), ("chain.py", "DL202"), ("forward.py", "DL201"), ("elif.py", "DL203")}


def test_recursion_far_past_pythons_default_limit_is_no_limit(tree: Path, jobs: int, test_rules) -> None:
    write_tree(tree)
    (tree / "deep.py").write_text("recurse_deeply = 1\n")
    result = lint(tree, jobs)
    assert result.internal_errors == []
    assert ("deep.py", "DL995", 1, "DL995 finished") in findings(result)


def test_recursion_without_end_is_one_dl001_and_the_rest_is_reported(tree: Path, jobs: int, test_rules) -> None:
    write_tree(tree)
    expected = findings(lint(tree, 1))
    (tree / "endless.py").write_text("recurse_forever = 1\n")
    result = lint(tree, jobs)
    assert result.internal_errors == []
    new = findings(result) - expected
    assert len(new) == 1
    filename, code, _, message = new.pop()
    assert (filename, code) == ("endless.py", "DL001")
    assert message.startswith("the file is nested too deeply for dllint to analyse")


# --- budgets ----------------------------------------------------------------------------------

@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_BUDGET_SECONDS", 0.5)
    monkeypatch.setattr(engine, "_BUDGET_SECONDS_PER_MB", 0.0)
    monkeypatch.setattr(engine, "_HARD_LIMIT_FACTOR", 1.0)
    monkeypatch.setattr(engine, "_HARD_LIMIT_MARGIN_SECONDS", 1.5)
    monkeypatch.setattr(engine, "_KILL_GRACE_SECONDS", 5.0)


def test_a_file_over_its_cpu_budget_is_one_dl001_and_never_cached(
    tree: Path, jobs: int, test_rules, small_budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wall-clock backstop far away: on a loaded machine the spinning thread may get a
    # small share of a core, and this test is about the CPU budget.
    monkeypatch.setattr(engine, "_HARD_LIMIT_MARGIN_SECONDS", 60.0)
    write_tree(tree)
    expected = findings(lint(tree, 1))
    (tree / "spin.py").write_text("spin_forever = 1\n")
    (tree / "after.py").write_text("import torch.nn as nn\n\nconv = nn.Conv2d(3, 8, 4, padding='same')\n")
    for _ in range(2):  # the second run reads the other files from the cache, and analyses spin.py again
        result = lint(tree, jobs, cache=True)
        assert result.internal_errors == []
        new = findings(result) - expected
        assert {(filename, code) for filename, code, _, _ in new} == {("spin.py", "DL001"), ("after.py", "DL203")}
        message = next(m for f, c, _, m in new if c == "DL001")
        assert message.startswith("dllint could not analyse this file within its budget (0 s of CPU time for 1 KB")
    cached = list((tree / ".dllint_cache").rglob("*"))
    assert not any(b"spin_forever" in p.read_bytes() for p in cached if p.is_file())


def test_a_file_blocked_past_the_wall_clock_limit_is_one_dl001(tree: Path, jobs: int, test_rules, small_budget) -> None:
    write_tree(tree)
    expected = findings(lint(tree, 1))
    (tree / "sleep.py").write_text("sleep_forever = 1\n")
    result = lint(tree, jobs)
    assert result.internal_errors == []
    new = findings(result) - expected
    assert len(new) == 1
    filename, code, _, message = new.pop()
    assert (filename, code) == ("sleep.py", "DL001")
    assert "within 2 s of wall-clock time" in message


# --- workers that die -------------------------------------------------------------------------

def pool_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_POOL_MIN_BYTES", 0)


def test_a_worker_stuck_in_native_code_is_killed_and_costs_only_its_file(
    tree: Path, monkeypatch: pytest.MonkeyPatch, test_rules, small_budget
) -> None:
    """In-process, a call that holds the GIL forever cannot be stopped: only the parent of a
    worker process can end it."""
    write_tree(tree)
    expected = findings(lint(tree, 2))
    (tree / "stuck.py").write_text("backtrack_forever = 1\n")
    pool_only(monkeypatch)
    monkeypatch.setattr(engine, "_KILL_GRACE_SECONDS", 1.0)
    result = lint(tree, 2)
    assert result.internal_errors == []
    new = findings(result) - expected
    assert findings(result) - new == expected
    assert new == {
        ("stuck.py", "DL001", 1, "dllint's analysis of this file was stopped after 3 s of wall-clock time; it was not "
         "checked"),
    }


def test_a_real_parser_segfault_costs_only_its_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LibCST's native parser really crashes here: CPython accepts 2000 unary minus signs, and
    LibCST's recursive descent overflows the stack. The analysis thread's usual stack (512 MiB)
    is deep enough for anything CPython accepts, so the test gives it 512 KiB instead."""
    write_tree(tree)
    expected = findings(lint(tree, 2))
    (tree / "crash.py").write_text("import torch\n\nx = " + "-" * 2000 + "1\n")
    pool_only(monkeypatch)
    monkeypatch.setattr(workers, "STACK_SIZES", (512 * 1024,))
    chunks: list[list[int]] = []
    real_chunks = engine._chunks
    monkeypatch.setattr(engine, "_chunks", lambda sizes, jobs: chunks.append(real_chunks(sizes, jobs)) or chunks[-1])
    result = lint(tree, 2)
    assert len(chunks[0]) == 1 and len(chunks[0][0]) == 9  # crash.py shared its chunk with every other file
    assert result.internal_errors == []
    new = findings(result) - expected
    assert findings(result) - new == expected  # every other finding, the rest of the chunk re-run
    assert new == {
        ("crash.py", "DL001", 1, "the parser crashed on this file (dllint's worker process was killed by SIGSEGV "
         "while parsing it); it was not checked. Please report it"),
    }


def test_a_worker_killed_like_the_oom_killer_costs_only_its_file(tree: Path, monkeypatch, test_rules) -> None:
    write_tree(tree)
    expected = findings(lint(tree, 2))
    (tree / "huge.py").write_text("kill_me = 1\n")
    pool_only(monkeypatch)
    result = lint(tree, 2)
    assert result.internal_errors == []
    new = findings(result) - expected
    assert findings(result) - new == expected
    assert new == {
        ("huge.py", "DL001", 1, "dllint crashed on this file (its worker process was killed by SIGKILL (perhaps by "
         "the system, for using too much memory) while analysing it); it was not checked. Please report it"),
    }


def test_every_worker_dying_on_its_first_file_still_ends_the_run(tree: Path, monkeypatch) -> None:
    files = write_tree(tree)
    pool_only(monkeypatch)
    real = engine._run_task

    def dying(payload: tuple) -> Any:
        if payload[0] in ("pkg/models.py", "train.py"):
            os._exit(3)
        return real(payload)

    monkeypatch.setattr(engine, "_run_task", dying)
    result = engine.lint_paths(files, settings(tree, cache=False), jobs=2)
    assert result.internal_errors == []
    crashed = {(f.filename, f.message) for f in result.findings if f.code == "DL001" and "crashed" in f.message}
    assert crashed == {
        (name, "dllint crashed on this file (its worker process exited with status 3 while reading it); it was not "
         "checked. Please report it")
        for name in ("pkg/models.py", "train.py")
    }
    assert {f.filename for f in result.findings} >= {"broken.py", "pkg/blocks.py"}


ORPHANS = """
import sys, time
from dllint import engine
from dllint.config import Settings

engine._POOL_MIN_BYTES = 0
engine._chunks = lambda sizes, jobs: [[i] for i in range(len(sizes))]  # (both workers start)
engine._to_analyse_fully = lambda results: time.sleep(120) or set()  # the workers wait, idle
print("ready", flush=True)
engine.lint_paths(sys.argv[1:], Settings(use_cache=False), jobs=2)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_workers_exit_when_the_parent_is_killed(tree: Path) -> None:
    import subprocess
    import sys

    files = write_tree(tree)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    parent = subprocess.Popen([sys.executable, "-c", ORPHANS, *files], cwd=tree, env=env, stdout=subprocess.PIPE)

    def children() -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent.pid:
                found.append(int(stat.parent.name))
        return found

    workers_of_parent: list[int] = []
    try:
        assert parent.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 60
        while len(children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers_of_parent = children()
        assert len(workers_of_parent) == 2
        time.sleep(1.0)  # they have analysed their chunks and wait for more
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        alive = workers_of_parent
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
        assert alive == []
    finally:
        parent.kill()
        for pid in workers_of_parent:
            if _state(pid) != "Z":
                os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
