"""``--output-format json``: a list of findings with ruff's field names (plus ``severity``)."""

from __future__ import annotations

import json
from typing import Any, Sequence

from dllint.findings import DEFAULT_DOCS_URL, Finding, Location, rule_url
from dllint.report import ReportContext, absolute_filename


def _location(location: Location) -> dict[str, int]:
    return {"column": location.column, "row": location.row}


def finding_dict(finding: Finding, docs_url: str = DEFAULT_DOCS_URL) -> dict[str, Any]:
    fix = None
    if finding.fix is not None:
        fix = {
            "applicability": finding.fix.applicability,
            "edits": [
                {
                    "content": edit.content,
                    "end_location": _location(edit.end_location),
                    "location": _location(edit.location),
                }
                for edit in finding.fix.edits
            ],
            "message": finding.fix.message,
        }
    return {
        "cell": finding.cell,
        "code": finding.code,
        "end_location": _location(finding.end_location),
        "filename": absolute_filename(finding.filename),
        "fix": fix,
        "location": _location(finding.location),
        "message": finding.message,
        "noqa_row": finding.location.row,
        "severity": finding.severity,
        "url": rule_url(finding.code, docs_url),
    }


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    return json.dumps([finding_dict(finding, context.docs_url) for finding in findings], indent=2, ensure_ascii=False) + "\n"
