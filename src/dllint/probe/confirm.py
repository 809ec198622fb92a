"""``--confirm``: lint the files that define the model and mark each static finding confirmed
(with the probe's numbers) or not observed.

Pairs (a static rule and the detector that sees its effect): DL101↔DLP008, DL102/DL103↔DLP007,
DL201↔DLP001/DLP004, DL501↔DLP002, DL502↔DLP006. A static finding is matched to a probe finding, in order of preference:

1. by line: the static finding sits on the statement that built one of the modules the probe
   finding involves, or on a line of the owning class (outside ``forward``) that mentions
   ``self.<attr>`` for it (an init call such as ``nn.init.zeros_(self.fc.weight)``);
2. by class: the static finding sits inside class ``C`` of file ``F`` and the probe finding
   involves a module inside an instance of that class in the probed model;
3. model-wide: a static finding outside any class (a training loop, a factory function) is
   matched by code pair alone.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from torch import nn

from .detectors import LOSS, MODEL, _g
from .sources import SourceMap, user_source_file

PAIRS = {
    "DL101": ("DLP008",),
    "DL102": ("DLP007",),
    "DL103": ("DLP007",),
    "DL201": ("DLP001", "DLP004"),
    "DL501": ("DLP002",),
    "DL502": ("DLP006",),
}

CONFIRMED = "confirmed"
NOT_OBSERVED = "not observed"
STATIC_ONLY = "no runtime check"
NOT_PROBED = "not in the probed model"


@dataclass
class Verdict:
    code: str
    message: str
    filename: str
    row: int
    column: int
    status: str
    probe_codes: tuple = ()
    evidence: list = field(default_factory=list)  # [{"code", "module", "message", "values"}]
    reason: str = ""
    in_model_class: bool = False  # it sits in a class the probed model is built from

    @property
    def about_probed_model(self) -> bool:
        """A finding about the probed model (what ``dllint probe --confirm``'s exit status follows):
        one the run confirmed, or one in a class of the model; not one elsewhere in its files."""
        return self.status == CONFIRMED or (self.in_model_class and self.status != NOT_PROBED)

    def to_dict(self) -> dict:
        from .report import _jsonable

        return _jsonable({"code": self.code, "message": self.message, "filename": self.filename,
                          "location": {"row": self.row, "column": self.column}, "status": self.status,
                          "probe_codes": list(self.probe_codes), "evidence": self.evidence,
                          "reason": self.reason})


def model_source_files(model: nn.Module, factory: Optional[Callable] = None) -> list:
    """The user source files that define the model's module classes (and its factory)."""
    files = set()
    for m in model.modules():
        path = user_source_file(type(m))
        if path:
            files.add(path)
    if factory is not None:
        try:
            import inspect

            path = inspect.getsourcefile(factory)
            mod = getattr(factory, "__module__", "") or ""
            if path and not (mod == "torch" or mod.startswith("torch.")):
                files.add(os.path.abspath(path))
        except (TypeError, OSError):
            pass
    return sorted(files)


def lint_files(paths: list) -> list:
    try:
        from dllint.engine import lint_paths
    except ImportError as exc:  # the linter half is not importable
        raise RuntimeError(f"--confirm needs the dllint linter (dllint.engine.lint_paths): {exc}") from exc
    result = lint_paths(list(paths))
    return sorted(result.findings, key=lambda f: f.sort_key())


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return a == b


class _ClassSpans:
    def __init__(self):
        self._cache: dict = {}

    def enclosing(self, path: str, row: int) -> Optional[str]:
        spans = self._cache.get(path)
        if spans is None:
            spans = []
            try:
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.ClassDef):
                        spans.append((node.lineno, node.end_lineno or node.lineno, node.name))
            except (OSError, SyntaxError, ValueError):
                pass
            self._cache[path] = spans
        inside = [s for s in spans if s[0] <= row <= s[1]]
        if not inside:
            return None
        return min(inside, key=lambda s: s[1] - s[0])[2]  # innermost


def confirm(static_findings: list, report, model: nn.Module, factory: Optional[Callable] = None,
            ran_inference: bool = False) -> list:
    smap = SourceMap(model, factory=factory)
    spans = _ClassSpans()
    named = dict(model.named_modules())
    verdicts = []
    for sf in static_findings:
        row, col = sf.location.row, sf.location.column
        pair = PAIRS.get(sf.code)
        v = Verdict(code=sf.code, message=sf.message, filename=sf.filename, row=row, column=col,
                    status=STATIC_ONLY, probe_codes=pair or ())
        verdicts.append(v)
        cls_name = spans.enclosing(sf.filename, row)
        prefixes = []
        if cls_name is not None:
            prefixes = [n for n, m in named.items() if type(m).__name__ == cls_name
                        and (user_source_file(type(m)) or "") and _same_file(user_source_file(type(m)), sf.filename)]
        v.in_model_class = bool(prefixes)
        if not pair:
            if cls_name is not None and not prefixes:
                v.status = NOT_PROBED
                v.reason = f"class {cls_name} is not part of the probed model"
            continue
        candidates = [f for f in report.findings if f.code in pair]
        matched = []
        # 1. by line
        for pf in candidates:
            for m in pf.modules:
                if m in (MODEL, LOSS):
                    continue
                f, rows = smap.rows(m)
                if f and _same_file(f, sf.filename) and row in rows:
                    matched.append((pf, "line"))
                    break
        # 2. by class / 3. model-wide
        if not matched:
            if cls_name is not None:
                if not prefixes and not (isinstance(sf.code, str) and sf.code in ("DL501", "DL502")):
                    v.status = NOT_PROBED
                    v.reason = f"class {cls_name} is not part of the probed model"
                    continue
            if cls_name is not None:
                for pf in candidates:
                    mods = [m for m in pf.modules if m not in (MODEL, LOSS)] or ([""] if pf.module in (MODEL, LOSS) else [])
                    if any(p == "" or m == p or m.startswith(p + ".") for p in prefixes for m in mods):
                        matched.append((pf, f"class {cls_name}"))
            else:
                matched = [(pf, "model-wide") for pf in candidates]
        if matched:
            v.status = CONFIRMED
            for pf, how in matched:
                v.evidence.append({"code": pf.code, "name": pf.name, "module": pf.module, "match": how,
                                   "steps": pf.steps[:5], "message": pf.message,
                                   "values": {k: val for k, val in pf.values.items()
                                              if not isinstance(val, (list, dict))}})
        else:
            v.status = NOT_OBSERVED
            v.reason = _not_observed_reason(pair, report, ran_inference)
    return verdicts


def _not_observed_reason(pair: tuple, report, ran_inference: bool) -> str:
    """The numbers the probe did measure, so "not observed" is a statement, not a shrug."""
    parts = []
    layers = report.layers
    weights = [r for r in layers if r.kind == "weight" and r.grad_rms is not None]
    trend = report.summary.get("gradient_trend")
    for code in pair:
        if code in ("DLP001", "DLP002") and trend:
            where = f"{trend['layers_compared']} layers"
            if trend["like_with_like"]:
                where += f" in {trend['groups']} group(s) of repeated blocks"
            s = (f"gradient RMS early/late along depth {_g(trend['ratio'])} ({where}, {trend['first_layer']} … "
                 f"{trend['last_layer']}, step {trend['step']})")
            if code == "DLP002":
                mx = max((r.grad_mean_abs or 0.0) for r in weights)
                s += f", largest mean |grad| {_g(mx)}"
            parts.append(f"{code}: {s}")
        elif code == "DLP004":
            sat = [r for r in layers if r.saturated_fraction is not None]
            if sat:
                worst = max(sat, key=lambda r: r.saturated_fraction)
                parts.append(f"DLP004: most saturated {worst.label} {100 * worst.saturated_fraction:.1f}% of "
                             f"pre-activations beyond ±{_g(report.summary.get('thresholds', {}).get('saturation_bound', 5.0))}")
            else:
                parts.append("DLP004: no sigmoid/tanh ran (as a module or as a watched functional call)")
        elif code == "DLP007":
            stds = [r for r in layers if r.kind == "weight" and r.act_std and r.call >= 1]
            if len(stds) >= 2:
                parts.append(f"DLP007: activation std {_g(stds[0].act_std)} ({stds[0].module}) → "
                             f"{_g(stds[-1].act_std)} ({stds[-1].module})")
        elif code == "DLP008":
            rows = [r for r in layers if r.identical_rows]
            parts.append("DLP008: identical rows " + (", ".join(f"{r.module} {r.identical_rows}" for r in rows)
                                                       if rows else "in no layer") + " after the update(s)")
        elif code == "DLP006":
            parts.append("DLP006: " + ("no forward ran with gradients disabled while Dropout/BatchNorm was in "
                                       "training mode" if ran_inference else
                                       "the probe run trains the model and does not run your inference code; "
                                       "attach Probe(model) around it to check"))
    steps = report.summary.get("steps", 0)
    return f"no {'/'.join(pair)} in {steps} step(s); measured: " + ("; ".join(parts) or "n/a")


def verdicts_text(verdicts: list, files: list) -> str:
    lines = [f"static findings: {len(verdicts)} in {len(files)} file(s) that define the model"]
    for v in verdicts:
        lines.append(f"{v.filename}:{v.row}:{v.column}: {v.code} {v.message}")
        if v.status == CONFIRMED:
            for e in v.evidence:
                lines.append(f"    confirmed by {e['code']} {e['name']} at {e['module']} (step "
                             f"{','.join(map(str, e['steps']))}; matched by {e['match']}): {e['message']}")
        elif v.status == NOT_OBSERVED:
            lines.append(f"    not observed: {v.reason}")
        elif v.status == NOT_PROBED:
            lines.append(f"    not checked: {v.reason}")
        else:
            lines.append("    (no runtime counterpart)")
    return "\n".join(lines)
