from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dllint.semantics import FileSemantics
from dllint.sources import Source


@pytest.fixture
def semantics():
    """Build a file's semantics from a snippet."""

    def build(text: str) -> FileSemantics:
        text = textwrap.dedent(text)
        return FileSemantics(cst.parse_module(text), Source("snippet.py", text))

    return build
