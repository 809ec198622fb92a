"""Detector thresholds: the documented defaults of PROBE.md, each an option.

The defaults are the published rules the detectors are calibrated against (AUTOTRAINER, ICSE'21;
DeepDiagnosis, ICSE'22; TheDeepChecker, TOSEM'23; Glorot & Bengio 2010; He et al. 2015), not
values tuned to this project's tests. See docs/probe.md for the table with the prior art.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union


@dataclass(frozen=True)
class Thresholds:
    # Evaluation window, in sampled checks (DLP001/DLP003 "over the window", DLP009 median).
    window: int = 5
    # DLP001 vanishing-gradient (AUTOTRAINER's bounds): per-element gradient RMS early/late < 1e-3
    # along depth, compared like with like (depth.py), and the early layers' gradient RMS < 1e-4.
    vanishing_ratio: float = 1e-3
    vanishing_first_rms: float = 1e-4
    # DLP002 exploding-gradient: that ratio > 70 (AUTOTRAINER); the global gradient norm
    # growing >= 2x per check over 5 checks, or a layer's mean |g| > 1e6 (TheDeepChecker);
    # any non-finite gradient after AMP unscaling.
    exploding_ratio: float = 70.0
    exploding_growth: float = 2.0
    exploding_growth_checks: int = 5
    exploding_mean_abs: float = 1e6
    # DLP003 dead-relu (AUTOTRAINER / DeepDiagnosis): >= 70% of units <= 0 for every sample of
    # every checked batch in the window.
    dead_fraction: float = 0.7
    # DLP004 saturated-activation (DeepDiagnosis): > 50% of the pre-activations of a sigmoid/tanh
    # layer outside [-5, 5].
    saturation_bound: float = 5.0
    saturation_fraction: float = 0.5
    # DLP007 activation-scale-drift: std changes >= 10x across the trainable depth, monotone.
    # A step against the trend smaller than ``drift_tolerance``x does not break monotonicity.
    drift_factor: float = 10.0
    drift_min_layers: int = 3
    drift_tolerance: float = 1.25
    # DLP008 symmetric-units: at least this many identical rows in a hidden layer's weight
    # (or identical non-zero rows of its gradient) after a step.
    symmetric_rows: int = 2
    # DLP009 update-ratio: log10(||dw|| / ||w||) outside [-4, -1] for more than half the layers.
    update_ratio_low: float = -4.0
    update_ratio_high: float = -1.0
    update_ratio_layers: float = 0.5

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("thresholds.window must be >= 1")
        if self.exploding_growth_checks < 2:
            raise ValueError("thresholds.exploding_growth_checks must be >= 2")
        if self.update_ratio_low >= self.update_ratio_high:
            raise ValueError("thresholds.update_ratio_low must be below update_ratio_high")

    @classmethod
    def coerce(cls, value: Optional[Union["Thresholds", Mapping[str, Any]]]) -> "Thresholds":
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(
                    f"unknown probe threshold(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
                )
            return cls(**dict(value))
        raise TypeError(f"thresholds must be a Thresholds or a dict, not {type(value).__name__}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
