"""The README's rule table lists every rule with its name and default, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from dllint.rules import all_rules

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| (DL\d{3}) \| ([a-z0-9-]+) \| (on|off) \| ?(yes)? ?\|", re.M)


def test_rule_table_matches_the_registry() -> None:
    rows = {code: (name, default, fix == "yes") for code, name, default, fix in ROW.findall(README.read_text())}
    expected = {
        code: (rule.name, "on" if rule.default_enabled else "off", rule.fixable) for code, rule in all_rules().items()
    }
    assert rows == expected
