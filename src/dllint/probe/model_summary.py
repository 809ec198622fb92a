"""``dllint.probe.summary(model, input_size)``: shapes, parameters and receptive fields per layer.

One forward pass (eval mode, no gradients; the model's training flags are restored after) on a
batch of the given shape. A row per module call, in the order the calls began (a parent before
its children): the module path, its class, the shape of its output, its parameters (its own and
its children's, each counted once: total and trainable) and, on the convolution/pooling spine,
the receptive field and the cumulative stride ("jump") of its output per spatial dimension.

The receptive field is followed through every tensor operation of the forward by a
``TorchFunctionMode``, so it is exact through ``nn.Sequential``, hand-written forwards, residual
adds and concatenations, not only through a chain of modules. A floating-point input of three or
more dimensions is read as ``(N, C, *spatial)``: each spatial position of it has a receptive field
of 1 and a jump of 1. Then, per spatial dimension (Araujo, Norris & Sim, "Computing Receptive Fields
of Convolutional Neural Networks", Distill 2019; Dumoulin & Visin, "A guide to convolution
arithmetic for deep learning", 2016):

* convolution and pooling with kernel k, stride s, dilation d (padding changes neither):
  k_eff = d·(k − 1) + 1, r_out = r_in + (k_eff − 1)·j_in, j_out = j_in·s;
* transposed convolution: j_out = j_in / s, and r_out = r_in + m·j_in where m + 1 is the most
  input positions one output position reads (for k ≤ s: one, so r_out = r_in);
* interpolation: j_out = j_in · in/out; nearest reads one input position, (bi/tri)linear two
  (r_out = r_in + j_in), bicubic four (r_out = r_in + 3·j_in); adaptive pooling whose bins are equal
  (in divisible by out) is a pooling with k = s = in/out;
* element-wise operations (activations, normalisation — whose statistics, as in the receptive
  field literature, are not counted —, dropout, residual adds: the maximum over the operands),
  concatenation and splitting (the maximum over the parts), padding, cropping and channel slicing
  keep it;
* it is ``None`` (JSON ``null``) once positions mix: global or uneven adaptive pooling, a flatten or
  reshape of the spatial dimensions, a linear layer or matmul over them, attention, a reduction over
  them, a softmax along them, a broadcast of a tensor that already mixes them (a squeeze-and-
  excitation gate), and after any operation the summary does not know (it cannot tell).
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from typing import Any, Optional

from . import require_torch

require_torch()

import torch  # noqa: E402
from torch import nn  # noqa: E402

# A tracked tensor's field: (receptive field per spatial dim, jump per spatial dim), or None
# where its positions mix. Untracked tensors (parameters, constants) are not in the map at all.
Field = Optional[tuple]


@dataclass
class SummaryRow:
    module: str
    type: str
    output_shape: Optional[list]
    params: int
    trainable: int
    receptive_field: Optional[list]
    jump: Optional[list]

    def to_dict(self) -> dict:
        return {"module": self.module, "type": self.type, "output_shape": self.output_shape,
                "params": self.params, "trainable": self.trainable, "receptive_field": self.receptive_field,
                "jump": self.jump}


@dataclass
class ModelSummary:
    input_shape: list  # one input's shape, or a list of shapes for several inputs
    total_params: int
    trainable_params: int
    layers: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"input_shape": self.input_shape, "total_params": self.total_params,
                "layers": [row.to_dict() for row in self.layers]}

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        head = ["module", "type", "output shape", "params", "frozen", "receptive field", "jump"]
        rows = [[r.module or "(model)", r.type, _dims(r.output_shape), f"{r.params:,}",
                 f"{r.params - r.trainable:,}" if r.params - r.trainable else "",
                 _dims(r.receptive_field, "-"), _dims(r.jump, "-")] for r in self.layers]
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
        right = {3, 4}

        def line(cells) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        out = [line(head).rstrip(), "  ".join("-" * w for w in widths)]
        out += [line(row).rstrip() for row in rows]
        frozen = self.total_params - self.trainable_params
        out.append(f"input {_dims(self.input_shape)}; {self.total_params:,} parameters"
                   + (f" ({self.trainable_params:,} trainable, {frozen:,} frozen)" if frozen else ""))
        out.append("receptive field and jump per spatial dimension, in input positions; - where positions mix")
        return "\n".join(out)


def _dims(values, missing: str = "") -> str:
    if values is None:
        return missing
    if values and isinstance(values[0], list):
        return ", ".join(_dims(v) for v in values)
    return "x".join(_number(v) for v in values)


def _number(v) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}"


def summary(model: nn.Module, input_size: Any = None, *, input_data: Any = None, dtypes: Any = None,
            device: Any = None) -> ModelSummary:
    """One forward pass of ``model`` on a batch of ``input_size`` (a shape such as ``(8, 3, 32, 32)``,
    or a list of shapes for a model with several inputs; ``dtypes`` per input, float32 by default,
    integer inputs are zeros) or on ``input_data`` (a tensor or a tuple of tensors), and a row per
    module call. See the module docstring for what the receptive field follows."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary() needs an nn.Module, got {type(model).__name__}")
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    inputs = _inputs(input_size, input_data, dtypes, device)
    shapes = [list(t.shape) for t in inputs]
    tracker = _FieldTracker()
    for t in inputs:
        if t.is_floating_point() and t.dim() >= 3:
            nd = t.dim() - 2
            tracker.set(t, ((1,) * nd, (1,) * nd))
    calls: list = []  # per module call, in the order the calls began: [module, output shape, field]
    running: dict = {}  # id(module) -> the indices in ``calls`` of its calls not yet finished
    handles = []
    names: dict = {}
    for name, m in model.named_modules():
        names.setdefault(id(m), name)

    def pre_hook(module, args):
        calls.append([module, None, None])
        running.setdefault(id(module), []).append(len(calls) - 1)
        return None

    def post_hook(module, args, output):
        index = running[id(module)].pop()
        main = _main_tensor(output)
        calls[index][1] = list(main.shape) if main is not None else None
        calls[index][2] = tracker.get(main) if main is not None else None
        return None

    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre_hook))
        handles.append(m.register_forward_hook(post_hook, always_call=True))
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad(), tracker:
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    seen: dict = {}
    rows = []
    for module, shape, fld in calls:
        name = names[id(module)]
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name} (call {seen[name]})"
        rf, jump = (list(fld[0]), list(fld[1])) if fld is not None else (None, None)
        rows.append(SummaryRow(label, type(module).__name__, shape, *_param_counts(module), rf, jump))
    total, trainable = _param_counts(model)
    return ModelSummary(shapes[0] if len(shapes) == 1 else shapes, total, trainable, rows)


def _param_counts(module: nn.Module) -> tuple:
    params = list(module.parameters())  # each counted once
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _inputs(input_size, input_data, dtypes, device) -> list:
    if input_data is not None:
        data = [input_data] if isinstance(input_data, torch.Tensor) else list(input_data)
        return [t.to(device) for t in data]
    if input_size is None:
        raise TypeError("summary() needs input_size (a shape) or input_data")
    shapes = [input_size] if all(isinstance(d, int) for d in input_size) else list(input_size)
    if dtypes is None:
        dtypes = [torch.float32] * len(shapes)
    elif isinstance(dtypes, torch.dtype):
        dtypes = [dtypes] * len(shapes)
    gen = torch.Generator().manual_seed(0)
    out = []
    for shape, dtype in zip(shapes, dtypes):
        shape = tuple(int(d) for d in shape)
        t = torch.randn(shape, generator=gen).to(dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        out.append(t.to(device))
    return out


def _main_tensor(obj) -> Optional[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return obj
    logits = getattr(obj, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (tuple, list)):
        for item in obj:
            found = _main_tensor(item)
            if found is not None:
                return found
    return None


def _tensors(obj, out: list, depth: int = 0) -> list:
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)) and depth < 3:
        for item in obj:
            _tensors(item, out, depth + 1)
    elif isinstance(obj, dict) and depth < 3:
        for item in obj.values():
            _tensors(item, out, depth + 1)
    return out


# --- the receptive-field arithmetic ----------------------------------------------------------

def _per_dim(value, nd: int) -> tuple:
    if isinstance(value, (tuple, list)):
        values = tuple(int(v) for v in value)
        return values if len(values) == nd else (values + (values[-1],) * nd)[:nd]
    return (int(value),) * nd


def _conv(fld: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """r_out = r_in + (k_eff - 1)·j_in, j_out = j_in·s, k_eff = d·(k - 1) + 1, per dimension."""
    rf, jump = fld
    return (tuple(_clean(r + (d * (k - 1)) * j) for r, j, k, d in zip(rf, jump, kernel, dilation)),
            tuple(_clean(j * s) for j, s in zip(jump, stride)))


def _conv_transpose(fld: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Output position y reads input x where y = x·s + t·d - p (t < k): over the residues of y, at
    most ``span + 1`` consecutive input positions, span = the largest (t_max - t_min)·d / s."""
    rf, jump = fld
    spans = []
    for k, s, d in zip(kernel, stride, dilation):
        span = 0
        for residue in range(s):
            taps = [t for t in range(k) if (t * d) % s == residue]
            if taps:
                span = max(span, (taps[-1] - taps[0]) * d // s)
        spans.append(span)
    return (tuple(_clean(r + m * j) for r, j, m in zip(rf, jump, spans)),
            tuple(_clean(j / s) for j, s in zip(jump, stride)))


def _clean(v):
    """Integers stay integers; a fraction (after a transposed convolution or an interpolation) is
    kept as a float, rounded away from float noise."""
    if isinstance(v, int):
        return v
    rounded = round(v)
    return rounded if abs(v - rounded) < 1e-9 else round(v, 9)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


_POINTWISE = frozenset("""
abs absolute acos acosh add addcdiv addcmul alpha_dropout asin asinh atan atan2 atanh batch_norm bitwise_and
bitwise_not bitwise_or bitwise_xor ceil celu clamp clamp_max clamp_min clip clone contiguous copy copysign cos cosh
deg2rad detach div divide dropout dropout1d dropout2d dropout3d elu eq erf erfc erfinv exp exp2 expm1
feature_alpha_dropout float floor floor_divide fmax fmin fmod frac ge gelu glu group_norm gt half hardshrink
hardsigmoid hardswish hardtanh heaviside instance_norm isfinite isinf isnan layer_norm le leaky_relu lerp
local_response_norm log log10 log1p log2 logical_and logical_not logical_or logical_xor logit lt masked_fill
maximum minimum mish mul multiply nan_to_num ne neg negative pow prelu rad2deg reciprocal relu relu6 remainder
requires_grad round rms_norm rrelu rsqrt rsub selu sigmoid sign signbit silu sin sinh softplus softshrink
softsign sqrt square sub subtract tan tanh tanhshrink threshold to true_divide trunc type type_as where xlogy
bfloat16 double int long bool byte char short cpu cuda
""".split())
_DUNDER = {"__add__": "add", "__radd__": "add", "__iadd__": "add", "__sub__": "sub", "__rsub__": "sub",
           "__isub__": "sub", "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul", "__truediv__": "div",
           "__rtruediv__": "div", "__itruediv__": "div", "__div__": "div", "__floordiv__": "floor_divide",
           "__pow__": "pow", "__rpow__": "pow", "__ipow__": "pow", "__neg__": "neg", "__abs__": "abs",
           "__and__": "bitwise_and", "__or__": "bitwise_or", "__xor__": "bitwise_xor", "__invert__": "bitwise_not",
           "__eq__": "eq", "__ne__": "ne", "__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge",
           "__mod__": "remainder", "__getitem__": "getitem", "__setitem__": "setitem"}
_TAPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}  # per dim
_NO_TENSOR_RESULT = frozenset("size dim numel shape stride is_contiguous element_size data_ptr item tolist".split())
_REDUCTIONS = frozenset("sum mean amax amin max min std var norm logsumexp prod any all median nansum nanmean".split())
_SAME_LAYOUT = frozenset("view reshape view_as reshape_as expand expand_as contiguous flatten unflatten squeeze "
                         "unsqueeze".split())
_SPLITS = frozenset("split chunk split_with_sizes tensor_split narrow".split())


class _FieldTracker(torch.overrides.TorchFunctionMode):
    """Follows each tensor's receptive field through the forward: every torch function call passes
    through unchanged, and its outputs get the field its inputs and arguments imply."""

    def __init__(self):
        super().__init__()
        self._fields: dict = {}  # id(tensor) -> (weak reference, field): no activation is kept alive

    def set(self, t: torch.Tensor, fld: Field) -> None:
        self._fields[id(t)] = (weakref.ref(t), fld)

    def tracked(self, t) -> bool:
        entry = self._fields.get(id(t))
        return entry is not None and entry[0]() is t

    def get(self, t) -> Field:
        entry = self._fields.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "") or ""
        if name in _NO_TENSOR_RESULT or name == "__get__":
            return out
        inputs = [t for t in _tensors((args, kwargs), []) if self.tracked(t)]
        if not inputs:
            return out
        outputs = _tensors(out, [])
        if not outputs:
            return out
        try:
            fld = self._propagate(_DUNDER.get(name, name), args, kwargs, inputs, outputs)
        except Exception:  # an argument form not foreseen: no claim about the field
            fld = None
        for t in outputs:
            if isinstance(t, torch.Tensor):
                self.set(t, fld if fld is not None and t.dim() == len(fld[0]) + 2 else None)
        return out

    def _propagate(self, name: str, args: tuple, kwargs: dict, inputs: list, outputs: list) -> Field:
        base = name.rstrip("_") if not name.startswith("__") else name
        x = inputs[0]
        fld = self.get(x)
        if fld is None:
            return None
        nd = len(fld[0])
        out = outputs[0]
        if base in ("conv1d", "conv2d", "conv3d"):
            kernel = tuple(args[1].shape[2:])
            return _conv(fld, kernel, _per_dim(_arg(args, kwargs, 3, "stride", 1), nd),
                         _per_dim(_arg(args, kwargs, 5, "dilation", 1), nd))
        if base in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
            kernel = tuple(args[1].shape[2:])
            return _conv_transpose(fld, kernel, _per_dim(_arg(args, kwargs, 3, "stride", 1), nd),
                                   _per_dim(_arg(args, kwargs, 7, "dilation", 1), nd))
        if base.startswith(("max_pool", "avg_pool", "lp_pool")):
            offset = 1 if base.startswith("lp_pool") else 0  # lp_pool(input, norm_type, kernel_size, stride)
            kernel = _per_dim(_arg(args, kwargs, 1 + offset, "kernel_size"), nd)
            stride = _arg(args, kwargs, 2 + offset, "stride")
            stride = kernel if stride is None or stride == [] or stride == () else _per_dim(stride, nd)
            dilation = _per_dim(_arg(args, kwargs, 4, "dilation", 1), nd) if base.startswith("max_pool") else (1,) * nd
            return _conv(fld, kernel, stride, dilation)
        if base.startswith(("adaptive_avg_pool", "adaptive_max_pool")):
            return _adaptive(fld, x.shape[2:], out.shape[2:])
        if base in ("interpolate", "upsample", "upsample_nearest", "upsample_bilinear"):
            mode = _arg(args, kwargs, 3, "mode", "nearest" if base != "upsample_bilinear" else "bilinear")
            if kwargs.get("antialias"):
                return None
            if mode == "area":
                return _adaptive(fld, x.shape[2:], out.shape[2:])
            taps = _TAPS.get(mode)
            if taps is None:
                return None
            rf, jump = fld
            sizes = list(zip(x.shape[2:], out.shape[2:]))
            return (tuple(_clean(r + (taps - 1) * j if o != i else r) for r, j, (i, o) in zip(rf, jump, sizes)),
                    tuple(_clean(j * i / o) for j, (i, o) in zip(jump, sizes)))
        if base == "pad":
            return fld
        if base in ("cat", "concat", "concatenate"):
            parts = [self.get(t) for t in inputs]
            if any(p is None or len(p[0]) != nd for p in parts):
                return None
            return (tuple(max(p[0][i] for p in parts) for i in range(nd)),
                    tuple(max(p[1][i] for p in parts) for i in range(nd)))
        if base in _SPLITS:
            return fld
        if base == "getitem":
            return _sliced(fld, x, args[1] if len(args) > 1 else kwargs.get("idx"), out)
        if base in _SAME_LAYOUT:
            return fld if tuple(out.shape) == tuple(x.shape) else None
        if base in ("permute", "transpose", "swapaxes", "swapdims", "movedim"):
            return fld if tuple(out.shape) == tuple(x.shape) and _moves_only(base, args, kwargs, x.dim()) else None
        if base in ("softmax", "log_softmax", "softmin", "cumsum", "cumprod", "flip", "roll"):
            dims = _arg(args, kwargs, 1, "dim") if base not in ("flip", "roll") else _arg(args, kwargs, 1, "dims")
            dims = dims if isinstance(dims, (tuple, list)) else [dims]
            if base == "roll":
                dims = _arg(args, kwargs, 2, "dims")
                dims = dims if isinstance(dims, (tuple, list)) else [dims]
            if any(d is None or d % x.dim() >= 2 for d in dims):
                return None
            return fld
        if base in _REDUCTIONS:
            dims = _arg(args, kwargs, 1, "dim")
            if dims is None:
                return None
            dims = dims if isinstance(dims, (tuple, list)) else [dims]
            return fld if all(d % x.dim() < 2 for d in dims) and out.dim() == x.dim() else None
        if base in _POINTWISE:
            return _elementwise([self.get(t) for t in inputs], inputs, out)
        return None  # attention, linear, matmul, embedding... and operations not known here


def _adaptive(fld: tuple, size_in, size_out) -> Field:
    kernel = []
    for i, o in zip(size_in, size_out):
        if o == i:
            kernel.append(1)
        elif i % o == 0 and o > 1:
            kernel.append(i // o)
        else:  # global (one output per dimension) or bins of unequal size
            return None
    return _conv(fld, tuple(kernel), tuple(kernel), (1,) * len(kernel))


def _elementwise(fields: list, inputs: list, out: torch.Tensor) -> Field:
    """The maximum over the operands; None if an operand already mixes positions or broadcasts
    over a spatial dimension of the result."""
    nd = len(fields[0][0]) if fields[0] is not None else None
    for fld, t in zip(fields, inputs):
        if fld is None or len(fld[0]) != nd or t.dim() != out.dim() or tuple(t.shape[2:]) != tuple(out.shape[2:]):
            return None
    return (tuple(max(f[0][i] for f in fields) for i in range(nd)),
            tuple(max(f[1][i] for f in fields) for i in range(nd)))


def _sliced(fld: tuple, x: torch.Tensor, index, out: torch.Tensor) -> Field:
    """Slicing keeps each position's field; a step k along a spatial dimension multiplies its jump."""
    if out.dim() != x.dim():
        return None
    index = index if isinstance(index, tuple) else (index,)
    if any(not (isinstance(i, slice) or i is Ellipsis) for i in index):
        return None
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (x.dim() - len(index) + 1) + index[at + 1:]
    index = index + (slice(None),) * (x.dim() - len(index))
    rf, jump = fld
    steps = [1 if i.step is None else int(i.step) for i in index[2:]]
    return rf, tuple(_clean(j * s) for j, s in zip(jump, steps))


def _moves_only(name: str, args: tuple, kwargs: dict, ndim: int) -> bool:
    """Whether a permute/transpose leaves the spatial dimensions where they are."""
    if name == "permute":
        dims = args[1:] if len(args) > 2 or (len(args) == 2 and isinstance(args[1], int)) else args[1]
        return all(int(d) % ndim == i for i, d in enumerate(dims) if i >= 2)
    if name == "movedim":
        source, dest = _arg(args, kwargs, 1, "source"), _arg(args, kwargs, 2, "destination")
        source = source if isinstance(source, (tuple, list)) else [source]
        dest = dest if isinstance(dest, (tuple, list)) else [dest]
        return all(int(d) % ndim < 2 for d in list(source) + list(dest))
    a, b = _arg(args, kwargs, 1, "dim0"), _arg(args, kwargs, 2, "dim1")
    return int(a) % ndim < 2 and int(b) % ndim < 2


__all__ = ["summary", "ModelSummary", "SummaryRow"]
