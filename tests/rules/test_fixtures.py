"""Fixture files paired with their expected findings (TorchFix style).

Each ``tests/rules/fixtures/DLxxx/*.py`` file is linted with rule DLxxx alone. A line that
must be flagged ends with ``# expect: DLxxx``; every other line must stay quiet. Files
named ``ok_*.py`` hold look-alikes and expect nothing at all. A first-line comment
``# dllint-test-options: {"max-saturating": 1}`` passes options to the rule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import lint_text

FIXTURES = Path(__file__).parent / "fixtures"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>[A-Z0-9, ]+)")
_OPTIONS = re.compile(r"#\s*dllint-test-options:\s*(?P<json>\{.*\})")


def _fixture_files():
    return sorted(FIXTURES.glob("DL*/*.py"))


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path) -> None:
    code = path.parent.name
    text = path.read_text()
    expected = set()
    for row, line in enumerate(text.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected.update((row, c.strip()) for c in match.group("codes").split(",") if c.strip())
    if path.name.startswith("ok_"):
        assert not expected, "ok_ fixtures expect no findings"
    options_match = _OPTIONS.search(text.splitlines()[0]) if text else None
    options = {code: json.loads(options_match.group("json"))} if options_match else None
    findings = lint_text(text, [code], filename=str(path), options=options)
    actual = {(f.location.row, f.code) for f in findings}
    messages = "\n".join(f"  {f.location.row}:{f.location.column} {f.code} {f.message}" for f in findings)
    assert actual == expected, f"findings differ from the # expect markers:\n{messages}"
