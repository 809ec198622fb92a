"""The README's rule table lists every rule with its name and default, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from dllint.rules import all_rules

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| (DL\d{3}) \| ([a-z0-9-]+) \| (on|off) \| ?([a-z/]*) ?\|", re.M)


def test_rule_table_matches_the_registry() -> None:
    """The Fix column says which fixes a rule has: safe, unsafe, or safe/unsafe (as `dllint rules`)."""
    rows = {code: (name, default, fix) for code, name, default, fix in ROW.findall(README.read_text())}
    expected = {
        code: (rule.name, "on" if rule.default_enabled else "off",
               "/".join(sorted(rule.fix_applicability, reverse=True)) if rule.fixable else "")
        for code, rule in all_rules().items()
    }
    assert rows == expected
