"""Lint snippets in tests without going through configuration files."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from dllint.engine import lint_sources
from dllint.findings import Finding
from dllint.sources import Source


@dataclass
class SelectedSettings:
    """Exactly the given codes, with the given rule options."""

    codes: frozenset[str]
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def enabled_codes(self, filename: str) -> frozenset[str]:
        return self.codes

    def rule_settings(self, code: str) -> Mapping[str, Any]:
        return self.options.get(code, {})


def lint_text(text: str, codes: Iterable[str], filename: str = "snippet.py", options=None) -> list[Finding]:
    settings = SelectedSettings(frozenset(codes), options or {})
    result = lint_sources([Source(filename, textwrap.dedent(text))], settings, jobs=1)
    assert not result.internal_errors, result.internal_errors
    return result.findings


def lint_files(files: Mapping[str, str], codes: Iterable[str], options=None) -> list[Finding]:
    """Several files linted in one run (cross-file facts), given as {filename: text}."""
    settings = SelectedSettings(frozenset(codes), options or {})
    sources = [Source(name, textwrap.dedent(text)) for name, text in files.items()]
    result = lint_sources(sources, settings, jobs=1)
    assert not result.internal_errors, result.internal_errors
    return result.findings
