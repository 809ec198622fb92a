"""The Probe: hooks on a live ``nn.Module``, sampled every N steps, statistics kept on device.

What runs when
--------------
* Every step: a counter. ``probe.step(loss)`` also adds ``isfinite(loss)`` to two device-side
  accumulators (no host sync), so a non-finite loss between checks is not lost.
* Every forward of a Dropout/BatchNorm module: a forward pre-hook that reads
  ``torch.is_grad_enabled()`` and ``module.training`` (DLP006 must see inference passes, which
  are not training steps).
* Sampled steps (``step % every == 0``): forward hooks are registered at the start of the step
  and removed at its end. Each hook reduces the module's output to a few scalars on the tensor's
  device; activations are never kept. At the end of the step (the optimizer's post-step hook, or
  ``probe.step()`` for a hand-written update) gradients, weights and the update are reduced on
  device too, everything is concatenated into one tensor and moved to the host with a single
  ``.tolist()``. Under ``torch.distributed`` the per-rank tensors are all-reduced first and only
  rank 0 runs the detectors.

Hooks only read. The probe draws its random projection vectors from its own generator, so the
global RNG stream (dropout masks, data order) is untouched and training is bitwise unchanged.
"""

from __future__ import annotations

import math
import warnings
import weakref
import zlib
from collections import deque
from typing import Any, Callable, Iterable, Optional

from . import require_torch

require_torch()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from .detectors import Check, Detectors, FwdStat, LayerGrad
from .thresholds import Thresholds

# --------------------------------------------------------------------------------------------
# Module classification
# --------------------------------------------------------------------------------------------

_RELU = (nn.ReLU, nn.ReLU6)
_SATURATING = (nn.Sigmoid, nn.Tanh)
_CONV = nn.modules.conv._ConvNd
_CONV_T = nn.modules.conv._ConvTransposeNd
_DROPOUT = nn.modules.dropout._DropoutNd
_BATCHNORM = nn.modules.batchnorm._BatchNorm
_EMBEDDING = (nn.Embedding, nn.EmbeddingBag)
_NORM: tuple = (_BATCHNORM, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)
if hasattr(nn, "RMSNorm"):
    _NORM = _NORM + (nn.RMSNorm,)
_PURE_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# Torch modules that cannot turn finite inputs into NaN/Inf and feed no detector: not hooked
# (a non-finite value they pass on is caught at the next hooked module, as "input non-finite").
_PASSIVE = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
            nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
            _DROPOUT, nn.Identity, nn.Flatten, nn.Unflatten)

KIND_WEIGHT = "weight"  # a layer with a trainable weight matrix (Linear, Conv*, RNN, attention)
KIND_RELU = "relu"
KIND_SATURATING = "saturating"
KIND_NORM = "norm"
KIND_OTHER = "other"

ALL_CODES = tuple(f"DLP00{i}" for i in range(1, 10))


def module_kind(module: nn.Module) -> str:
    if isinstance(module, _RELU):
        return KIND_RELU
    if isinstance(module, _SATURATING):
        return KIND_SATURATING
    if isinstance(module, _NORM):
        return KIND_NORM
    if not isinstance(module, _EMBEDDING):
        for p in module.parameters(recurse=False):
            if p.requires_grad and p.dim() >= 2:
                return KIND_WEIGHT
    return KIND_OTHER


def _is_train_mode_sensitive(module: nn.Module) -> bool:
    return isinstance(module, (_DROPOUT, _BATCHNORM))


def _train_mode_active(module: nn.Module) -> bool:
    if not module.training:
        return False
    if isinstance(module, _DROPOUT):
        return float(getattr(module, "p", 0.0)) > 0.0
    return True


def _unwrap(model: nn.Module) -> tuple[nn.Module, bool]:
    """(module to hook, compiled?) for DDP / FSDP-less wrappers and ``torch.compile``."""
    compiled = False
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule":
            model = model._orig_mod
            compiled = True
            continue
        ddp = getattr(getattr(nn, "parallel", None), "DistributedDataParallel", None)
        if (ddp is not None and isinstance(model, ddp)) or isinstance(model, nn.DataParallel):
            model = model.module
            continue
        break
    return model, compiled


def _float_tensors(obj: Any, out: list, depth: int = 0) -> list:
    """Floating-point tensors in a module's output/input (tuples, lists, dicts, ModelOutput)."""
    if depth > 4 or len(out) > 32:
        return out
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not obj.is_sparse:
            out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _float_tensors(item, out, depth + 1)
    elif isinstance(obj, dict):
        for item in obj.values():
            _float_tensors(item, out, depth + 1)
    return out


def _is_compiling() -> bool:
    fn = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    try:
        return bool(fn()) if fn is not None else False
    except Exception:  # pragma: no cover - very old torch
        return False


# --------------------------------------------------------------------------------------------
# Per-sampled-step accumulators (device tensors, dropped at the end of the step)
# --------------------------------------------------------------------------------------------


class _FwdAcc:
    __slots__ = ("name", "call", "cls", "kind", "order", "start", "n", "sat_n", "vec", "more", "alive",
                 "unit_dim")

    def __init__(self, name: str, call: int, cls: str, kind: str, order: int):
        self.name, self.call, self.cls, self.kind, self.order = name, call, cls, kind, order
        self.start = order  # weight layers: when the forward began (a parent's own weights
        # are used before its children finish), else when it finished
        self.n = 0
        self.sat_n = 0
        self.vec: Optional[torch.Tensor] = None  # [sum, L2 norm, other outputs' sum, input sum, saturated]
        self.more: list = []  # the same per further call
        self.alive: Optional[torch.Tensor] = None  # ReLU: per-unit "was > 0 somewhere"
        self.unit_dim: Optional[int] = None


_FWD_SLOTS = 7  # n, sum, sum of squares, other outputs' sum, input sum, saturated, saturated-of
_PARAM_SLOTS = 9


class Probe:
    """Watch a model train; report what its gradients and activations do (DLP001–DLP009).

    ``Probe(model, every=10)`` registers its hooks on ``__enter__`` (or ``open()``) and removes
    all of them on ``__exit__`` (or ``close()``). Steps advance on every ``optimizer.step()`` of an
    optimizer that holds the model's parameters; with a hand-written update, call
    ``probe.step(loss)`` after it. ``probe.step(loss)`` may always be called: it feeds the loss.

    Options: ``thresholds`` (a :class:`Thresholds` or a dict of its fields), ``scaler`` (the AMP
    ``GradScaler``: steps the scaler skips on overflow are then never mistaken for explosions),
    ``optimizers`` (restrict which optimizers define steps), ``select``/``ignore`` (DLP codes),
    ``track_updates`` (DLP009 needs a copy of the weights during a sampled optimizer step).
    """

    def __init__(
        self,
        model: nn.Module,
        every: int = 10,
        thresholds: Optional[Any] = None,
        *,
        scaler: Any = None,
        optimizers: Optional[Iterable[Any]] = None,
        select: Optional[Iterable[str]] = None,
        ignore: Iterable[str] = (),
        track_updates: bool = True,
        warn: bool = True,
        factory: Optional[Callable] = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Probe needs an nn.Module, got {type(model).__name__}")
        if int(every) < 1:
            raise ValueError("every must be >= 1")
        self.every = int(every)
        self.thresholds = Thresholds.coerce(thresholds)
        enabled = set(select) if select is not None else set(ALL_CODES)
        unknown = (enabled | set(ignore)) - set(ALL_CODES)
        if unknown:
            raise ValueError(f"unknown probe code(s): {', '.join(sorted(unknown))}")
        self.enabled = frozenset(enabled - set(ignore))
        self.wrapper = model
        self.model, self.compiled = _unwrap(model)
        self.scaler = scaler
        self._optimizers = None if optimizers is None else weakref.WeakSet(optimizers)
        self.track_updates = bool(track_updates)
        self.warn = warn
        self.factory = factory

        self._open = False
        self._closed = False
        self._handles: list = []  # permanent: DLP006 pre-hooks, optimizer hooks
        self._fwd_handles: list = []  # sampled step only
        self._step = 0
        self._armed = False
        self._seen_optimizer = False
        self._opt_steps_since_user_step = 0
        self._iterations_without_step = 0
        self._owner_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self._optimizer_defined: Optional[bool] = None

        # per sampled step
        self._fwd: dict = {}
        self._calls: dict = {}
        self._starts: dict = {}
        self._last_weight_is_conv = False
        self._snapshot: Optional[list] = None
        self._snapshot_norms: Optional[list] = None
        self._snapshot_params: Optional[list] = None
        self._opt_stepped = False

        # across steps (small)
        self._alive_hist: dict = {}
        self._proj: dict = {}
        self._gen = torch.Generator().manual_seed(0x5EED)
        self._loss_bad: Optional[torch.Tensor] = None
        self._loss_first: Optional[torch.Tensor] = None
        self._errors: dict = {}
        self._notes: list = []
        self._dlp006: dict = {}
        self._traced_while_compiling = False
        self._checks = 0
        self._layout_warned = False
        self._latest: Optional[Check] = None
        self._detectors = Detectors(self.thresholds, self.enabled)
        self._rank, self._world = 0, 1

    # ----------------------------------------------------------------------------------------
    # lifecycle
    # ----------------------------------------------------------------------------------------

    def __enter__(self) -> "Probe":
        self.open()
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def open(self) -> "Probe":
        if self._open:
            return self
        if self._closed:
            raise RuntimeError("a closed Probe cannot be reopened; create a new one")
        self._open = True
        self._rank, self._world = _dist_rank_world()
        self._index_modules()
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        self._handles.append(register_optimizer_step_pre_hook(self._on_optimizer_pre))
        self._handles.append(register_optimizer_step_post_hook(self._on_optimizer_post))
        if "DLP006" in self.enabled:
            for name, m in self._named:
                if _is_train_mode_sensitive(m):
                    self._handles.append(m.register_forward_pre_hook(self._make_mode_hook(name)))
        if self.compiled:
            self._note(
                "the model is torch.compile'd: hooks inside a compiled graph do not run, so the "
                "forward checks (DLP003, DLP004, DLP005 localisation, DLP007) are off; gradient, "
                "weight and update checks (DLP001, DLP002, DLP008, DLP009) and DLP006 still run. "
                "Probe the model before torch.compile (or an uncompiled copy) for the forward checks."
            )
            if self.warn:
                warnings.warn("dllint.probe: " + self._notes[-1], RuntimeWarning, stacklevel=3)
        self._arm()
        return self

    def close(self) -> None:
        if not self._open:
            self._closed = True
            return
        try:
            if self._armed and self._fwd and self._world == 1:
                # a sampled step whose end was never seen (e.g. a forward-only run)
                self._finish_check(self._step, partial=True)
            self._read_loss_tail()
        finally:
            self._disarm()
            for h in self._handles:
                h.remove()
            self._handles.clear()
            self._alive_hist.clear()
            self._proj.clear()
            self._snapshot = self._snapshot_norms = self._snapshot_params = None
            self._loss_bad = self._loss_first = None
            self._open = False
            self._closed = True

    # ----------------------------------------------------------------------------------------
    # public API
    # ----------------------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self._step

    def step(self, loss: Optional[torch.Tensor] = None) -> None:
        """Feed the loss; end the step if no torch.optim optimizer defines steps."""
        if not self._open:
            raise RuntimeError("Probe.step() outside the `with Probe(...)` block")
        try:
            if isinstance(loss, torch.Tensor):
                self._feed_loss(loss)
            scaler_on = self.scaler is not None and _scaler_enabled(self.scaler)
            if not self._seen_optimizer and self._optimizer_defined is None:
                # first call before any optimizer step: is there a torch.optim optimizer holding
                # these parameters (gradient accumulation, or an AMP step skipped on overflow)?
                self._optimizer_defined = self._optimizers is not None or self._find_optimizer()
            if self._seen_optimizer or scaler_on or self._optimizer_defined:
                if self._opt_steps_since_user_step == 0:
                    self._iterations_without_step += 1
                self._opt_steps_since_user_step = 0
                return
            self._end_step()
        except Exception as exc:  # never break training
            self._failed("Probe.step", exc)

    def report(self):
        """The findings so far (rank 0 only; other ranks get None under torch.distributed)."""
        if self._rank != 0:
            return None
        from .report import build_report

        return build_report(self)

    # ----------------------------------------------------------------------------------------
    # internals: indexing, errors, notes
    # ----------------------------------------------------------------------------------------

    def _index_modules(self) -> None:
        self._named = list(self.model.named_modules())
        self._kind = {}
        self._cls = {}
        for name, m in self._named:
            self._kind[name] = module_kind(m)
            self._cls[name] = type(m).__name__
        params = []
        seen = set()
        for name, m in self._named:
            for pname, p in m.named_parameters(recurse=False):
                if id(p) in seen:
                    continue
                seen.add(id(p))
                params.append((name, pname, p, m))
        self._params = params
        self._param_ids = {id(p) for _, _, p, _ in params}
        self._device = next((p.device for _, _, p, _ in params), torch.device("cpu"))

    def _failed(self, where: str, exc: BaseException, module: Optional[str] = None) -> None:
        key = (where, type(exc).__name__)
        rec = self._errors.get(key)
        if rec is not None:
            rec["count"] += 1
            if module is not None and module not in rec["modules"] and len(rec["modules"]) < 16:
                rec["modules"].append(module)
            return
        self._errors[key] = {"where": where, "error": f"{type(exc).__name__}: {exc}", "count": 1,
                             "modules": [] if module is None else [module]}
        if self.warn:
            warnings.warn(
                f"dllint.probe: {where} failed ({type(exc).__name__}: {exc}); the probe skips it "
                "and training goes on. Reported once.",
                RuntimeWarning,
                stacklevel=2,
            )

    def _note(self, text: str) -> None:
        if text not in self._notes:
            self._notes.append(text)

    # ----------------------------------------------------------------------------------------
    # DLP006: forward pre-hooks on Dropout / BatchNorm (always on)
    # ----------------------------------------------------------------------------------------

    def _make_mode_hook(self, name: str):
        def hook(module, args):
            if torch.is_grad_enabled() or not module.training:
                return None
            try:
                if _train_mode_active(module):
                    rec = self._dlp006.get(name)
                    if rec is None:
                        self._dlp006[name] = rec = {"first_step": self._step, "calls": 0,
                                                    "cls": type(module).__name__}
                        self._detectors.train_mode_inference(name, type(module).__name__, self._step,
                                                              inference_mode=torch.is_inference_mode_enabled())
                    rec["calls"] += 1
            except Exception as exc:
                self._failed("train-mode check", exc)
            return None

        return hook

    # ----------------------------------------------------------------------------------------
    # optimizer hooks: steps, update snapshot
    # ----------------------------------------------------------------------------------------

    def _owns(self, opt) -> bool:
        if self._optimizers is not None:
            return opt in self._optimizers
        try:
            cached = self._owner_cache.get(opt)
        except TypeError:
            cached = None
        if cached is None:
            ids = self._param_ids
            cached = any(id(p) in ids for g in opt.param_groups for p in g["params"])
            try:
                self._owner_cache[opt] = cached
            except TypeError:
                pass
        return cached

    def _find_optimizer(self) -> bool:
        """One-time search (gc referrers of one parameter) for an optimizer that holds it."""
        import gc

        items = self._trainable()
        if not items:
            return False
        frontier, seen = [items[0][2]], set()
        for _ in range(6):
            nxt = []
            for obj in frontier:
                for ref in gc.get_referrers(obj):
                    if isinstance(ref, torch.optim.Optimizer):
                        return self._owns(ref)
                    if isinstance(ref, (list, dict)) and id(ref) not in seen and len(nxt) < 32:
                        seen.add(id(ref))
                        nxt.append(ref)
            frontier = nxt
            if not frontier:
                break
        return False

    def _on_optimizer_pre(self, opt, args, kwargs) -> None:
        if not self._armed or not self.track_updates:
            return
        try:
            if self._owns(opt):
                self._take_snapshot()
        except Exception as exc:
            self._failed("optimizer pre-step hook", exc)

    def _on_optimizer_post(self, opt, args, kwargs) -> None:
        try:
            if not self._owns(opt):
                return
            self._seen_optimizer = True
            self._opt_steps_since_user_step += 1
            self._opt_stepped = True
            self._end_step()
        except Exception as exc:
            self._failed("optimizer post-step hook", exc)

    def _trainable(self) -> list:
        return [(n, pn, p, m) for n, pn, p, m in self._params if p.requires_grad]

    def _take_snapshot(self) -> None:
        with torch.no_grad():
            items = self._trainable()
            params = [p for _, _, p, _ in items]
            if not params:
                return
            self._snapshot = [p.detach().clone() for p in params]
            self._snapshot_params = params
            self._snapshot_norms = list(torch._foreach_norm(self._snapshot))

    # ----------------------------------------------------------------------------------------
    # sampled steps: arm / forward hooks / disarm
    # ----------------------------------------------------------------------------------------

    def _arm(self) -> None:
        if self._armed:
            return
        self._armed = True
        self._opt_stepped = False
        self._fwd = {}
        self._calls = {}
        self._starts = {}
        if not self.compiled:
            self._starts = {}
            for name, m in self._named:
                if isinstance(m, _PURE_CONTAINERS) or (isinstance(m, _PASSIVE) and name):
                    continue
                if self._kind[name] == KIND_WEIGHT:
                    self._fwd_handles.append(m.register_forward_pre_hook(self._make_start_hook(name)))
                self._fwd_handles.append(
                    m.register_forward_hook(self._make_fwd_hook(name, self._kind[name], type(m))))
            self._fwd_handles.append(self.model.register_forward_pre_hook(self._root_pre_hook))
        if self.track_updates and not self._seen_optimizer:
            # hand-written update (or not known yet): weights before the step, taken now
            try:
                self._take_snapshot()
            except Exception as exc:
                self._failed("weight snapshot", exc)

    def _disarm(self) -> None:
        for h in self._fwd_handles:
            h.remove()
        self._fwd_handles.clear()
        self._armed = False

    def _root_pre_hook(self, module, args):
        if torch.is_grad_enabled():
            self._calls = {}  # a new forward: call counts restart (gradient accumulation)
            self._last_weight_is_conv = False
        return None

    def _make_start_hook(self, name: str):
        def hook(module, args):
            if torch.is_grad_enabled():
                key = (name, self._calls.get(name, 0) + 1)
                self._starts.setdefault(key, self._start_counter())
            return None

        return hook

    def _start_counter(self) -> int:
        self._start_seq = getattr(self, "_start_seq", 0) + 1
        return self._start_seq

    def _make_fwd_hook(self, name: str, kind: str, cls: type):
        cls_name = cls.__name__

        def hook(module, args, output):
            if not torch.is_grad_enabled():
                return None
            if _is_compiling():
                self._traced_while_compiling = True
                return None
            try:
                self._record_forward(name, kind, cls_name, module, args, output)
            except Exception as exc:
                self._failed("forward hook", exc, module=name or "<root>")
            return None

        return hook

    def _record_forward(self, name, kind, cls_name, module, args, output) -> None:
        call = self._calls.get(name, 0) + 1
        self._calls[name] = call
        key = (name, call)
        acc = self._fwd.get(key)
        if acc is None:
            acc = self._fwd[key] = _FwdAcc(name, call, cls_name, kind, len(self._fwd))
            acc.start = self._starts.get(key, self._start_counter())
        outs = _float_tensors(output, [])
        if not outs:
            return
        with torch.no_grad():
            # Two fast reductions per output (sum, L2 norm): std from them, and non-finite
            # detection for free (a NaN/Inf element makes the sum non-finite; so would finite
            # values beyond ~1e35, which this reports as non-finite too).
            main = outs[0].detach()
            n = main.numel()
            if n == 0:
                return
            x = main if main.dtype in (torch.float32, torch.float64) else main.float()
            parts = [x.sum(), torch.linalg.vector_norm(x)]
            dev = parts[0].device
            extra = [t.detach().sum().to(dev, x.dtype) for t in outs[1:4]]
            parts.append(torch.stack(extra).sum() if extra else torch.zeros((), device=dev, dtype=x.dtype))
            ins = _float_tensors(args, [])
            parts.append(ins[0].detach().sum().to(dev, x.dtype) if ins else torch.zeros((), device=dev, dtype=x.dtype))
            if kind == KIND_SATURATING and ins:
                pre = ins[0].detach()
                parts.append((pre.abs() > self.thresholds.saturation_bound).sum().to(dev, x.dtype))
                acc.sat_n += pre.numel()
            else:
                parts.append(torch.zeros((), device=dev, dtype=x.dtype))
            vec = torch.stack(parts)  # [sum, norm, sum of other outputs, input sum, saturated]
            if acc.vec is None:
                acc.vec = vec
            else:  # a module called again in the same forward / micro-batch: pool the moments
                acc.more.append(vec)
            acc.n += n
            if kind == KIND_WEIGHT:
                self._last_weight_is_conv = isinstance(module, _CONV)
            elif kind == KIND_RELU and main.dim() >= 2:
                unit_dim = self._unit_dim(main)
                dims = [d for d in range(main.dim()) if d != unit_dim]
                alive = main.amax(dim=dims) > 0
                if acc.alive is None:
                    acc.alive, acc.unit_dim = alive, unit_dim
                elif acc.alive.shape == alive.shape:
                    acc.alive = acc.alive | alive
        return None

    def _unit_dim(self, t: torch.Tensor) -> int:
        if t.dim() == 2 or t.dim() >= 4:
            return 1
        # 3-D: (N, C, L) after a Conv1d, else (N, T, features)
        return 1 if getattr(self, "_last_weight_is_conv", False) else t.dim() - 1

    # ----------------------------------------------------------------------------------------
    # step end
    # ----------------------------------------------------------------------------------------

    def _feed_loss(self, loss: torch.Tensor) -> None:
        with torch.no_grad():
            l = loss.detach()
            bad = torch.isfinite(l).all().logical_not_()
            if self._loss_bad is None or self._loss_bad.device != l.device:
                self._loss_bad = torch.zeros((), dtype=torch.long, device=l.device)
                self._loss_first = torch.full((), -1, dtype=torch.long, device=l.device)
            # the optimizer may already have ended this iteration's step
            step = self._step - 1 if self._opt_steps_since_user_step > 0 else self._step
            self._loss_bad += bad
            self._loss_first.masked_fill_(bad & (self._loss_first < 0), step)

    def _end_step(self) -> None:
        step = self._step
        if self._armed:
            self._disarm()
            self._finish_check(step)
        self._step += 1
        self._opt_stepped = False
        if self._step % self.every == 0:
            self._arm()

    def _finish_check(self, step: int, partial: bool = False) -> None:
        try:
            payload = self._collect(step)
            if payload is not None:
                check = self._to_check(step, payload, partial)
                self._latest = check
                self._checks += 1
                self._detectors.observe(check)
        except Exception as exc:
            self._failed("statistics at the end of a sampled step", exc)
        finally:
            self._fwd = {}
            self._calls = {}
            self._snapshot = self._snapshot_norms = self._snapshot_params = None

    def _read_loss_tail(self) -> None:
        """At close: the loss accumulators since the last check (one more host read)."""
        if self._loss_bad is None or self._rank != 0 and self._world > 1:
            return
        try:
            bad, first = torch.stack([self._loss_bad, self._loss_first]).tolist()
            if bad:
                self._detectors.loss_nonfinite(int(bad), int(first), self._step)
        except Exception as exc:
            self._failed("loss check at close", exc)

    # -- the one device->host transfer --------------------------------------------------------

    def _collect(self, step: int):
        dev = self._device
        f64 = torch.float64 if dev.type != "mps" else torch.float32
        keys = sorted(self._fwd.values(), key=lambda a: a.order)
        keys = [a for a in keys if a.vec is not None]
        # forward: [n, sum, sum of squares, other sum, input sum, saturated, sat_n] per key, in
        # float64, summable across calls and ranks (the squares are taken in float64)
        fwd_vec = torch.zeros(0, dtype=f64, device=dev)
        if keys:
            rows = torch.stack([a.vec.to(dev) for a in keys]).to(f64)
            rows[:, 1] = rows[:, 1] * rows[:, 1]
            for i, a in enumerate(keys):
                if a.more:
                    extra = torch.stack([v.to(dev) for v in a.more]).to(f64)
                    extra[:, 1] = extra[:, 1] * extra[:, 1]
                    rows[i] += extra.sum(0)
            counts = torch.tensor([[float(a.n), float(a.sat_n)] for a in keys], dtype=f64).to(dev, non_blocking=True)
            fwd_vec = torch.cat([counts[:, :1], rows, counts[:, 1:]], dim=1).flatten()
        relu = [a for a in keys if a.alive is not None]
        alive_cat = (torch.cat([a.alive.to(dev, torch.uint8) for a in relu])
                     if relu else torch.zeros(0, dtype=torch.uint8, device=dev))
        loss_vec = torch.zeros(2, dtype=f64, device=dev)
        if self._loss_bad is not None:
            loss_vec = torch.stack([self._loss_bad.to(dev, f64), self._loss_first.to(dev, f64)])
            first_min = torch.where(loss_vec[1] < 0, torch.full_like(loss_vec[1], math.inf), loss_vec[1])
            loss_vec = torch.stack([loss_vec[0], first_min])
        else:
            loss_vec[1] = math.inf

        if self._world > 1:
            layout = "|".join(f"{a.name}#{a.call}:{a.kind}" for a in keys) + "/" + ",".join(
                str(a.alive.numel()) for a in relu)
            ok = _dist_layout_agrees(layout, fwd_vec.numel() + alive_cat.numel(), dev)
            if ok:
                import torch.distributed as dist

                dist.all_reduce(fwd_vec, op=dist.ReduceOp.SUM)
                if alive_cat.numel():
                    dist.all_reduce(alive_cat, op=dist.ReduceOp.MAX)
                red = torch.stack([loss_vec[0], -loss_vec[1]])
                dist.all_reduce(red, op=dist.ReduceOp.MAX)  # count: max across ranks; first: min
                loss_vec = torch.stack([red[0], -red[1]])
            elif not self._layout_warned:
                self._layout_warned = True
                self._note("ranks executed different modules at a check: statistics are rank 0's own")

        # dead fractions (window) on device
        dead = []
        offset = 0
        for a in relu:
            k = a.alive.numel()
            mask = alive_cat[offset:offset + k].bool()
            offset += k
            hist = self._alive_hist.get((a.name, a.call))
            if hist is None or (hist and hist[-1].shape != mask.shape):
                hist = self._alive_hist[(a.name, a.call)] = deque(maxlen=self.thresholds.window)
            hist.append(mask)
            window_alive = torch.stack(list(hist)).any(0)
            dead.append(torch.stack([1.0 - mask.to(f64).mean(), 1.0 - window_alive.to(f64).mean(),
                                     torch.full((), float(len(hist)), dtype=f64, device=dev)]))
        dead_vec = torch.cat(dead) if dead else torch.zeros(0, dtype=f64, device=dev)

        items = self._trainable()
        pvec, pmeta = self._param_stats(items, dev, f64)
        if self._loss_bad is not None:  # consumed (and reduced): reset on every rank
            self._loss_bad.zero_()
            self._loss_first.fill_(-1)
        if self._rank != 0:
            return None
        host = torch.cat([fwd_vec, dead_vec, pvec, loss_vec]).tolist()  # one transfer
        return keys, relu, items, pmeta, host

    def _param_stats(self, items, dev, f64):
        """Per parameter, on device: grad L2, L1, Linf, weight L2, weight Linf, weight L2 before
        the update, update L2, duplicate weight rows, duplicate non-zero grad rows. Host facts
        (numel, has a gradient) go in the metadata: no host->device copies here, since on CUDA a
        blocking one would be a sync."""
        if not items:
            return torch.zeros(0, dtype=f64, device=dev), []
        params = [p for _, _, p, _ in items]
        grads = [p.grad for p in params]
        have = [g is not None and not g.is_sparse for g in grads]
        zero = torch.zeros((), dtype=f64, device=dev)
        nan = torch.full((), math.nan, dtype=f64, device=dev)

        def column(values):
            return torch.stack([v.to(dev, f64) if v is not None else zero for v in values])

        with torch.no_grad():
            gs = [g.detach() for g, h in zip(grads, have) if h]
            g_cols = [[None] * len(params) for _ in range(3)]
            if gs:
                pos = [i for i, h in enumerate(have) if h]
                for c, order in enumerate((2, 1, math.inf)):
                    for i, t in zip(pos, torch._foreach_norm(gs, order)):
                        g_cols[c][i] = t
            ps = [p.detach() for p in params]
            w_l2 = torch._foreach_norm(ps, 2)
            w_inf = torch._foreach_norm(ps, math.inf)
            before = [nan] * len(params)
            upd = [nan] * len(params)
            snap = self._snapshot
            if snap is not None and self._snapshot_params is not None:
                pos_of = {id(p): i for i, p in enumerate(params)}
                sel = [(pos_of[id(p)], j) for j, p in enumerate(self._snapshot_params) if id(p) in pos_of]
                if sel:
                    js = [j for _, j in sel]
                    diffs = torch._foreach_sub([snap[j] for j in js], [self._snapshot_params[j].detach() for j in js])
                    for (i, j), d in zip(sel, torch._foreach_norm(diffs)):
                        upd[i] = d
                        before[i] = self._snapshot_norms[j]
                    del diffs
            dup_w = [None] * len(params)
            dup_g = [None] * len(params)
            for i, (mname, pname, p, m) in enumerate(items):
                if p.dim() < 2 or self._kind.get(mname) != KIND_WEIGHT:
                    continue
                rows = _rows(p.detach(), m)
                if rows.shape[0] < 2:
                    continue
                proj = self._projection(mname, pname, rows)
                dup_w[i] = _duplicate_rows(rows @ proj, None)
                if have[i]:
                    grows = _rows(grads[i].detach(), m)
                    nonzero = grows.abs().amax(dim=1) > 0
                    dup_g[i] = _duplicate_rows(grows.to(proj.dtype) @ proj, nonzero)
            mat = torch.stack([column(g_cols[0]), column(g_cols[1]), column(g_cols[2]), column(w_l2),
                               column(w_inf), column(before), column(upd), column(dup_w), column(dup_g)], dim=1)
        meta = [(mname, pname, p.dim(), _units(p, m), p.numel(), h) for (mname, pname, p, m), h in zip(items, have)]
        return mat.flatten(), meta

    def _projection(self, mname: str, pname: str, rows: torch.Tensor) -> torch.Tensor:
        key = (mname, pname)
        proj = self._proj.get(key)
        if proj is None or proj.shape[0] != rows.shape[1] or proj.device != rows.device or proj.dtype != rows.dtype:
            # own generator: the global RNG (dropout masks, shuffling) is never touched
            cpu = torch.randn(rows.shape[1], 2, generator=self._gen, dtype=torch.float32)
            dtype = rows.dtype if rows.dtype in (torch.float32, torch.float64) else torch.float32
            proj = self._proj[key] = cpu.to(device=rows.device, dtype=dtype)
        return proj

    # -- host side: turn the flat list back into records ---------------------------------------

    def _to_check(self, step, payload, partial) -> Check:
        keys, relu, items, pmeta, host = payload
        pos = 0
        fwd = []
        relu_pos = {id(a): i for i, a in enumerate(relu)}
        nk = len(keys)
        fwd_vals = host[pos:pos + nk * _FWD_SLOTS]; pos += nk * _FWD_SLOTS
        dead_vals = host[pos:pos + 3 * len(relu)]; pos += 3 * len(relu)
        np_ = len(items)
        pvals = host[pos:pos + np_ * _PARAM_SLOTS]; pos += np_ * _PARAM_SLOTS
        loss_bad, loss_first = host[pos], host[pos + 1]
        for i, a in enumerate(keys):
            n, s1, s2, other, ins, sat, sat_n = fwd_vals[i * _FWD_SLOTS:(i + 1) * _FWD_SLOTS]
            nfo = 0 if (math.isfinite(s1) and math.isfinite(s2) and math.isfinite(other)) else 1
            nfi = 0 if math.isfinite(ins) else 1
            mean = s1 / n if n else math.nan
            var = max(s2 / n - mean * mean, 0.0) if n and not nfo else math.nan
            sat_frac = (sat / sat_n) if (a.kind == KIND_SATURATING and sat_n) else None
            d_step = d_win = None
            win = 0
            if id(a) in relu_pos:
                j = relu_pos[id(a)]
                d_step, d_win, win = dead_vals[3 * j], dead_vals[3 * j + 1], int(dead_vals[3 * j + 2])
            fwd.append(FwdStat(name=a.name, call=a.call, cls=a.cls, kind=a.kind, n=int(n), mean=mean,
                               std=math.sqrt(var) if math.isfinite(var) else math.nan,
                               nonfinite_out=nfo, nonfinite_in=nfi,
                               saturated=sat_frac, dead_step=d_step, dead_window=d_win,
                               window=win, units=None if a.alive is None else a.alive.numel()))
        layers: dict = {}
        for i, (mname, _param, ndim, units, numel, has) in enumerate(pmeta):
            g2, g1, ginf, w2, winf, before, upd, dupw, dupg = pvals[i * _PARAM_SLOTS:(i + 1) * _PARAM_SLOTS]
            lg = layers.get(mname)
            if lg is None:
                lg = layers[mname] = LayerGrad(name=mname, cls=self._cls.get(mname, "?"), kind=self._kind.get(mname, KIND_OTHER))
            lg.add(g2=g2 ** 2 if math.isfinite(g2) else math.inf, g1=g1, ginf=ginf, numel=int(numel),
                   has_grad=bool(has), w2=w2 ** 2 if math.isfinite(w2) else math.inf, winf=winf,
                   before=before, upd=upd, dup_w=int(dupw), dup_g=int(dupg), units=units, ndim=ndim)
        # weight layers in the order their forward began; the root is left out when it has
        # children: where in its forward its own parameters are used is unknown
        root_has_children = any(True for _ in self.model.children())
        order = []
        for a in sorted(keys, key=lambda a: a.start):
            if a.kind == KIND_WEIGHT and a.name in layers and a.name not in order:
                if a.name == "" and root_has_children:
                    continue
                order.append(a.name)
        for name in layers:  # never seen in a forward (compiled model, unused, partial step)
            if (layers[name].kind == KIND_WEIGHT and name not in order and not fwd
                    and not (name == "" and root_has_children)):
                order.append(name)
        fwd_by_start = sorted(range(len(fwd)), key=lambda i: keys[i].start)
        for rank_, i in enumerate(fwd_by_start):
            fwd[i].start = rank_
        return Check(step=step, fwd=fwd, layers=layers, weight_order=order,
                     optimizer_stepped=self._opt_stepped, partial=partial,
                     loss_nonfinite=int(loss_bad), loss_first_nonfinite=None if not math.isfinite(loss_first) else int(loss_first))


def _rows(t: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """A weight (or gradient) as one row per output unit."""
    if isinstance(module, _CONV_T) and t.dim() >= 2:
        t = t.transpose(0, 1)
    return t.reshape(t.shape[0], -1)


def _units(p: torch.Tensor, module: nn.Module) -> int:
    if p.dim() < 2:
        return 0
    return int(p.shape[1] if isinstance(module, _CONV_T) else p.shape[0])


def _duplicate_rows(proj: torch.Tensor, keep: Optional[torch.Tensor]) -> torch.Tensor:
    """Number of rows equal to another row, from two random projections per row (on device).

    Two distinct rows agree on both projections only by accident of measure zero; ``keep``
    excludes rows (all-zero gradient rows: dead units are DLP003's business, not symmetry).
    """
    order = torch.argsort(proj[:, 0])
    s = proj[order]
    same = (s[1:] == s[:-1]).all(dim=1)
    if keep is not None:
        k = keep[order]
        same = same & k[1:] & k[:-1]
    flag = torch.zeros(s.shape[0], dtype=torch.bool, device=s.device)
    flag[1:] |= same
    flag[:-1] |= same
    return flag.sum()


def _scaler_enabled(scaler) -> bool:
    fn = getattr(scaler, "is_enabled", None)
    try:
        return bool(fn()) if callable(fn) else True
    except Exception:
        return True


def _dist_rank_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:
        pass
    return 0, 1


def _dist_layout_agrees(layout: str, size: int, dev) -> bool:
    import torch.distributed as dist

    h = float(zlib.crc32(layout.encode()))
    t = torch.tensor([h, float(size), -h, -float(size)], dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    h_max, n_max, neg_h_min, neg_n_min = t.tolist()
    return h_max == -neg_h_min and n_max == -neg_n_min
