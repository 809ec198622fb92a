"""The probe's report: findings (DLP codes), a per-layer table, JSON, and the gradient-flow plot.

JSON schema (stable, like the linter's)::

    {"findings": [{"code", "name", "module", "class", "source", "steps", "values",
                   "threshold", "message"}],
     "layers":   [{"module", "class", "call", "kind", "act_mean", "act_std", "grad_rms",
                   "grad_mean_abs", "grad_max_abs", "log10_update_ratio", "dead_fraction",
                   "saturated_fraction", "nonfinite_output", "identical_rows", "function"}],
     "summary":  {"steps", "checks", "every", "world_size", "model", "notes", "errors", ...}}

``source`` is ``{"filename", "row", "end_row"}`` (1-based rows) or null. ``function`` is null for a
module's row; for a functional activation called in a module's forward it names the function
(``"F.relu"``, ``"F.relu6"``, ``"F.sigmoid"``, ``"F.tanh"``), ``module`` is that module and ``call``
counts that function's calls in its forward (the finding's ``module`` is then ``"block1 (F.relu)"``,
``"block1 (F.relu, call 2)"``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from .detectors import LOSS, MODEL, NAMES, _g, _pct


@dataclass
class ProbeFinding:
    code: str
    name: str
    module: str
    cls: str
    source: Optional[dict]
    steps: list
    values: dict
    threshold: dict
    message: str
    modules: tuple = ()  # the modules the evidence involves (for --confirm), not serialised

    def to_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "module": self.module, "class": self.cls,
                "source": self.source, "steps": list(self.steps), "values": _jsonable(self.values),
                "threshold": _jsonable(self.threshold), "message": self.message}


@dataclass
class LayerRow:
    module: str
    cls: str
    call: int
    kind: str
    act_mean: Optional[float] = None
    act_std: Optional[float] = None
    grad_rms: Optional[float] = None
    grad_mean_abs: Optional[float] = None
    grad_max_abs: Optional[float] = None
    log10_update_ratio: Optional[float] = None
    dead_fraction: Optional[float] = None
    saturated_fraction: Optional[float] = None
    nonfinite_output: bool = False
    identical_rows: Optional[int] = None
    function: Optional[str] = None  # a functional activation called in ``module``'s forward

    @property
    def label(self) -> str:
        """The row's name in the table and the plot: ``act #2``, ``block1 (F.relu) #2``."""
        name = self.module or "<root>"
        if self.function:
            name += f" ({self.function})"
        return name + (f" #{self.call}" if self.call > 1 else "")

    def to_dict(self) -> dict:
        return _jsonable({"module": self.module, "class": self.cls, "call": self.call, "kind": self.kind,
                          "act_mean": self.act_mean, "act_std": self.act_std, "grad_rms": self.grad_rms,
                          "grad_mean_abs": self.grad_mean_abs, "grad_max_abs": self.grad_max_abs,
                          "log10_update_ratio": self.log10_update_ratio, "dead_fraction": self.dead_fraction,
                          "saturated_fraction": self.saturated_fraction,
                          "nonfinite_output": self.nonfinite_output, "identical_rows": self.identical_rows,
                          "function": self.function})


@dataclass
class ProbeReport:
    findings: list
    layers: list
    summary: dict = field(default_factory=dict)

    # -- access --------------------------------------------------------------------------------
    @property
    def codes(self) -> list:
        return sorted({f.code for f in self.findings})

    def by_code(self, code: str) -> list:
        return [f for f in self.findings if f.code == code]

    def __bool__(self) -> bool:  # a report is a report even when it has no findings
        return True

    # -- output --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"findings": [f.to_dict() for f in self.findings],
                "layers": [row.to_dict() for row in self.layers],
                "summary": _jsonable(self.summary)}

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self, layers: bool = True) -> str:
        s = self.summary
        lines = [f"dllint probe: {s.get('model', 'model')} — {s.get('steps', 0)} step(s), sampled every "
                 f"{s.get('every', '?')} ({s.get('checks', 0)} check(s))"
                 + (f", {s['world_size']} ranks merged" if s.get("world_size", 1) > 1 else "")]
        if not self.findings:
            lines.append("no findings")
        for f in self.findings:
            where = f" [{f.source['filename']}:{f.source['row']}]" if f.source else ""
            first, last = f.values.get("step_range", [f.steps[0], f.steps[-1]])
            checks = f.values.get("checks_seen", len(f.steps))
            steps = f"step {first}" if first == last else f"steps {first}–{last} ({checks} checks)"
            cls = f" ({f.cls})" if f.cls and f.module not in (MODEL, LOSS) else ""
            lines.append(f"{f.code} {f.name}  {f.module}{cls}{where}  {steps}")
            lines.append(f"    {f.message}")
        for note in s.get("notes", []):
            lines.append(f"note: {note}")
        for err in s.get("errors", []):
            lines.append(f"probe error (reported once, x{err['count']}): {err['where']}: {err['error']}")
        if layers and self.layers:
            lines.append("")
            lines.append(self.table())
        return "\n".join(lines)

    def table(self) -> str:
        head = ["layer", "class", "act_std", "grad_rms", "grad_max", "log10 upd", "dead", "sat"]
        rows = []
        for r in self.layers:
            rows.append([r.label, r.cls, _g(r.act_std) if r.act_std is not None else "",
                         _g(r.grad_rms) if r.grad_rms is not None else "",
                         _g(r.grad_max_abs) if r.grad_max_abs is not None else "",
                         f"{r.log10_update_ratio:.2f}" if r.log10_update_ratio is not None and math.isfinite(r.log10_update_ratio) else ("inf" if r.log10_update_ratio else ""),
                         _pct(r.dead_fraction) if r.dead_fraction is not None else "",
                         _pct(r.saturated_fraction) if r.saturated_fraction is not None else ""])
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
        out.append("  ".join("-" * w for w in widths))
        for row in rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        step = self.summary.get("last_check_step")
        if step is not None:
            out.append(f"(per-layer values at the last check, step {step})")
        return "\n".join(out)

    def plot(self, path: str, title: Optional[str] = None) -> str:
        """Per-layer gradient flow: mean and max |grad| (log scale) and dead/saturated fraction."""
        from .plot import plot_gradient_flow

        return plot_gradient_flow(self, path, title=title)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def build_report(probe) -> ProbeReport:
    from .sources import SourceMap

    det = probe._detectors
    aggs = det.aggregated(probe._seen_optimizer)
    smap = SourceMap(probe.model, factory=probe.factory)
    findings = []
    for agg in aggs:
        values, message = agg.evidence()
        if agg.code == "DLP006":
            values["modules"] = sorted(probe._dlp006)[:32]
            values["calls"] = sum(r["calls"] for r in probe._dlp006.values())
        base = agg.modules[0] if agg.modules else agg.module.split(" (call")[0]
        src = smap.location(base) if agg.module not in (MODEL, LOSS) else None
        findings.append(ProbeFinding(code=agg.code, name=NAMES[agg.code], module=agg.module, cls=agg.cls,
                                     source=src, steps=sorted(agg.steps), values=values,
                                     threshold=dict(agg.threshold), message=message,
                                     modules=tuple(m for m in agg.modules)))
    findings.sort(key=lambda f: (f.code, f.steps[0] if f.steps else 0, f.module))
    layers = _layer_rows(probe._latest)
    notes = list(probe._notes) + list(det.notes.values())
    dropped = det.dropped_pending(probe._seen_optimizer)
    if dropped:
        notes.append(f"{dropped} check(s) saw non-finite gradients in iterations the optimizer did not take "
                     "(an AMP GradScaler skipping overflowed steps): not counted as DLP002")
    if probe._iterations_without_step:
        notes.append(f"{probe._iterations_without_step} iteration(s) ended without an optimizer step "
                     "(gradient accumulation, or GradScaler skipping overflowed steps)")
    if probe._traced_while_compiling:
        notes.append("the model was compiled while the probe was attached; hooks traced by torch.compile "
                     "were skipped, so forward statistics may be missing")
    if probe._step == 0 and probe._checks == 0:
        notes.append("no step was observed: steps advance on optimizer.step() or probe.step()")
    summary = {
        "model": type(probe.model).__name__,
        "steps": probe._step,
        "checks": probe._checks,
        "every": probe.every,
        "world_size": probe._world,
        "compiled": probe.compiled,
        "last_check_step": probe._latest.step if probe._latest else None,
        "thresholds": probe.thresholds.as_dict(),
        "codes": sorted(probe.enabled),
        "notes": notes,
        "errors": list(probe._errors.values()),
        "gradient_trend": _trend_summary(det.trend),
    }
    return ProbeReport(findings=findings, layers=layers, summary=summary)


def _trend_summary(latest) -> Optional[dict]:
    """The gradient's depth trend at the latest judged check (DLP001/DLP002's measure)."""
    if latest is None:
        return None
    step, trend = latest
    layers = trend.layers
    return {"step": step, "ratio": trend.ratio, "early_grad_rms": trend.early_rms, "groups": len(trend.groups),
            "layers_compared": len(layers), "first_layer": layers[0], "last_layer": layers[-1],
            "like_with_like": trend.like_with_like}


def _layer_rows(check) -> list:
    if check is None:
        return []
    rows = []
    done = set()
    for f in check.fwd:
        lg = check.layers.get(f.name) if f.call == 1 and f.fn is None else None
        if f.kind == "other" and lg is None and not f.nonfinite_out:
            continue
        rows.append(_row(f.name, f.cls, f.call, f.kind, f, lg))
        rows[-1].function = f.fn
        if lg is not None:
            done.add(f.name)
    for name, lg in check.layers.items():
        if name not in done:
            rows.append(_row(name, lg.cls, 1, lg.kind, None, lg))
    return rows


def _row(name, cls, call, kind, f, lg) -> LayerRow:
    row = LayerRow(module=name, cls=cls, call=call, kind=kind)
    if f is not None:
        if f.fn is None:  # a functional activation keeps no moments
            row.act_mean, row.act_std = f.mean, f.std
        row.dead_fraction = f.dead_step
        row.saturated_fraction = f.saturated
        row.nonfinite_output = bool(f.nonfinite_out)
    if lg is not None:
        row.grad_rms = lg.grad_rms
        row.grad_mean_abs = lg.grad_mean_abs
        row.grad_max_abs = lg.ginf if lg.has_grad else None
        row.log10_update_ratio = lg.log_update_ratio
        if lg.units >= 2:
            row.identical_rows = lg.dup_w
    return row
