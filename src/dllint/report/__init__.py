"""Reporters: one module per ``--output-format``.

Every reporter takes the run's findings (already sorted by the engine) and a
:class:`ReportContext`, and returns the text to print. None of them imports the engine or the
rules eagerly: the rule registry is read only for names and help text where a format needs
them (statistics, SARIF, github titles).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import IO, Any, Callable, Optional, Sequence

from dllint.findings import DEFAULT_DOCS_URL, Finding

FORMATS = ("full", "concise", "json", "sarif", "github", "junit")


class ReportContext:
    __slots__ = ("fixed", "unsafe_fixed", "show_fixes", "fix_mode", "color", "quiet", "unsafe_fixes", "docs_url")

    def __init__(
        self,
        fixed: Optional[dict[str, Counter]] = None,
        show_fixes: bool = False,
        fix_mode: bool = False,
        color: bool = False,
        quiet: bool = False,
        unsafe_fixes: Optional[bool] = None,
        unsafe_fixed: Optional[dict[str, Counter]] = None,
        docs_url: str = DEFAULT_DOCS_URL,
    ) -> None:
        # filename -> code -> how many findings --fix removed from it
        self.fixed: dict[str, Counter] = {} if fixed is None else fixed
        # the same for the unsafe fixes among them
        self.unsafe_fixed: dict[str, Counter] = {} if unsafe_fixed is None else unsafe_fixed
        self.show_fixes = show_fixes
        self.fix_mode = fix_mode  # --fix was given (changes the summary's hint)
        self.color = color
        self.quiet = quiet  # findings only, no summary lines
        # --unsafe-fixes: True applies them, None (the default) hints at them, False hides them
        self.unsafe_fixes = unsafe_fixes
        self.docs_url = docs_url  # the documentation site's base URL (`docs-url`): rule links

    @property
    def fixed_count(self) -> int:
        return sum(sum(counter.values()) for counter in self.fixed.values())

    def applies(self, finding: Finding) -> bool:
        """Whether the finding has a fix that this run applies (or would apply with --fix)."""
        return finding.fix is not None and finding.fix.applies(self.unsafe_fixes)

    def hidden_fixes(self, findings: Sequence[Finding]) -> int:
        """Unsafe fixes not applied, to mention in the summary (0 when --no-unsafe-fixes)."""
        if self.unsafe_fixes is not None:
            return 0
        return sum(1 for finding in findings if finding.fix is not None and not finding.fix.applies(None))


def rule_name(code: str) -> str:
    from dllint import rules

    info = rules.rule_catalog().get(code)
    return info.name if info is not None else ""


def _registry() -> dict[str, Any]:
    from dllint import rules

    try:
        return rules.all_rules()
    except Exception:  # noqa: BLE001 - a broken rule module must not stop the report
        return {}


def render(fmt: str, findings: Sequence[Finding], context: ReportContext) -> str:
    return _renderer(fmt)(findings, context)


def render_statistics(fmt: str, findings: Sequence[Finding], context: ReportContext) -> str:
    from dllint.report import text

    if fmt == "json":
        import json

        return json.dumps(text.statistics_rows(findings, context), indent=2) + "\n"
    return text.statistics(findings, context)


def _renderer(fmt: str) -> Callable[[Sequence[Finding], ReportContext], str]:
    if fmt in ("full", "concise"):
        from dllint.report import text

        return text.full if fmt == "full" else text.concise
    if fmt == "json":
        from dllint.report import json_output

        return json_output.render
    if fmt == "sarif":
        from dllint.report import sarif

        return sarif.render
    if fmt == "github":
        from dllint.report import github

        return github.render
    if fmt == "junit":
        from dllint.report import junit

        return junit.render
    raise ValueError(f"unknown output format {fmt!r}")


def use_color(stream: Optional[IO[str]] = None) -> bool:
    """Colour only on a terminal; ``NO_COLOR`` turns it off, ``FORCE_COLOR`` on (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") or os.environ.get("CLICOLOR_FORCE"):
        return True
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def absolute_filename(filename: str) -> str:
    return filename if filename == "-" else os.path.abspath(filename)
