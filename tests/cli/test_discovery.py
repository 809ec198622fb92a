"""File discovery: .gitignore, default excludes, explicit paths, --force-exclude."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import invoke, write


def shown(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_walks_python_stub_and_notebook_files_only(project: Path) -> None:
    write(project, "a.py", "x = 1\n")
    write(project, "pkg/b.pyi", "x: int\n")
    write(project, "pkg/nb.ipynb", "{}")
    write(project, "pkg/readme.md", "# no\n")
    write(project, "pkg/data.txt", "no\n")
    assert shown(invoke(["--show-files"])) == ["a.py", "pkg/b.pyi", "pkg/nb.ipynb"]


def test_default_excludes(project: Path) -> None:
    write(project, "keep.py")
    for junk in (".venv/lib/x.py", "build/x.py", ".git/hooks/x.py", "__pycache__/x.py",
                 "node_modules/pkg/x.py", "sub/dist/x.py", ".tox/x.py", "sub/.ipynb_checkpoints/x.ipynb"):
        write(project, junk, "x = 1\n")
    assert shown(invoke(["--show-files"])) == ["keep.py"]


def test_gitignore_respected_including_nested_and_negation(project: Path) -> None:
    (project / ".git").mkdir()
    write(project, ".gitignore", "generated/\n*_pb2.py\n")
    write(project, "src/.gitignore", "local_*.py\n!local_keep.py\n")
    write(project, "src/model.py")
    write(project, "src/local_scratch.py")
    write(project, "src/local_keep.py")
    write(project, "src/api_pb2.py")
    write(project, "generated/out.py")
    assert shown(invoke(["--show-files"])) == ["src/local_keep.py", "src/model.py"]
    # the root .gitignore applies when only a subdirectory is linted, too
    assert shown(invoke(["--show-files", "src"])) == ["src/local_keep.py", "src/model.py"]
    assert "src/api_pb2.py" in shown(invoke(["--show-files", "--no-respect-gitignore"]))


def test_gitignore_of_parent_repo_applies_to_subdirectory_run(project: Path, monkeypatch) -> None:
    (project / ".git").mkdir()
    write(project, ".gitignore", "sub/ignored.py\n")
    write(project, "sub/ignored.py")
    write(project, "sub/kept.py")
    monkeypatch.chdir(project / "sub")
    assert shown(invoke(["--show-files"])) == ["kept.py"]


def test_explicit_paths_linted_even_if_excluded_unless_force_exclude(project: Path) -> None:
    (project / ".git").mkdir()
    write(project, ".gitignore", "ignored.py\n")
    write(project, "ignored.py")
    write(project, "build/gen.py")
    write(project, "excluded_by_config.py")
    write(project, "pyproject.toml", '[tool.dllint]\nextend-exclude = ["excluded_by_config.py"]\n')
    explicit = ["ignored.py", "build/gen.py", "excluded_by_config.py"]
    assert shown(invoke(["--show-files", *explicit])) == sorted(explicit)
    assert shown(invoke(["--show-files", "--force-exclude", *explicit])) == []
    # an explicitly named excluded directory is walked too (its contents are not "found by walking")
    assert shown(invoke(["--show-files", "build"])) == ["build/gen.py"]


def test_exclude_replaces_defaults_and_extend_exclude_adds(project: Path) -> None:
    write(project, "build/x.py")
    write(project, "tests/test_x.py")
    write(project, "model.py")
    assert shown(invoke(["--show-files", "--extend-exclude", "tests"])) == ["model.py"]
    assert shown(invoke(["--show-files", "--exclude", "tests"])) == ["build/x.py", "model.py"]
    write(project, "dllint.toml", 'exclude = ["model.py"]\n')
    assert shown(invoke(["--show-files"])) == ["build/x.py", "tests/test_x.py"]


def test_missing_path_is_a_one_line_error_and_the_rest_is_linted(project: Path, test_rules) -> None:
    write(project, "a.py", "bad_name = 1\n")
    result = invoke(["--output-format", "concise", "a.py", "nope.py"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: nope.py: no such file or directory"
    assert "a.py:1:1: DL990" in result.stdout


def test_symlinked_directories_are_not_followed(project: Path) -> None:
    write(project, "real/x.py")
    os.symlink(project / "real", project / "link")
    os.symlink(project, project / "real" / "loop")  # a cycle must not hang discovery
    assert shown(invoke(["--show-files"])) == ["real/x.py"]


def test_duplicate_and_overlapping_paths_are_linted_once(project: Path) -> None:
    write(project, "pkg/x.py")
    assert shown(invoke(["--show-files", "pkg", "pkg/x.py", "./pkg/x.py", "."])) == ["pkg/x.py"]


def test_paths_outside_cwd_are_shown_absolute(project: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "elsewhere/y.py")
    assert shown(invoke(["--show-files", str(outside)])) == [str(outside)]


@pytest.mark.parametrize("name", ["rules", "rule", "check"])
def test_path_named_like_a_subcommand(project: Path, name: str, test_rules) -> None:
    write(project, f"{name}/x.py", "bad_name = 1\n")
    result = invoke(["--output-format", "concise", f"./{name}"])
    assert f"{name}/x.py:1:1: DL990" in result.stdout
    result = invoke(["check", "--output-format", "concise", name])
    assert f"{name}/x.py:1:1: DL990" in result.stdout
