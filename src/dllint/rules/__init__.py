"""The rule registry: every ``dlNNN_*.py`` module in this package defines one rule."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache

from dllint.rules.base import Option, Report, Rule, TextEdit

__all__ = ["Option", "Report", "Rule", "TextEdit", "all_rules", "get_rule"]

_RULE_MODULE = re.compile(r"^dl\d{3}_\w+$")


@lru_cache(maxsize=None)
def all_rules() -> dict[str, type[Rule]]:
    """Every rule class, keyed and ordered by code."""
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not _RULE_MODULE.match(info.name):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.__module__ == module.__name__:
                if value.code in found:
                    raise RuntimeError(f"two rules claim {value.code}")
                found[value.code] = value
    return dict(sorted(found.items()))


def get_rule(code: str) -> type[Rule]:
    """The rule class for ``code`` (case-insensitive); KeyError if there is none."""
    return all_rules()[code.upper()]
