"""The Probe: hooks on a live ``nn.Module``, sampled every N steps, statistics kept on device.

What runs when
--------------
* Every step: a counter. ``probe.step(loss)`` also keeps ``loss * 0`` (0, or NaN for a non-finite
  loss: one device op, no host sync), read at the next check (every 64 steps they are folded into
  two device counters), so a non-finite loss between checks is not lost.
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
* Functional activations (``F.relu``/``torch.relu``/``x.relu()``/``relu_``, ``F.relu6``,
  ``torch.sigmoid``/``x.sigmoid()``, ``torch.tanh``/``x.tanh()``: ``FUNCTIONAL_ACTIVATIONS``) on
  sampled steps: a ``TorchFunctionMode`` pushed by the root module's forward pre-hook and popped by
  its forward hook (``always_call``: also when the forward raises) sees them; forward pre-hooks
  keep the stack of running modules, so each call is attributed to the module whose forward made
  it and reported as a layer of its own (``block1 (F.relu)``, ``block1 (F.relu, call 2)``). Calls
  inside a watched activation module (``nn.ReLU`` calls ``F.relu``) are skipped. A ReLU call costs
  one ``amax``, a sigmoid/tanh call three ops; every other torch call in the forward goes through
  the mode's handler (Python only). While no functional activation has run the mode is on at
  every 10th sampled step only. Not on unsampled steps, never outside the forward, not for
  ``torch.compile``d models or submodules.

On a GPU a sampled step costs kernel launches and Python dispatch per op, so the end of the step
works on all layers at once: ``torch._foreach_norm`` over all gradients and weights, one stack per
statistic, one sort for the identical-rows check of every weight matrix, per-segment counts as a
cumulative sum read at the segment ends. Per-layer ops are left only where the data comes one
layer at a time (the forward hooks) or differs in shape per layer (the projections). On the CPU the
cost is memory bandwidth, not launches: the parameter statistics use the fastest kernel per tensor
and DLP009's update is measured on a strided sample of each large parameter (``BATCHED_STATS``).

Hooks only read. The probe draws its random projection vectors from its own generator, so the
global RNG stream (dropout masks, data order) is untouched and training is bitwise unchanged.
"""

from __future__ import annotations

import math
import warnings
import weakref
import zlib
from typing import Any, Callable, Iterable, Optional

from . import require_torch

require_torch()

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from .depth import role_pattern
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
# Modules that take a fused fast path in eval mode unless ``has_torch_function`` (true under any
# function mode): the activation mode is paused inside them in eval mode, so their numerics never
# change (in training mode they never take the fast path, and F.relu inside them is watched).
_FAST_PATH = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder)
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


# Functional activations watched on sampled steps (DLP003 / DLP004). The op a TorchFunctionMode
# receives -> (its name in the report, kind). Every spelling of one op shares a name: F.relu,
# torch.relu, x.relu(), relu_ / F.relu(inplace=True) are all "F.relu"; F.sigmoid and F.tanh arrive
# as the Tensor methods. Leaky/parametric ReLUs, GELU, SiLU, ELU... are not watched: their units
# do not die (and their modules are not watched either); hardtanh/ReLU6 only as F.relu6.
def _functional_activations() -> dict:
    T = torch.Tensor
    groups = (
        ("F.relu", KIND_RELU, (F.relu, torch.relu, T.relu, torch.relu_, T.relu_)),
        ("F.relu6", KIND_RELU, (F.relu6,)),
        ("F.sigmoid", KIND_SATURATING, (torch.sigmoid, T.sigmoid, torch.sigmoid_, T.sigmoid_, F.sigmoid,
                                        getattr(getattr(torch, "special", None), "expit", None))),
        ("F.tanh", KIND_SATURATING, (torch.tanh, T.tanh, torch.tanh_, T.tanh_, F.tanh)),
    )
    return {fn: (name, kind) for name, kind, fns in groups for fn in fns if fn is not None}


FUNCTIONAL_ACTIVATIONS = _functional_activations()
_MAX_FUNCTIONAL_CALLS = 16  # per (module, function) and forward; later calls (a loop over time) unwatched
_LOOK_EVERY = 10  # while no functional activation has run, the mode is on every 10th sampled step only


class _ActivationMode(torch.overrides.TorchFunctionMode):
    """Active only during the forward of a sampled step (pushed by the root module's forward
    pre-hook, popped by its forward hook): passes every call through unchanged and hands the
    watched activations to the probe, which reads them. While this handler runs the mode is off,
    so what the function calls (and what the probe computes) is not intercepted."""

    def __init__(self, probe: "Probe", watched: dict):
        super().__init__()
        self.probe = weakref.proxy(probe)
        self.watched = watched

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            spec = self.watched.get(func)
        except TypeError:  # an unhashable callable
            spec = None
        if spec is None:
            return func(*args, **kwargs) if kwargs else func(*args)
        return self.probe._functional_activation(spec, func, args, kwargs)


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
    """One (module, call) of a sampled step, or one (module, functional activation, call): a call
    of F.relu & co. made by that module's own forward (``fn`` is then its name, ``cls`` the
    module's class, and only ``saturated`` or ``unit_max`` are kept). Each statistic is a list of
    device scalars, one per forward (several under gradient accumulation); the host pools them."""

    __slots__ = ("name", "call", "cls", "kind", "order", "start", "n", "sat_n", "sums", "norms", "inputs",
                 "others", "saturated", "unit_max", "fn")

    def __init__(self, name: str, call: int, cls: str, kind: str, order: int, fn: Optional[str] = None):
        self.name, self.call, self.cls, self.kind, self.order, self.fn = name, call, cls, kind, order, fn
        self.start = order  # weight layers: when the forward began (a parent's own weights
        # are used before its children finish), else when it finished
        self.n = 0
        self.sat_n = 0
        self.sums: list = []  # of the output
        self.norms: list = []  # L2 norms of the output
        self.inputs: list = []  # sums of the input (forwards with a floating-point input)
        self.others: list = []  # sums of further outputs (an LSTM's state, ...)
        self.saturated: list = []  # sigmoid/tanh: input elements beyond the saturation bound
        self.unit_max: Optional[torch.Tensor] = None  # ReLU: per-unit maximum (alive where > 0)

    @property
    def key(self) -> tuple:
        return (self.name, self.call) if self.fn is None else (self.name, self.fn, self.call)


_LOSS_FOLD = 64  # pending per-step loss flags folded into device counters (bounded memory)
_NO_STEP = 2 ** 62  # "no non-finite loss" in the first-step counter (exact in float64)


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
        self._snapshot: Optional[_Snapshot] = None
        self._opt_stepped = False
        self._sums: dict = {}  # id(tensor) -> (weakref, version, its sum): an output read again as an input
        self._stack: list = []  # (name, kind) of the modules whose forward is running (functional activations)
        self._mode_on = False
        self._watching = False  # this sampled step's forward runs under the activation mode
        self._paused_by: Optional[str] = None  # an eval-mode fast-path module running with the mode off

        # across steps (small)
        self._ages: Optional[torch.Tensor] = None  # ReLU units: checks since last > 0
        self._ages_layout: tuple = ()  # ((module, call), units) per segment of _ages
        self._parked_ages: dict = {}  # (module, call) -> ages, for those missing from the last check
        self._dead_checks: dict = {}  # (module, call) -> checks in its window so far
        self._segment_cache: dict = {}  # purpose -> ((sizes, device), index tensors on the device)
        self._proj: dict = {}
        self._gen = torch.Generator().manual_seed(0x5EED)
        self._loss_flags: list = []  # per probe.step(loss) since the last fold: loss * 0
        self._loss_steps: list = []  # the step of each
        self._loss_bad: Optional[torch.Tensor] = None  # folded: count of non-finite losses
        self._loss_first: Optional[torch.Tensor] = None  # folded: the first one's step, or _NO_STEP
        self._errors: dict = {}
        self._notes: list = []
        self._dlp006: dict = {}
        self._traced_while_compiling = False
        self._checks = 0
        self._layout_warned = False
        self._latest: Optional[Check] = None
        self._detectors = Detectors(self.thresholds, self.enabled)
        # functional activations (F.relu, torch.sigmoid, ...): watched on sampled steps through a
        # TorchFunctionMode active during the model's forward, for the detectors that use them
        kinds = {k for k, code in ((KIND_RELU, "DLP003"), (KIND_SATURATING, "DLP004")) if code in self.enabled}
        watched = {fn: spec for fn, spec in FUNCTIONAL_ACTIVATIONS.items() if spec[1] in kinds}
        self._mode: Optional[_ActivationMode] = _ActivationMode(self, watched) if watched else None
        self._functional_seen = False  # a watched functional activation ran outside activation modules
        self._looks = 0  # sampled steps armed while none had been seen
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
        if self._mode is not None and not self.compiled and any(
                type(m).__name__ == "OptimizedModule" for _, m in self._named):
            self._mode = None
            self._note("a submodule is torch.compile'd: functional activations (F.relu, torch.sigmoid, ...) are "
                       "not watched, so DLP003/DLP004 see activation modules only")
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
            self._ages, self._ages_layout = None, ()
            self._parked_ages.clear()
            self._dead_checks.clear()
            self._segment_cache.clear()
            self._proj.clear()
            self._snapshot = None
            self._reset_losses()
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
        self._roles = {}
        for name, m in self._named:
            self._kind[name] = module_kind(m)
            self._cls[name] = type(m).__name__
            # like-with-like depth comparisons (DLP001/DLP002): class, indexed path, parameter shapes
            self._roles[name] = (type(m).__name__, role_pattern(name),
                                 tuple((pn, tuple(p.shape)) for pn, p in m.named_parameters(recurse=False)))
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

    def _batched(self, device) -> bool:
        return BATCHED_STATS if BATCHED_STATS is not None else torch.device(device).type != "cpu"

    def _trainable(self) -> list:
        return [(n, pn, p, m) for n, pn, p, m in self._params if p.requires_grad]

    def _take_snapshot(self) -> None:
        with torch.no_grad():
            params = [p for _, _, p, _ in self._trainable()]
            if not params:
                return
            if self._batched(params[0].device):
                # a copy of every parameter in one op (x * 1 is x, bit for bit): few launches
                self._snapshot = _Snapshot(params, None, list(torch._foreach_mul(params, 1)), [1] * len(params))
            else:
                # on the CPU memory bandwidth is the cost: the exact norm of each parameter, and a
                # strided sample of the larger ones to measure the update on
                strides = [_sample_stride(p.numel()) for p in params]
                before = [torch.linalg.vector_norm(p, dtype=_reduction_dtype(p)) for p in params]
                samples = [_strided(p, k).clone() for p, k in zip(params, strides)]
                self._snapshot = _Snapshot(params, before, samples, strides)

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
        self._sums = {}
        self._stack = []
        if not self.compiled:
            self._starts = {}
            # a model whose activations are all modules pays for the mode at the first sampled step
            # and every _LOOK_EVERY-th after it (in case its forward changes), not at every one
            watching = self._mode is not None and (self._functional_seen or self._looks % _LOOK_EVERY == 0)
            if self._mode is not None and not self._functional_seen:
                self._looks += 1
            self._watching = watching
            # first: a new forward resets the per-forward state before any other hook of the root
            self._fwd_handles.append(self.model.register_forward_pre_hook(self._root_pre_hook))
            for name, m in self._named:
                if isinstance(m, _PURE_CONTAINERS) or (isinstance(m, _PASSIVE) and name):
                    continue
                kind = self._kind[name]
                if kind == KIND_WEIGHT or watching:
                    self._fwd_handles.append(m.register_forward_pre_hook(
                        self._make_pre_hook(name, kind, watching, isinstance(m, _FAST_PATH))))
                self._fwd_handles.append(m.register_forward_hook(self._make_fwd_hook(name, kind, type(m), watching)))
            if watching:
                # last, and also when the forward raises: the function mode never outlives the forward
                self._fwd_handles.append(self.model.register_forward_hook(self._root_post_hook, always_call=True))
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
        self._watching = False
        self._stack = []
        self._paused_by = None
        if self._mode_on:
            self._mode_off()

    def _root_pre_hook(self, module, args):
        if torch.is_grad_enabled():
            self._calls = {}  # a new forward: call counts restart (gradient accumulation)
            self._last_weight_is_conv = False
        self._stack = []
        self._paused_by = None
        if (self._watching and self._mode is not None and not self._mode_on and torch.is_grad_enabled()
                and not _is_compiling()):
            try:
                self._mode.__enter__()  # torch.overrides._push_mode
                self._mode_on = True
            except Exception as exc:
                self._failed("functional activation mode", exc)
        return None

    def _root_post_hook(self, module, args, output):
        if self._mode_on:
            self._mode_off()
        return None

    def _mode_off(self) -> None:
        """Pops the activation mode; one pushed above it and left there by the forward stays."""
        self._mode_on = False
        try:
            above = []
            while torch._C._len_torch_function_stack() > 0:
                mode = torch._C._pop_torch_function_stack()
                if mode is self._mode:
                    break
                above.append(mode)
            for mode in reversed(above):
                torch._C._push_on_torch_function_stack(mode)
        except Exception as exc:
            self._failed("functional activation mode", exc)

    def _make_pre_hook(self, name: str, kind: str, watching: bool, fast_path: bool = False):
        entry = (name, kind)

        def hook(module, args):
            if watching and not _is_compiling():
                self._stack.append(entry)
                if (fast_path and not module.training and self._mode_on and self._paused_by is None
                        and self._pause_mode()):
                    self._paused_by = name
            if kind == KIND_WEIGHT and torch.is_grad_enabled():
                key = (name, self._calls.get(name, 0) + 1)
                self._starts.setdefault(key, self._start_counter())
            return None

        return hook

    def _leave(self, name: str) -> None:
        """The module's forward ended: off the stack (with any child whose forward raised)."""
        stack = self._stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i:]
                return

    def _start_counter(self) -> int:
        self._start_seq = getattr(self, "_start_seq", 0) + 1
        return self._start_seq

    def _make_fwd_hook(self, name: str, kind: str, cls: type, watching: bool = False):
        cls_name = cls.__name__

        def hook(module, args, output):
            if watching and self._paused_by == name:
                self._paused_by = None
                torch._C._push_on_torch_function_stack(self._mode)
            if watching and self._stack:
                self._leave(name)
            if not torch.is_grad_enabled():
                return None
            if _is_compiling():
                self._traced_while_compiling = True
                return None
            paused = self._mode_on and self._pause_mode()
            try:
                self._record_forward(name, kind, cls_name, module, args, output)
            except Exception as exc:
                self._failed("forward hook", exc, module=name or "<root>")
            finally:
                if paused:
                    torch._C._push_on_torch_function_stack(self._mode)
            return None

        return hook

    def _pause_mode(self) -> bool:
        """Takes the activation mode off the top of the stack while a hook computes its statistics
        (they need no interception); False if another mode is above it."""
        n = torch._C._len_torch_function_stack()
        if n and torch._C._get_function_stack_at(n - 1) is self._mode:
            torch._C._pop_torch_function_stack()
            return True
        return False

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
        main = outs[0]
        n = main.numel()
        if n == 0:
            return
        with torch.no_grad():
            # Two fast reductions per output (sum, L2 norm): std from them, and non-finite
            # detection for free (a NaN/Inf element makes the sum non-finite; so would finite
            # values beyond ~1e35, which this reports as non-finite too).
            acc.sums.append(self._sum(main))
            acc.norms.append(torch.linalg.vector_norm(main, dtype=_reduction_dtype(main)))
            acc.others.extend(self._sum(t) for t in outs[1:4])
            ins = _float_tensors(args, [])
            if ins:
                acc.inputs.append(self._sum(ins[0]))
                if kind == KIND_SATURATING:
                    acc.saturated.append((ins[0].abs() > self.thresholds.saturation_bound).sum())
                    acc.sat_n += ins[0].numel()
            acc.n += n
            if kind == KIND_WEIGHT:
                self._last_weight_is_conv = isinstance(module, _CONV)
            elif kind == KIND_RELU and main.dim() >= 2:
                unit_dim = self._unit_dim(main)
                unit_max = main.amax(dim=[d for d in range(main.dim()) if d != unit_dim])
                if acc.unit_max is None:
                    acc.unit_max = unit_max
                elif acc.unit_max.shape == unit_max.shape:  # fmax: a NaN in one forward hides nothing
                    acc.unit_max = torch.fmax(acc.unit_max, unit_max)
        return None

    def _functional_activation(self, spec: tuple, func, args: tuple, kwargs: dict):
        """A watched activation called during a sampled forward (the mode's handler). Runs the call
        unchanged; around it, reads the statistic its detector needs, on device: for sigmoid/tanh
        the count of inputs beyond the saturation bound (taken before the call: ``sigmoid_`` would
        overwrite them), for ReLUs the per-unit maximum of the output. Calls made inside an
        activation module the hooks already watch (``nn.ReLU`` calls ``F.relu``) are skipped."""
        fn, kind = spec
        kwargs = kwargs or {}
        x = args[0] if args else kwargs.get("input", kwargs.get("self"))
        owner, owner_kind = self._stack[-1] if self._stack else ("", self._kind.get("", KIND_OTHER))
        if owner_kind in (KIND_RELU, KIND_SATURATING):
            return func(*args, **kwargs)
        self._functional_seen = True
        watch = (isinstance(x, torch.Tensor) and torch.is_grad_enabled() and x.is_floating_point()
                 and x.numel() > 0)
        saturated = None
        if watch:
            try:
                call = self._calls.get((owner, fn), 0) + 1
                self._calls[(owner, fn)] = call
                if call > _MAX_FUNCTIONAL_CALLS:
                    self._note(f"more than {_MAX_FUNCTIONAL_CALLS} calls of one functional activation in one "
                               f"module's forward (e.g. {owner or '<root>'} calls {fn} in a loop): the later calls "
                               "are not watched")
                    watch = False
                elif kind == KIND_SATURATING:
                    with torch.no_grad():
                        saturated = (x.abs() > self.thresholds.saturation_bound).sum()
            except Exception as exc:
                self._failed("functional activation", exc, module=owner or "<root>")
                watch = False
        out = func(*args, **kwargs)
        if watch:
            try:
                self._record_functional(owner, fn, kind, call, x, out, saturated)
            except Exception as exc:
                self._failed("functional activation", exc, module=owner or "<root>")
        return out

    def _record_functional(self, owner: str, fn: str, kind: str, call: int, x, out, saturated) -> None:
        unit_max = None
        if kind == KIND_RELU:
            if not isinstance(out, torch.Tensor) or out.dim() < 2:
                return
            unit_dim = self._unit_dim(out)
            with torch.no_grad():
                unit_max = out.amax(dim=[d for d in range(out.dim()) if d != unit_dim])
        key = (owner, fn, call)
        acc = self._fwd.get(key)
        if acc is None:
            acc = self._fwd[key] = _FwdAcc(owner, call, self._cls.get(owner, "?"), kind, len(self._fwd), fn=fn)
            acc.start = self._start_counter()
        acc.n += x.numel()
        if saturated is not None:
            acc.saturated.append(saturated)
            acc.sat_n += x.numel()
        if unit_max is not None:
            if acc.unit_max is None:
                acc.unit_max = unit_max
            elif acc.unit_max.shape == unit_max.shape:  # fmax: a NaN in one forward hides nothing
                acc.unit_max = torch.fmax(acc.unit_max, unit_max)

    def _sum(self, t: torch.Tensor) -> torch.Tensor:
        """``t``'s sum; a tensor already summed in this step (a module's output that is the next
        one's input) and not changed in place since is not summed again."""
        if t.is_inference():  # no version counter
            return t.sum(dtype=_reduction_dtype(t))
        seen = self._sums.get(id(t))
        if seen is not None and seen[0]() is t and seen[1] == t._version:
            return seen[2]
        total = t.sum(dtype=_reduction_dtype(t))
        self._sums[id(t)] = (weakref.ref(t), t._version, total)
        return total

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
            flag = loss * 0  # 0 for a finite loss, NaN for NaN and +-Inf
            if flag.dim():  # NaN if any element is not finite
                flag = flag.sum()
        # the optimizer may already have ended this iteration's step
        self._loss_steps.append(self._step - 1 if self._opt_steps_since_user_step > 0 else self._step)
        self._loss_flags.append(flag)
        if len(self._loss_flags) >= _LOSS_FOLD:
            self._fold_losses()

    def _fold_losses(self) -> None:
        """Pending loss flags -> the device counters (how many were non-finite, the first one's step)."""
        if not self._loss_flags:
            return
        device = self._loss_flags[0].device
        with torch.no_grad():
            bad = _stack(self._loss_flags, device).isnan()
            steps = _device_vector(self._loss_steps, torch.int64, device)
            count, first = bad.sum(), torch.where(bad, steps, _NO_STEP).amin()
            if self._loss_bad is None:
                self._loss_bad, self._loss_first = count, first
            else:
                self._loss_bad, self._loss_first = self._loss_bad + count, torch.minimum(self._loss_first, first)
        self._loss_flags, self._loss_steps = [], []

    def _add_losses(self, payload: dict, dev) -> list:
        """The loss flags and folded counters into the payload; returns the flags' steps."""
        if self._loss_flags:
            payload["loss_flags"] = _stack(self._loss_flags, dev)
        if self._loss_bad is not None:
            payload["loss_folded"] = torch.stack([self._loss_bad, self._loss_first]).to(dev)
        return self._loss_steps

    def _reset_losses(self) -> None:
        self._loss_flags, self._loss_steps = [], []
        self._loss_bad = self._loss_first = None

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
            collected = self._collect(step)
            if collected is not None:
                check = self._to_check(step, collected, partial)
                self._latest = check
                self._checks += 1
                self._detectors.observe(check)
        except Exception as exc:
            self._failed("statistics at the end of a sampled step", exc)
        finally:
            self._fwd = {}
            self._calls = {}
            self._sums = {}
            self._snapshot = None

    def _read_loss_tail(self) -> None:
        """At close: the losses fed since the last check (one more host read)."""
        if self._rank != 0 and self._world > 1:
            return
        try:
            payload: dict = {}
            steps = self._add_losses(payload, self._device)
            if payload:
                bad, first = _nonfinite_losses(_transfer(payload, self._device), steps)
                if bad:
                    self._detectors.loss_nonfinite(bad, first, self._step)
        except Exception as exc:
            self._failed("loss check at close", exc)

    # -- the one device->host transfer --------------------------------------------------------

    def _collect(self, step: int):
        dev = self._device
        payload: dict = {}  # name -> 1-D device tensor; all of them go to the host in one transfer
        keys = [a for a in sorted(self._fwd.values(), key=lambda a: a.order) if a.sums or a.fn is not None]
        relu = [a for a in keys if a.unit_max is not None]
        with torch.no_grad():
            if any(a.sums for a in keys):
                # one entry per forward, summable across forwards and ranks (squares in float64)
                payload["sums"] = _stack([v for a in keys for v in a.sums], dev)
                payload["squares"] = _stack([v for a in keys for v in a.norms], dev).to(_f64(dev)).square_()
                for name in ("inputs", "others", "saturated"):
                    values = [v for a in keys for v in getattr(a, name)]
                    if values:
                        payload[name] = _stack(values, dev)
            alive = torch.cat([a.unit_max.to(dev) for a in relu]) > 0 if relu else None
            if self._world > 1:
                alive = self._all_reduce(keys, relu, alive, payload, dev)
            windows = self._dead_units(relu, alive, dev, payload) if relu else []
            params = self._param_stats(self._trainable(), dev, payload)
        loss_steps = self._add_losses(payload, dev)
        self._reset_losses()  # consumed (and reduced): reset on every rank
        if self._rank != 0:
            return None
        return keys, relu, windows, params, loss_steps, _transfer(payload, dev)

    def _all_reduce(self, keys, relu, alive, payload, dev):
        """Across ranks, when all ran the same modules: forward statistics and counts summed, alive
        units OR-ed, non-finite losses counted (max) with the first step (min). Returns ``alive``."""
        import torch.distributed as dist

        fwd = [name for name in ("sums", "squares", "inputs", "others", "saturated") if name in payload]
        layout = "|".join(f"{a.name}#{a.fn or ''}#{a.call}:{a.kind}:{len(a.sums)},{len(a.inputs)},{len(a.others)},"
                          f"{len(a.saturated)}" for a in keys) + "/" + ",".join(str(a.unit_max.numel()) for a in relu)
        size = sum(payload[name].numel() for name in fwd) + (0 if alive is None else alive.numel())
        self._fold_losses()
        if not _dist_layout_agrees(layout, size, dev):
            if not self._layout_warned:
                self._layout_warned = True
                self._note("ranks executed different modules at a check: statistics are rank 0's own")
            return alive
        f64 = _f64(dev)
        counts = torch.tensor([float(a.n) for a in keys] + [float(a.sat_n) for a in keys], dtype=f64, device=dev)
        parts = [payload[name] for name in fwd] + [counts]
        summed = torch.cat([t.to(f64) for t in parts])
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        payload.update(zip(fwd + ["counts"], summed.split([t.numel() for t in parts])))
        if alive is not None:
            merged = alive.to(torch.uint8)
            dist.all_reduce(merged, op=dist.ReduceOp.MAX)
            alive = merged.bool()
        if self._loss_bad is None:
            losses = torch.tensor([0, -_NO_STEP], dtype=torch.int64, device=dev)
        else:
            losses = torch.stack([self._loss_bad, -self._loss_first]).to(dev)
        dist.all_reduce(losses, op=dist.ReduceOp.MAX)  # count: max across ranks; first step: min
        self._loss_bad, self._loss_first = losses[0], -losses[1]
        return alive

    def _dead_units(self, relu, alive, dev, payload) -> list:
        """Per ReLU (module, call), counted on device: units alive in this batch and in any batch of
        the window. Returns how many checks each one's window spans."""
        window = self.thresholds.window
        layout = tuple((a.key, a.unit_max.numel()) for a in relu)
        ages = self._unit_ages(layout, dev)
        ages.add_(1).masked_fill_(alive, 0)
        _, ends, _ = self._segments("dead", tuple(units for _, units in layout) * 2, dev)
        payload["alive"] = torch.cumsum(torch.cat([alive, ages < window]), 0).index_select(0, ends)
        spans = []
        for key, _ in layout:
            self._dead_checks[key] = min(self._dead_checks.get(key, 0) + 1, window)
            spans.append(self._dead_checks[key])
        return spans

    def _unit_ages(self, layout: tuple, dev) -> torch.Tensor:
        """Per unit of the ReLUs in ``layout``: checks since it was last > 0 (``window`` or more: not
        in the window). One tensor while every check has the same ReLUs; a (module, call) missing
        from a check keeps its history for the next check that has it."""
        if layout != self._ages_layout:
            if self._ages is not None:
                old = self._ages_layout
                self._parked_ages.update(zip((key for key, _ in old), self._ages.split([units for _, units in old])))
            parts = []
            for key, units in layout:
                part = self._parked_ages.pop(key, None)
                if part is None or part.numel() != units:
                    part = torch.full((units,), self.thresholds.window, dtype=torch.int32, device=dev)
                    self._dead_checks.pop(key, None)
                parts.append(part.to(dev))
            self._ages, self._ages_layout = torch.cat(parts), layout
        return self._ages

    def _segments(self, purpose: str, sizes: tuple, dev) -> tuple:
        """For consecutive segments of ``sizes`` elements, on ``dev``: each element's segment, each
        segment's last element, and whether the next element is in the same segment. Kept while
        the layout stays the same."""
        cached = self._segment_cache.get(purpose)
        if cached is None or cached[0] != (sizes, dev):
            counts = _device_vector(list(sizes), torch.int64, dev)
            ids = torch.repeat_interleave(torch.arange(len(sizes), device=dev), counts, output_size=sum(sizes))
            cached = self._segment_cache[purpose] = ((sizes, dev), (ids, counts.cumsum(0) - 1, ids[1:] == ids[:-1]))
        return cached[1]

    def _param_stats(self, items, dev, payload) -> tuple:
        """Per parameter, on device, all at once: gradient L2, L1 and Linf norms, weight L2 and Linf,
        and where a snapshot was taken the weight L2 before the update and the update's L2; then the
        identical rows of weight matrices. Returns the host facts that place each value: per
        parameter (module, name, ndim, units, numel, has a gradient), the parameters with an update,
        and the matrices whose rows were compared."""
        if not items:
            return [], [], ([], [])
        params = [p for _, _, p, _ in items]
        has_grad = [p.grad is not None and not p.grad.is_sparse for p in params]
        grads = [p.grad for p, has in zip(params, has_grad) if has]
        norms: list = []
        if self._batched(dev):  # few launches: one per statistic for all parameters
            if grads:
                for order in (2, 1, math.inf):
                    norms += torch._foreach_norm(grads, order)
            norms += torch._foreach_norm(params, 2)
            norms += torch._foreach_norm(params, math.inf)
        else:  # the CPU's fastest kernel for each (its foreach_norm loops, and its inf-norm is slow)
            if grads:
                norms += [torch.linalg.vector_norm(g, dtype=_reduction_dtype(g)) for g in grads]
                norms += [torch.linalg.vector_norm(g, 1, dtype=_reduction_dtype(g)) for g in grads]
                norms += [_max_abs(g) for g in grads]
            norms += [torch.linalg.vector_norm(p, dtype=_reduction_dtype(p)) for p in params]
            norms += [_max_abs(p) for p in params]
        updated = self._update_norms(params, norms)
        payload["params"] = _stack(norms, dev)
        compared = self._identical_rows(items, has_grad, dev, payload)
        meta = [(mname, pname, p.dim(), _units(p, m), p.numel(), has)
                for (mname, pname, p, m), has in zip(items, has_grad)]
        return meta, updated, compared

    def _update_norms(self, params: list, norms: list) -> list:
        """Appends the L2 norms of the weights before the update and of the update (before minus
        now) to ``norms``; returns the positions in ``params`` they belong to. From a strided sample
        (CPU), the update's norm is the sample's scaled to the parameter's size."""
        snap = self._snapshot
        if snap is None:
            return []
        position = {id(p): i for i, p in enumerate(params)}
        taken = [j for j, p in enumerate(snap.params) if id(p) in position]
        if not taken:
            return []
        samples = [snap.samples[j] for j in taken]
        if snap.before is None:  # full copies
            norms += torch._foreach_norm(samples)
            torch._foreach_sub_(samples, [snap.params[j] for j in taken])  # in place: dropped after this step
            norms += torch._foreach_norm(samples)
        else:
            norms += [snap.before[j] for j in taken]
            for j, sample in zip(taken, samples):
                p, stride = snap.params[j], snap.strides[j]
                update = torch.linalg.vector_norm(sample.sub_(_strided(p, stride)), dtype=_reduction_dtype(p))
                norms.append(update if stride == 1 else update * math.sqrt(p.numel() / sample.numel()))
        return [position[id(snap.params[j])] for j in taken]

    def _identical_rows(self, items, has_grad, dev, payload) -> tuple:
        """Rows equal to another row, per weight matrix and per gradient matrix, every layer in one
        pass: two random projections per row, rows sorted by matrix and then by projection, each
        compared with its neighbour. Two distinct rows agree on both projections only by accident
        of measure zero. All-zero gradient rows are left out (dead units are DLP003's business, not
        symmetry): their projections become NaN, which equals nothing. Returns the positions in
        ``items`` of the weight matrices and of the gradient matrices, in payload order."""
        weight_at, grad_at, weight_rows, grad_rows = [], [], [], []
        for i, (mname, pname, p, m) in enumerate(items):
            if p.dim() < 2 or self._kind.get(mname) != KIND_WEIGHT:
                continue
            rows = _rows(p, m)
            if rows.shape[0] < 2:
                continue
            proj = self._projection(mname, pname, rows)
            weight_at.append(i)
            weight_rows.append((proj @ rows.to(proj.dtype).t()).to(dev))  # (2, rows): one pass over the matrix
            if has_grad[i]:
                grad_at.append(i)
                grad_rows.append((proj @ _rows(p.grad, m).to(proj.dtype).t()).to(dev))
        if not weight_at:
            return [], []
        proj = torch.cat(weight_rows + grad_rows, dim=1).t()
        if grad_at:
            # a row projected to exactly (0, 0) is a zero row (otherwise an accident of measure zero)
            grads = proj[sum(t.shape[1] for t in weight_rows):]
            grads.masked_fill_((grads == 0).all(dim=1, keepdim=True), math.nan)
        matrix, ends, same_matrix = self._segments("rows", tuple(t.shape[1] for t in weight_rows + grad_rows), dev)
        order = torch.argsort(proj[:, 0], stable=True)
        order = order[torch.argsort(matrix[order], stable=True)]
        rows = proj[order]
        same = (rows[1:] == rows[:-1]).all(dim=1) & same_matrix
        paired = F.pad(same, (1, 0)) | F.pad(same, (0, 1))
        payload["rows"] = torch.cumsum(paired, 0).index_select(0, ends)
        return weight_at, grad_at

    def _projection(self, mname: str, pname: str, rows: torch.Tensor) -> torch.Tensor:
        key = (mname, pname)
        dtype = rows.dtype if rows.dtype in (torch.float32, torch.float64) else torch.float32
        proj = self._proj.get(key)
        if proj is None or proj.shape[1] != rows.shape[1] or proj.device != rows.device or proj.dtype != dtype:
            # own generator: the global RNG (dropout masks, shuffling) is never touched
            cpu = torch.randn(2, rows.shape[1], generator=self._gen, dtype=torch.float32)
            proj = self._proj[key] = cpu.to(device=rows.device, dtype=dtype)
        return proj

    # -- host side: turn the lists back into records --------------------------------------------

    def _to_check(self, step, collected, partial) -> Check:
        keys, relu, windows, (meta, updated, (weight_at, grad_at)), loss_steps, host = collected
        values = {name: iter(host.get(name, ())) for name in ("sums", "squares", "inputs", "others", "saturated")}

        def pooled(name: str, forwards: int) -> float:
            return sum(next(values[name]) for _ in range(forwards))

        counts = host.get("counts")  # summed across ranks
        alive = _differences(host.get("alive", []))  # per ReLU: alive in this batch, then in the window
        relu_pos = {id(a): j for j, a in enumerate(relu)}
        fwd = []
        for i, a in enumerate(keys):
            s1, s2 = pooled("sums", len(a.sums)), pooled("squares", len(a.norms))
            other, ins = pooled("others", len(a.others)), pooled("inputs", len(a.inputs))
            sat = pooled("saturated", len(a.saturated))
            n, sat_n = (counts[i], counts[len(keys) + i]) if counts else (a.n, a.sat_n)
            nfo = 0 if (math.isfinite(s1) and math.isfinite(s2) and math.isfinite(other)) else 1
            nfi = 0 if math.isfinite(ins) else 1
            mean = s1 / n if n and a.norms else math.nan  # functional activations: no moments
            var = max(s2 / n - mean * mean, 0.0) if n and a.norms and not nfo else math.nan
            sat_frac = (sat / sat_n) if (a.kind == KIND_SATURATING and sat_n) else None
            d_step = d_win = None
            win = 0
            relu_units = None
            if id(a) in relu_pos:
                j = relu_pos[id(a)]
                relu_units = a.unit_max.numel()
                d_step, d_win = 1.0 - alive[j] / relu_units, 1.0 - alive[len(relu) + j] / relu_units
                win = windows[j]
            fwd.append(FwdStat(name=a.name, call=a.call, cls=a.cls, kind=a.kind, n=int(n), mean=mean,
                               std=math.sqrt(var) if math.isfinite(var) else math.nan,
                               nonfinite_out=nfo, nonfinite_in=nfi,
                               saturated=sat_frac, dead_step=d_step, dead_window=d_win,
                               window=win, units=relu_units, fn=a.fn))
        # "params": gradient L2, L1, Linf (parameters with a gradient), weight L2, Linf (all),
        # L2 before the update and of the update (parameters with a snapshot)
        norms = host.get("params", [])
        with_grad = [i for i, m in enumerate(meta) if m[5]]
        ng, npar, nup = len(with_grad), len(meta), len(updated)
        grad_of = {i: (norms[k], norms[ng + k], norms[2 * ng + k]) for k, i in enumerate(with_grad)}
        w2s, winfs = norms[3 * ng:3 * ng + npar], norms[3 * ng + npar:3 * ng + 2 * npar]
        before = dict(zip(updated, norms[3 * ng + 2 * npar:3 * ng + 2 * npar + nup]))
        update = dict(zip(updated, norms[3 * ng + 2 * npar + nup:]))
        identical = _differences(host.get("rows", []))
        dup_w = dict(zip(weight_at, identical))
        dup_g = dict(zip(grad_at, identical[len(weight_at):]))
        layers: dict = {}
        for i, (mname, _param, ndim, units, numel, has) in enumerate(meta):
            g2, g1, ginf = grad_of.get(i, (0.0, 0.0, 0.0))
            w2, winf = w2s[i], winfs[i]
            lg = layers.get(mname)
            if lg is None:
                lg = layers[mname] = LayerGrad(name=mname, cls=self._cls.get(mname, "?"), kind=self._kind.get(mname, KIND_OTHER))
            lg.add(g2=g2 ** 2 if math.isfinite(g2) else math.inf, g1=g1, ginf=ginf, numel=int(numel),
                   has_grad=bool(has), w2=w2 ** 2 if math.isfinite(w2) else math.inf, winf=winf,
                   before=before.get(i, math.nan), upd=update.get(i, math.nan), dup_w=int(dup_w.get(i, 0)),
                   dup_g=int(dup_g.get(i, 0)), units=units, ndim=ndim)
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
        loss_bad, loss_first = _nonfinite_losses(host, loss_steps)
        return Check(step=step, fwd=fwd, layers=layers, weight_order=order, roles=self._roles,
                     optimizer_stepped=self._opt_stepped, partial=partial,
                     loss_nonfinite=loss_bad, loss_first_nonfinite=loss_first)


# Where the statistics of a sampled step's parameters are computed with few ops, each over all
# parameters (torch._foreach_*: one launch per statistic on a GPU, where launches are the cost), and
# where with the fastest kernel per tensor (on the CPU, where memory bandwidth is the cost). None:
# batched on accelerators, per tensor on the CPU. Tests set it to check both paths.
BATCHED_STATS: Optional[bool] = None
_SAMPLE = 4096  # per tensor: a parameter's update is measured on a strided sample of about this many elements


class _Snapshot:
    """The weights before a sampled optimizer step: full copies (``before`` None), or the exact
    norms and a strided sample (every ``stride``-th element) of each parameter."""

    __slots__ = ("params", "before", "samples", "strides")

    def __init__(self, params: list, before: Optional[list], samples: list, strides: list):
        self.params, self.before, self.samples, self.strides = params, before, samples, strides


def _sample_stride(numel: int) -> int:
    """1 up to ``_SAMPLE`` elements; above, the smallest stride giving at most ``_SAMPLE`` elements
    that is coprime with ``numel``, so a matrix's sample cycles through all its columns (a stride
    that divides the row length would see the same columns in every row)."""
    if numel <= _SAMPLE:
        return 1
    stride = -(-numel // _SAMPLE)
    while math.gcd(stride, numel) != 1:
        stride += 1
    return stride


def _strided(t: torch.Tensor, stride: int) -> torch.Tensor:
    return t if stride == 1 else t.reshape(-1)[::stride]


def _max_abs(t: torch.Tensor) -> torch.Tensor:
    """max |t| (NaN if any element is): ``aminmax`` is the CPU's fast kernel for it."""
    if t.numel() == 0:
        return torch.zeros((), dtype=_reduction_dtype(t), device=t.device)
    low, high = torch.aminmax(t)
    return torch.maximum(high, -low).to(_reduction_dtype(t))


def _reduction_dtype(t: torch.Tensor) -> torch.dtype:
    """Sums and norms of half/bfloat16 tensors are taken in float32 (without a float32 copy)."""
    return t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32


def _f64(device) -> torch.dtype:
    return torch.float64 if torch.device(device).type != "mps" else torch.float32


def _stack(tensors: list, device) -> torch.Tensor:
    return torch.stack([t.to(device) for t in tensors])


def _device_vector(values: list, dtype: torch.dtype, device) -> torch.Tensor:
    """Host integers as a vector on ``device`` without a host->device copy (on CUDA a blocking one
    synchronises): they travel as kernel arguments."""
    out = torch.zeros(len(values), dtype=dtype, device=device)
    torch._foreach_add_(out.unbind(), values)
    return out


def _transfer(payload: dict, device) -> dict:
    """The one device->host transfer: every part of ``payload`` as a list of floats, by name."""
    if not payload:
        return {}
    sizes = [t.numel() for t in payload.values()]
    flat = torch.empty(sum(sizes), dtype=_f64(device), device=device)
    host = torch.cat(list(payload.values()), out=flat).tolist()
    out, pos = {}, 0
    for name, size in zip(payload, sizes):
        out[name] = host[pos:pos + size]
        pos += size
    return out


def _differences(cumulative: list) -> list:
    """Per segment, from a cumulative sum read at each segment's last element."""
    return [c - p for p, c in zip([0.0] + cumulative[:-1], cumulative)]


def _nonfinite_losses(host: dict, steps: list) -> tuple:
    """(how many fed losses were non-finite, the first one's step or None)."""
    bad, first = host.get("loss_folded", (0, _NO_STEP))
    for flag, step in zip(host.get("loss_flags", ()), steps):
        if not math.isfinite(flag):
            bad += 1
            first = min(first, step)
    return int(bad), (None if first >= _NO_STEP else int(first))


def _rows(t: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """A weight (or gradient) as one row per output unit."""
    if isinstance(module, _CONV_T) and t.dim() >= 2:
        t = t.transpose(0, 1)
    return t.flatten(1)


def _units(p: torch.Tensor, module: nn.Module) -> int:
    if p.dim() < 2:
        return 0
    return int(p.shape[1] if isinstance(module, _CONV_T) else p.shape[0])


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
