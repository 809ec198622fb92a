"""``--output-format junit``: one test suite per file, one failing test case per finding (as ruff)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import groupby
from typing import Sequence

from dllint.findings import Finding
from dllint.report import ReportContext


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    root = ET.Element("testsuites", name="dllint", tests=str(len(findings) or 1), failures=str(len(findings)), errors="0")
    if not findings:
        suite = ET.SubElement(root, "testsuite", name="dllint", tests="1", failures="0", errors="0")
        ET.SubElement(suite, "testcase", name="No errors found", classname="dllint")
    for filename, group in groupby(findings, key=lambda finding: finding.filename):
        items = list(group)
        suite = ET.SubElement(
            root, "testsuite", name=filename, tests=str(len(items)), failures=str(len(items)), errors="0",
            package="org.dllint",
        )
        classname = filename.rsplit(".", 1)[0].replace("/", ".").replace("\\", ".")
        for finding in items:
            case = ET.SubElement(
                suite, "testcase", name=f"org.dllint.{finding.code}", classname=classname,
                line=str(finding.location.row), column=str(finding.location.column),
            )
            where = f"line {finding.location.row}, col {finding.location.column}"
            if finding.cell is not None:
                where = f"cell {finding.cell}, {where}"
            failure = ET.SubElement(case, "failure", message=finding.message)
            failure.text = f"{where}, {finding.code}: {finding.message}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
