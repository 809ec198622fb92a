"""Every rule's documentation is complete, and its examples are true: the code under
``## Example`` is flagged by that rule, the code under ``## Use instead`` is not."""

from __future__ import annotations

import re

import pytest

from dllint.rules import all_rules, rule_catalog
from tests.helpers import lint_text

SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## References")
RULES = sorted(all_rules().items())


def test_the_catalog_read_off_module_names_matches_the_rule_classes() -> None:
    # all_rules() raises on a mismatch; this says so in one place, whatever the import order.
    classes = {code: (rule.code, rule.name, rule.default_enabled) for code, rule in RULES}
    assert classes == {code: tuple(info) for code, info in rule_catalog().items()}
    assert [code for code, (_, _, on) in classes.items() if not on] == ["DL002", "DL205", "DL505"]


@pytest.mark.parametrize("code, rule", RULES, ids=[code for code, _ in RULES])
def test_documentation_is_complete(code, rule) -> None:
    doc = rule.documentation()
    for section in SECTIONS:
        assert section in doc, f"{code} documentation lacks {section!r}"
    assert re.fullmatch(r"DL\d{3}", code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert rule.summary and not rule.summary.endswith(".")
    if rule.options:
        assert "## Options" in doc, f"{code} has options but no Options section"
        for option in rule.options:
            assert f"`{option}`" in doc, f"{code} does not document option {option}"
    references = doc.split("## References", 1)[1]
    assert re.search(r"\]\(https://[^)\s]+\)", references), f"{code}: References must link something users can open"
    assert not re.search(r"\bseed\b|notes §|RULES\.md", doc, re.I), f"{code} cites notes users cannot open"
    if code not in ("DL001", "DL002"):
        assert "https://pytorch.org/docs/" in references, f"{code}: References must link the PyTorch docs of its APIs"
    if rule.fixable and "unsafe" in rule.fix_applicability:
        assert "## Fix safety" in doc, f"{code} has unsafe fixes but no Fix safety section"


@pytest.mark.parametrize("code, rule", [(c, r) for c, r in RULES if c != "DL001"], ids=[c for c, _ in RULES if c != "DL001"])
def test_examples(code, rule) -> None:
    bad, good = rule.doc_examples()
    assert bad.strip() and good.strip()
    assert any(f.code == code for f in lint_text(bad, [code])), f"{code}: the Example is not flagged"
    assert not [f for f in lint_text(good, [code]) if f.code == code], f"{code}: the Use instead code is flagged"


def test_parse_error_example_is_a_parse_error() -> None:
    bad, good = all_rules()["DL001"].doc_examples()
    assert [f.code for f in lint_text(bad, ["DL001"])] == ["DL001"]
    assert lint_text(good, ["DL001"]) == []
