"""What the Lightning and Hugging Face callbacks share: open a Probe, finish and publish."""

from __future__ import annotations

import sys
from typing import Any, Optional

from .core import Probe


class _ProbeCallbackMixin:
    def _init_probe_options(self, every: int, thresholds: Any, select, ignore, plot: Optional[str],
                            json_path: Optional[str], print_report: bool, probe_kwargs: dict) -> None:
        self.every = every
        self.thresholds = thresholds
        self.select = select
        self.ignore = tuple(ignore)
        self.plot_path = plot
        self.json_path = json_path
        self.print_report = print_report
        self.probe_kwargs = probe_kwargs
        self.probe: Optional[Probe] = None
        self.report = None

    def _open(self, model) -> None:
        if self.probe is not None:
            return
        self.probe = Probe(model, every=self.every, thresholds=self.thresholds, select=self.select,
                           ignore=self.ignore, **self.probe_kwargs)
        self.probe.open()

    def _feed(self, loss) -> None:
        if self.probe is not None:
            self.probe.step(loss)

    def _finish(self, is_main: bool) -> None:
        probe, self.probe = self.probe, None
        if probe is None:
            return
        probe.close()
        self.report = probe.report()  # None on ranks other than 0
        if self.report is None or not is_main:
            return
        if self.json_path:
            with open(self.json_path, "w", encoding="utf-8") as fh:
                fh.write(self.report.to_json())
        if self.plot_path:
            self.report.plot(self.plot_path)
        if self.print_report:
            print(self.report.to_text(), file=sys.stderr)
