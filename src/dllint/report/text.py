"""The human formats: ``full`` (ruff's, with the source line and a caret underline) and ``concise``."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from dllint.findings import Finding
from dllint.report import ReportContext, rule_name

_TAB = "    "


def _style(text: str, context: ReportContext, **styles: Any) -> str:
    if not context.color:
        return text
    import click

    return click.style(text, **styles)


def _header(finding: Finding, context: ReportContext) -> str:
    sep = _style(":", context, fg="cyan")
    where = _style(finding.filename, context, bold=True) + sep
    if finding.cell is not None:
        where += f"cell {finding.cell}" + sep
    where += f"{finding.location.row}{sep}{finding.location.column}{sep}"
    marker = _style("[*] ", context, fg="cyan") if context.applies(finding) else ""
    return f"{where} {_style(finding.code, context, fg='red', bold=True)} {marker}{finding.message}"


def concise(findings: Sequence[Finding], context: ReportContext) -> str:
    lines = [_header(finding, context) for finding in findings]
    return "".join(line + "\n" for line in lines) + summary(findings, context)


def full(findings: Sequence[Finding], context: ReportContext) -> str:
    out = []
    for finding in findings:
        out.append(_header(finding, context) + "\n")
        out.append(_snippet(finding, context))
    return "".join(out) + summary(findings, context)


def _snippet(finding: Finding, context: ReportContext) -> str:
    line = finding.source_line.rstrip("\r\n")
    row = finding.location.row
    if not line.strip() and finding.fix is None:
        return "\n"
    number = str(row)
    pad = " " * len(number)
    bar = _style("|", context, fg="blue", bold=True)
    start = max(finding.location.column - 1, 0)
    if finding.end_location.row == finding.location.row:
        end = max(finding.end_location.column - 1, start + 1)
    else:
        end = max(len(line), start + 1)
    shown = line.replace("\t", _TAB)
    caret_start = len(line[:start].replace("\t", _TAB))
    caret_len = max(len(line[start:end].replace("\t", _TAB)), 1)
    carets = _style("^" * caret_len + " " + finding.code, context, fg="red", bold=True)
    out = [
        f"{pad} {bar}\n",
        f"{_style(number, context, fg='blue', bold=True)} {bar} {shown}\n",
        f"{pad} {bar} {' ' * caret_start}{carets}\n",
        f"{pad} {bar}\n",
    ]
    if finding.fix is not None and finding.fix.message:
        out.append(f"{pad} = {_style('help', context, bold=True)}: {finding.fix.message}\n")
    out.append("\n")
    return "".join(out)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def counted(errors: int, warnings: int) -> str:
    """``1 error``, ``3 warnings``, ``1 error and 3 warnings``: the findings by their severity,
    the words the JSON, SARIF and GitHub outputs use. Only DL001 is an error; every
    fix is a warning's."""
    if errors and warnings:
        return f"{plural(errors, 'error')} and {plural(warnings, 'warning')}"
    return plural(errors, "error") if errors else plural(warnings, "warning")


def summary(findings: Sequence[Finding], context: ReportContext) -> str:
    if context.quiet:
        return ""
    out = []
    if context.show_fixes and context.fixed:
        out.append(fixes_summary(context))
    remaining = len(findings)
    fixed = context.fixed_count
    if remaining == 0 and fixed == 0:
        out.append(_style("All checks passed!", context, fg="green", bold=True) + "\n")
        return "".join(out)
    errors = sum(1 for finding in findings if finding.severity == "error")
    found = counted(errors, remaining - errors + fixed)
    if fixed:
        out.append(f"Found {found} ({fixed} fixed, {remaining} remaining).\n")
    else:
        out.append(f"Found {found}.\n")
    # Like ruff: the fixes --fix would apply, and the unsafe ones it would not (unless
    # --no-unsafe-fixes / unsafe-fixes = false asked not to hear about them).
    fixable = 0 if context.fix_mode else sum(1 for finding in findings if context.applies(finding))
    hidden = context.hidden_fixes(findings)
    marker = _style("[*]", context, fg="cyan")
    if fixable and hidden:
        out.append(f"{marker} {fixable} fixable with the `--fix` option ({_hidden(hidden)} can be enabled with the "
                   "`--unsafe-fixes` option).\n")
    elif fixable:
        out.append(f"{marker} {fixable} fixable with the `--fix` option.\n")
    elif hidden:
        out.append(f"No fixes available ({_hidden(hidden)} can be enabled with the `--unsafe-fixes` option).\n")
    return "".join(out)


def _hidden(count: int) -> str:
    return f"{count} hidden fix{'' if count == 1 else 'es'}"


def fix_only_summary(findings: Sequence[Finding], context: ReportContext, *, applied: bool) -> str:
    """ruff's line after ``--fix-only`` (``applied``) or ``--diff``: what was (would be) fixed,
    and how many unsafe fixes ``--unsafe-fixes`` would add. Empty when there is nothing to say."""
    fixed = context.fixed_count
    hidden = context.hidden_fixes(findings)
    extra = f"{hidden} additional fix{'' if hidden == 1 else 'es'} available with `--unsafe-fixes`"
    if fixed:
        done = f"Fixed {plural(fixed, 'warning')}" if applied else f"Would fix {plural(fixed, 'warning')}"
        return f"{done} ({extra}).\n" if hidden else f"{done}.\n"
    if hidden:
        none = "No warnings fixed" if applied else "No warnings would be fixed"
        return f"{none} ({hidden} fix{'' if hidden == 1 else 'es'} available with `--unsafe-fixes`).\n"
    return ""


def fixes_summary(context: ReportContext) -> str:
    """``--show-fixes``: the fixes applied, per file and rule; unsafe ones are marked."""
    out = [f"\nFixed {plural(context.fixed_count, 'warning')}:\n"]
    for filename in sorted(context.fixed):
        out.append(f"- {_style(filename, context, bold=True)}:\n")
        unsafe = context.unsafe_fixed.get(filename, {})
        for code, count in sorted(context.fixed[filename].items()):
            note = ""
            if unsafe.get(code):
                note = ", unsafe fix" if unsafe[code] == count else f", {unsafe[code]} of them unsafe"
            out.append(f"    {count} × {_style(code, context, fg='red', bold=True)} ({rule_name(code)}{note})\n")
    out.append("\n")
    return "".join(out)


def statistics_rows(findings: Sequence[Finding], context: ReportContext) -> list[dict[str, Any]]:
    counts = Counter(finding.code for finding in findings)
    fixable = {finding.code for finding in findings if context.applies(finding)}
    rows = [
        {"code": code, "name": rule_name(code), "count": count, "fixable": code in fixable}
        for code, count in counts.items()
    ]
    rows.sort(key=lambda row: (-row["count"], row["code"]))
    return rows


def statistics(findings: Sequence[Finding], context: ReportContext) -> str:
    """ruff's ``--statistics`` table: count, code, fixable marker, rule name."""
    rows = statistics_rows(findings, context)
    if not rows:
        return summary(findings, context)
    count_width = max(len(str(row["count"])) for row in rows)
    code_width = max(len(row["code"]) for row in rows)
    any_fixable = any(row["fixable"] for row in rows)
    out = []
    for row in rows:
        marker = ("[*] " if row["fixable"] else "[ ] ") if any_fixable else ""
        out.append(f"{row['count']:>{count_width}}\t{row['code']:<{code_width}}\t{marker}{row['name']}\n")
    return "".join(out) + summary(findings, context)
