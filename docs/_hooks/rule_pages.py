"""MkDocs hook: the pages that are generated from the code at build time, so they never drift.

* ``rules/CODE.md`` for every rule, from its class docstring (as ruff generates its rule pages),
  with its default, its fix (safe or unsafe) and its options; ``rules/index.md`` lists them.
  A finding's ``url`` is ``{docs-url}rules/CODE/``: the page MkDocs builds from ``rules/CODE.md``.
* ``<!-- dllint:help -->`` in a page becomes ``dllint --help``'s text, and
  ``<!-- dllint:rule-options -->`` a table of every rule option.

The dllint next to this file (``src/``) is documented, whatever else is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from dllint.rules import all_rules  # noqa: E402

RULES_SECTION = "Rules"


def fix_text(rule: Any) -> str:
    if not rule.fixable:
        return "none"
    kinds = []
    if "safe" in rule.fix_applicability:
        kinds.append("safe (applied by `dllint --fix`)")
    if "unsafe" in rule.fix_applicability:
        kinds.append("unsafe (applied with `--unsafe-fixes`: check what it changes)")
    return " or ".join(kinds)


def rule_page(rule: Any) -> str:
    """The page of one rule: its docstring, under a header with what `dllint rules` lists."""
    doc = rule.documentation()
    default = (
        "on" if rule.default_enabled
        else f"off — turn it on with `extend-select = [\"{rule.code}\"]` (or `--extend-select {rule.code}`)"
    )
    lines = [
        f"# {rule.code}: {rule.name}",
        "",
        f"{rule.summary.rstrip('.')}.",
        "",
        f"- **Default:** {default}",
        f"- **Fix:** {fix_text(rule)}",
        f"- **Silence it** on a line with `# noqa: {rule.code}`, in a file with `# dllint: disable={rule.code}`, "
        f"everywhere with `ignore = [\"{rule.code}\"]`.",
        "",
        doc,
    ]
    if rule.options and "## Options" not in doc:
        lines += ["", "## Options", "", "| Option | Default | Meaning |", "|---|---|---|"]
        for name, option in rule.options.items():
            lines.append(f"| `{name}` | `{option.default!r}` | {option.help} |")
        lines += ["", f"Set them in `[tool.dllint.rules.{rule.code}]` (see [Configuration](../configuration.md))."]
    return "\n".join(lines).rstrip() + "\n"


def rules_index() -> str:
    lines = [
        "# Rules",
        "",
        "Every rule, with what it flags. Rules that are off by default are turned on by naming them "
        "(`extend-select = [\"DL505\"]`) or with `select = [\"ALL\"]`; see [Configuration](../configuration.md).",
        "",
        "| Code | Name | Default | Fix | What it flags |",
        "|---|---|---|---|---|",
    ]
    for code, rule in all_rules().items():
        fix = "/".join(sorted(rule.fix_applicability, reverse=True)) if rule.fixable else ""
        lines.append(
            f"| [{code}]({code}.md) | {rule.name} | {'on' if rule.default_enabled else 'off'} | {fix} | {rule.summary} |"
        )
    return "\n".join(lines) + "\n"


def cli_help() -> str:
    import click

    from dllint.cli import main

    with click.Context(main, info_name="dllint", terminal_width=100) as context:
        return main.get_help(context)


def rule_options_table() -> str:
    lines = ["| Rule | Option | Default | Meaning |", "|---|---|---|---|"]
    for code, rule in all_rules().items():
        for name, option in rule.options.items():
            lines.append(f"| [{code}](rules/{code}.md) | `{name}` | `{option.default!r}` | {option.help} |")
    return "\n".join(lines)


# --- MkDocs events ----------------------------------------------------------------------------

def on_config(config: Any) -> Any:
    """List every rule page under the Rules section of the navigation."""
    pages = [{f"{code} {rule.name}": f"rules/{code}.md"} for code, rule in all_rules().items()]
    for position, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and RULES_SECTION in item:
            config["nav"][position] = {RULES_SECTION: ["rules/index.md", *pages]}
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, "rules/index.md", content=rules_index()))
    for code, rule in all_rules().items():
        files.append(File.generated(config, f"rules/{code}.md", content=rule_page(rule)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- dllint:help -->" in markdown:
        markdown = markdown.replace("<!-- dllint:help -->", f"```text\n{cli_help()}\n```")
    if "<!-- dllint:rule-options -->" in markdown:
        markdown = markdown.replace("<!-- dllint:rule-options -->", rule_options_table())
    return markdown
