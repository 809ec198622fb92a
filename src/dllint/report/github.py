"""``--output-format github``: GitHub Actions workflow commands, one annotation per finding."""

from __future__ import annotations

from typing import Sequence

from dllint.findings import Finding
from dllint.report import ReportContext, rule_name


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    level = "error" if finding.severity == "error" else "warning"
    name = rule_name(finding.code)
    title = f"{finding.code} ({name})" if name else finding.code
    properties = ",".join(
        f"{key}={_escape_property(str(value))}"
        for key, value in (
            ("file", finding.filename),
            ("line", finding.location.row),
            ("col", finding.location.column),
            ("endLine", finding.end_location.row),
            ("endColumn", finding.end_location.column),
            ("title", title),
        )
    )
    message = finding.message if finding.cell is None else f"cell {finding.cell}: {finding.message}"
    return f"::{level} {properties}::{_escape_data(message)}"


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    return "".join(annotation(finding) + "\n" for finding in findings)
