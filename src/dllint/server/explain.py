"""A rule's explanation for a hover: its docstring's What it does / Why is this bad? / Use instead."""

from __future__ import annotations

import re

from dllint.findings import Finding

HOVER_SECTIONS = ("What it does", "Why is this bad?", "Use instead")
_HEADING = re.compile(r"^## (.+?)\s*$", re.M)


def sections(documentation: str) -> dict[str, str]:
    """A ruff-style rule docstring's ``## Heading`` sections, heading → text."""
    found = {}
    headings = list(_HEADING.finditer(documentation))
    for position, heading in enumerate(headings):
        end = headings[position + 1].start() if position + 1 < len(headings) else len(documentation)
        found[heading.group(1).rstrip(":")] = documentation[heading.end():end].strip()
    return found


def hover_markdown(finding: Finding, url: str) -> str:
    from dllint.rules import all_rules

    rule = all_rules().get(finding.code)
    title = f"**{finding.code}**" + (f" `{rule.name}`" if rule is not None else "")
    parts = [f"{title}: {finding.message}"]
    if rule is not None:
        explained = sections(rule.documentation())
        for heading in HOVER_SECTIONS:
            if explained.get(heading):
                parts.append(f"#### {heading}\n{explained[heading]}")
    parts.append(f"[{finding.code} documentation]({url})")
    return "\n\n".join(parts)
