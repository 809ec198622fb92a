"""A Lightning callback that runs the probe during ``trainer.fit``.

    from dllint.probe.lightning import ProbeCallback
    trainer = L.Trainer(callbacks=[ProbeCallback(every=10)])
    trainer.fit(model)
    print(trainer.callbacks[0].report)   # rank 0; also printed to stderr at the end of fit

Lightning is not a dependency of dllint: this module imports ``lightning`` (or the older
``pytorch_lightning``) when it is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable, Optional

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError as exc:
        raise ImportError("dllint.probe.lightning needs Lightning: pip install lightning") from exc

import torch

from ._callback_common import _ProbeCallbackMixin


class ProbeCallback(_ProbeCallbackMixin, Callback):
    """Attach a :class:`dllint.probe.Probe` to the LightningModule for the whole fit.

    Steps are the optimizer steps (Lightning's closures and gradient accumulation included);
    under DDP the statistics are reduced across ranks and the report exists on rank 0 only.
    Options are the Probe's, plus ``plot`` / ``json_path`` (written by rank 0 at the end) and
    ``print_report``.
    """

    def __init__(self, every: int = 10, thresholds: Any = None, *, select: Optional[Iterable[str]] = None,
                 ignore: Iterable[str] = (), plot: Optional[str] = None, json_path: Optional[str] = None,
                 print_report: bool = True, **probe_kwargs):
        super().__init__()
        self._init_probe_options(every, thresholds, select, ignore, plot, json_path, print_report, probe_kwargs)

    def on_fit_start(self, trainer, pl_module) -> None:
        self._open(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        self._feed(loss if isinstance(loss, torch.Tensor) else None)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._finish(trainer.is_global_zero)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._finish(trainer.is_global_zero)
