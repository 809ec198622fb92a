"""Configuration: ``[tool.dllint]`` in pyproject.toml (or dllint.toml), overridden by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class Settings:
    """The rules enabled for each file and their options."""

    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def enabled_codes(self, filename: str) -> frozenset[str]:
        from dllint.rules import all_rules

        return frozenset(code for code, rule in all_rules().items() if rule.default_enabled)

    def rule_settings(self, code: str) -> Mapping[str, Any]:
        return self.rules.get(code, {})
