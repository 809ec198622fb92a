"""The rules' unsafe fixes, on before/after file pairs (``tests/rules/fixes/DLNNN/``).

* ``<case>.py`` is linted with rule DLNNN alone and fixed with unsafe fixes on (as
  ``--fix --unsafe-fixes`` does: fix, re-lint, repeat); the result must be exactly
  ``<case>.fixed.py``, parse, carry no DLNNN finding any more, and a second fix must change
  nothing. Without ``--unsafe-fixes`` nothing changes.
* ``nofix_<case>.py`` holds code the rule flags but must not fix: every DLNNN finding in it
  comes without a fix.

A first-line ``# dllint-test-options: {...}`` passes rule options, as in the fixtures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Optional

import libcst as cst
import pytest

from dllint.engine import lint_sources
from dllint.fixes import Document, fix_loop
from dllint.sources import Source
from tests.helpers import SelectedSettings

FIXES = Path(__file__).parent / "fixes"
_OPTIONS = re.compile(r"#\s*dllint-test-options:\s*(?P<json>\{.*\})")


def _settings(codes: Iterable[str], text: str, options_for: str) -> SelectedSettings:
    """The rules ``codes``; the first-line options go to rule ``options_for``."""
    match = _OPTIONS.search(text.splitlines()[0]) if text else None
    return SelectedSettings(frozenset(codes), {options_for: json.loads(match.group("json"))} if match else {})


def fix_text(
    text: str, code: str, unsafe_fixes: Optional[bool] = True, *, also: Iterable[str] = (), filename: str = "case.py"
) -> str:
    """``text`` after ``--fix`` (with ``--unsafe-fixes`` when asked) for rule ``code`` (and the
    rules ``also``; the first-line options are ``code``'s)."""
    settings = _settings({code, *also}, text, code)

    def lint(items):
        result = lint_sources(items, settings, jobs=1)
        assert not result.internal_errors, result.internal_errors
        return result

    source = Source(filename, text)
    document = Document(filename, text.encode("utf-8"))
    outcome = fix_loop([source], lint([source]), lint, preloaded={filename: document}, unsafe_fixes=unsafe_fixes)
    assert not outcome.warnings, outcome.warnings
    return document.text


def findings(text: str, code: str):
    result = lint_sources([Source("case.py", text)], _settings({code}, text, code), jobs=1)
    assert not result.internal_errors, result.internal_errors
    return [finding for finding in result.findings if finding.code == code]


def _cases(prefix_nofix: bool) -> list[Path]:
    return sorted(
        path for path in FIXES.glob("DL*/*.py")
        if not path.name.endswith(".fixed.py") and path.name.startswith("nofix_") == prefix_nofix
    )


@pytest.mark.parametrize("path", _cases(False), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fix_gives_the_expected_file(path: Path) -> None:
    code, before = path.parent.name, path.read_text()
    expected = path.with_name(path.stem + ".fixed.py").read_text()
    assert findings(before, code), "the case must be flagged"
    assert all(f.fix is None or f.fix.applicability == "unsafe" for f in findings(before, code))
    assert fix_text(before, code, unsafe_fixes=None) == before, "unsafe fixes applied without --unsafe-fixes"
    after = fix_text(before, code)
    assert after == expected
    cst.parse_module(after)
    assert findings(after, code) == [], "still flagged after the fix"
    assert fix_text(after, code) == after, "a second --fix changed the file again"


@pytest.mark.parametrize("path", _cases(True), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_fix_where_its_conditions_do_not_hold(path: Path) -> None:
    code, text = path.parent.name, path.read_text()
    flagged = findings(text, code)
    assert flagged, "a must-not-fix case must still be flagged"
    fixed = [f"{f.location.row}: {f.fix.message}" for f in flagged if f.fix is not None]
    assert fixed == [], "offered a fix where it must not"
    assert fix_text(text, code) == text


def test_every_rule_with_unsafe_fixes_has_cases() -> None:
    from dllint.rules import all_rules

    unsafe = {code for code, rule in all_rules().items() if rule.fixable and "unsafe" in rule.fix_applicability}
    with_pairs = {path.parent.name for path in _cases(False)}
    with_nofix = {path.parent.name for path in _cases(True)}
    assert unsafe <= with_pairs, f"no before/after pair for {sorted(unsafe - with_pairs)}"
    assert unsafe <= with_nofix, f"no must-not-fix case for {sorted(unsafe - with_nofix)}"


def _all_fixture_files() -> list[Path]:
    fixtures = Path(__file__).parent / "fixtures"
    return sorted(fixtures.glob("DL*/*.py")) + _cases(False) + _cases(True)


@pytest.mark.parametrize("path", _all_fixture_files(), ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
def test_every_fix_keeps_the_file_parseable_and_is_idempotent(path: Path) -> None:
    """Every rule, safe and unsafe fixes, on every fixture: the fixed file parses, the fix loop
    converges (``fix_text`` fails on a warning), and fixing it again changes nothing."""
    from dllint.rules import all_rules

    fixable = [code for code, rule in all_rules().items() if rule.fixable]
    after = fix_text(path.read_text(), path.parent.name, also=fixable)
    cst.parse_module(after)
    assert fix_text(after, path.parent.name, also=fixable) == after, "a second --fix changed the file again"


def test_a_line_added_after_the_last_line_of_a_file_without_a_final_newline() -> None:
    text = (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
        "def fit(model, loader, val):\n"
        "    for epoch in range(3):\n"
        "        for x, y in loader:\n"
        "            F.cross_entropy(model(x), y).backward()\n"
        "        evaluate(model, val)\n"
        "def evaluate(model, val):\n"
        "    with torch.no_grad():\n"
        "        model(val)"
    )
    fixed = fix_text(text, "DL502")
    assert fixed.endswith("    model.eval()\n    with torch.no_grad():\n        model(val)\n    model.train()")
    cst.parse_module(fixed)
