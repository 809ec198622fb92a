"""Property tests: whatever the bytes, load_source and the engine return findings, never raise."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dllint.config import Settings
from dllint.engine import lint_sources
from dllint.files import source_from_bytes
from dllint.notebooks import neutralise
from dllint.sources import Source

SETTINGS = Settings(project_root=Path("/nonexistent-project-root"))


def test_invalid_identifier_character_is_a_dl001() -> None:
    result = lint_sources([Source("x.py", "\U0002ebf0")], SETTINGS, jobs=1)
    assert [f.code for f in result.findings] == ["DL001"]


def lint_bytes(data: bytes, filename: str):
    source = source_from_bytes(data, filename)
    assert isinstance(source, Source)
    result = lint_sources([source], SETTINGS, jobs=1)
    assert result.internal_errors == []
    for finding in result.findings:
        assert finding.location.row >= 1 and finding.location.column >= 1
    return source, result


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    source, result = lint_bytes(data, "fuzz.py")
    if source.error is not None:
        assert [f.code for f in result.findings] == ["DL001"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    lint_bytes(text.encode("utf-8", errors="surrogatepass"), "fuzz.py")


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles what it generates
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hypothesmith.from_grammar())
def test_valid_python_never_raises_and_never_reports_a_parse_error(code: str) -> None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<fuzz>", "exec")
    except (SyntaxError, ValueError):
        return  # hypothesmith's grammar is a little wider than CPython's compiler
    _, result = lint_bytes(code.encode("utf-8", errors="surrogatepass"), "valid.py")
    assert "DL001" not in {finding.code for finding in result.findings}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
cells = st.fixed_dictionaries(
    {"cell_type": st.sampled_from(["code", "markdown", "raw", "other"]),
     "source": st.one_of(st.text(max_size=60), st.lists(st.text(max_size=30), max_size=4), json_values)},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, st.fixed_dictionaries({"cells": st.lists(cells, max_size=5)}, optional={"metadata": json_values})))
def test_arbitrary_notebook_json_never_raises(document) -> None:
    source, result = lint_bytes(json.dumps(document).encode(), "fuzz.ipynb")
    if source.cell_starts is not None:
        for finding in result.findings:
            assert finding.cell in source.cell_numbers


@given(st.lists(st.text(alphabet=st.sampled_from("%!?ab =()[]'\"#\\\n x:"), max_size=20), max_size=8))
def test_neutralise_keeps_the_row_count(lines: list[str]) -> None:
    lines = [line.replace("\n", "") for line in lines]
    out = neutralise(lines)
    assert out is None or len(out) == len(lines)
