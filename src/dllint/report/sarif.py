"""``--output-format sarif``: SARIF 2.1.0, one rule entry per code with its help text.

The document is checked against the official OASIS SARIF 2.1.0 JSON schema in the tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from dllint.findings import DEFAULT_DOCS_URL, Finding, rule_url
from dllint.report import ReportContext, _registry

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(filename: str) -> dict[str, str]:
    """A file's artifact location: a URI reference (RFC 3986), so `%`, `#`, `?` and spaces in
    a name are percent-encoded (``sp ace.py`` is ``sp%20ace.py``); relative to the working
    directory (``%SRCROOT%``) when the file is under it."""
    if filename == "-":
        return {"uri": "stdin"}
    absolute = os.path.abspath(filename)
    relative = os.path.relpath(absolute, os.getcwd()) if not os.path.isabs(filename) else None
    if relative and not relative.startswith(os.pardir):
        return {"uri": quote(Path(relative).as_posix(), safe="/"), "uriBaseId": "%SRCROOT%"}
    return {"uri": Path(absolute).as_uri()}


def _rule_entry(code: str, rule: Any, docs_url: str) -> dict[str, Any]:
    try:
        doc = rule.documentation()
    except Exception:  # noqa: BLE001 - documentation is best effort in a report
        doc = ""
    summary = getattr(rule, "summary", "") or code
    return {
        "id": code,
        "name": getattr(rule, "name", code),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": doc or summary},
        "help": {"text": doc or summary, "markdown": doc or summary},
        "helpUri": rule_url(code, docs_url),
        "defaultConfiguration": {"enabled": bool(getattr(rule, "default_enabled", True))},
        "properties": _fix_properties(rule),
    }


def _fix_properties(rule: Any) -> dict[str, Any]:
    fixable = bool(getattr(rule, "fixable", False))
    properties: dict[str, Any] = {"fixable": fixable}
    if fixable:
        properties["fixApplicability"] = list(getattr(rule, "fix_applicability", ("safe",)))
    return properties


def document(findings: Sequence[Finding], docs_url: str = DEFAULT_DOCS_URL) -> dict[str, Any]:
    from dllint import __version__

    registry = _registry()
    codes = sorted(set(registry) | {finding.code for finding in findings})
    index = {code: i for i, code in enumerate(codes)}
    rules = [
        _rule_entry(code, registry[code], docs_url) if code in registry else {"id": code, "helpUri": rule_url(code, docs_url)}
        for code in codes
    ]
    results = []
    for finding in findings:
        region = {
            "startLine": finding.location.row,
            "startColumn": finding.location.column,
            "endLine": finding.end_location.row,
            "endColumn": finding.end_location.column,
        }
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": index[finding.code],
            "level": "error" if finding.severity == "error" else "warning",
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": {"artifactLocation": _uri(finding.filename), "region": region}}],
        }
        if finding.cell is not None:
            result["properties"] = {"cell": finding.cell}
        if finding.fix is not None and finding.cell is None:
            result["fixes"] = [
                {
                    "description": {"text": finding.fix.message or "apply the fix"},
                    "properties": {"applicability": finding.fix.applicability},
                    "artifactChanges": [
                        {
                            "artifactLocation": _uri(finding.filename),
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": edit.location.row,
                                        "startColumn": edit.location.column,
                                        "endLine": edit.end_location.row,
                                        "endColumn": edit.end_location.column,
                                    },
                                    "insertedContent": {"text": edit.content},
                                }
                                for edit in finding.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dllint",
                        "version": __version__,
                        "informationUri": docs_url,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
                "results": results,
            }
        ],
    }


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    return json.dumps(document(findings, context.docs_url), indent=2, ensure_ascii=False) + "\n"
