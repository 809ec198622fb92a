"""The result cache: same findings as without it, invalidated by whatever changes phase 1,
cross-file findings that follow the files they depend on, and safe on bad or shared entries."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from dllint import cache as cache_module
from dllint import engine
from dllint.cache import ResultCache
from tests.engine.conftest import MODELS_LINEAR, as_tuples, settings

FILES = ["broken.py", "noqa_only.py", "pkg/__init__.py", "pkg/blocks.py", "pkg/models.py", "plain_train.py", "train.py", "util.py"]


def lint(root: Path, **kwargs):
    result = engine.lint_paths(FILES, settings(root, **{k: v for k, v in kwargs.items() if k != "jobs"}),
                               jobs=kwargs.get("jobs", 1))
    assert not result.internal_errors, result.internal_errors
    return as_tuples(result.findings)


def entries(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".dllint_cache").rglob("*") if p.is_file() and p.parent.name != ".dllint_cache")


def test_the_tree_triggers_rules_in_several_files_and_across_files(tree: Path) -> None:
    found = {(name, code) for name, _, _, code, _, _ in lint(tree, cache=False)}
    assert {
        ("broken.py", "DL001"), ("noqa_only.py", "DL002"), ("pkg/models.py", "DL203"),
        ("train.py", "DL501"), ("plain_train.py", "DL501"),
    } <= found
    assert any(name == "pkg/blocks.py" for name, _ in found)


def test_cached_findings_are_identical_to_uncached(tree: Path, spy) -> None:
    uncached = lint(tree, cache=False)
    assert not (tree / ".dllint_cache").exists()
    cold = lint(tree)
    analysed = len(spy.calls)
    assert analysed >= len(FILES)
    warm = lint(tree)
    assert len(spy.calls) == analysed  # nothing analysed again
    assert uncached == cold == warm


def test_cache_directory_has_a_gitignore_and_a_tag(tree: Path) -> None:
    lint(tree)
    assert (tree / ".dllint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (tree / ".dllint_cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert entries(tree)
    assert not [p for p in (tree / ".dllint_cache").rglob("*.tmp")]


def test_changing_a_file_reanalyses_only_that_file(tree: Path, spy) -> None:
    lint(tree)
    spy.calls.clear()
    with open(tree / "util.py", "a") as handle:
        handle.write("print(1)\n")
    lint(tree)
    assert spy.files() == ["util.py"]


def test_touched_models_file_reresolves_cached_cross_file_findings(tree: Path, spy) -> None:
    before = lint(tree)
    assert ("train.py", "DL501") in {(n, c) for n, _, _, c, _, _ in before}
    assert ("plain_train.py", "DL501") in {(n, c) for n, _, _, c, _, _ in before}
    spy.calls.clear()
    (tree / "pkg" / "models.py").write_text(MODELS_LINEAR)
    after = lint(tree)
    # Only models.py was analysed again (plain_train.py is still analysed from its cached
    # full result): train.py's cached candidates were resolved against the new index.
    assert spy.files() == ["pkg/models.py"]
    codes = {(n, c) for n, _, _, c, _, _ in after}
    assert ("train.py", "DL501") not in codes and ("plain_train.py", "DL501") not in codes
    assert ("pkg/models.py", "DL203") not in codes
    assert after == lint(tree, cache=False)


@pytest.mark.parametrize(
    "change",
    ["option", "selection", "version", "libcst"],
)
def test_everything_that_changes_phase_one_invalidates(tree: Path, spy, monkeypatch, change) -> None:
    lint(tree)
    spy.calls.clear()
    kwargs = {}
    if change == "option":
        kwargs["rules"] = {"DL201": {"max-saturating": 5}}
    elif change == "selection":
        kwargs["extend"] = ("DL002", "DL505")
    elif change == "version":
        monkeypatch.setattr(cache_module, "__version__", "999.0")
        monkeypatch.setattr(cache_module, "_fingerprint", None)
    elif change == "libcst":
        monkeypatch.setattr(cache_module, "_libcst_stamp", lambda: "libcst:other")
        monkeypatch.setattr(cache_module, "_fingerprint", None)
    lint(tree, **kwargs)
    assert len(spy.files("auto")) == len(FILES)


def test_an_edited_dllint_source_file_invalidates(tree: Path, monkeypatch) -> None:
    first = cache_module.code_fingerprint()
    monkeypatch.setattr(cache_module, "_fingerprint", None)
    package = Path(cache_module.__file__).parent
    real_scandir = os.scandir

    class Entry:
        def __init__(self, entry):
            self._entry, self.name, self.path = entry, entry.name, entry.path

        def is_dir(self):
            return self._entry.is_dir()

        def stat(self):
            info = self._entry.stat()
            if self.name == "engine.py":
                return os.stat_result((*info[:8], info.st_mtime + 1, info[9]))
            return info

    monkeypatch.setattr(cache_module.os, "scandir", lambda d: [Entry(e) for e in real_scandir(d)] if d == str(package) else real_scandir(d))
    assert cache_module.code_fingerprint() != first


def test_corrupted_entries_are_misses_not_errors(tree: Path, spy) -> None:
    expected = lint(tree)
    files = entries(tree)
    garbage = [b"", b"not a cache entry", files[0].read_bytes()[:-3]]
    for number, path in enumerate(files):
        path.write_bytes(garbage[number % len(garbage)])
    spy.calls.clear()
    assert lint(tree) == expected
    assert len(spy.calls) >= len(files)
    spy.calls.clear()
    assert lint(tree) == expected  # and they were rewritten
    assert spy.calls == []


def test_an_entry_that_checks_out_but_does_not_unpickle_is_a_miss(tmp_path: Path) -> None:
    store = ResultCache(tmp_path / "c", salt="s")
    store.store("ab" * 32, b"\x80\x05not a pickle")
    assert store.load("ab" * 32) == b"\x80\x05not a pickle"
    assert engine._load(store, "ab" * 32) is None
    store.store("cd" * 32, pickle.dumps({"not": "a FileResult"}))
    assert engine._load(store, "cd" * 32) is None


def test_an_entry_under_the_wrong_name_is_a_miss(tmp_path: Path) -> None:
    store = ResultCache(tmp_path / "c", salt="s")
    store.store("ab" * 32, b"payload")
    other = store._path("ab" * 31 + "cd")
    other.parent.mkdir(parents=True, exist_ok=True)
    os.replace(store._path("ab" * 32), other)
    assert store.load("ab" * 31 + "cd") is None


def test_an_unwritable_cache_is_skipped(tree: Path, monkeypatch) -> None:
    (tree / ".dllint_cache").write_text("a file where the directory should be")
    assert lint(tree) == lint(tree, cache=False)


def test_no_cache_writes_nothing_and_cache_dir_is_honoured(tree: Path) -> None:
    from tests.cli.conftest import invoke

    invoke(["--no-cache", "--isolated", "."])
    assert not (tree / ".dllint_cache").exists()
    invoke(["--cache-dir", "elsewhere", "--isolated", "."])
    assert (tree / "elsewhere" / ".gitignore").exists() and not (tree / ".dllint_cache").exists()
    invoke(["--isolated", "."])
    assert (tree / ".dllint_cache" / ".gitignore").exists()


CONCURRENT = """
import sys
from dllint import engine
from tests.engine.conftest import settings
from pathlib import Path
files = sys.argv[1:]
result = engine.lint_paths(files, settings(Path.cwd()), jobs=1)
assert not result.internal_errors, result.internal_errors
print(len(result.findings))
"""


def test_concurrent_runs_sharing_a_cache_leave_it_valid(tree: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), str(repo / "src"), os.environ.get("PYTHONPATH", "")]))
    for _ in range(3):
        runs = [
            subprocess.Popen([sys.executable, "-c", CONCURRENT, *FILES], cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert all(run.returncode == 0 for run in runs), [err.decode()[-2000:] for _, err in outputs]
        assert len({out for out, _ in outputs}) == 1
    store = ResultCache(tree / ".dllint_cache")
    for path in entries(tree):
        key = path.parent.name + path.name
        assert engine._load(store, key) is not None, path
    assert not [p for p in (tree / ".dllint_cache").rglob("*.tmp")]
    assert lint(tree) == lint(tree, cache=False)


def test_old_entries_and_stale_temporary_files_are_pruned(tmp_path: Path) -> None:
    import time

    store = ResultCache(tmp_path / "c", salt="s")
    store.store("ab" * 32, b"old")
    store.store("cd" * 32, b"new")
    old = store._path("ab" * 32)
    stale = old.with_name(".x.123.tmp")
    stale.write_bytes(b"half")
    long_ago = time.time() - 40 * 86400
    os.utime(old, (long_ago, long_ago))
    os.utime(stale, (long_ago, long_ago))
    store.prune()
    assert store.load("ab" * 32) is None and not stale.exists()
    assert store.load("cd" * 32) == b"new"
    store.store("ab" * 32, b"old")
    os.utime(store._path("ab" * 32), (long_ago, long_ago))
    store.prune()  # at most one sweep a day
    assert store.load("ab" * 32) == b"old"


DEEPSPEED_TRAIN = """
import deepspeed
import torch.nn as nn
import torch.nn.functional as F


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 8, num_layers=2)

    def forward(self, x):
        return self.rnn(x)[0]


engine = deepspeed.initialize(model=GRUNet(), config="ds_config.json")[0]
for x, y in loader:
    engine.backward(F.cross_entropy(engine(x), y))
    engine.step()
"""


def test_a_config_file_the_verdict_read_invalidates_the_entry(tmp_path: Path, spy, monkeypatch) -> None:
    """The DeepSpeed config decides DL501 (``gradient_clipping``): editing it, or creating it
    where it was looked for, re-analyses the script; an unchanged one keeps the entry."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text(DEEPSPEED_TRAIN)

    def codes() -> list[str]:
        result = engine.lint_paths(["train.py"], settings(tmp_path), jobs=1)
        return [finding.code for finding in result.findings]

    assert codes() == []  # no config file found: whether DeepSpeed clips is unknown
    (tmp_path / "ds_config.json").write_text('{"train_batch_size": 8}')
    spy.calls.clear()
    assert codes() == ["DL501"]  # created where it was looked for: no gradient_clipping
    assert spy.files() == ["train.py"]
    spy.calls.clear()
    assert codes() == ["DL501"]
    assert spy.files() == []  # unchanged: the entry holds
    (tmp_path / "ds_config.json").write_text('{"train_batch_size": 8, "gradient_clipping": 1.0}')
    assert codes() == []


def test_a_worker_reads_the_file_itself_and_caches_only_the_content_its_key_was_made_for(tmp_path: Path, monkeypatch) -> None:
    # Workers are sent the digest the cache key was made from, not the bytes; a file edited
    # between the key and the worker's read is analysed as it now is, and not cached under
    # the old content's key.
    from dllint.cache import ResultCache, content_digest

    path = tmp_path / "model.py"
    path.write_text("import torch\n")
    task = engine._Task(str(path), engine._PathSource(str(path)), frozenset({"DL301"}))
    cache = ResultCache(tmp_path / "cache")
    task.prepare(cache, {"DL301": {}})
    assert task.digest == content_digest(path.read_bytes())
    payload = task.payload(to_worker=True)
    assert payload[2] is None and payload[3] == task.digest
    stored = []
    monkeypatch.setattr(engine, "_worker_cache", cache)
    monkeypatch.setattr(cache, "store", lambda key, data: stored.append(key))
    engine._run_task(payload)
    assert stored == [task.key]
    path.write_text("import torch\nfrom torch import nn\n")
    result, encoded = engine._run_task(payload)
    assert stored == [task.key] and encoded is None
    assert result.imports == ("torch", "torch.nn")
