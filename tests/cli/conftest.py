"""Fixtures for the CLI tests: a CliRunner in a temp project, and test-only rules.

The real rules are being written in parallel and their verdicts may change; the CLI tests
need findings whose position and fix they control. ``test_rules`` registers three small
rules by monkeypatching :func:`dllint.rules.all_rules` and :func:`dllint.rules.rule_catalog`
(the engine, config, suppressions and reporters all look them up at call time, and small runs
stay in-process):

* DL990 test-bad-name (on, fixable): every name ``bad_name``, fixed to ``good_name``;
* DL991 test-off-rule (off by default): every name ``off_name``;
* DL992 test-print (on, not fixable): every call to ``print``;
* DL993 test-risky-name (on, unsafe fix): every name ``risky_name``, fixed to ``calm_name``
  only with ``--unsafe-fixes``.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterable, Optional

import libcst as cst
import pytest
from click.testing import CliRunner, Result

import dllint.rules as rules_pkg
from dllint.rules.base import Option, Report, Rule, TextEdit


def _names(sem: Any, value: str) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Visitor(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == value:
                found.append(node)

    sem.module.visit(Visitor())
    return found


class BadName(Rule):
    """
    ## What it does
    Test rule: flags `bad_name`.

    ## Why is this bad?
    It is a test.

    ## Example
    ```python
    bad_name = 1
    ```

    ## Use instead
    ```python
    good_name = 1
    ```
    """

    code = "DL990"
    name = "test-bad-name"
    summary = "A name called bad_name"
    fixable = True
    needs_torch = False
    options = {"replacement": Option("good_name", "what to rename it to")}

    def check(self, sem: Any) -> Iterable[Report]:
        for node in _names(sem, "bad_name"):
            replacement = self.settings["replacement"]
            yield Report(node, "`bad_name` is a bad name", fix_message=f"Rename to `{replacement}`",
                         edits=(TextEdit(node, replacement),))


class OffRule(Rule):
    """Test rule, off by default."""

    code = "DL991"
    name = "test-off-rule"
    summary = "A name called off_name"
    default_enabled = False
    needs_torch = False

    def check(self, sem: Any) -> Iterable[Report]:
        for node in _names(sem, "off_name"):
            yield Report(node, "`off_name` found")


class PrintCall(Rule):
    """Test rule: flags print calls."""

    code = "DL992"
    name = "test-print"
    summary = "A call to print"
    needs_torch = False

    def check(self, sem: Any) -> Iterable[Report]:
        for node in _names(sem, "print"):
            yield Report(node, "`print` found")


class RiskyName(Rule):
    """Test rule: flags `risky_name`; its fix is unsafe."""

    code = "DL993"
    name = "test-risky-name"
    summary = "A name called risky_name"
    fixable = True
    fix_applicability = ("unsafe",)
    needs_torch = False

    def check(self, sem: Any) -> Iterable[Report]:
        for node in _names(sem, "risky_name"):
            yield Report(node, "`risky_name` is risky", fix_message="Rename to `calm_name`",
                         edits=(TextEdit(node, "calm_name"),), applicability="unsafe")


TEST_RULES = {rule.code: rule for rule in (BadName, OffRule, PrintCall, RiskyName)}


@pytest.fixture
def test_rules(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    registry = dict(rules_pkg.all_rules())
    registry.update(TEST_RULES)
    registry = dict(sorted(registry.items()))
    catalog = {code: rules_pkg.RuleInfo(code, rule.name, rule.default_enabled) for code, rule in registry.items()}
    monkeypatch.setattr(rules_pkg, "all_rules", lambda: dict(registry))
    monkeypatch.setattr(rules_pkg, "rule_catalog", lambda: dict(catalog))
    return registry


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory, made the cwd."""
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("DLLINT_OUTPUT_FORMAT", raising=False)
    monkeypatch.delenv("DLLINT_CACHE_DIR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def write(root: Path, relative: str, text: str = "", *, raw: Optional[bytes] = None) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def notebook(*cells: tuple[str, str], language: str = "python") -> str:
    """A minimal nbformat-4 notebook; each cell is (cell_type, source)."""
    return json.dumps(
        {
            "cells": [
                {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                 **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                for kind, source in cells
            ],
            "metadata": {"language_info": {"name": language}},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    ) + "\n"


def invoke(args: list[str], input: Any = None) -> Result:
    from dllint.cli import main

    return CliRunner().invoke(main, args, input=input, catch_exceptions=False)


def run_subprocess(args: list[str], cwd: Path, input: Optional[bytes] = None, **kwargs: Any):
    import subprocess

    env = dict(os.environ, NO_COLOR="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "dllint", *args], cwd=cwd, input=input, capture_output=True, env=env, timeout=120,
        **kwargs,
    )


def codes(result: Result) -> list[tuple[str, str]]:
    """(filename, code) of each finding in a JSON report."""
    return [(item["filename"], item["code"]) for item in json.loads(result.stdout)]
