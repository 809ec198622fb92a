"""DLP001–DLP009 over the host-side records of sampled checks.

Each sampled step becomes one :class:`Check` (plain floats, already on the host). The detectors
keep small bounded windows (``Thresholds.window`` checks) and turn what they see into findings,
aggregated per (code, module) with the steps at which they were observed.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from .depth import depth_trend
from .thresholds import Thresholds

NAMES = {
    "DLP001": "vanishing-gradient",
    "DLP002": "exploding-gradient",
    "DLP003": "dead-relu",
    "DLP004": "saturated-activation",
    "DLP005": "non-finite",
    "DLP006": "train-mode-inference",
    "DLP007": "activation-scale-drift",
    "DLP008": "symmetric-units",
    "DLP009": "update-ratio",
}

MODEL = "(model)"
LOSS = "(loss)"
_MAX_STEPS = 50


def _g(x: float) -> str:
    """Three significant digits with the magnitude kept: 1.7e-10, 0.0234, 128 (0 only for zero)."""
    if x is None:
        return "n/a"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.3g}"


def _pct(fraction: float) -> str:
    """A fraction as a percentage that is 0% only when it is zero: 0.3%, 42.2%, 100%."""
    return f"{_g(100 * fraction)}%"


@dataclass
class FwdStat:
    name: str
    call: int
    cls: str
    kind: str
    n: int
    mean: float
    std: float
    nonfinite_out: int
    nonfinite_in: int
    saturated: Optional[float] = None
    dead_step: Optional[float] = None
    dead_window: Optional[float] = None
    window: int = 0
    units: Optional[int] = None
    start: int = 0
    fn: Optional[str] = None  # a functional activation (F.relu, ...) called in module ``name``'s forward

    @property
    def label(self) -> str:
        """``act``, ``act (call 2)``; a functional activation: ``block1 (F.relu)``, ``block1 (F.relu,
        call 2)`` (``<root>`` for the model's own forward)."""
        name = self.name or "<root>"  # the model's own forward
        if self.fn is not None:
            return f"{name} ({self.fn}" + (")" if self.call == 1 else f", call {self.call})")
        return name if self.call == 1 else f"{name} (call {self.call})"


@dataclass
class LayerGrad:
    name: str
    cls: str
    kind: str
    g2: float = 0.0
    g1: float = 0.0
    ginf: float = 0.0
    numel: int = 0
    has_grad: bool = False
    w2: float = 0.0
    wmat_before2: float = 0.0  # squared norm of the weight matrices (2+ dimensions) the forward used
    winf: float = 0.0
    before2: float = 0.0
    upd2: float = 0.0
    upd_known: bool = False
    dup_w: int = 0
    dup_g: int = 0
    units: int = 0

    def add(self, *, g2, g1, ginf, numel, has_grad, w2, winf, before, upd, dup_w, dup_g, units, ndim):
        if has_grad:
            self.has_grad = True
            self.g2 += g2
            self.g1 += g1
            self.ginf = ginf if (math.isnan(ginf) or ginf > self.ginf) else self.ginf
            self.numel += numel
        self.w2 += w2
        self.winf = winf if (math.isnan(winf) or winf > self.winf) else self.winf
        if not math.isnan(before):
            self.upd_known = True
            self.before2 += before * before
            self.upd2 += upd * upd if not math.isnan(upd) else math.inf
        if ndim >= 2:
            self.wmat_before2 += w2 if math.isnan(before) else before * before  # after the update if unknown
            self.dup_w = max(self.dup_w, dup_w)
            self.dup_g = max(self.dup_g, dup_g)
            self.units = max(self.units, units)

    @property
    def grad_rms(self) -> Optional[float]:
        return math.sqrt(self.g2 / self.numel) if self.has_grad and self.numel else None

    @property
    def weights_were_zero(self) -> bool:
        """The weight matrices the forward used were all zero."""
        return self.wmat_before2 == 0

    @property
    def grad_mean_abs(self) -> Optional[float]:
        return self.g1 / self.numel if self.has_grad and self.numel else None

    @property
    def grad_nonfinite(self) -> bool:
        return self.has_grad and not (math.isfinite(self.ginf) and math.isfinite(self.g2))

    @property
    def weight_nonfinite(self) -> bool:
        return not math.isfinite(self.winf)

    @property
    def log_update_ratio(self) -> Optional[float]:
        """log10(||dw|| / ||w||); +inf for a non-finite update; None when unknown or zero."""
        if not self.upd_known or self.before2 <= 0 or self.upd2 == 0:
            return None
        if not math.isfinite(self.upd2):
            return math.inf
        return math.log10(math.sqrt(self.upd2) / math.sqrt(self.before2))


@dataclass
class Check:
    step: int
    fwd: list
    layers: dict
    weight_order: list
    optimizer_stepped: bool
    roles: dict = field(default_factory=dict)  # module -> its role among repeated blocks (depth.py)
    partial: bool = False
    loss_nonfinite: int = 0
    loss_first_nonfinite: Optional[int] = None


# the values a finding's evidence over time quotes, first those present in its values
_HEADLINE = ("ratio", "first_grad_rms", "early_grad_rms", "dead_fraction", "saturated_fraction", "factor",
             "identical_weight_rows", "identical_grad_rows", "fraction_outside", "count", "layers_over")


@dataclass
class _Agg:
    """One finding, seen at one or more checks: its values and message are the latest check's; the
    first check's step and values are kept for the evidence over time."""

    code: str
    module: str
    cls: str
    steps: list
    values: dict
    threshold: dict
    message: str
    modules: tuple = ()
    count: int = 1
    pending: bool = False
    first_step: int = 0
    first_values: Optional[dict] = None
    latest_step: int = 0

    def update(self, step: int, values: dict, message: str, modules: tuple) -> None:
        self.count += 1
        if step not in self.steps and len(self.steps) < _MAX_STEPS:
            self.steps.append(step)
        if step >= self.latest_step:
            self.latest_step, self.values, self.message = step, values, message
            self.modules = tuple(dict.fromkeys(self.modules + modules))

    def evidence(self) -> tuple:
        """(values, message) with the evidence over time: the latest check's values, the step range,
        how many checks it held at, the first check's headline values; the message adds them."""
        values = dict(self.values)
        if self.latest_step == self.first_step:
            return values, self.message
        first = {k: v for k, v in self.first_values.items() if not isinstance(v, (list, dict))}
        values.update(step_range=[self.first_step, self.latest_step], checks_seen=self.count,
                      first_check={"step": self.first_step, **first})
        keys = [k for k in _HEADLINE if isinstance(self.values.get(k), (int, float))
                and isinstance(first.get(k), (int, float)) and not isinstance(first.get(k), bool)][:2]
        quoted = "".join(f"; at step {step}: " + ", ".join(f"{k} {_g(vals[k])}" for k in keys)
                         for step, vals in ((self.first_step, first), (self.latest_step, self.values))) if keys else ""
        message = (f"{self.message} [held at {self.count} checks, steps {self.first_step}–{self.latest_step}"
                   f"{quoted}]")
        return values, message


class Detectors:
    def __init__(self, thresholds: Thresholds, enabled):
        self.th = thresholds
        self.enabled = frozenset(enabled)
        w = thresholds.window
        self.trend_hist: deque = deque(maxlen=w)  # DLP001/DLP002 verdicts of the judged checks
        self.trend: Optional[tuple] = None  # (step, DepthTrend) of the latest judged check
        self.notes: dict = {}
        self.norms: deque = deque(maxlen=thresholds.exploding_growth_checks)
        self.upd_hist: dict = {}
        self.drift_hist: deque = deque(maxlen=w)
        self.sym_hist: dict = {}
        self.seen_updates = False
        self.found: dict = {}
        self.losses_nonfinite = 0
        self.loss_first_nonfinite: Optional[int] = None
        self.nonfinite_module: Optional[str] = None
        self.vanishing_at: Optional[int] = None
        self.nonfinite_at: Optional[int] = None

    # -- emission --------------------------------------------------------------------------

    def note(self, key: str, text: str) -> None:
        """An informational note for the report, once per ``key`` (the first one's text)."""
        self.notes.setdefault(key, text)

    def _emit(self, code, module, cls, step, values, threshold, message, modules=(), key=None,
              pending=False):
        if code not in self.enabled:
            return
        k = key or (code, module, pending)
        agg = self.found.get(k)
        if agg is None:
            self.found[k] = _Agg(code, module, cls, [step], values, threshold, message, tuple(modules) or (module,),
                                 1, pending, first_step=step, first_values=values, latest_step=step)
        else:
            agg.update(step, values, message, tuple(modules) or (module,))

    # -- per check ---------------------------------------------------------------------------

    def observe(self, check: Check) -> None:
        if any(lg.upd_known and lg.upd2 > 0 for lg in check.layers.values()):
            self.seen_updates = True
        self._nonfinite(check)
        self._grad_flow(check)
        self._nonfinite_grads(check)
        self._dead(check)
        self._saturation(check)
        self._drift(check)
        self._symmetry(check)
        self._update_ratio(check)

    def _grad_flow(self, c: Check) -> None:
        th = self.th
        order = [n for n in c.weight_order if c.layers[n].grad_rms is not None]
        # global norm growth (TheDeepChecker): >= 2x per check over 5 checks
        total = sum(lg.g2 for lg in c.layers.values() if lg.has_grad)
        gnorm = math.sqrt(total) if math.isfinite(total) else math.inf
        if math.isfinite(gnorm) and gnorm > 0:
            self.norms.append((c.step, gnorm))
            if len(self.norms) == self.norms.maxlen:
                vals = [v for _, v in self.norms]
                rates = [b / a for a, b in zip(vals, vals[1:])]
                if all(r >= th.exploding_growth for r in rates):
                    self._emit("DLP002", MODEL, "", c.step,
                               {"global_grad_norm": [[s, v] for s, v in self.norms],
                                "growth_per_check": rates},
                               {"growth_per_check_at_least": th.exploding_growth,
                                "checks": th.exploding_growth_checks},
                               f"the global gradient norm grew >= {_g(th.exploding_growth)}x at each of "
                               f"{len(rates)} consecutive checks ({_g(vals[0])} -> {_g(vals[-1])}): gradients are "
                               "exploding; clip them (clip_grad_norm_), lower the learning rate, check the "
                               "init (see DL501, DL102)",
                               key=("DLP002", MODEL, "growth"))
        else:
            self.norms.clear()
        # a layer's mean |g| over an absolute bound (TheDeepChecker)
        over = {n: c.layers[n].grad_mean_abs for n in order
                if math.isfinite(c.layers[n].grad_mean_abs) and c.layers[n].grad_mean_abs > th.exploding_mean_abs}
        if over:
            n0 = next(iter(over))
            self._emit("DLP002", n0, c.layers[n0].cls, c.step,
                       {"grad_mean_abs": over, "layers_over": len(over)},
                       {"grad_mean_abs_above": th.exploding_mean_abs},
                       f"mean |gradient| is over {_g(th.exploding_mean_abs)} in {len(over)} layer(s), first {n0} "
                       f"({_g(over[n0])}): gradients are exploding; clip them, lower the learning rate, check "
                       "the init (see DL501, DL102)",
                       modules=tuple(over), key=("DLP002", "bound"))
        self._depth_trend(c, order)

    def _depth_trend(self, c: Check, order: list) -> None:
        """DLP001 and DLP002's ratio rule: the gradient's trend along depth, like with like
        (depth.py), persisting over the window."""
        th = self.th
        if not order:
            return
        head = c.layers[order[-1]]
        if head.weights_were_zero and len(order) > 1:
            # a zero-initialised output layer passes no gradient back until it moves: by design
            self.note("zero head", f"the output layer {order[-1]} had all-zero weights at step {c.step} (a "
                      "zero-initialised head, as in ViT): no gradient reaches the layers before it until the head "
                      "moves, so DLP001 is not judged while it is zero")
            return
        rms = {n: c.layers[n].grad_rms for n in order}
        trend = depth_trend(order, rms, c.roles)
        if trend is None:
            return
        self.trend = (c.step, trend)
        vanishing = trend.ratio < th.vanishing_ratio and trend.early_rms < th.vanishing_first_rms
        verdict = "vanishing" if vanishing else "exploding" if trend.ratio > th.exploding_ratio else None
        self.trend_hist.append(verdict)
        if verdict is None or any(v != verdict for v in self.trend_hist):
            return  # it must persist over the window
        grouped = trend.layers
        first, last = grouped[0], grouped[-1]
        compared = (f"the same layers of repeated blocks ({first} … {last}: {len(grouped)} layers, "
                    f"{len(trend.groups)} group(s))" if trend.like_with_like else
                    f"the weight layers ({first} … {last}: {len(grouped)}, no repeated blocks)")
        values = {"ratio": trend.ratio, "first_layer": first, "last_layer": last, "first_grad_rms": rms[first],
                  "last_grad_rms": rms[last], "early_grad_rms": trend.early_rms, "groups": len(trend.groups),
                  "layers_compared": len(grouped), "like_with_like": trend.like_with_like,
                  "window_checks": len(self.trend_hist)}
        if vanishing:
            self.vanishing_at = c.step
            # the earliest layer whose gradient is under the bound, up to where the groups begin
            begin = max(order.index(g[0]) for g in trend.groups)
            early = next((n for n in order[:begin + 1] if 0 < (rms[n] or 0) < th.vanishing_first_rms), first)
            values.update(first_layer=early, first_grad_rms=rms[early])
            self._emit("DLP001", early, c.layers[early].cls, c.step, values,
                       {"ratio_below": th.vanishing_ratio, "first_grad_rms_below": th.vanishing_first_rms},
                       f"gradient RMS falls towards the input: along depth, over {compared}, early/late is "
                       f"{_g(trend.ratio)}, and {early} has {_g(rms[early])}: the early layers barely learn; use "
                       "ReLU-family activations, normalisation or residual connections and an init that matches "
                       "the activation (see DL201, DL103)",
                       modules=(early,) + tuple(grouped))
        else:
            self._emit("DLP002", first, c.layers[first].cls, c.step, values, {"ratio_above": th.exploding_ratio},
                       f"gradient RMS grows towards the input: along depth, over {compared}, early/late is "
                       f"{_g(trend.ratio)}: gradients grow on the way back; clip them, normalise, lower the "
                       "learning rate (see DL501, DL102)",
                       modules=tuple(grouped), key=("DLP002", first, "ratio"))

    def _nonfinite_grads(self, c: Check) -> None:
        bad = [n for n, lg in c.layers.items() if lg.grad_nonfinite]
        if not bad:
            return
        order = [n for n in c.weight_order if n in bad] + [n for n in bad if n not in c.weight_order]
        # A step that no torch.optim optimizer took may be one the AMP GradScaler skipped on
        # overflow; held back until the run shows whether optimizers define its steps.
        pending = not c.optimizer_stepped
        lg = c.layers[order[0]]
        if self.nonfinite_at == c.step:
            cause = (f"they follow from the non-finite forward pass (DLP005 at {self.nonfinite_module}); fix "
                     "that first")
        else:
            cause = ("the update writes NaN/Inf into the weights; clip gradients, lower the learning rate "
                     "(see DL501)")
        self._emit("DLP002", order[0], lg.cls, c.step,
                   {"layers_with_nonfinite_grad": order[:20], "count": len(order)},
                   {"nonfinite": True},
                   f"non-finite gradients in {len(order)} layer(s), first {order[0]}: {cause}",
                   modules=tuple(order), key=("DLP002", "nonfinite", pending), pending=pending)

    def _dead(self, c: Check) -> None:
        th = self.th
        if any(lg.weight_nonfinite for lg in c.layers.values()):
            return  # NaN weights make every unit look dead: a consequence, reported as DLP005
        for f in c.fwd:
            if f.kind != "relu" or f.dead_window is None:
                continue
            if f.dead_window >= th.dead_fraction:
                self._emit("DLP003", f.label, f.cls, c.step,
                           {"dead_fraction": f.dead_window, "dead_fraction_this_batch": f.dead_step,
                            "units": f.units, "checks_in_window": f.window},
                           {"dead_fraction_at_least": th.dead_fraction},
                           f"{_g(100 * f.dead_window)}% of the {f.units} units of {f.label} were <= 0 for every "
                           f"sample of the last {f.window} checked batch(es): they no longer learn; lower "
                           "the learning rate, use He init with a zero/small bias, or LeakyReLU "
                           "(Lu et al. 2019, \"Dying ReLU and Initialization\", arXiv:1903.06733; see DL103)",
                           modules=(f.name,))

    def _saturation(self, c: Check) -> None:
        th = self.th
        # An activation no weight layer follows is the model's output (a binary classifier's
        # sigmoid, a bounded tanh head): confident outputs sit in the tails by design.
        last_weight = max((f.start for f in c.fwd if f.kind == "weight"), default=-1)
        for f in c.fwd:
            if f.kind == "saturating" and f.start < last_weight and f.saturated is not None \
                    and f.saturated > th.saturation_fraction:
                self._emit("DLP004", f.label, f.cls, c.step,
                           {"saturated_fraction": f.saturated},
                           {"saturated_fraction_above": th.saturation_fraction,
                            "abs_pre_activation_above": th.saturation_bound},
                           f"{_g(100 * f.saturated)}% of the pre-activations of {f.label} ({f.cls}) have "
                           f"|x| > {_g(th.saturation_bound)}: the unit sits in the flat tail, its gradient is ~0; "
                           "normalise inputs, scale the init (Xavier), or use ReLU-family activations "
                           "(see DL201, DL102)",
                           modules=(f.name,))

    def _nonfinite(self, c: Check) -> None:
        first = next((f for f in c.fwd if f.nonfinite_out > 0), None)
        if first is not None:
            if self.nonfinite_module is not None and first.label != self.nonfinite_module:
                return  # a consequence of the first origin (weights went NaN after it)
            lg = c.layers.get(first.name)
            params_bad = bool(lg and lg.weight_nonfinite)
            input_bad = first.nonfinite_in > 0
            if input_bad and first is c.fwd[0]:
                why = "its input (the batch) already held NaN/Inf: check the data"
            elif input_bad:
                why = "its input was already non-finite (produced outside any module: a functional op in a parent's forward)"
            elif params_bad:
                why = "its input was finite but its parameters are non-finite: an earlier update wrote NaN/Inf into them"
            else:
                why = "its input and parameters were finite: this module's own computation produced it (log/sqrt/div of a bad value, overflow)"
            if c.loss_first_nonfinite is not None:
                why += f"; the loss was first non-finite at step {c.loss_first_nonfinite}"
            self.nonfinite_module = first.label
            self.nonfinite_at = c.step
            self._emit("DLP005", first.label, first.cls, c.step,
                       {"output_nonfinite": True, "input_nonfinite": input_bad,
                        "parameters_nonfinite": params_bad,
                        "loss_first_nonfinite_step": c.loss_first_nonfinite},
                       {"nonfinite": True},
                       f"{first.label} ({first.cls}) is the first module, in execution order, whose output holds "
                       f"NaN/Inf; {why}",
                       modules=(first.name,), key=("DLP005",))
        elif c.loss_nonfinite and self.nonfinite_module is None:
            self.loss_nonfinite(c.loss_nonfinite, c.loss_first_nonfinite, c.step)

    def loss_nonfinite(self, count: int, first_step: Optional[int], step: int) -> None:
        if self.nonfinite_module is not None:
            return
        self.losses_nonfinite += count  # each read covers the losses fed since the last one
        if first_step is not None:
            self.loss_first_nonfinite = min(first_step, self.loss_first_nonfinite or first_step)
        self._emit("DLP005", LOSS, "loss", first_step if first_step is not None else step,
                   {"nonfinite_losses": self.losses_nonfinite, "loss_first_nonfinite_step": self.loss_first_nonfinite},
                   {"nonfinite": True},
                   f"the loss was non-finite (first at step {self.loss_first_nonfinite}) but no module output was "
                   "at the checked steps: the loss function, the targets, or a transient batch produced it; rerun "
                   "with every=1 to localise it",
                   key=("DLP005", LOSS))

    def _drift(self, c: Check) -> None:
        th = self.th
        # hidden layers only: the output layer's scale is the logits', set by its own init
        last = c.weight_order[-1] if c.weight_order else None
        seq = [f for f in sorted(c.fwd, key=lambda f: f.start)
               if f.kind == "weight" and f.name in c.weight_order and not (f.name == last and f.call == 1)
               and math.isfinite(f.std) and f.std > 0]
        if len(seq) < th.drift_min_layers:
            return
        s0, s1 = seq[0].std, seq[-1].std
        ratio = s1 / s0
        up = ratio > 1
        holds = max(ratio, 1 / ratio) >= th.drift_factor and all(
            not ((up and b.std / a.std < 1 / th.drift_tolerance) or (not up and b.std / a.std > th.drift_tolerance))
            for a, b in zip(seq, seq[1:]))
        # a property of the init, so it must persist: in at least half the checks of the window
        self.drift_hist.append(holds)
        if not holds or 2 * sum(self.drift_hist) < len(self.drift_hist):
            return
        self._emit("DLP007", MODEL, "", c.step,
                   {"first_layer": seq[0].label, "last_layer": seq[-1].label, "std_first": s0, "std_last": s1,
                    "factor": ratio, "stds": [[f.label, f.std] for f in seq[:32]]},
                   {"factor_at_least": th.drift_factor, "monotone": True},
                   f"activation std {'grows' if up else 'shrinks'} monotonically from {_g(s0)} ({seq[0].label}) to "
                   f"{_g(s1)} ({seq[-1].label}), {_g(max(ratio, 1 / ratio))}x across {len(seq)} layers: the init does "
                   "not preserve scale; use He init for ReLU, Xavier for tanh/sigmoid, or normalisation "
                   "(see DL102, DL103)",
                   modules=tuple(f.name for f in seq))

    def _symmetry(self, c: Check) -> None:
        th = self.th
        hidden = c.weight_order[:-1]  # output units are told apart by their targets
        updated = self.seen_updates or c.optimizer_stepped
        for n in hidden:
            lg = c.layers[n]
            if lg.units < 2:
                continue
            same = (updated and lg.dup_w >= th.symmetric_rows) or lg.dup_g >= th.symmetric_rows
            hist = self.sym_hist.get(n)
            if hist is None:
                hist = self.sym_hist[n] = deque(maxlen=th.window)
            hist.append(bool(same))
            if same and all(hist):
                self._emit("DLP008", n, lg.cls, c.step,
                           {"identical_weight_rows": lg.dup_w if updated else None,
                            "identical_grad_rows": lg.dup_g, "units": lg.units, "checks": len(hist)},
                           {"identical_rows_at_least": th.symmetric_rows},
                           f"{max(lg.dup_w if updated else 0, lg.dup_g)} of the {lg.units} units of {n} have "
                           "identical weights (or gradients) after an update: they compute the same thing "
                           "and never break symmetry; initialise weights randomly, not to a constant "
                           "(Goodfellow et al., Deep Learning, 2016, sec. 8.4; see DL101)")

    def _update_ratio(self, c: Check) -> None:
        th = self.th
        meds = {}
        judged = []
        for n in c.weight_order:
            lg = c.layers[n]
            if lg.has_grad and lg.g2 == 0:
                # no gradient this step: what moved the weights was (decoupled) weight decay or
                # momentum, which says nothing about the learning rate's scale against the gradient
                continue
            judged.append(n)
            r = lg.log_update_ratio
            if r is None:
                continue
            hist = self.upd_hist.get(n)
            if hist is None:
                hist = self.upd_hist[n] = deque(maxlen=th.window)
            hist.append(r)
            meds[n] = statistics.median(hist)
        if not meds:
            return
        high = [n for n, v in meds.items() if v > th.update_ratio_high]
        # too low must persist over a full window: the first steps of a gated layer (a residual
        # branch behind a zero BatchNorm gamma, a zero-initialised head) move it little by design
        low = [n for n, v in meds.items() if v < th.update_ratio_low and len(self.upd_hist[n]) == th.window]
        # "most layers": of all weight layers with a gradient, not only those with a measurable
        # ratio (a layer whose weights are all zero has none)
        frac = (len(high) + len(low)) / max(len(meds), len(judged))
        if frac <= th.update_ratio_layers:
            return
        too_high = len(high) >= len(low)
        direction = "high" if too_high else "low"
        shown = {n: (v if math.isfinite(v) else "inf") for n, v in list(meds.items())[:16]}
        cause = (f"the learning rate is far too {direction} for these weights (~1e-3 is typical)")
        if too_high and self.nonfinite_at == c.step:
            cause = "the updates are non-finite because the forward pass is (DLP005)"
        elif not too_high and self.vanishing_at == c.step:
            cause = ("the updates are small because the gradients vanish (DLP001), not necessarily "
                     "because of the learning rate")
        self._emit("DLP009", MODEL, "", c.step,
                   {"fraction_outside": frac, "direction": direction, "layers_outside": len(high) + len(low),
                    "layers": max(len(meds), len(judged)), "log10_update_ratio": shown},
                   {"log10_update_ratio_range": [th.update_ratio_low, th.update_ratio_high],
                    "fraction_above": th.update_ratio_layers},
                   f"log10(|dw|/|w|) per step is outside [{_g(th.update_ratio_low)}, {_g(th.update_ratio_high)}] for "
                   f"{len(high) + len(low)} of {max(len(meds), len(judged))} layers ({direction}): {cause}",
                   modules=tuple(high or low), key=("DLP009", MODEL))

    def train_mode_inference(self, name: str, cls: str, step: int, inference_mode: bool) -> None:
        self._emit("DLP006", name, cls, step,
                   {"grad_mode": "inference_mode" if inference_mode else "no_grad"},
                   {"training_modules_under_no_grad": True},
                   f"forward pass with gradients disabled while {name} ({cls}) is in training mode: "
                   "dropout stays on / BatchNorm uses and updates batch statistics; call model.eval() "
                   "before inference (see DL502)",
                   key=("DLP006",))

    # -- end ---------------------------------------------------------------------------------

    def aggregated(self, seen_optimizer: bool) -> list:
        out = []
        for agg in self.found.values():
            if agg.pending and seen_optimizer:
                continue  # steps the optimizer never took (AMP overflow skips): not explosions
            out.append(agg)
        return out

    def dropped_pending(self, seen_optimizer: bool) -> int:
        return sum(a.count for a in self.found.values() if a.pending and seen_optimizer)
