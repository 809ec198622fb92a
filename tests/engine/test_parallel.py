"""-j1 and -jN give the same findings; the pool is really used when there is enough work."""

from __future__ import annotations

from pathlib import Path

import pytest

from dllint import engine
from tests.engine.conftest import as_tuples, settings, write_tree


def lint(root: Path, files, jobs: int, cache: bool = False):
    result = engine.lint_paths(files, settings(root, cache=cache), jobs=jobs)
    assert not result.internal_errors, result.internal_errors
    return as_tuples(result.findings)


@pytest.fixture
def pool_always(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Use the pool for any run of two or more files; record how many workers were started."""
    monkeypatch.setattr(engine, "_POOL_MIN_BYTES", 0)
    started: list[int] = []
    real = engine._start_pool

    def start(workers, *args):
        started.append(workers)
        return real(workers, *args)

    monkeypatch.setattr(engine, "_start_pool", start)
    return started


def test_one_process_and_several_give_identical_findings(tree: Path, pool_always) -> None:
    files = write_tree(tree)
    serial = lint(tree, files, jobs=1)
    assert pool_always == []
    parallel = lint(tree, files, jobs=2)
    assert pool_always == [2]
    assert serial == parallel
    assert serial == lint(tree, files, jobs=3)


def test_parallel_with_cache_cold_and_warm(tree: Path, pool_always) -> None:
    files = write_tree(tree)
    serial = lint(tree, files, jobs=1)
    assert lint(tree, files, jobs=2, cache=True) == serial  # workers write the entries
    assert lint(tree, files, jobs=2, cache=True) == serial  # read back in the main process
    assert lint(tree, files, jobs=1, cache=True) == serial


def test_many_files_are_chunked_largest_first() -> None:
    sizes = [10, 500_000, 3, 70_000, 70_000, 5, 1, 2]
    chunks = engine._chunks(sizes, 2)
    assert chunks[0] == [1]
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(sizes)))


def test_default_jobs_is_every_usable_core() -> None:
    assert engine.default_jobs() >= 1


def test_every_worker_is_gone_when_the_run_ends(tree: Path, pool_always, monkeypatch) -> None:
    """(Closing the pool retired every other worker: the rest waited for work forever.)"""
    import multiprocessing

    files = write_tree(tree)
    monkeypatch.setattr(engine, "_chunks", lambda sizes, jobs: [[i] for i in range(len(sizes))])
    lint(tree, files, jobs=3)
    assert multiprocessing.active_children() == []
