"""A Hugging Face ``transformers`` ``TrainerCallback`` that runs the probe during ``Trainer.train``.

    from dllint.probe.hf import ProbeCallback
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[ProbeCallback(every=10)])
    trainer.train()

transformers is not a dependency of dllint: this module imports it when it is imported.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError("dllint.probe.hf needs transformers: pip install transformers") from exc

from ._callback_common import _ProbeCallbackMixin


class ProbeCallback(_ProbeCallbackMixin, TrainerCallback):
    """Attach a :class:`dllint.probe.Probe` to the Trainer's model for the whole ``train()``.

    Steps are the optimizer steps the Trainer takes (gradient accumulation, clipping and AMP
    included: gradients are read after the Trainer's clipping and unscaling). The report is
    kept in ``callback.report`` on the main process and printed to stderr (``print_report``).
    """

    def __init__(self, every: int = 10, thresholds: Any = None, *, select: Optional[Iterable[str]] = None,
                 ignore: Iterable[str] = (), plot: Optional[str] = None, json_path: Optional[str] = None,
                 print_report: bool = True, **probe_kwargs):
        self._init_probe_options(every, thresholds, select, ignore, plot, json_path, print_report, probe_kwargs)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None:
            self._open(model)

    def on_train_end(self, args, state, control, **kwargs):
        self._finish(bool(getattr(state, "is_world_process_zero", True)))
