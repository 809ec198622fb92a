"""dllint.probe — the runtime half of dllint (needs PyTorch: ``pip install 'dllint[probe]'``).

    from dllint.probe import Probe

    with Probe(model, every=10) as probe:
        for x, y in loader:
            loss = criterion(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            probe.step(loss)
    print(probe.report())

Importing ``dllint.probe`` itself does not import torch (so ``dllint probe --help`` and the
linter stay torch-free); the names below load it on first use. See docs/probe.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Probe": ".core",
    "check": ".check",
    "Thresholds": ".thresholds",
    "ProbeReport": ".report",
    "ProbeFinding": ".report",
    "LayerRow": ".report",
    "NAMES": ".detectors",
    "summary": ".model_summary",
    "ModelSummary": ".model_summary",
}

__all__ = sorted(_EXPORTS)

INSTALL_HINT = "dllint.probe needs PyTorch, which is an optional extra: pip install 'dllint[probe]'"


def require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'dllint.probe' has no attribute {name!r}")
    require_torch()
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(list(globals()) + list(_EXPORTS))
