"""dllint.probe — the runtime half of dllint (needs PyTorch: ``pip install 'dllint[probe]'``).

    from dllint.probe import Probe

    with Probe(model, every=10) as probe:
        for x, y in loader:
            loss = criterion(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            probe.step(loss)
    print(probe.report())

See docs/probe.md.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "dllint.probe needs PyTorch, which is an optional extra: pip install 'dllint[probe]'"
    ) from exc

from .check import check
from .core import Probe
from .detectors import NAMES
from .report import LayerRow, ProbeFinding, ProbeReport
from .thresholds import Thresholds

__all__ = ["Probe", "check", "Thresholds", "ProbeReport", "ProbeFinding", "LayerRow", "NAMES"]
