"""The documentation site: it builds strictly, every rule has its page there (generated from the
rule's docstring at build time), every finding's ``url`` is that page, and the hand-written
pages cover every configuration key and every editor."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dllint.config import KNOWN_KEYS
from dllint.findings import DEFAULT_DOCS_URL, rule_url
from dllint.rules import all_rules

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook():
    spec = importlib.util.spec_from_file_location("rule_pages", DOCS / "_hooks" / "rule_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as CI builds it: ``mkdocs build --strict`` (skipped without the docs extra)."""
    pytest.importorskip("mkdocs", reason="the documentation build needs the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("material", reason="the documentation build needs the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def test_every_findings_url_is_a_page_of_the_built_site(site: Path) -> None:
    for code, rule in all_rules().items():
        url = rule_url(code)
        assert url.startswith(DEFAULT_DOCS_URL)
        page = site / url[len(DEFAULT_DOCS_URL):] / "index.html"
        assert page.is_file(), f"{url} has no page"
        html = page.read_text()
        assert f"{code}: {rule.name}" in html and "What it does" in html


def test_rule_pages_are_the_rules_docstrings() -> None:
    hook = _hook()
    for rule in all_rules().values():
        page = hook.rule_page(rule)
        assert rule.documentation() in page
        assert page.startswith(f"# {rule.code}: {rule.name}\n")
        for name in rule.options:
            assert f"`{name}`" in page
    index = hook.rules_index()
    assert all(f"[{code}]({code}.md)" in index for code in all_rules())


def test_the_site_is_where_findings_point_by_default() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^site_url: (\S+)$", config, re.M).group(1) == DEFAULT_DOCS_URL


def test_the_configuration_reference_documents_every_key() -> None:
    page = (DOCS / "configuration.md").read_text()
    documented = set(re.findall(r"^### `([a-z-]+)`$", page, re.M))
    assert documented == set(KNOWN_KEYS)


def test_the_editor_page_sets_up_each_editor_with_the_server_command() -> None:
    page = (DOCS / "editors.md").read_text()
    assert "dllint server" in page
    for needle in ("glspc.server.command", "vim.lsp.start", "[language-server.dllint]", "eglot-server-programs",
                   "source.fixAll.dllint"):
        assert needle in page, needle


def test_the_readme_says_where_the_documentation_is() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "mkdocs serve" in readme and "docs/" in readme
