"""LibCST's parse, without re-validating every node the parser builds.

Each LibCST node checks its own invariants when it is constructed (``CSTNode.__post_init__``
calls ``_validate``). That guards trees built by hand; a tree fresh from the parser is valid
by construction, and dllint only hands LibCST text that CPython has already accepted. The
checks cost a sixth to a fifth of a parse (LibCST's own comment on ``__post_init__`` suggests
skipping them when parsing), so dllint's parse switches them off while it runs. A node built
by another thread during that window is not validated either; everywhere else (a fix's
replacement nodes, a program that imports dllint) nodes are validated as usual.
"""

from __future__ import annotations

import threading

import libcst as cst

_validating_post_init = cst.CSTNode.__post_init__
_lock = threading.Lock()
_parses_running = 0


def _unchecked_post_init(node: cst.CSTNode) -> None:
    pass


def parse_module(text: str) -> cst.Module:
    """``libcst.parse_module(text)``, minus the per-node validation (same tree, same errors)."""
    global _parses_running
    with _lock:
        _parses_running += 1
        cst.CSTNode.__post_init__ = _unchecked_post_init  # type: ignore[method-assign]
    try:
        return cst.parse_module(text)
    finally:
        with _lock:
            _parses_running -= 1
            if not _parses_running:
                cst.CSTNode.__post_init__ = _validating_post_init  # type: ignore[method-assign]
