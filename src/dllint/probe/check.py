"""``check()``: a one-shot probe run on a given or synthetic batch."""

from __future__ import annotations

import copy as _copy
from typing import Any, Callable, Optional, Sequence, Union

from . import require_torch

require_torch()

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F

from .core import Probe, _unwrap


def main_output(out: Any) -> torch.Tensor:
    """The tensor a loss would read from a model output (tensor, tuple, dict, ModelOutput)."""
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor) and item.is_floating_point():
                return item
    raise TypeError(f"cannot find a tensor in the model output of type {type(out).__name__}")


def default_loss(output: torch.Tensor, target: Optional[torch.Tensor]) -> torch.Tensor:
    """Cross-entropy for integer targets, MSE otherwise. The class dimension of an integer target's
    output is the last one (``(N, T, vocab)`` against ``(N, T)``) or, as ``F.cross_entropy`` reads
    it, the second (``(N, classes, H, W)`` against ``(N, H, W)``)."""
    if target is None:
        raise ValueError("default_loss needs a target")
    if not target.is_floating_point():
        if output.dim() > 2 and output.shape[:-1] == target.shape and output.shape[2:] != target.shape[1:]:
            return F.cross_entropy(output.reshape(-1, output.shape[-1]).float(), target.reshape(-1))
        return F.cross_entropy(output.float(), target)
    return F.mse_loss(output.float(), target.float())


def _as_inputs(example_inputs, device, gen) -> tuple:
    if example_inputs is None:
        raise TypeError("check() needs example_inputs (or batches=)")
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)) and example_inputs and all(isinstance(d, int) for d in example_inputs):
        return (torch.randn(*example_inputs, generator=gen).to(device),)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    raise TypeError("example_inputs must be a tensor, a tuple of tensors, or a shape tuple of ints")


def check(
    model: nn.Module,
    example_inputs: Union[torch.Tensor, Sequence[Any]],
    loss_fn: Optional[Callable] = None,
    steps: int = 1,
    *,
    target: Optional[torch.Tensor] = None,
    every: int = 1,
    lr: float = 1e-2,
    optimizer: Union[str, Callable] = "sgd",
    thresholds: Any = None,
    copy: bool = True,
    seed: int = 0,
    select=None,
    ignore=(),
    batches: Optional[Callable[[int], tuple]] = None,
    factory: Optional[Callable] = None,
):
    """Train ``steps`` steps on ``example_inputs`` (a tensor, a tuple of tensors, or a shape such
    as ``(8, 3, 32, 32)`` for a synthetic ``randn`` batch) with the probe sampling every step, and
    return its report. The model is deep-copied first (``copy=True``) so the caller's model and
    RNG state are untouched; the update is SGD(lr) unless ``optimizer`` is "adam" or a callable
    ``params -> Optimizer``. ``loss_fn(output, target)`` (or ``loss_fn(output)`` without a
    target); by default cross-entropy for integer targets, MSE against ``target`` or, with no
    target, against a fixed random tensor of the output's shape. ``batches(step)`` may supply
    ``(inputs_tuple, target)`` per step instead of a fixed batch."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if copy:
        model = _copy.deepcopy(model)
    inner, _ = _unwrap(model)
    device = next((p.device for p in inner.parameters()), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    inputs = _as_inputs(example_inputs, device, gen) if batches is None else None
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        if callable(optimizer) and not isinstance(optimizer, str):
            opt = optimizer(params)
        elif optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr)
        elif optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr)
        else:
            raise ValueError(f"unknown optimizer {optimizer!r}: 'sgd', 'adam' or a callable")
        fixed_target = target
        with Probe(model, every=every, thresholds=thresholds, select=select, ignore=ignore,
                   factory=factory) as probe:
            for i in range(steps):
                if batches is not None:
                    inputs, fixed_target = batches(i)
                out = main_output(model(*inputs))
                if loss_fn is not None:
                    loss = loss_fn(out, fixed_target) if fixed_target is not None else loss_fn(out)
                else:
                    if fixed_target is None:
                        fixed_target = torch.randn(out.shape, generator=gen).to(out.device)
                    loss = default_loss(out, fixed_target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                probe.step(loss)
        return probe.report()
