"""The rule registry: every ``dlNNN_*.py`` module in this package defines one rule.

A rule's module name is its code and name (``dl101_zero_weight_init`` defines DL101,
``zero-weight-init``) and :data:`OFF_BY_DEFAULT` lists the rules that are off unless selected,
so what selection, ``# noqa`` checks and reports need is known without importing a rule: a run
whose files all come from the result cache never imports LibCST. :func:`all_rules` checks both
against the rule classes, so they cannot drift.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from dllint.rules.base import Rule

__all__ = ["OFF_BY_DEFAULT", "RuleInfo", "all_rules", "get_rule", "rule_catalog"]

OFF_BY_DEFAULT = frozenset({"DL002", "DL205", "DL505"})

_RULE_MODULE = re.compile(r"^dl(\d{3})_(\w+)$")


class RuleInfo(NamedTuple):
    code: str
    name: str
    default_enabled: bool


@lru_cache(maxsize=None)
def rule_catalog() -> dict[str, RuleInfo]:
    """Every rule's code, name and default, keyed and ordered by code, without importing it."""
    catalog = {}
    for info in pkgutil.iter_modules(__path__):
        match = _RULE_MODULE.match(info.name)
        if match:
            code = f"DL{match[1]}"
            catalog[code] = RuleInfo(code, match[2].replace("_", "-"), code not in OFF_BY_DEFAULT)
    return dict(sorted(catalog.items()))


@lru_cache(maxsize=None)
def all_rules() -> dict[str, type[Rule]]:
    """Every rule class, keyed and ordered by code."""
    from dllint.rules.base import Rule

    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        match = _RULE_MODULE.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.__module__ == module.__name__:
                if value.code in found:
                    raise RuntimeError(f"two rules claim {value.code}")
                listed = rule_catalog()[f"DL{match[1]}"]
                if (value.code, value.name, value.default_enabled) != listed:
                    raise RuntimeError(
                        f"{module.__name__} defines {value.code} {value.name} (default_enabled={value.default_enabled}), "
                        f"but its module name and OFF_BY_DEFAULT say {listed.code} {listed.name} "
                        f"(default_enabled={listed.default_enabled})"
                    )
                _check_fix_applicability(value)
                found[value.code] = value
    missing = sorted(set(rule_catalog()) - set(found))
    if missing:
        raise RuntimeError(f"no rule class found in the modules of {', '.join(missing)}")
    return dict(sorted(found.items()))


def _check_fix_applicability(rule: type[Rule]) -> None:
    from dllint.findings import APPLICABILITIES

    declared = rule.fix_applicability
    if not declared or any(item not in APPLICABILITIES for item in declared):
        raise RuntimeError(
            f"{rule.code}: fix_applicability must list one or more of {', '.join(APPLICABILITIES)}, got {declared!r}"
        )


def get_rule(code: str) -> type[Rule]:
    """The rule class for ``code`` (case-insensitive); KeyError if there is none."""
    return all_rules()[code.upper()]
