"""Build a file's semantics from source text, as the engine does."""

from __future__ import annotations

import textwrap

import libcst as cst

from dllint.semantics import ClassInfo, FileSemantics
from dllint.sources import Source


def semantics(text: str, filename: str = "model.py") -> FileSemantics:
    source = textwrap.dedent(text)
    return FileSemantics(cst.parse_module(source), Source(filename, source))


def cls(sem: FileSemantics, name: str) -> ClassInfo:
    return next(c for c in sem.info.classes if c.name == name)


def layer_names(values) -> list[str]:
    return [getattr(value, "qualified", type(value).__name__).rsplit(".", 1)[-1] for value in values]
